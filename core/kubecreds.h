/* SPDX-License-Identifier: Apache-2.0 */
/* kubecreds.h - the credentials alertgw uses to talk to the Kubernetes API
 * server: where they come from, and a token that rotates.
 *
 * Taken from the first source found (the order and the kubeconfig rules
 * are in kube.h, whose gw_kube_new() is the one caller):
 *   1. explicit settings: api_url (+ token_file, ca_file, client cert/key);
 *   2. a kubeconfig: src->kubeconfig, else $KUBECONFIG, else
 *      ~/.kube/config;
 *   3. in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account's
 *      token and CA.
 * The server URL is checked too: https, or http:// to a loopback address
 * only (unless src->allow_insecure), because a bearer token must not
 * travel in clear text.
 *
 * Ownership: a gw_kube_creds is a plain struct its embedder owns (struct
 * gw_kube); every string in it and the private temp files it names belong
 * to it and are released by gw_kube_creds_clear(). */
#ifndef GW_KUBECREDS_H
#define GW_KUBECREDS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "err.h"

/* Where to look first; every string is borrowed for the call only. */
typedef struct {
    const char *api_url;          /* NULL or "": not explicit */
    const char *token_file;
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
    const char *kubeconfig;       /* NULL: $KUBECONFIG or ~/.kube/config */
    bool        allow_insecure;   /* insecure-skip-tls-verify, a token over plain http */
} gw_kube_source;

enum { GW_KUBE_TMP_CA, GW_KUBE_TMP_CERT, GW_KUBE_TMP_KEY, GW_KUBE_TMP_COUNT };

typedef struct {
    char           *server;        /* scheme://host[:port][/prefix], no trailing '/' */
    char           *ca_file;       /* NULL: libcurl's default trust store */
    char           *cert_file;     /* client certificate (PEM), with key_file */
    char           *key_file;
    bool            insecure;      /* kubeconfig insecure-skip-tls-verify, allowed */
    char           *token;         /* NULL: no bearer authentication */
    char           *token_file;    /* NULL: token is fixed for our lifetime */
    struct stat     token_st;      /* identity of the file the token came from */
    struct timespec token_checked; /* CLOCK_MONOTONIC of the last stat */
    char           *tmp_files[GW_KUBE_TMP_COUNT]; /* *-data written out; unlinked by clear */
} gw_kube_creds;

/* Fills the zeroed c from the first source found and checks the server
 * URL.  On failure err says which source failed and why (never the token
 * itself); c may hold part of what was read, and gw_kube_creds_clear()
 * releases it either way. */
gw_err gw_kube_creds_load(gw_kube_creds *c, const gw_kube_source *src, char *err, size_t errlen);

/* Unlinks the temp files, wipes the token and frees everything in c, which
 * is left zeroed. */
void gw_kube_creds_clear(gw_kube_creds *c);

/* Before a request: when the token came from a file and at least a second
 * (CLOCK_MONOTONIC) has passed since the last look, re-reads the file if
 * it changed.  A failed re-read keeps the last good token. */
void gw_kube_creds_refresh_token(gw_kube_creds *c);

/* After a 401: re-reads the token file now.  true when a different token
 * was installed (the request is then worth one more attempt). */
bool gw_kube_creds_reload_token(gw_kube_creds *c);

#endif
