/* SPDX-License-Identifier: Apache-2.0 */
/* log.h - one JSON object per line on stderr.
 *
 * Lines are built with jansson, so quotes and control characters are
 * escaped; strings that came from a client go through gw_text_clean first.
 * Secrets never reach these functions. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <jansson.h>

typedef enum { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR } gw_log_level;

/* "debug", "info", ... to a level (info for anything else). */
gw_log_level gw_log_level_parse(const char *s);

/* Writes fields (consumed: the reference is stolen) plus time and level,
 * when lvl >= min. */
void gw_log_json(gw_log_level min, gw_log_level lvl, json_t *fields);

/* The one line per request, formatted directly (no JSON document is built):
 * request_id, route, method, path, status, decision, duration_ms and, when
 * non-empty, fingerprint and detail.  path and detail may be any bytes. */
typedef struct {
    const char *request_id, *route, *method, *path, *decision, *fingerprint, *detail;
    int         status;
    double      duration_ms;
} gw_log_req;
void gw_log_request(gw_log_level min, gw_log_level lvl, const gw_log_req *r);

/* Convenience: {"msg": <formatted>, "request_id": rid?}. */
void gw_log(gw_log_level min, gw_log_level lvl, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
