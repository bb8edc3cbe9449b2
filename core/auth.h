/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h - who may call which route: per-route authentication and the
 * client IP allowlist (issue 6; docs/security.md, "Authentication").
 *
 * Each route (auth.prometheus, auth.grafana, auth.events, auth.signals,
 * auth.metrics) lists the modes it accepts, comma-separated; a request
 * passes when ANY listed mode passes:
 *
 *   none         no check (cannot be combined with another mode)
 *   bearer       "Authorization: Bearer <token>"; the config holds only
 *                SHA-256 hashes of the tokens, each optionally scoped to
 *                namespaces (globs).  Compared with CRYPTO_memcmp against
 *                every configured hash, no early exit.
 *   hmac         HMAC-SHA256 of the body (hmac.c) in a header, secrets from
 *                files (several: rotation), optional signed timestamp
 *                ("<ts>:<body>" is signed) checked against a replay window.
 *                The Grafana route uses grafana.*; the others auth.hmac_*.
 *   mtls         the web server verified a client certificate
 *                (SSL_CLIENT_VERIFY=SUCCESS) whose CN is allowed.
 *   tokenreview  the bearer token is reviewed by the apiserver (TokenReview;
 *                with auth.tokenreview_audiences set, the answer's
 *                status.audiences must name one of them), then authorised
 *                with SubjectAccessReviews: on the signal routes one per
 *                namespace the request's signals name (gw_auth_authorize;
 *                a cluster-wide one, namespace omitted, for cluster-scoped
 *                targets), on the read routes one in
 *                auth.tokenreview_namespace (default remediation.namespace).
 *                Reviews are cached per worker by SHA-256(token), answers
 *                per (token, namespace); both bounded, with TTL, refusals
 *                for at most 10 s.  Every call to the apiserver takes a
 *                token from a per-worker bucket (auth.tokenreview_max_per_
 *                second); an empty bucket is a 503, never a 401.
 *
 * When every listed mode fails, the failure reported is the one that says
 * most: error (apiserver unreachable: 503, the sender retries) over
 * forbidden (403) over expired over mismatch over missing (401).
 *
 * Nothing here logs: the result says why (without secrets) and the caller
 * writes the security_event line and counts the metric.
 *
 * Ownership: gw_auth is created by gw_auth_new and freed by gw_auth_free;
 * it borrows cfg (which must outlive it) and owns copies of every secret,
 * which it wipes on free.  A gw_auth_result borrows from the gw_auth and is
 * valid until the next gw_auth_check on it. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "authresult.h"
#include "config.h"
#include "err.h"
#include "request.h"

typedef enum {
    GW_AUTH_ROUTE_PROMETHEUS, GW_AUTH_ROUTE_GRAFANA, GW_AUTH_ROUTE_EVENTS,
    GW_AUTH_ROUTE_SIGNALS, GW_AUTH_ROUTE_METRICS, GW_AUTH_ROUTE_EXPLAIN, GW_AUTH_ROUTE_N
} gw_auth_route;

typedef struct gw_auth gw_auth;

/* Whether route r admits anyone (its mode list is none, or for Grafana
 * empty without grafana.secret_files).  false for a list that does not
 * parse (gw_auth_config_errors reports it).  exposure.c asks this. */
bool gw_auth_route_anonymous(const gw_config *c, gw_auth_route r);

/* Reads the secret and token files the routes need (the bearer tokens
 * through bearer.h) and prepares the allowlist.  post/arg (borrowed) are
 * used by tokenreview only and may be NULL when no route uses it.
 * GW_ECONFIG with err naming the key and file on an unreadable or empty
 * secret file or a bad token entry: a route is never silently open.  The
 * config must have passed gw_config_load. */
gw_err gw_auth_new(const gw_config *cfg, gw_auth_post post, void *arg, gw_auth **out, char *err,
                   size_t errlen);
void   gw_auth_free(gw_auth *a);

/* auth.allow_cidrs: true when empty or when remote_addr (IPv4, IPv6, an
 * IPv4-mapped IPv6 address counts as IPv4) is inside one of them.  A
 * missing or unparsable address is refused when the list is not empty. */
bool gw_auth_ip_allowed(const gw_auth *a, const char *remote_addr);

/* Authenticates req for route at now_ms.  Always fills *res; res->status 0
 * means go ahead. */
void gw_auth_check(gw_auth *a, gw_auth_route route, const gw_request *req, long long now_ms,
                   gw_auth_result *res);

/* Whether an admission still depends on the namespaces the request acts
 * on: a scoped bearer token, or a tokenreview admission on a signal route.
 * When true, the caller must pass every namespace the request names to
 * gw_auth_authorize before it records anything. */
bool gw_auth_per_namespace(const gw_auth_result *res);

/* Authorises the admitted request res for namespace ns ("": a cluster-
 * scoped target) at now_ms: the bearer token's scope, or a
 * SubjectAccessReview in ns for the reviewed user (cached per token and
 * namespace; counted by the review rate bound).  Returns 0 when allowed;
 * otherwise res is refused (status, mode, reason, detail naming ns, why)
 * and its status returned: 403, or 503/500 when the apiserver could not be
 * asked (down, or the rate bound reached). */
int gw_auth_authorize(gw_auth *a, gw_auth_result *res, const char *ns, long long now_ms);

/* Validation of the auth.* keys (and grafana.secret_files as the Grafana
 * route's hmac secrets), for config.c: appends one "key: what" line per
 * problem to errs (bounded by errlen) and returns how many there were. */
int gw_auth_config_errors(const gw_config *cfg, char *errs, size_t errlen);

#endif
