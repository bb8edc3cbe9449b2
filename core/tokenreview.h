/* SPDX-License-Identifier: Apache-2.0 */
/* tokenreview.h - the tokenreview authentication mode (auth.c dispatches
 * to it): a Kubernetes bearer token is reviewed by the apiserver
 * (TokenReview), and its user authorised with SubjectAccessReviews.
 *
 *  - TokenReview with spec.audiences = auth.tokenreview_audiences when set;
 *    the answer's status.audiences must then list one of them (an apiserver
 *    that ignores spec.audiences answers for its own audiences, and the
 *    token may have been minted for another service).
 *  - SubjectAccessReview (auth.tokenreview_verb/_group/_resource/
 *    _subresource) for the reviewed user, uid, groups and extra: on the
 *    signal routes one per namespace the request names
 *    (gw_tokenreview_authorize; namespace omitted, i.e. cluster-wide, for a
 *    cluster-scoped target), on the read routes one in
 *    auth.tokenreview_namespace (default remediation.namespace).
 *  - Reviews are cached by SHA-256 of the token, per-namespace answers by
 *    SHA-256 of (that, namespace); auth.tokenreview_cache_entries of each,
 *    for auth.tokenreview_cache_ttl, refusals for at most 10 s.
 *  - Every call to the apiserver takes one from a per-worker token bucket
 *    (auth.tokenreview_max_per_second, holding one second's worth, at
 *    least 2; 0: no bound); when it is empty the request is refused 503
 *    (reason error) without a call, so random tokens cannot turn into
 *    unbounded apiserver load.
 *
 * Ownership: created by gw_tokenreview_new, freed by gw_tokenreview_free;
 * borrows cfg and post's arg (both must outlive it).  A result it admits on
 * a signal route points at the reviewed user it keeps (res->subject) until
 * its next gw_tokenreview_check. */
#ifndef GW_TOKENREVIEW_H
#define GW_TOKENREVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "authresult.h"
#include "config.h"
#include "err.h"

typedef struct gw_tokenreview gw_tokenreview;

/* GW_ENOMEM or GW_OK with *out. */
gw_err gw_tokenreview_new(const gw_config *cfg, gw_auth_post post, void *arg,
                          gw_tokenreview **out);
void   gw_tokenreview_free(gw_tokenreview *t);

/* Reviews tok[0..n) (NULL: no bearer token) at now_ms and fills r: admitted
 * (on a signal route with r->subject set: its namespaces are still to be
 * authorised), or refused 401, 403, 500 or 503. */
void gw_tokenreview_check(gw_tokenreview *t, const char *tok, size_t n, bool read_route,
                          long long now_ms, gw_auth_result *r);

/* res (admitted by gw_tokenreview_check with res->subject) in namespace ns
 * ("": cluster-wide).  0, or the status res is refused with (403, 500,
 * 503). */
int gw_tokenreview_authorize(gw_tokenreview *t, gw_auth_result *res, const char *ns,
                             long long now_ms);

#endif
