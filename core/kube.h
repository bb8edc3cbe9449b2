/* SPDX-License-Identifier: Apache-2.0 */
/* kube.h - HTTPS transport to the Kubernetes API server (libcurl).
 *
 * One gw_kube per worker process holds one reused curl easy handle (keep-
 * alive, HTTP/2 when libcurl has it) and the credentials.  Credentials are
 * taken from, first found:
 *   1. explicit options: api_url (+ token_file, ca_file, client cert/key);
 *   2. a kubeconfig: opts->kubeconfig, else $KUBECONFIG, else ~/.kube/config
 *      (current-context; token, tokenFile, client-certificate(-data),
 *      client-key(-data), certificate-authority(-data); insecure-skip-tls-
 *      verify refused unless opts->allow_insecure);
 *   3. in-cluster: KUBERNETES_SERVICE_HOST/PORT plus the service-account
 *      token and CA under /var/run/secrets/kubernetes.io/serviceaccount.
 * A token that comes from a file is re-read when the file changes (rotated
 * service-account tokens).  *-data fields are written to private temp
 * files (libcurl wants paths) that gw_kube_free() removes.
 *
 * Like hiredis' context: after a transport error the handle is reset, the
 * next call reconnects.
 *
 * Failing apiserver (spec 5; the reasoning is in kube.c and
 * docs/architecture.md):
 *   - one call's attempts, waits included, fit in opts->timeout_ms;
 *   - a call the caller marks GW_KUBE_REPEATABLE is repeated up to
 *     opts->retries times after a network error, 429 or 5xx, with full-
 *     jitter backoff (retry.h), honouring Retry-After up to a cap;
 *   - a 401 makes a token that came from a file be read again at once; if
 *     it changed, the attempt is repeated once with the new token (the
 *     apiserver did nothing with a request it could not authenticate);
 *   - a circuit breaker (breaker.h), shared by the worker pool once
 *     gw_kube_attach_metrics() is called, refuses calls at once while the
 *     apiserver is known to be failing. */
#ifndef GW_KUBE_H
#define GW_KUBE_H

#include <stdbool.h>
#include "breaker.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "metrics.h"

typedef struct gw_kube gw_kube;

typedef struct {
    const char *api_url;          /* NULL: not explicit */
    const char *token_file;
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
    const char *kubeconfig;       /* NULL: $KUBECONFIG or ~/.kube/config */
    bool        allow_insecure;
    long        connect_timeout_ms;
    long        timeout_ms;       /* budget of one call, all its attempts included */
    long        retries;          /* repeats of a failed repeatable call; 0: none */
    long        retry_base_ms;    /* first backoff ceiling; 0: 100 ms */
    long        retry_max_delay_ms; /* longest wait, largest Retry-After honoured; 0: 1 s */
    long        breaker_failures; /* consecutive failures that open the breaker; 0: no breaker */
    long        breaker_open_ms;  /* time open before a probe; 0: 10 s */
    gw_log_level log_min;         /* for the breaker's transition lines */
} gw_kube_opts;

/* Whether a call may be sent again after a failure whose outcome is not
 * known (the request may or may not have been applied). */
typedef enum {
    GW_KUBE_ONCE,        /* never repeated */
    GW_KUBE_REPEATABLE,  /* repeating it cannot apply it twice: reads, merge
                          * patches that set absolute values, and creates of
                          * a named object whose caller treats 409 on that
                          * name as its own earlier attempt (rrstore.c) */
    GW_KUBE_BEST_EFFORT, /* one attempt within GW_KUBE_BEST_EFFORT_MS (or the
                          * timeout, if shorter), whose outcome the breaker
                          * does not count (unless it was the half-open
                          * probe): a write that may fail without harm, so a
                          * slow or refusing Events API neither delays an
                          * answer long nor opens the breaker for the
                          * requests (recorder.c) */
} gw_kube_retry;

#define GW_KUBE_BEST_EFFORT_MS 1000

/* Resolves credentials and creates the client.  The strings in opts are
 * copied.  On failure *out is NULL and err says which source failed and why
 * (never the token itself).  The caller frees with gw_kube_free(). */
gw_err gw_kube_new(const gw_kube_opts *opts, gw_kube **out, char *err, size_t errlen);
void   gw_kube_free(gw_kube *k);

/* Makes the breaker and the retry counters those of the shared metrics
 * mapping (the worker pool's); m is borrowed and must outlive k.  Without
 * it, k uses a breaker of its own. */
void gw_kube_attach_metrics(gw_kube *k, gw_metrics *m);

/* The breaker's state now; *retry_in_ms (may be NULL) how long until an
 * open breaker lets a probe through (0 when closed). */
gw_breaker_state gw_kube_breaker_state(const gw_kube *k, long long *retry_in_ms);

/* true when the last gw_kube_request was refused by the open breaker
 * without calling the apiserver; *retry_after_s is then the time until the
 * next probe, in whole seconds, at least 1. */
bool gw_kube_last_refused(const gw_kube *k, long *retry_after_s);

/* Sends one request (repeated as `retry` allows, see above).  path starts
 * with "/" (e.g. "/apis/kubernaut.ai/v1alpha1/namespaces/x/
 * remediationrequests").  body may be NULL.  The response body
 * is appended to resp (caller-owned; reset by the caller).  Returns GW_OK
 * whenever an HTTP response arrived, whatever its status, with *http_status
 * set (after repeats: the last answer); GW_EKUBE (and *http_status 0) on
 * connect/TLS/timeout errors and when the breaker refused the call;
 * GW_ETOOBIG if the response exceeds resp->max.  A repeat first removes
 * what the failed attempt appended to resp. */
gw_err gw_kube_request(gw_kube *k, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len,
                       gw_kube_retry retry, long *http_status, gw_buf *resp, char *err,
                       size_t errlen);

#endif
