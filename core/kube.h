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
 * next call reconnects. */
#ifndef GW_KUBE_H
#define GW_KUBE_H

#include <stdbool.h>
#include "buf.h"
#include "err.h"

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
    long        timeout_ms;
} gw_kube_opts;

/* Resolves credentials and creates the client.  The strings in opts are
 * copied.  On failure *out is NULL and err says which source failed and why
 * (never the token itself).  The caller frees with gw_kube_free(). */
gw_err gw_kube_new(const gw_kube_opts *opts, gw_kube **out, char *err, size_t errlen);
void   gw_kube_free(gw_kube *k);

/* The API server URL in use, e.g. "https://127.0.0.1:6443" (owned by k). */
const char *gw_kube_server(const gw_kube *k);

/* Sends one request.  path starts with "/" (e.g. "/apis/kubernaut.ai/v1alpha1
 * /namespaces/x/remediationrequests").  body may be NULL.  The response body
 * is appended to resp (caller-owned; reset by the caller).  Returns GW_OK
 * whenever an HTTP response arrived, whatever its status, with *http_status
 * set; GW_EKUBE (and *http_status 0) on connect/TLS/timeout errors;
 * GW_ETOOBIG if the response exceeds resp->max. */
gw_err gw_kube_request(gw_kube *k, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len,
                       long *http_status, gw_buf *resp, char *err, size_t errlen);

#endif
