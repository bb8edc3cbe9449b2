/* SPDX-License-Identifier: Apache-2.0 */
/* problem.h - RFC 7807 problem+json bodies. */
#ifndef GW_PROBLEM_H
#define GW_PROBLEM_H

#include "buf.h"
#include "err.h"

/* Appends {"type","title","status","detail","instance","request_id"} to out.
 * type ends in the status's slug and title is its reason phrase
 * (".../problems/validation-error", "Bad Request"); a status without its
 * own is an internal-error. */
gw_err gw_problem_write(gw_buf *out, int status, const char *detail, const char *instance,
                        const char *request_id);

#endif
