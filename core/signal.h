/* SPDX-License-Identifier: Apache-2.0 */
/* signal.h - the normalised signal every adapter produces.
 *
 * A gw_batch owns the parsed JSON document of one webhook body (`root`); the
 * signals in it borrow strings and the labels/annotations objects from that
 * document, so nothing is copied on the hot path.  gw_batch_free() releases
 * everything.  A signal that the adapter rejected keeps `error` set (and
 * nothing else is valid): one bad alert in a webhook does not sink the rest. */
#ifndef GW_SIGNAL_H
#define GW_SIGNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "kinds.h"
#include "target.h"

#define GW_ERRMSG 256

typedef struct {
    const char *name;        /* alertname or event reason */
    const char *severity;    /* raw; "unknown" when absent */
    bool        resolved;
    const char *source;      /* "prometheus", "grafana", "kubernetes-events" */
    const char *cluster;     /* "" when unknown */
    gw_target   target;
    json_t     *labels;      /* borrowed object (may be an empty object) */
    json_t     *annotations; /* borrowed object (may be an empty object) */
    const char *firing_time; /* RFC 3339, as received; "" when absent */
    long long   firing_ms;   /* firing_time in ms since 1970; 0 when absent
                              * (or before 1970: Go's zero time) */
    const char *ignored;     /* non-NULL: accepted but not acted on (200), why */
    const char *ignored_reason; /* with ignored: the answer's reason code
                                 * ("normal-event") */
    json_t     *item;        /* borrowed: this signal's own object in a
                              * webhook's alerts[]; NULL when the body is
                              * the signal (an Event) */
    char        fingerprint[65];
    bool        label_target; /* the target was picked from the labels by the
                               * built-in table (kinds.h): the gateway may
                               * pick again with the cluster's kinds */
    bool        no_target;    /* with error: the labels name no target
                               * resource at all (gw_target_from_labels'
                               * GW_ENOTFOUND): the Watchdog, a host or
                               * cluster-wide alert; the gateway answers it
                               * 200 (heartbeat, ignored), not 400, unless
                               * signals.reject_without_target */
    char        error[GW_ERRMSG]; /* non-empty: this signal was rejected (400) */
} gw_signal;

typedef struct {
    json_t     *root;        /* owned */
    const char *raw;         /* borrowed request body */
    size_t      raw_len;
    size_t      n;
    gw_signal  *signals;     /* owned array of n */
    json_t     *extra;       /* owned: objects an adapter made (e.g. labels) */
} gw_batch;

void gw_batch_free(gw_batch *b);

/* The adapters' common start: parses body with jansson (duplicate keys
 * rejected) into out->root, records raw/raw_len, and requires a JSON object
 * ("body must be <what>") nested no deeper than cfg->server_max_json_depth.  On failure out is empty and err says what is
 * wrong (GW_EINVAL). */
gw_err gw_batch_load(const gw_config *cfg, gw_batch *out, const char *body, size_t len,
                     const char *what, char *err, size_t errlen);

/* Shared tail of every adapter: checks the labels/annotations objects
 * against the size limits, picks the target from the labels (unless the
 * adapter already set s->target.kind), the cluster, and computes the
 * fingerprint.  On failure sets s->error (prefixed with where) and returns
 * GW_EINVAL. */
gw_err gw_signal_finish(const gw_config *cfg, gw_signal *s, json_t *common_labels,
                        const char *where);

/* The fingerprint of s with the inputs the configuration chooses (the
 * cluster, the target, and the signal name when
 * fingerprint.include_signal_name), of t instead of s->target when t is
 * not NULL (an owner the gateway resolved).  The one place that chooses. */
gw_err gw_signal_fingerprint(const gw_config *cfg, const gw_signal *s, const gw_target *t,
                             char out[65]);

/* Storage for what gw_signal_refine_target puts in a target. */
typedef struct {
    char kind[64];
    char api_version[300];
} gw_signal_target_store;

/* The gateway's second look at a target, with the cluster's kinds (k: the
 * worker's discovery, NULL: the built-in table):
 *   - a label target (s->label_target): a workload custom resource's label
 *     may win over the built-in pick (tie: the built-in kind); then the
 *     fingerprint is computed again, and a rejection for want of a target
 *     (no_target) is lifted;
 *   - api_version becomes the version the cluster serves the kind at (the
 *     last good discovery, else the built-in table), for label targets and
 *     for targets that came without one.
 * Strings that do not come from the labels are copied into *st, which must
 * live as long as s->target is used. */
void gw_signal_refine_target(const gw_kinds *k, const gw_config *cfg, gw_signal *s,
                      gw_signal_target_store *st);

#endif
