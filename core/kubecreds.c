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
#include <openssl/evp.h>
#include <yaml.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "file.h"
#include "text.h"

#define KUBE_TOKEN_MAX                  (64u * 1024u)
#define KUBE_KUBECONFIG_MAX             (4u * 1024u * 1024u)
#define KUBE_TOKEN_RECHECK_NS           1000000000LL
#define KUBE_SA_DIR                     "/var/run/secrets/kubernetes.io/serviceaccount"

/* ------------------------------------------------------------------ files */

static gw_err check_readable(const char *path, const char *what, char *err, size_t errlen)
{
    if (access(path, R_OK) != 0)
        return gw_fail(GW_ECONFIG, err, errlen, "%s %s: %s", what, path, strerror(errno));
    return GW_OK;
}

static gw_err set_str(char **dst, const char *src, char *err, size_t errlen)
{
    char *s = strdup(src);
    if (!s)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    free(*dst);
    *dst = s;
    return GW_OK;
}

/* Writes data to a new private temp file registered in k->tmp_files[slot]
 * (so gw_kube_free() removes it) and makes *dst point to a copy of its name. */
static gw_err write_tmp(gw_kube_creds *k, int slot, const unsigned char *data, size_t len,
                        char **dst, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char *name = NULL;
    if (asprintf(&name, "%s/alertgw-kube-XXXXXX", dir) < 0)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    /* mkstemp creates the file 0600 whatever the umask allows more of. */
    int fd = mkostemp(name, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(name);
        return gw_fail(GW_ECONFIG, err, errlen, "cannot create a temp file in %s: %s",
                       dir, strerror(e));
    }
    free(k->tmp_files[slot]);
    k->tmp_files[slot] = name;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return gw_fail(GW_ECONFIG, err, errlen, "%s: %s", name, strerror(e));
        }
        off += (size_t)n;
    }
    if (close(fd) != 0)
        return gw_fail(GW_ECONFIG, err, errlen, "%s: %s", name, strerror(errno));
    return set_str(dst, name, err, errlen);
}

/* Standard base64 (what kubectl writes) to bytes; the caller frees *out.
 * Whitespace is dropped first because YAML block scalars may fold the value
 * over lines, and missing padding is restored because EVP_DecodeBlock()
 * wants whole quanta.  EVP_DecodeBlock() counts the padding as zero bytes,
 * so those are subtracted. */
static bool b64_decode(const char *in, unsigned char **out, size_t *outlen)
{
    size_t inlen = strlen(in);
    if (inlen > KUBE_KUBECONFIG_MAX)
        return false;
    char *clean = malloc(inlen + 4);
    if (!clean)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < inlen; i++)
        if (!isspace((unsigned char)in[i]))
            clean[n++] = in[i];
    if (n == 0 || n % 4 == 1) {
        free(clean);
        return false;
    }
    while (n % 4 != 0)
        clean[n++] = '=';
    clean[n] = '\0';
    size_t pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
    unsigned char *bytes = malloc(n / 4 * 3 + 1);
    if (!bytes) {
        free(clean);
        return false;
    }
    int got = EVP_DecodeBlock(bytes, (const unsigned char *)clean, (int)n);
    free(clean);
    if (got < 0 || (size_t)got <= pad) {
        free(bytes);
        return false;
    }
    *out = bytes;
    *outlen = (size_t)got - pad;
    return true;
}

/* ------------------------------------------------------------------ token */

/* Trims the token and checks it can go into a header line as is: a stray
 * CR/LF from an editor would otherwise split the request. */
