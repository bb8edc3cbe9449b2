/* SPDX-License-Identifier: Apache-2.0 */
/* rr.h - builds the RemediationRequest object (spec section 4) as JSON.
 *
 * Pure: no I/O.  Every value comes from the signal or the arguments; the
 * JSON is built with jansson, never by pasting strings.  Empty values are
 * omitted (the apiserver answers 422 to "" in constrained fields), label
 * values are sanitised to Kubernetes label syntax, signalLabels values are
 * cut to 63 bytes at a UTF-8 boundary, originalPayload is capped and marked. */
#ifndef GW_RR_H
#define GW_RR_H

#include <jansson.h>
#include "config.h"
#include "signal.h"

typedef struct {
    const gw_signal *sig;
    const char      *name;          /* rr-<12 hex>-<8 hex> */
    const char      *namespace_;    /* where it is created */
    const char      *environment;
    const char      *priority;      /* P0..P3 */
    long long        received_ms;
    const char      *raw;           /* originalPayload: the signal's own part
                                     * of the body (gw_rr_alert_payload) */
    size_t           raw_len;
    /* a storm's aggregate: label kubernaut.ai/storm "true" and the storm
     * annotations (gw_rr_storm_annotations); NULL for ordinary requests */
    const char      *storm_type;
    const char      *storm_resources; /* "Pod/a,Pod/b" */
    long long        storm_total;
} gw_rr_input;

/* Returns a new reference (caller json_decref()s), NULL on ENOMEM. */
json_t *gw_rr_build(const gw_config *cfg, const gw_rr_input *in);

/* Sets the storm annotations on an annotations object: type, the listed
 * resources (comma-separated, as given, already capped), the total. */
void gw_rr_storm_annotations(json_t *ann, const char *type, const char *resources,
                             long long total);

/* The originalPayload of one alert of a webhook: the group's fields of root
 * (version, groupKey, status, receiver, groupLabels, commonLabels,
 * commonAnnotations, externalURL, truncatedAlerts, and Grafana's orgId,
 * state, title, message) and "alerts": [item] - never the other alerts of
 * the batch, so a request about one namespace carries nothing about
 * another, and never fields alertgw does not know.  A new string, made by
 * json_dumps: release it with gw_json_free (jsonmem.h).  NULL on ENOMEM. */
char *gw_rr_alert_payload(json_t *root, json_t *item);

/* Writes the "rr-<first 12 hex>-<8 random hex>" name into out (>= 25). */
void gw_rr_name(const char *fingerprint, const unsigned char rnd[4], char *out);

#endif
