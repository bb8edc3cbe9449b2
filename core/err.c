/* SPDX-License-Identifier: Apache-2.0 */
/* err.c - names, formatting and the HTTP mapping of gw_err. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *gw_err_name(gw_err e)
{
    switch (e) {
    case GW_OK:        return "ok";
    case GW_EINVAL:    return "invalid";
    case GW_ETOOBIG:   return "too_big";
    case GW_ENOMEM:    return "nomem";
    case GW_EREDIS:    return "redis";
    case GW_EKUBE:     return "kube";
    case GW_EKUBECONF: return "kube_config";
    case GW_ENOTFOUND: return "not_found";
    case GW_EBUSY:     return "busy";
    case GW_ECONFIG:   return "config";
    case GW_EINTERNAL: return "internal";
    }
    return "unknown";
}

gw_err gw_err_from_http(long status)
{
    if (status >= 200 && status <= 299)
        return GW_OK;
    if (status == 404)
        return GW_ENOTFOUND;
    if (status == 0 || status == 429 || status >= 500)
        return GW_EKUBE;
    return GW_EKUBECONF;
}

bool gw_err_temporary(gw_err e)
{
    return e == GW_EREDIS || e == GW_EKUBE || e == GW_EBUSY;
}

int gw_err_http_status(gw_err e)
{
    if (e == GW_EINVAL)
        return 400;
    if (e == GW_ETOOBIG)
        return 413;
    return gw_err_temporary(e) ? 503 : 500;
}

gw_err gw_fail(gw_err e, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return e;
}

void gw_errs_vadd(char *errs, size_t errlen, const char *fmt, va_list ap)
{
    if (!errs || !errlen)
        return;
    size_t used = strlen(errs);
    if (used + 1 >= errlen)
        return;
    vsnprintf(errs + used, errlen - used, fmt, ap);
    used = strlen(errs);
    if (used + 1 < errlen) {
        errs[used] = '\n';
        errs[used + 1] = '\0';
    }
}

void gw_errs_add(char *errs, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gw_errs_vadd(errs, errlen, fmt, ap);
    va_end(ap);
}