static gw_err clean_token(const char *raw, size_t len, const char *source, char **out,
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
static gw_err load_token_file(gw_kube_creds *k, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    struct stat st;
    gw_err rc = gw_read_file(path, KUBE_TOKEN_MAX, &text, &len, &st, err, errlen);
    if (rc)
        return rc == GW_ENOMEM ? rc : GW_ECONFIG;
    char *tok = NULL;
    rc = clean_token(text, len, path, &tok, err, errlen);
    gw_file_free(text, len);
    if (rc)
        return rc;
    if (k->token_file != path) {
        rc = set_str(&k->token_file, path, err, errlen);
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
    (void)load_token_file(k, k->token_file, ignored, sizeof ignored);
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
    bool changed = load_token_file(k, k->token_file, ignored, sizeof ignored) == GW_OK &&
                   strcmp(old, k->token) != 0;
    OPENSSL_cleanse(old, strlen(old));
    free(old);
    return changed;
}

/* ------------------------------------------------------------- kubeconfig */

typedef struct {
    const char     *path;    /* the kubeconfig, for messages */
    char           *dir;     /* its directory, for relative paths */
    yaml_document_t doc;
} kubeconfig;

/* Formats "kubeconfig PATH: <message>" as a GW_ECONFIG. */
static gw_err kc_fail(const kubeconfig *kc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static gw_err kc_fail(const kubeconfig *kc, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gw_fail(GW_ECONFIG, err, errlen, "kubeconfig %s: %s", kc->path, msg);
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    size_t len = strlen(s);
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
           memcmp(n->data.scalar.value, s, len) == 0;
}

static yaml_node_t *map_get(kubeconfig *kc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (scalar_is(yaml_document_get_node(&kc->doc, p->key), key))
            return yaml_document_get_node(&kc->doc, p->value);
    return NULL;
}

static unsigned node_line(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

/* *out is the string value of map[key], or NULL when the key is absent or
 * null (kubectl writes "token: " for an unset token). */
static gw_err get_str(kubeconfig *kc, yaml_node_t *map, const char *key, const char *where,
                      const char **out, char *err, size_t errlen)
{
    *out = NULL;
    yaml_node_t *n = map_get(kc, map, key);
    if (!n)
        return GW_OK;
    if (n->type != YAML_SCALAR_NODE)
        return kc_fail(kc, err, errlen, "%s: %s must be a string (line %u)", where, key,
                       node_line(n));
    const char *v = (const char *)n->data.scalar.value;
    if (strlen(v) != n->data.scalar.length)
        return kc_fail(kc, err, errlen, "%s: %s contains a NUL byte (line %u)", where, key,
                       node_line(n));
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (!*v || !strcmp(v, "~") || !strcasecmp(v, "null")))
        return GW_OK;
    *out = v;
    return GW_OK;
}

/* YAML 1.1 booleans, as the Go YAML decoder behind kubectl accepts them. */
static gw_err get_bool(kubeconfig *kc, yaml_node_t *map, const char *key, const char *where,
                       bool *out, char *err, size_t errlen)
{
    static const char *const yes[] = { "true", "yes", "on", "y" };
    static const char *const no[] = { "false", "no", "off", "n" };
    const char *v;
    gw_err rc = get_str(kc, map, key, where, &v, err, errlen);
    if (rc)
        return rc;
    *out = false;
    if (!v)
        return GW_OK;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = true;
            return GW_OK;
        }
        if (!strcasecmp(v, no[i]))
            return GW_OK;
    }
    return kc_fail(kc, err, errlen, "%s: %s must be true or false", where, key);
}

/* The `field` mapping of the entry called name in the top-level list
 * (e.g. list "clusters", field "cluster").  First match wins, like kubectl's
 * merge. */
static gw_err find_named(kubeconfig *kc, const char *list, const char *name, const char *field,
                         yaml_node_t **out, char *err, size_t errlen)
{
    yaml_node_t *root = yaml_document_get_root_node(&kc->doc);
    yaml_node_t *seq = map_get(kc, root, list);
    if (seq && seq->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *entry = yaml_document_get_node(&kc->doc, *it);
            if (!scalar_is(map_get(kc, entry, "name"), name))
                continue;
            yaml_node_t *body = map_get(kc, entry, field);
            if (!body || body->type != YAML_MAPPING_NODE)
                return kc_fail(kc, err, errlen, "%s entry \"%s\" has no %s mapping (line %u)",
                               list, name, field, node_line(entry));
            *out = body;
            return GW_OK;
        }
    }
    return kc_fail(kc, err, errlen, "no entry named \"%s\" in %s", name, list);
}

