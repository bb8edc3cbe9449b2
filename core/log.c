/* SPDX-License-Identifier: Apache-2.0 */
/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "jsonmem.h"
#include "text.h"

static const char *const names[] = { "debug", "info", "warn", "error" };

/* Held request lines go out together in one write() of at most this many
 * bytes: PIPE_BUF, so a batch is one atomic write on a pipe too, and a
 * line is never split.  The stdio buffer (GW_LOG_BATCH_BUF) is twice that,
 * so no fwrite() of a line ever makes stdio write part of it on its own. */
#define BATCH_MAX 4096
_Static_assert(GW_LOG_BATCH_BUF >= 2 * BATCH_MAX, "the stdio buffer holds two batches");

bool gw_log_batch(char *buf)
{
    fflush(stderr);
    return buf && setvbuf(stderr, buf, _IOFBF, GW_LOG_BATCH_BUF) == 0;
}

void gw_log_unbatch(void)
{
    fflush(stderr);
    setvbuf(stderr, NULL, _IONBF, 0);
}

void gw_log_flush(void)
{
    fflush(stderr);
}

gw_log_level gw_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i]))
            return (gw_log_level)i;
    return GW_LOG_INFO;
}

void gw_log_json(gw_log_level min, gw_log_level lvl, json_t *fields)
{
    if (lvl < min || !fields) {
        json_decref(fields);
        return;
    }
    char ts[32];
    gw_rfc3339(gw_now_ms(), ts);
    json_object_set_new(fields, "time", json_string(ts));
    json_object_set_new(fields, "level", json_string(names[lvl]));
    char *s = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(fields);
    if (!s)
        return;
    /* one write() per line so lines from several workers never interleave;
     * held request lines go first, to keep the order */
    size_t n = strlen(s);
    s[n++] = '\n';
    fflush(stderr);
    for (const char *p = s; n;) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    gw_json_free(s);
}

/* ms with three decimals, as printf("%.3f") for the durations a request
 * takes (0 to hours); out has 48 bytes.  Returns out. */
static const char *millis(double ms, char out[48])
{
    if (!(ms >= 0 && ms < 1e15)) { /* NaN, negative or absurd: never from a clock */
        strcpy(out, "0.000");
        return out;
    }
    long long us = (long long)(ms * 1000 + 0.5);
    size_t n = gw_dec(us / 1000, out);
    long long frac = us % 1000;
    out[n++] = '.';
    out[n++] = (char)('0' + frac / 100);
    out[n++] = (char)('0' + frac / 10 % 10);
    out[n++] = (char)('0' + frac % 10);
    out[n] = '\0';
    return out;
}

void gw_log_request(gw_log_level min, gw_log_level lvl, const gw_log_req *r)
{
    if (lvl < min)
        return;
    /* The line's bound: path and detail are cut to 511 bytes (clean) and
     * each byte may take 2 escaped ('"', '\\'; control bytes are already
     * '?'), so 2 x 1022, plus a request id (at most 71 bytes, 142 escaped),
     * the fingerprint, the fixed fields and names: under 2,600.  A line that
     * did not fit would not be written at all, so a client controlling the
     * path and the detail could hide its request: 4 KiB leaves room. */
    char buf[4096], ts[32], clean[512];
    /* a stack buffer: max < cap, so gw_buf never tries to realloc it */
    gw_buf b = { buf, 0, sizeof buf, sizeof buf - 1 };
    buf[0] = '\0';
    gw_rfc3339(gw_now_ms(), ts);
    gw_err rc = gw_buf_appends(&b, "{\"request_id\":");
    rc = rc ? rc : gw_json_str(&b, r->request_id);
    rc = rc ? rc : gw_buf_appends(&b, ",\"route\":");
    rc = rc ? rc : gw_json_str(&b, r->route);
    rc = rc ? rc : gw_buf_appends(&b, ",\"method\":");
    rc = rc ? rc : gw_json_str(&b, r->method);
    gw_text_clean(r->path, strlen(r->path), clean, sizeof clean);
    rc = rc ? rc : gw_buf_appends(&b, ",\"path\":");
    rc = rc ? rc : gw_json_str(&b, clean);
    /* the numbers by hand, not printf: one line per request (~5k
     * instructions saved; docs/performance.md) */
    char num[48];
    gw_dec(r->status, num);
    rc = rc ? rc : gw_buf_appends(&b, ",\"status\":");
    rc = rc ? rc : gw_buf_appends(&b, num);
    rc = rc ? rc : gw_buf_appends(&b, ",\"decision\":");
    rc = rc ? rc : gw_json_str(&b, r->decision);
    rc = rc ? rc : gw_buf_appends(&b, ",\"duration_ms\":");
    rc = rc ? rc : gw_buf_appends(&b, millis(r->duration_ms, num));
    if (r->fingerprint && *r->fingerprint) {
        rc = rc ? rc : gw_buf_appends(&b, ",\"fingerprint\":");
        rc = rc ? rc : gw_json_str(&b, r->fingerprint);
    }
    if (r->detail && *r->detail) {
        gw_text_clean(r->detail, strlen(r->detail), clean, sizeof clean);
        rc = rc ? rc : gw_buf_appends(&b, ",\"detail\":");
        rc = rc ? rc : gw_json_str(&b, clean);
    }
    rc = rc ? rc : gw_buf_appends(&b, ",\"time\":\"");
    rc = rc ? rc : gw_buf_appends(&b, ts);
    rc = rc ? rc : gw_buf_appends(&b, "\",\"level\":\"");
    rc = rc ? rc : gw_buf_appends(&b, names[lvl]);
    rc = rc ? rc : gw_buf_appends(&b, "\"}\n");
    if (rc) /* cannot happen with these bounds; never write half a line */
        return;
    /* held (gw_log_batch) unless it is a warning, or the batch is full */
    if (__fpending(stderr) + b.len > BATCH_MAX)
        fflush(stderr);
    fwrite(b.data, 1, b.len, stderr);
    if (lvl >= GW_LOG_WARN)
        fflush(stderr);
}

void gw_log(gw_log_level min, gw_log_level lvl, const char *rid, const char *fmt, ...)
{
    if (lvl < min)
        return;
    char msg[1024], clean[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    gw_text_clean(msg, strlen(msg), clean, sizeof clean);
    json_t *j = json_object();
    if (rid)
        json_object_set_new(j, "request_id", json_string(rid));
    json_object_set_new(j, "msg", json_string(clean));
    gw_log_json(min, lvl, j);
}
