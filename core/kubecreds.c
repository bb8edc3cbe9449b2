/* SPDX-License-Identifier: Apache-2.0 */
/* kubecreds.c - the credentials for the Kubernetes API server; see
 * kubecreds.h.
 *
 * Design
 *
 * Credentials are resolved once, in gw_kube_new(), from the first source
 * found (explicit options, kubeconfig, in-cluster).  Everything a request
 * needs afterwards is a plain path or string inside struct gw_kube, so the
 * request path never parses anything.  The one thing that may change after
 * start-up is a token that came from a file: projected service-account
 * tokens are rotated by the kubelet (atomic symlink swap), so before each
 * request we stat the file - at most once per second, measured on
 * CLOCK_MONOTONIC so a wall-clock jump cannot stop or flood the checks - and
 * re-read it when its inode, size or mtime moved.  A failed re-read keeps the
 * last good token: the kubelet swaps files atomically, so a failure is
 * transient, and the API server will answer 401 if the old token really is
 * dead, which the caller sees as an HTTP status.
 *
 * Kubeconfig semantics follow client-go where it matters to an operator:
 * *-data beats the matching path, tokenFile beats token, relative paths are
 * relative to the kubeconfig's directory, a context without a user means
 * anonymous.  What we cannot honour faithfully (exec and auth-provider
 * plugins, basic auth, impersonation, proxy-url, tls-server-name) is refused
 * with a message naming the field, because silently ignoring it would talk
 * to the server as somebody else or fail later with a confusing TLS error.
 * An explicitly named kubeconfig (opts->kubeconfig or $KUBECONFIG) that is
 * missing is an error; only the default ~/.kube/config may be absent, and
 * then we fall through to in-cluster.  Falling through past an explicit
 * choice could quietly point the gateway at a different cluster.
 *
 * libcurl wants file names for the CA, client certificate and key, so
 * *-data fields are decoded (OpenSSL's base64) into mkstemp() files (mode
 * 0600) under $TMPDIR or /tmp, recorded in tmp_files[] before anything is
 * written so that gw_kube_free() - also on every failure path of
 * gw_kube_new() - unlinks them.  A crash leaks them; they hold what the
 * kubeconfig already held, with tighter permissions.
 *
 * The kubeconfig reader is kubeconfig.c; the helpers it shares with the
 * sources here (a string, a readable file, a token) are declared in
 * kubecreds_int.h.
 *
 * Invariants
 *
 * - The token never appears in an error message, and CURLOPT_VERBOSE is
 *   never set, because it would print the Authorization header.
 * - A bearer token is never sent over plain http:// except to a loopback
 *   address (tests and local test doubles) unless opts->allow_insecure:
 *   127.0.0.0/8 written as four decimal parts, ::1, or localhost, parsed
 *   (is_loopback), never matched as a text prefix. */
#include "kubecreds.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "file.h"
#include "kubeconfig.h"
#include "kubecreds_int.h"
#include "text.h"

#define KUBE_TOKEN_MAX                  (64u * 1024u)
#define KUBE_TOKEN_RECHECK_NS           1000000000LL
#define KUBE_SA_DIR                     "/var/run/secrets/kubernetes.io/serviceaccount"

/* ------------------------------------------------------------------ files */

gw_err gw_creds_check_readable(const char *path, const char *what, char *err, size_t errlen)
{
    if (access(path, R_OK) != 0)
        return gw_fail(GW_ECONFIG, err, errlen, "%s %s: %s", what, path, strerror(errno));
    return GW_OK;
}

gw_err gw_creds_set_str(char **dst, const char *src, char *err, size_t errlen)
{
    char *s = strdup(src);
    if (!s)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    free(*dst);
    *dst = s;
    return GW_OK;
}

/* ------------------------------------------------------------------ token */

/* Trims the token and checks it can go into a header line as is: a stray
 * CR/LF from an editor would otherwise split the request. */
gw_err gw_creds_clean_token(const char *raw, size_t len, const char *source, char **out,
                          char *err, size_t errlen)
{
    while (len && isspace((unsigned char)raw[0])) {
        raw++;
        len--;
    }
    while (len && isspace((unsigned char)raw[len - 1]))
        len--;
    if (len == 0)
        return gw_fail(GW_ECONFIG, err, errlen, "%s: token is empty", source);
    for (size_t i = 0; i < len; i++)
        if (raw[i] < 0x21 || raw[i] > 0x7e)
            return gw_fail(GW_ECONFIG, err, errlen,
                           "%s: token contains a space or non-printable byte at offset %zu",
                           source, i);
    *out = strndup(raw, len);
    if (!*out)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    return GW_OK;
}

