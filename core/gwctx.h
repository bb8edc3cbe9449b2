/* SPDX-License-Identifier: Apache-2.0 */
/* gwctx.h - the request pipeline's private state: what the files of the
 * pipeline share, and nothing outside them includes.
 *
 *   gateway.c   the per-process context: gw_ctx_new, gw_ctx_free
 *   handle.c    gw_handle: routing, the probes, GET /metrics, the signal
 *               state route, the web server's own errors, the request log
 *   webhook.c   a webhook from admission to its answer: in-flight cap,
 *               size, authentication, replay, parse, namespace authority,
 *               then every signal through the pipeline
 *   pipeline.c  one signal: enrich, dedup verdict, create or count
 *   enrich.c    what the pipeline asks the cluster about a signal:
 *               namespace, owners, scope, environment and priority
 *   reply.c     the answers: 2xx and 207 bodies, problems
 *   explain.c   POST /api/v1/explain: the pipeline's reads, no writes
 *   flap.c      a flapping fingerprint: its label, the absorbed firing
 *
 * Ownership: gw_ctx owns everything it points to; a sig_result is plain
 * data in an array the webhook owns for one request. */
#ifndef GW_GWCTX_H
#define GW_GWCTX_H

#include <jansson.h>
#include <stdbool.h>

#include "auth.h"
#include "bodycache.h"
#include "classify.h"
#include "config.h"
#include "dedup.h"
#include "gateway.h"
#include "kcache.h"
#include "kinds.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "owners.h"
#include "recorder.h"
#include "redis.h"
#include "route.h"
#include "rrstore.h"
#include "signal.h"

/* /readyz needs no authentication and passes the allowlist and the rate
 * limit, and a fresh answer costs a Redis PING and an apiserver LIST (with
 * retries): each worker reuses its answer for READYZ_REUSE_MS, so probe
 * traffic never multiplies into apiserver traffic.  A reused problem is
 * written again with this request's request_id and instance. */
#define READYZ_REUSE_MS 1000
typedef struct {
    long long until_ms;      /* gw_mono_ms(); reused while before it (0: none) */
    int       status;
    long      retry_after;
    char      text[640];     /* 200: the body; else the problem detail */
} readyz_memo;

struct gw_ctx {
    gw_config          cfg;
    gw_log_level       log_min;
    gw_redis           redis;
    gw_dedup           dedup;
    gw_kube           *kube;
    gw_buf             scratch;  /* apiserver answers */
    gw_bodycache       bodies;   /* parsed webhook bodies, by content */
    unsigned long long seq;      /* makes claim owners unique in this process */
    unsigned int       rid_prefix; /* random per process: request IDs */
    unsigned int       rid_seq;
    gw_auth           *auth;     /* per-route authentication (owned) */
    gw_kcache         *objects;  /* namespaces, ConfigMap, owners (owned) */
    gw_kinds          *kinds;    /* API discovery, on first need (owned) */
    gw_metrics        *metrics;  /* shared counters (owned mapping) */
    gw_buf             kscratch; /* the object cache's answers */
    char               cm_path[400]; /* the environment ConfigMap's path; "": none */
    char               sender_src[256]; /* the last sender identity hashed ... */
    char               sender_hex[17];  /* ... and its id: one sender sends most requests */
    long long          next_tick_ms;   /* when gw_tick next asks Redis */
    unsigned long long owner_failures; /* owner lookups that fell back */
    long               pid;
    bool               draining;
    readyz_memo        readyz;   /* the last /readyz answer, reused for 1 s */
    gw_recorder        events;   /* the request history as Events (borrows the above) */
};

typedef enum { R_CREATED, R_DUP, R_AGGREGATED, R_IGNORED, R_REJECTED, R_FAILED } result_kind;

typedef struct {
    result_kind kind;
    gw_err      err;              /* R_FAILED: why */
    const char *reason;           /* R_IGNORED: the answer's reason code */
    bool        heartbeat;        /* R_IGNORED: a heartbeat alert (reason "heartbeat"),
                                   * answered status "heartbeat" */
    char        msg[GW_ERRMSG + 128];
    char        fp[65];           /* the fingerprint used (after owner resolution) */
    char        rr_name[254];
    char        rr_ns[64];
    long long   count, first_ms, last_ms;
    char        env[64];
    char        prio[8];
    gw_env_source  env_src;       /* the rule that gave env (explain.c) */
    gw_prio_source prio_src;      /* and prio */
    bool        escalated;
    bool        storm_opened;     /* R_AGGREGATED: this signal created the storm's aggregate */
    long long   storm_total;
    char        storm_type[16];
    char        storm_detected[16]; /* this signal opened a storm of that type (it may be a
                                       duplicate: a rate storm); "" none */
    long        breaker_retry_s;  /* R_FAILED by the open circuit breaker: Retry-After */
    long        retry_s;          /* R_FAILED: the Retry-After it asks for; 0: the default */
    long long   flips;            /* this firing was a flip: the flips within flapping.window */
    int         flapping;         /* 0 no, 1 the fingerprint flaps, 2 this signal made it flap */
    bool        flap_absorbed;    /* R_DUP: counted on the finished request of a flapping
                                     fingerprint instead of starting a new one */
} sig_result;


/* ---- reply.c */

/* A 2xx/4xx JSON answer; takes j (NULL: an error body). */
void gw_reply_json(gw_response *resp, int status, json_t *j);
/* An application/problem+json answer; a 503 gets Retry-After
 * (server.retry_after). */
void gw_reply_problem(gw_ctx *ctx, gw_response *resp, int status, const char *path,
                      const char *detail);