static gw_err resolve_path(const kubeconfig *kc, const char *p, char **out, char *err,
                           size_t errlen)
{
    int n = p[0] == '/' ? asprintf(out, "%s", p) : asprintf(out, "%s/%s", kc->dir, p);
    if (n < 0) {
        *out = NULL;
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }
    return GW_OK;
}

/* One file-or-data pair (certificate-authority / certificate-authority-data
 * ...): data wins, as in client-go.  Sets *dst, or leaves it NULL if neither
 * key is present. */
static gw_err file_or_data(gw_kube_creds *k, kubeconfig *kc, yaml_node_t *map, const char *where,
                           const char *key, int slot, char **dst, char *err, size_t errlen)
{
    char data_key[64];
    snprintf(data_key, sizeof data_key, "%s-data", key);
    const char *path, *data;
    gw_err rc = get_str(kc, map, key, where, &path, err, errlen);
    if (rc)
        return rc;
    rc = get_str(kc, map, data_key, where, &data, err, errlen);
    if (rc)
        return rc;
    if (data) {
        unsigned char *bytes;
        size_t len;
        if (!b64_decode(data, &bytes, &len))
            return kc_fail(kc, err, errlen, "%s: %s is not valid base64", where, data_key);
        rc = write_tmp(k, slot, bytes, len, dst, err, errlen);
        free(bytes);
        return rc;
    }
    if (!path)
        return GW_OK;
    rc = resolve_path(kc, path, dst, err, errlen);
    if (rc)
        return rc;
    char what[128];
    snprintf(what, sizeof what, "kubeconfig %s: %s: %s", kc->path, where, key);
    return check_readable(*dst, what, err, errlen);
}

