/* SPDX-License-Identifier: Apache-2.0 */
/* rrstore.h - RemediationRequests in the apiserver: find, create, patch status.
 *
 * Thin layer over gw_kube_request that knows the resource path, reads the
 * apiserver's Status objects for clear messages.  HTTP codes become gw_err
 * by gw_err_from_http (err.h): 429/5xx/transport -> GW_EKUBE (temporary,
 * 503); 403/422 and other 4xx -> GW_EKUBECONF (the operator must fix
 * something, 500), and so is a 404 where the collection itself is missing
 * (no CRD); a 404 of one named request is handled by each call. */
#ifndef GW_RRSTORE_H
#define GW_RRSTORE_H

#include <jansson.h>
#include <stdbool.h>
#include "buf.h"
#include "config.h"
#include "err.h"
#include "kube.h"
#include "rrphase.h"

typedef struct {
    char      name[254];
    char      ns[64];
    long long count;      /* status.deduplication.occurrenceCount, 0 if none */
    long long first_ms;   /* status.deduplication.firstSeenAt, 0 if none */
    /* gw_rrstore_find_open's GW_ENOTFOUND: the newest request of the
     * fingerprint the label lookup saw, all finished ("" none), and its
     * status.overallPhase ("" none): the request a new one replaces */
    char      finished[254];
    char      finished_phase[32];
} gw_rr_ref;

/* Finds a request for fp in ns that is still open by the rules of
 * rrphase.h (the preferred one when several are): first by the
 * kubernaut.ai/fingerprint label; when that finds none open and
 * cfg->rr_field_fallback is set, by a paged list of ns filtered on
 * spec.signalFingerprint (requests of other producers; see rrstore.c).
 * GW_ENOTFOUND when there is none; err is then "" or says why the search
 * stopped short (the fallback's item cap), for the log, and out->finished
 * names the newest finished request the label lookup saw. */
gw_err gw_rrstore_find_open(gw_kube *k, const gw_config *cfg, const char *ns, const char *fp,
                            gw_buf *scratch, gw_rr_ref *out, char *err, size_t errlen);

/* Reads the request ns/name (a watch-cache read): its count and first
 * occurrence into out, and whether it is open (rrphase.h) into *state.
 * GW_ENOTFOUND when it is gone or being deleted. */
gw_err gw_rrstore_get(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                      gw_buf *scratch, gw_rr_ref *out, gw_rr_open *state, char *err,
                      size_t errlen);

/* POSTs obj (its metadata.namespace says where).  409 AlreadyExists for an
 * object with obj's spec.signalFingerprint is success (an earlier attempt
 * of this create, repeated by kube.c, was stored); for another
 * fingerprint's object it is GW_EBUSY so the caller can pick a new name.
 * After GW_OK, as after a successful patch below, scratch holds the
 * object as the apiserver answered it (its metadata.uid for the request's
 * Events, recorder.h), unless the answer was too large to keep. */
gw_err gw_rrstore_create(gw_kube *k, const gw_config *cfg, json_t *obj, gw_buf *scratch,
                         char *err, size_t errlen);

/* Merge-patches status.deduplication.  *finished is set when the object is
 * gone (404) or the patched object it answers with is closed by the rules
 * of rrphase.h, judged now: the next occurrence must create a new
 * request. */
gw_err gw_rrstore_patch_dedup(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                              long long count, long long first_ms, long long last_ms,
                              gw_buf *scratch, bool *finished, char *err, size_t errlen);

/* Reads ns/name and judges it by rrphase.h's rules at now_ms: *state, and
 * *phase (status.overallPhase; "" when none yet).  GW_ENOTFOUND when it is
 * gone. */
gw_err gw_rrstore_state(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                        long long now_ms, gw_buf *scratch, gw_rr_open *state, char phase[32],
                        char *err, size_t errlen);

/* Merge-patches metadata with `meta` ({"labels":{...},"annotations":{...}});
 * borrowed.  404 is GW_ENOTFOUND. */
gw_err gw_rrstore_patch_meta(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                             json_t *meta, gw_buf *scratch, char *err, size_t errlen);

/* Merge-patches one metadata annotation (e.g. kubernaut.ai/resolved-at). */
gw_err gw_rrstore_annotate(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                           const char *key, const char *value, gw_buf *scratch, char *err,
                           size_t errlen);

/* Readiness: lists at most one request in the controller namespace, which
 * proves the apiserver answers, the CRD is installed and RBAC allows us.
 * GW_OK with *http_status set whenever an answer arrived (200 = ready). */
gw_err gw_rrstore_probe(gw_kube *k, const gw_config *cfg, gw_buf *scratch, long *http_status,
                        char *err, size_t errlen);

#endif
