/* SPDX-License-Identifier: Apache-2.0 */
/* fakeapi.h - an in-memory "apiserver" behind gw_kcache's fetch hook, for
 * the tests of core/kcache.c, core/owners.c and core/kinds.c (include after
 * cmocka.h).  Paths not set answer 404; status 0 is a transport error.  The
 * bodies are borrowed: string literals of the test.  It counts the calls,
 * the paths asked that hold "evil", and keeps the last path asked. */
#ifndef GW_FAKEAPI_H
#define GW_FAKEAPI_H

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"

typedef struct {
    const char *path;
    long        status;    /* 0: transport error */
    const char *body;
} fake_obj;

typedef struct {
    fake_obj objs[32];
    size_t   n;
    int      calls;
    int      evil;      /* paths asked that hold "evil" */
    char     last[256]; /* the last path asked */
} fake_api;

static inline gw_err fake_fetch(void *arg, const char *path, long *status, gw_buf *resp,
                                char *err, size_t errlen)
{
    fake_api *f = arg;
    f->calls++;
    f->evil += strstr(path, "evil") != NULL;
    snprintf(f->last, sizeof f->last, "%s", path);
    gw_buf_reset(resp);
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->objs[i].path, path))
            continue;
        if (!f->objs[i].status)
            return gw_fail(GW_EKUBE, err, errlen, "connection refused");
        *status = f->objs[i].status;
        return gw_buf_appends(resp, f->objs[i].body);
    }
    *status = 404;
    return gw_buf_appends(resp, "{\"kind\":\"Status\",\"code\":404}");
}

static inline void fake_set(fake_api *f, const char *path, long status, const char *body)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->objs[i].path, path)) {
            f->objs[i].status = status;
            f->objs[i].body = body;
            return;
        }
    assert_true(f->n < sizeof f->objs / sizeof f->objs[0]);
    f->objs[f->n++] = (fake_obj){ path, status, body };
}

#endif