static gw_err apply_cluster(gw_kube_creds *k, kubeconfig *kc, const char *name, bool allow_insecure,
                            char *err, size_t errlen)
{
    yaml_node_t *c;
    gw_err rc = find_named(kc, "clusters", name, "cluster", &c, err, errlen);
    if (rc)
        return rc;
    char where[256];
    snprintf(where, sizeof where, "cluster \"%s\"", name);

    static const char *const unsupported[][2] = {
        { "proxy-url", "set HTTPS_PROXY in the environment instead (libcurl honours it)" },
        { "tls-server-name", "point server at a name the certificate covers" },
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (map_get(kc, c, unsupported[i][0]))
            return kc_fail(kc, err, errlen, "%s: %s is not supported; %s", where,
                           unsupported[i][0], unsupported[i][1]);

    const char *server;
    if ((rc = get_str(kc, c, "server", where, &server, err, errlen)))
        return rc;
    if (!server)
        return kc_fail(kc, err, errlen, "%s: server is not set", where);
    if ((rc = set_str(&k->server, server, err, errlen)))
        return rc;

    bool insecure;
    if ((rc = get_bool(kc, c, "insecure-skip-tls-verify", where, &insecure, err, errlen)))
        return rc;
    if (insecure && !allow_insecure)
        return kc_fail(kc, err, errlen,
                       "%s: insecure-skip-tls-verify is set; refusing to talk to the API "
                       "server without verifying its certificate (set kubernetes.allow_insecure "
                       "to accept that)", where);
    k->insecure = insecure;
    return file_or_data(k, kc, c, where, "certificate-authority", GW_KUBE_TMP_CA, &k->ca_file, err,
                        errlen);
}

static gw_err apply_user(gw_kube_creds *k, kubeconfig *kc, const char *name, char *err, size_t errlen)
{
    yaml_node_t *u;
    gw_err rc = find_named(kc, "users", name, "user", &u, err, errlen);
    if (rc)
        return rc;
    char where[256];
    snprintf(where, sizeof where, "user \"%s\"", name);

    static const char *const unsupported[][2] = {
        { "exec", "exec credential plugins are not supported (the gateway runs no helper "
                  "programs); use token, tokenFile or a client certificate" },
        { "auth-provider", "auth-provider plugins are not supported; use token, tokenFile "
                           "or a client certificate" },
        { "username", "basic authentication is not supported; use token, tokenFile or a "
                      "client certificate" },
        { "password", "basic authentication is not supported; use token, tokenFile or a "
                      "client certificate" },
        { "as", "impersonation is not supported" },
        { "as-uid", "impersonation is not supported" },
        { "as-groups", "impersonation is not supported" },
        { "as-user-extra", "impersonation is not supported" },
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (map_get(kc, u, unsupported[i][0]))
            return kc_fail(kc, err, errlen, "%s: %s: %s", where, unsupported[i][0],
                           unsupported[i][1]);

    if ((rc = file_or_data(k, kc, u, where, "client-certificate", GW_KUBE_TMP_CERT, &k->cert_file, err,
                           errlen)))
        return rc;
    if ((rc = file_or_data(k, kc, u, where, "client-key", GW_KUBE_TMP_KEY, &k->key_file, err, errlen)))
        return rc;
    if (!k->cert_file != !k->key_file)
        return kc_fail(kc, err, errlen, "%s: client-certificate and client-key must be given "
                       "together", where);

    /* tokenFile beats token, as in client-go (the file is re-read, the
     * inline value cannot be). */
    const char *token, *token_file;
    if ((rc = get_str(kc, u, "tokenFile", where, &token_file, err, errlen)))
        return rc;
    if ((rc = get_str(kc, u, "token", where, &token, err, errlen)))
        return rc;
    if (token_file) {
        char *path;
        if ((rc = resolve_path(kc, token_file, &path, err, errlen)))
            return rc;
        char sub[256];
        rc = load_token_file(k, path, sub, sizeof sub);
        free(path);
        if (rc)
            return kc_fail(kc, err, errlen, "%s: tokenFile %s", where, sub);
        return GW_OK;
    }
    if (token) {
        char source[512];
        snprintf(source, sizeof source, "kubeconfig %s: %s", kc->path, where);
        return clean_token(token, strlen(token), source, &k->token, err, errlen);
    }
    return GW_OK;
}

static gw_err apply_kubeconfig(gw_kube_creds *k, kubeconfig *kc, bool allow_insecure, char *err,
                               size_t errlen)
{
    yaml_node_t *root = yaml_document_get_root_node(&kc->doc);
    if (!root)
        return kc_fail(kc, err, errlen, "file is empty");
    if (root->type != YAML_MAPPING_NODE)
        return kc_fail(kc, err, errlen, "top level is not a mapping");

    const char *current, *cluster, *user;
    gw_err rc = get_str(kc, root, "current-context", "top level", &current, err, errlen);
    if (rc)
        return rc;
    if (!current)
        return kc_fail(kc, err, errlen, "current-context is not set "
                       "(kubectl config use-context NAME)");
    yaml_node_t *ctx;
    if ((rc = find_named(kc, "contexts", current, "context", &ctx, err, errlen)))
        return rc;
    char where[256];
    snprintf(where, sizeof where, "context \"%s\"", current);
    if ((rc = get_str(kc, ctx, "cluster", where, &cluster, err, errlen)))
        return rc;
    if (!cluster)
        return kc_fail(kc, err, errlen, "%s: cluster is not set", where);
    if ((rc = get_str(kc, ctx, "user", where, &user, err, errlen)))
        return rc;
    if ((rc = apply_cluster(k, kc, cluster, allow_insecure, err, errlen)))
        return rc;
    /* No user in the context means anonymous, as for kubectl. */
    if (user)
        return apply_user(k, kc, user, err, errlen);
    return GW_OK;
}

static gw_err from_kubeconfig(gw_kube_creds *k, const char *path, bool allow_insecure, char *err,
                              size_t errlen)
{
    char *text;
    size_t len;
    char sub[512];
    gw_err rc = gw_read_file(path, KUBE_KUBECONFIG_MAX, &text, &len, NULL, sub, sizeof sub);
    if (rc)
        return gw_fail(rc == GW_ENOMEM ? rc : GW_ECONFIG, err, errlen, "kubeconfig: %s", sub);

    kubeconfig kc = { .path = path, .dir = strdup(path) };
    if (!kc.dir) {
        gw_file_free(text, len);
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }
    char *slash = strrchr(kc.dir, '/');
    if (!slash)
        strcpy(kc.dir, ".");
    else if (slash == kc.dir)
        slash[1] = '\0';
    else
        *slash = '\0';

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(kc.dir);
        gw_file_free(text, len);
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &kc.doc)) {
        rc = kc_fail(&kc, err, errlen, "YAML error at line %zu: %s",
                     parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "unknown");
    } else {
        rc = apply_kubeconfig(k, &kc, allow_insecure, err, errlen);
        yaml_document_delete(&kc.doc);
    }
    yaml_parser_delete(&parser);
    free(kc.dir);
    gw_file_free(text, len);
    return rc;
}

