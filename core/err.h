/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - the one error enum of libalertgw.
 *
 * Every fallible function returns gw_err and, where it can say more, writes a
 * human-readable message into a caller-supplied buffer (char *err, size_t
 * errlen).  Callers propagate with early return.  The enum is also how the
 * front end picks the HTTP status: see gw_err_http_status(). */
#ifndef GW_ERR_H
#define GW_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    GW_OK = 0,
    GW_EINVAL,      /* client input is wrong: 400 */
    GW_ETOOBIG,     /* a size limit was exceeded: 413 */
    GW_ENOMEM,      /* allocation failed: 500 */
    GW_EREDIS,      /* Redis unavailable or failed: temporary, 503 */
    GW_EKUBE,       /* apiserver unreachable / 5xx / 429: temporary, 503 */
    GW_EKUBECONF,   /* apiserver said 403/404/422 to us: config error, 500 */
    GW_ENOTFOUND,   /* looked-up object does not exist */
    GW_EBUSY,       /* another worker holds the claim: temporary, 503 */
    GW_ECONFIG,     /* configuration file or environment is wrong */
    GW_EINTERNAL    /* a bug or an unexpected library failure: 500 */
} gw_err;

/* Short stable name ("redis", "kube", ...) for logs and metric labels. */
const char *gw_err_name(gw_err e);

/* Formats into err (if non-NULL) and returns e, so callers can write
 * `return gw_fail(GW_EINVAL, err, errlen, "alert %d: ...", i);`. */
gw_err gw_fail(gw_err e, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends one line ("...\n") to the error list errs (NUL-terminated,
 * errlen bytes; NULL or full: dropped silently).  The config checks collect
 * every problem this way. */
void gw_errs_add(char *errs, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_errs_vadd(char *errs, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
