/* SPDX-License-Identifier: Apache-2.0 */
/* authresult.h - what an authentication check answers (gw_auth_result),
 * shared by auth.c and the modes that live in modules of their own
 * (tokenreview.c), and how the tokenreview mode reaches the apiserver.
 *
 * Ownership: a gw_auth_result is a value; its pointers borrow from the
 * gw_auth that filled it (auth.h). */
#ifndef GW_AUTHRESULT_H
#define GW_AUTHRESULT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "metrics.h"

/* How the tokenreview mode POSTs a review to the apiserver: GW_OK with
 * *http_status and the answer in resp (reset by the callee) whenever an
 * answer arrived; an error (GW_EKUBE) when none did.  gateway.c puts
 * gw_kube_request behind it; the unit tests pass canned answers. */
typedef gw_err (*gw_auth_post)(void *arg, const char *path, const char *body, size_t len,
                               long *http_status, gw_buf *resp, char *err, size_t errlen);

typedef struct {
    int              status;     /* 0: admitted; else 401, 403, 500 or 503 */
    gw_m_auth_mode   mode;       /* the mode that admitted or whose failure is reported */
    gw_m_auth_reason reason;     /* when refused */
    const char      *challenge;  /* WWW-Authenticate for a 401 (static), NULL: none */
    char             why[200];   /* for the log: never a token, secret or signature */
    char             detail[256]; /* for the client */
    char             principal[160]; /* who was admitted, or refused a 403:
                                      * "bearer:<hash prefix>", "cn:<CN>",
                                      * "user:<name>", "hmac", "none" */
    const void      *scope;      /* bearer token's namespace scope; NULL: any */
    const void      *subject;    /* a tokenreview admission on a signal route:
                                  * the reviewed user, whose namespaces
                                  * gw_auth_authorize checks; NULL: none */
    char             nonce[65];  /* hmac with a signed timestamp: the
                                  * signature in lowercase hex (the replay
                                  * cache's key); "": none */
} gw_auth_result;

/* Refuses r: status, mode, reason, detail (for the client) and why (for
 * the log, printf-style; never a credential). */
void gw_auth_refuse(gw_auth_result *r, int status, gw_m_auth_mode mode, gw_m_auth_reason reason,
                    const char *detail, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Admits r in mode as principal. */
void gw_auth_admit(gw_auth_result *r, gw_m_auth_mode mode, const char *principal);

#endif
