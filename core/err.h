/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - the one error enum of libalertgw.
 *
 * Every fallible function returns gw_err and, where it can say more, writes a
 * human-readable message into a caller-supplied buffer (char *err, size_t
 * errlen).  Callers propagate with early return.
 *
 * This is also the one mapping between HTTP statuses and errors, both
 * ways: gw_err_from_http() reads an apiserver answer's status (every
 * Kubernetes call: the RemediationRequest store, the object cache, token
 * and access reviews, the retry and breaker decision), and
 * gw_err_http_status() picks the status the gateway answers.  Nothing here
 * owns memory. */
#ifndef GW_ERR_H
#define GW_ERR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    GW_OK = 0,
    GW_EINVAL,      /* client input is wrong: 400 */
    GW_ETOOBIG,     /* a size limit was exceeded: 413 */
    GW_ENOMEM,      /* allocation failed: 500 */
    GW_EREDIS,      /* Redis unavailable or failed: temporary, 503 */
    GW_EKUBE,       /* apiserver unreachable / 5xx / 429: temporary, 503 */
    GW_EKUBECONF,   /* apiserver refused us (403, 422, no CRD): config error, 500 */
    GW_ENOTFOUND,   /* looked-up object does not exist */
    GW_EBUSY,       /* another worker holds the claim: temporary, 503 */
    GW_ECONFIG,     /* configuration file or environment is wrong */
    GW_EINTERNAL    /* a bug or an unexpected library failure: 500 */
} gw_err;

/* The error an apiserver answer's HTTP status means (0: no answer at all):
 *   2xx                       GW_OK
 *   404                       GW_ENOTFOUND (the caller decides whether a
 *                             missing object is an answer or an error)
 *   429, 5xx and above, 0     GW_EKUBE: temporary; the call may be repeated
 *                             and the sender is told to retry (503)
 *   any other (401, 403, 408, 409, 410, 422, 1xx, 3xx)
 *                             GW_EKUBECONF: the apiserver refused what we
 *                             asked; repeating cannot help (500)
 * A caller that expects one status of these for a reason of its own (201
 * or 409 of a create, 410 of an expired list) tests it before asking. */
gw_err gw_err_from_http(long status);

/* Whether e is temporary: Redis or the apiserver failed, or another worker
 * or a budget holds the work back.  The sender retries (503), and a
 * batch stops at the first such failure. */
bool gw_err_temporary(gw_err e);

/* The status the gateway answers for e: 400 GW_EINVAL, 413 GW_ETOOBIG, 503
 * when temporary, else 500.  GW_OK is not an error: 500 too. */
int gw_err_http_status(gw_err e);

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
