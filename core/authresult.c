/* SPDX-License-Identifier: Apache-2.0 */
/* authresult.c - see authresult.h. */
#include "authresult.h"

#include <stdarg.h>
#include <stdio.h>

void gw_auth_refuse(gw_auth_result *r, int status, gw_m_auth_mode mode, gw_m_auth_reason reason,
                    const char *detail, const char *fmt, ...)
{
    r->status = status;
    r->mode = mode;
    r->reason = reason;
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

void gw_auth_admit(gw_auth_result *r, gw_m_auth_mode mode, const char *principal)
{
    r->status = 0;
    r->mode = mode;
    snprintf(r->principal, sizeof r->principal, "%s", principal);
}