static void now_monotonic(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

/* Reads the token from path and, on success only, installs it in k.
 * Messages start with the path; callers prefix the setting's name. */
gw_err gw_creds_load_token_file(gw_kube_creds *k, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    struct stat st;
    gw_err rc = gw_read_file(path, KUBE_TOKEN_MAX, &text, &len, &st, err, errlen);
    if (rc)
        return rc == GW_ENOMEM ? rc : GW_ECONFIG;
    char *tok = NULL;
    rc = gw_creds_clean_token(text, len, path, &tok, err, errlen);
    gw_file_free(text, len);
    if (rc)
        return rc;
    if (k->token_file != path) {
        rc = gw_creds_set_str(&k->token_file, path, err, errlen);
        if (rc) {
            free(tok);
            return rc;
        }
    }
    free(k->token);
    k->token = tok;
    k->token_st = st;
    now_monotonic(&k->token_checked);
    return GW_OK;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Picks up a rotated token; see the top of the file for why failures are
 * ignored here. */
void gw_kube_creds_refresh_token(gw_kube_creds *k)
{
    if (!k->token_file)
        return;
    struct timespec now;
    now_monotonic(&now);
    long long elapsed = (long long)(now.tv_sec - k->token_checked.tv_sec) * 1000000000LL +
                        (now.tv_nsec - k->token_checked.tv_nsec);
    if (elapsed < KUBE_TOKEN_RECHECK_NS)
        return;
    k->token_checked = now;
    struct stat st;
    if (stat(k->token_file, &st) != 0 || same_file(&st, &k->token_st))
        return;
    char ignored[256];
    (void)gw_creds_load_token_file(k, k->token_file, ignored, sizeof ignored);
}

/* After a 401: reads the token file now, whatever the last stat said.
 * true when a different token was installed. */
bool gw_kube_creds_reload_token(gw_kube_creds *k)
{
    if (!k->token_file || !k->token)
        return false;
    char *old = strdup(k->token);
    if (!old)
        return false;
    char ignored[256];
    bool changed = gw_creds_load_token_file(k, k->token_file, ignored, sizeof ignored) == GW_OK &&
                   strcmp(old, k->token) != 0;
    OPENSSL_cleanse(old, strlen(old));
    free(old);
    return changed;
}

/* ------------------------------------------------------- other sources */

static gw_err from_explicit(gw_kube_creds *k, const gw_kube_source *o, char *err, size_t errlen)
{
    static const char what[] = "kube settings";
    gw_err rc = gw_creds_set_str(&k->server, o->api_url, err, errlen);
    if (rc)
        return rc;
    if (o->token_file && *o->token_file) {
        char sub[512];
        if ((rc = gw_creds_load_token_file(k, o->token_file, sub, sizeof sub)))
            return gw_fail(rc, err, errlen, "%s: token_file %s", what, sub);
    }
    if (o->ca_file && *o->ca_file) {
        if ((rc = gw_creds_check_readable(o->ca_file, "kube settings: ca_file", err, errlen)))
            return rc;
        if ((rc = gw_creds_set_str(&k->ca_file, o->ca_file, err, errlen)))
            return rc;
    }
    bool cert = o->client_cert_file && *o->client_cert_file;
    bool key = o->client_key_file && *o->client_key_file;
    if (cert != key)
        return gw_fail(GW_ECONFIG, err, errlen,
                       "%s: client_cert_file and client_key_file must be given together", what);
    if (cert) {
        if ((rc = gw_creds_check_readable(o->client_cert_file, "kube settings: client_cert_file",
                                          err, errlen)))
            return rc;
        if ((rc = gw_creds_check_readable(o->client_key_file, "kube settings: client_key_file",
                                          err, errlen)))
            return rc;
        if ((rc = gw_creds_set_str(&k->cert_file, o->client_cert_file, err, errlen)))
            return rc;
        if ((rc = gw_creds_set_str(&k->key_file, o->client_key_file, err, errlen)))
            return rc;
    }
    return GW_OK;
}

static gw_err from_in_cluster(gw_kube_creds *k, const char *host, char *err, size_t errlen)
{
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!port || !*port)
        return gw_fail(GW_ECONFIG, err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST is set "
                       "but KUBERNETES_SERVICE_PORT is not");
    /* An IPv6 service address needs brackets in a URL. */
    bool v6 = strchr(host, ':') != NULL;
    if (asprintf(&k->server, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0) {
        k->server = NULL;
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }
    char sub[512];
    gw_err rc = gw_creds_load_token_file(k, KUBE_SA_DIR "/token", sub, sizeof sub);
    if (rc)
        return gw_fail(rc, err, errlen, "in-cluster: token %s", sub);
    if ((rc = gw_creds_check_readable(KUBE_SA_DIR "/ca.crt", "in-cluster: CA", err, errlen)))
        return rc;
    return gw_creds_set_str(&k->ca_file, KUBE_SA_DIR "/ca.crt", err, errlen);
}

static gw_err resolve_credentials(gw_kube_creds *k, const gw_kube_source *o, char *err,
                                  size_t errlen)
{
    if (o->api_url && *o->api_url)
        return from_explicit(k, o, err, errlen);
    if (o->kubeconfig && *o->kubeconfig)
        return gw_kubeconfig_load(k, o->kubeconfig, o->allow_insecure, err, errlen);

    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        /* Only the first non-empty entry: merging kubeconfigs is kubectl's
         * business, and the first is the one whose current-context wins. */
        size_t skip = strspn(env, ":");
        size_t len = strcspn(env + skip, ":");
        if (len) {
            char *first = strndup(env + skip, len);
            if (!first)
                return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
            gw_err rc = gw_kubeconfig_load(k, first, o->allow_insecure, err, errlen);
            free(first);
            return rc;
        }
    }

    /* Nothing explicit: the default kubeconfig may be absent. */
    gw_buf tried;
    gw_buf_init(&tried, 2048);
    (void)gw_buf_appends(&tried, "kube.api_url (not set); KUBECONFIG (not set); ");
    const char *home = getenv("HOME");
    if (home && *home) {
        char *path;
        if (asprintf(&path, "%s/.kube/config", home) < 0) {
            gw_buf_free(&tried);
            return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
        }
        if (access(path, F_OK) == 0) {
            gw_buf_free(&tried);
            gw_err rc = gw_kubeconfig_load(k, path, o->allow_insecure, err, errlen);
            free(path);
            return rc;
        }
        (void)gw_buf_printf(&tried, "%s (%s); ", path, strerror(errno));
        free(path);
    } else {
        (void)gw_buf_appends(&tried, "~/.kube/config (HOME not set); ");
    }

    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if (host && *host) {
        gw_buf_free(&tried);
        return from_in_cluster(k, host, err, errlen);
    }
    (void)gw_buf_appends(&tried, "in-cluster (KUBERNETES_SERVICE_HOST not set)");
    gw_err rc = gw_fail(GW_ECONFIG, err, errlen, "no Kubernetes credentials found; tried: %s",
                        tried.data ? tried.data : "");
    gw_buf_free(&tried);
    return rc;
}

/* The host of authority[0..len) ("host[:port]") is this machine: a literal 127.0.0.0/8
 * address in the four-part dotted form, ::1 in brackets (any spelling),
 * or the name localhost in any case (libcurl answers it with loopback
 * itself, never asking DNS).  Parsed, not compared as text: a name such as
 * 127.evil.example merely starts like an address.  Shorthand and octal/hex
 * forms (127.1, 0177.0.0.1) are refused: parsers disagree about them, and
 * an operator can always write 127.0.0.1. */
static bool is_loopback(const char *authority, size_t len)
{
    size_t n;
    if (authority[0] == '[') {
        const char *close = memchr(authority, ']', len);
        if (!close)
            return false;
        n = (size_t)(close - authority) + 1; /* gw_is_loopback_host takes the brackets */
    } else {
        n = strcspn(authority, ":/?#");
        if (n > len)
            return false;
    }
    return gw_is_loopback_host(authority, n);
}

/* Checks the scheme and refuses to send a token in clear text anywhere but
 * to this machine.  A deliberately small look at the URL: libcurl parses it
 * properly on every request. */
static gw_err check_server(gw_kube_creds *k, bool allow_insecure, char *err, size_t errlen)
{
    size_t len = strlen(k->server);
    while (len && k->server[len - 1] == '/')
        k->server[--len] = '\0';   /* so server + "/api" has one slash */

    bool tls;
    const char *rest;
    if (!strncasecmp(k->server, "https://", 8)) {
        tls = true;
        rest = k->server + 8;
    } else if (!strncasecmp(k->server, "http://", 7)) {
        tls = false;
        rest = k->server + 7;
    } else {
        return gw_fail(GW_ECONFIG, err, errlen,
                       "API server URL %s: must start with https:// (or http://)", k->server);
    }
    size_t authority = strcspn(rest, "/?#");
    if (authority == 0)
        return gw_fail(GW_ECONFIG, err, errlen, "API server URL %s: no host", k->server);
    if (memchr(rest, '@', authority))
        return gw_fail(GW_ECONFIG, err, errlen,
                       "API server URL: user information in the URL is not supported");
    if (rest[authority] == '?' || rest[authority] == '#')
        return gw_fail(GW_ECONFIG, err, errlen,
                       "API server URL %s: must not have a query or fragment", k->server);
    if (tls || !k->token || allow_insecure)
        return GW_OK;
    if (!is_loopback(rest, authority))
        return gw_fail(GW_ECONFIG, err, errlen,
                       "API server URL %s: refusing to send a bearer token over plain http:// "
                       "to a non-loopback host (use https, or set kubernetes.allow_insecure)",
                       k->server);
    return GW_OK;
}

/* ------------------------------------------------------------ public */

gw_err gw_kube_creds_load(gw_kube_creds *c, const gw_kube_source *src, char *err, size_t errlen)
{
    gw_err rc = resolve_credentials(c, src, err, errlen);
    if (rc)
        return rc;
    return check_server(c, src->allow_insecure, err, errlen);
}

void gw_kube_creds_clear(gw_kube_creds *c)
{
    for (int i = 0; i < GW_KUBE_TMP_COUNT; i++) {
        if (c->tmp_files[i])
            unlink(c->tmp_files[i]);
        free(c->tmp_files[i]);
    }
    free(c->server);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    if (c->token)
        OPENSSL_cleanse(c->token, strlen(c->token));
    free(c->token);
    free(c->token_file);
    memset(c, 0, sizeof *c);
}