/* The answer to a webhook whose first done signals were processed (res):
 * the first failure decides it (503/500), else one signal's own answer, or
 * 207 with one entry per signal. */
void gw_reply_batch(gw_ctx *ctx, const gw_request *req, gw_response *resp, const gw_batch *b,
                    const sig_result *res, size_t done);

/* ---- enrich.c */

/* Environment and priority into r (never fails a signal). */
void gw_enrich_classify(gw_ctx *ctx, const gw_signal *s, const char *ns_path, const char *rid,
                        long long now, sig_result *r);
/* scope.require_label: GW_OK with why[0] == '\0' when in scope, else why
 * says how to opt in; an error when the labels could not be read. */
gw_err gw_enrich_scope(gw_ctx *ctx, const gw_target *named, const gw_signal *s,
                       const char *ns_path, const char *rid, long long now, char *why,
                       size_t whylen);
/* owners.resolve: s's target becomes its top controller owner. */
void gw_enrich_owner(gw_ctx *ctx, gw_signal *s, gw_owned_target *owned, const char *rid,
                     long long now);
/* GW_OK: s's namespace exists (or s is cluster-scoped); GW_ENOTFOUND; or
 * the error of a lookup that could not be made. */
gw_err gw_enrich_namespace(gw_ctx *ctx, const gw_signal *s, const char *ns_path,
                           const char *rid, long long now);
/* The target with the cluster's kinds and versions. */
void gw_enrich_target(gw_ctx *ctx, gw_signal *s, gw_signal_target_store *st, const char *rid,
                      long long now);

/* ---- flap.c */

/* The flapping state of a hit's answer d into r (kept over the pipeline's
 * restart after a finished request). */
void gw_flap_note(const gw_dedup_result *d, sig_result *r);
/* The request a firing of a flapping fingerprint belongs to (hit: the NEW
 * answer naming it), read from Kubernetes: GW_OK with ref and *finished;
 * GW_ENOTFOUND when the fingerprint does not flap, or its request is gone
 * (create anew); or the error of the read. */
gw_err gw_flap_request(gw_ctx *ctx, const gw_dedup_result *hit, const char *rid, gw_rr_ref *ref,
                       bool *finished, char *err, size_t errlen);
/* r (R_DUP on a finished request) was absorbed: counted, logged and
 * recorded as a FlapAbsorbed Event on the request (uid: its metadata.uid). */
void gw_flap_absorbed(gw_ctx *ctx, const char *rid, const gw_signal *s, const char *uid,
                      const sig_result *r);
/* After the outcome: the metric when this signal made the fingerprint
 * flap, and on a flip of a flapping fingerprint the request's label
 * kubernaut.ai/flapping and annotation kubernaut.ai/flap-count (merge
 * patch; a failure is logged, never the signal's). */
void gw_flap_mark(gw_ctx *ctx, const char *rid, const sig_result *r);

/* ---- pipeline.c */

/* One signal of b, from enrichment to its outcome in r. */
void gw_pipeline_signal(gw_ctx *ctx, const gw_batch *b, const gw_signal *in,
                        const char *sender, const char *rid, sig_result *r);
/* The pipeline's reads before the dedup verdict (target, clock, ignored,
 * namespace, owners, scope, classification) on sig, the caller's copy of
 * in; tstore and owned hold strings sig's target may point into.  false
 * when r is already the outcome (ignored, rejected, failed); otherwise
 * ns_path is the namespace's path and *ns_rc what its lookup said.  Only
 * reads: explain.c runs it too. */
bool gw_pipeline_prepare(gw_ctx *ctx, const gw_batch *b, const gw_signal *in, gw_signal *sig,
                         gw_signal_target_store *tstore, gw_owned_target *owned,
                         const char *rid, long long now, char ns_path[128], gw_err *ns_rc,
                         sig_result *r);

/* ---- webhook.c */

/* A webhook route (POST), within the pool's in-flight cap.  Returns the
 * decision for the request log line; fp_out (65 bytes) the first
 * signal's fingerprint. */
const char *gw_webhook_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                              gw_route route, char *fp_out);
/* A refused request: security_event log line, counters, the problem. */
const char *gw_refuse_request(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                              gw_route route, const gw_auth_result *a);
/* The route's authentication: NULL when the request may go on. */
const char *gw_authenticate(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                            gw_auth_route ar, gw_route route, gw_auth_result *res);
/* How a body route admits a request: the route it came in on (logs,
 * refusal counters), the mode list that authenticates it, the adapter
 * that parses the body (GW_ROUTE_PROMETHEUS, _GRAFANA or _K8S_EVENT), and
 * whether it is a signal (the replay check and the signal rejection
 * counters apply) or an explain request (neither). */
typedef struct {
    gw_route      route;
    gw_auth_route auth;
    gw_route      adapter;
    bool          signal;
} gw_admission;
/* Method, size, authentication, replay, media type, parse and the
 * sender's namespace authority.  NULL when admitted: *bp is the parsed
 * batch (in *scratch or the body memo) and *who the identity; otherwise
 * resp holds the answer and the decision is returned.  Either way the
 * caller frees *scratch with gw_batch_free. */
const char *gw_webhook_admit(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                             const gw_admission *a, gw_auth_result *who, gw_batch *scratch,
                             const gw_batch **bp, char *fp_out);
/* Who a creation budget is counted against: 16 hex of the admitted
 * identity (or the client address); kept in ctx until the next request. */
const char *gw_webhook_sender_id(gw_ctx *ctx, const gw_request *req, const gw_auth_result *who);

/* ---- explain.c */

/* POST /api/v1/explain: what the gateway would do with a webhook, and why;
 * writes nothing.  Returns the decision for the request log line. */
const char *gw_explain_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp);

#endif
