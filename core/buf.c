/* SPDX-License-Identifier: Apache-2.0 */
/* buf.c - bounded growable buffer; see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_buf_init(gw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void gw_buf_free(gw_buf *b)
{
    free(b->data);
    gw_buf_init(b, b->max);
}

void gw_buf_reset(gw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

bool gw_buf_trim(gw_buf *b, size_t keep)
{
    if (b->cap <= keep) {
        gw_buf_reset(b);
        return false;
    }
    gw_buf_free(b);
    return true;
}

static gw_err grow(gw_buf *b, size_t need)
{
    if (need > b->max)
        return GW_ETOOBIG;
    if (need + 1 <= b->cap)
        return GW_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return GW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return GW_OK;
}

gw_err gw_buf_append(gw_buf *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        return GW_ETOOBIG;
    gw_err rc = grow(b, b->len + n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return GW_OK;
}

gw_err gw_buf_appends(gw_buf *b, const char *s)
{
    return gw_buf_append(b, s, strlen(s));
}

gw_err gw_buf_printf(gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return GW_EINTERNAL;
    if ((size_t)n < sizeof tmp)
        return gw_buf_append(b, tmp, (size_t)n);
    if ((size_t)n > b->max - b->len)
        return GW_ETOOBIG;
    gw_err rc = grow(b, b->len + (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return GW_OK;
}
