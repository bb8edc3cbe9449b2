/* SPDX-License-Identifier: Apache-2.0 */
/* kubecreds_int.h - what kubecreds.c lends the other credential source
 * that fills a gw_kube_creds, the kubeconfig reader (kubeconfig.c).  Only
 * those two files include it.
 *
 * Ownership: every string stored into a gw_kube_creds is a copy it owns
 * (gw_kube_creds_clear frees it); the arguments are borrowed for the call.
 * Messages go to err (errlen bytes) and never hold a token. */
#ifndef GW_KUBECREDS_INT_H
#define GW_KUBECREDS_INT_H

#include <stddef.h>

#include "err.h"
#include "kubecreds.h"

/* Replaces *dst (freed) with a copy of src. */
gw_err gw_creds_set_str(char **dst, const char *src, char *err, size_t errlen);

/* GW_ECONFIG "<what> <path>: <errno text>" unless path is readable. */
gw_err gw_creds_check_readable(const char *path, const char *what, char *err,
                                    size_t errlen);

/* raw[0..len) trimmed into a new string *out, refused (GW_ECONFIG naming
 * source) when empty or holding a space or a non-printable byte: the token
 * goes into a header line as is. */
gw_err gw_creds_clean_token(const char *raw, size_t len, const char *source, char **out,
                                 char *err, size_t errlen);

/* Reads the token in the file at path and, on success only, installs it in
 * k and remembers the file for rotation.  Messages start with the path. */
gw_err gw_creds_load_token_file(gw_kube_creds *k, const char *path, char *err,
                                     size_t errlen);

#endif