/* ------------------------------------------------------- other sources */

static gw_err from_explicit(gw_kube_creds *k, const gw_kube_source *o, char *err, size_t errlen)
{
    static const char what[] = "kube settings";
    gw_err rc = set_str(&k->server, o->api_url, err, errlen);
    if (rc)
        return rc;
    if (o->token_file && *o->token_file) {
        char sub[512];
        if ((rc = load_token_file(k, o->token_file, sub, sizeof sub)))
            return gw_fail(rc, err, errlen, "%s: token_file %s", what, sub);
    }
    if (o->ca_file && *o->ca_file) {
        if ((rc = check_readable(o->ca_file, "kube settings: ca_file", err, errlen)))
            return rc;
        if ((rc = set_str(&k->ca_file, o->ca_file, err, errlen)))
            return rc;
    }
    bool cert = o->client_cert_file && *o->client_cert_file;
    bool key = o->client_key_file && *o->client_key_file;
    if (cert != key)
        return gw_fail(GW_ECONFIG, err, errlen,
                       "%s: client_cert_file and client_key_file must be given together", what);
    if (cert) {
        if ((rc = check_readable(o->client_cert_file, "kube settings: client_cert_file", err,
                                 errlen)))
            return rc;
        if ((rc = check_readable(o->client_key_file, "kube settings: client_key_file", err,
                                 errlen)))
            return rc;
        if ((rc = set_str(&k->cert_file, o->client_cert_file, err, errlen)))
            return rc;
        if ((rc = set_str(&k->key_file, o->client_key_file, err, errlen)))
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
    gw_err rc = load_token_file(k, KUBE_SA_DIR "/token", sub, sizeof sub);
    if (rc)
        return gw_fail(rc, err, errlen, "in-cluster: token %s", sub);
    if ((rc = check_readable(KUBE_SA_DIR "/ca.crt", "in-cluster: CA", err, errlen)))
        return rc;
    return set_str(&k->ca_file, KUBE_SA_DIR "/ca.crt", err, errlen);
}

static gw_err resolve_credentials(gw_kube_creds *k, const gw_kube_source *o, char *err, size_t errlen)
{
    if (o->api_url && *o->api_url)
        return from_explicit(k, o, err, errlen);
    if (o->kubeconfig && *o->kubeconfig)
        return from_kubeconfig(k, o->kubeconfig, o->allow_insecure, err, errlen);

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
            gw_err rc = from_kubeconfig(k, first, o->allow_insecure, err, errlen);
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
            gw_err rc = from_kubeconfig(k, path, o->allow_insecure, err, errlen);
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
