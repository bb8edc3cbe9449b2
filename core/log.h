/* SPDX-License-Identifier: Apache-2.0 */
/* log.h - one JSON object per line on stderr.
 *
 * Lines are built with jansson, so quotes and control characters are
 * escaped; strings that came from a client go through gw_text_clean first.
 * Secrets never reach these functions. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <jansson.h>
#include <stdbool.h>

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

/* Request lines at info level may be held and written several in one
 * write(): one system call fewer for most requests under load (the line
 * was one of a duplicate's seven in the worker).  gw_log_batch turns that
 * on for the process: stderr fully buffered in buf, GW_LOG_BATCH_BUF
 * bytes that the caller owns and keeps until gw_log_unbatch (false: it
 * stays unbuffered).  The front end then calls gw_log_flush before it
 * waits for the next request, and gw_tick before it does slow work.  Any
 * other line, and a request line at warn or above, writes what is held
 * first and goes out at once, so the order of lines never changes.  A
 * worker killed by SIGKILL loses what is held: at most 4 KiB of info
 * request lines of requests it has answered.  gw_log_unbatch writes what
 * is held and makes stderr unbuffered again; buf may be freed after it. */
#define GW_LOG_BATCH_BUF 8192
bool gw_log_batch(char *buf);
void gw_log_unbatch(void);
void gw_log_flush(void);

/* Convenience: {"msg": <formatted>, "request_id": rid?}. */
void gw_log(gw_log_level min, gw_log_level lvl, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
