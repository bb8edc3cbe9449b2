/* SPDX-License-Identifier: Apache-2.0 */
/* buf.h - a growable byte buffer with a hard maximum (curl's dynbuf idea).
 *
 * Growing past `max` fails with GW_ETOOBIG instead of reallocating forever;
 * every length that came from the network goes through here.  The buffer
 * owns `data`; gw_buf_free() releases it.  `data` is always NUL-terminated. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

typedef struct {
    char  *data;
    size_t len;
    size_t cap;
    size_t max;
} gw_buf;

void   gw_buf_init(gw_buf *b, size_t max);
void   gw_buf_free(gw_buf *b);
void   gw_buf_reset(gw_buf *b);            /* len = 0, keeps the memory */
/* Empties b, and gives its memory back when it has grown past keep bytes:
 * one large answer should not stay resident for the life of a worker.
 * Returns whether memory was released. */
bool   gw_buf_trim(gw_buf *b, size_t keep);
gw_err gw_buf_append(gw_buf *b, const void *p, size_t n);
gw_err gw_buf_appends(gw_buf *b, const char *s);
gw_err gw_buf_printf(gw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
