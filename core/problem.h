/* SPDX-License-Identifier: Apache-2.0 */
/* problem.h - RFC 7807 problem+json bodies. */
#ifndef GW_PROBLEM_H
#define GW_PROBLEM_H

#include "buf.h"
#include "err.h"

/* Slug and title for an HTTP status ("validation-error", "Bad Request"). */
const char *gw_problem_slug(int status);
const char *gw_problem_title(int status);

/* Appends {"type","title","status","detail","instance","request_id"} to out. */
gw_err gw_problem_write(gw_buf *out, int status, const char *detail, const char *instance,
                        const char *request_id);

#endif
