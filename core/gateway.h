/* SPDX-License-Identifier: Apache-2.0 */
/* gateway.h - the request pipeline: one HTTP request in, one response out.
 *
 * The front end (fcgi/) fills a gw_request from the web server's variables,
 * calls gw_handle(), and writes the gw_response.  Everything between -
 * routing, validation, parsing, fingerprinting, dedup, Kubernetes - is here,
 * so the same pipeline runs under FastCGI, CGI and the unit tests.
 *
 * gw_ctx is the per-process context (config, Redis, dedup, kube client,
 * buffers).  It is created once at start-up and is the only mutable state;
 * it is not shared between threads. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "config.h"
#include "err.h"
#include "request.h"

typedef struct gw_ctx gw_ctx;

typedef struct {
    int         status;
    const char *content_type;   /* static string */
    long        retry_after;    /* seconds; 0: no header */
    const char *allow;          /* static; NULL: no Allow header */
    const char *www_authenticate; /* static; NULL: no WWW-Authenticate header */
    char        request_id[72];
    char        detail[512];    /* a problem answer's detail, for the request's log
                                 * line; "" otherwise */
    gw_buf      body;           /* owned by the caller: init once, reset per request */
} gw_response;

/* Takes ownership of cfg (moved in; do not free it afterwards).  Kubernetes
 * credentials must resolve, Redis need not be up yet. */
gw_err gw_ctx_new(gw_config *cfg, gw_ctx **out, char *err, size_t errlen);

/* The seams of gw_ctx_new: what a test or an embedder hands over instead
 * of letting the context make it from the configuration.  Each handle
 * given is adopted (the context frees it, also when gw_ctx_new_with
 * fails) and its field is set to NULL; a redis connection is moved in by
 * value (gw_redis_init'ed; *redis is emptied).  NULL fields, or deps NULL:
 * made from cfg, as gw_ctx_new does. */
typedef struct {
    struct gw_redis *redis;   /* redis.h */
    struct gw_kube  *kube;    /* kube.h */
    struct gw_metrics *metrics; /* metrics.h */
} gw_ctx_deps;
gw_err gw_ctx_new_with(gw_config *cfg, gw_ctx_deps *deps, gw_ctx **out, char *err,
                       size_t errlen);
void   gw_ctx_free(gw_ctx *ctx);
const gw_config *gw_ctx_config(const gw_ctx *ctx);

/* Asks the pipeline to stop taking new work (readyz answers 503). */
void gw_ctx_set_draining(gw_ctx *ctx);

void gw_response_init(gw_response *resp);
void gw_response_free(gw_response *resp);

/* Handles one request.  resp->body is reset first.  Never fails: every
 * problem becomes an HTTP status and a problem body. */
void gw_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp);

/* The front end calls this once resp is written: memory a large request
 * left behind is given back (buffers grown past 256 KiB are freed, and
 * after a parse that took more than 1 MiB the heap is trimmed), so a
 * worker's resident size follows what it holds, not the largest request it
 * ever served. */
void gw_response_done(gw_ctx *ctx, gw_response *resp);

/* The trailing status flush (spec 3.11): patches the status syncs other
 * occurrences queued in Redis once they are due, so a count converges even
 * when no further alert arrives.  Cheap to call often: it asks Redis at most
 * once per poll period (250 ms - 1 s) and returns how many milliseconds
 * the caller may wait before calling it again (0: call again at once, more
 * syncs are due than one call flushes).  The front end calls it
 * between requests and when idle. */
long gw_tick(gw_ctx *ctx);

#endif
