/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig.h - reads a kubeconfig file into a gw_kube_creds: the
 * current context's cluster (server, CA, insecure-skip-tls-verify) and
 * user (client certificate and key, token or tokenFile).
 *
 * Semantics follow client-go where it matters to an operator (kubecreds.c,
 * "Design"): *-data beats the matching path, tokenFile beats token,
 * relative paths are relative to the kubeconfig's directory, a context
 * without a user means anonymous; what cannot be honoured (exec and
 * auth-provider plugins, basic auth, impersonation, proxy-url,
 * tls-server-name) is refused with a message naming the field.
 *
 * Ownership: path is borrowed for the call; what is read is copied into k
 * (see kubecreds.h), including the names of the private temp files that
 * *-data fields are written to, which gw_kube_creds_clear unlinks. */
#ifndef GW_KUBECONFIG_H
#define GW_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "kubecreds.h"

/* Fills k from the kubeconfig at path (at most 4 MiB).  allow_insecure:
 * honour insecure-skip-tls-verify (else it is an error).  GW_ECONFIG
 * (GW_ENOMEM) with err starting "kubeconfig" and naming the file on
 * anything it cannot use; k may hold part of what was read. */
gw_err gw_kubeconfig_load(gw_kube_creds *k, const char *path, bool allow_insecure, char *err,
                          size_t errlen);

#endif
