/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig.c - a kubeconfig file read into a gw_kube_creds; see
 * kubeconfig.h for what is honoured and kubecreds.c ("Design") for why.
 *
 * The file is read whole (bounded) and parsed by libyaml into a document;
 * every lookup walks that document, and every error names the kubeconfig,
 * the entry ("cluster \"prod\"") and, where there is one, the line.
 * libcurl wants file names for the CA, client certificate and key, so
 * *-data fields are decoded (OpenSSL's base64) into mkstemp() files (mode
 * 0600) under $TMPDIR or /tmp, recorded in the creds' tmp_files[] before
 * anything is written so that gw_kube_creds_clear() unlinks them. */
#include "kubeconfig.h"

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

#include "file.h"
#include "kubecreds_int.h"

#define KUBE_KUBECONFIG_MAX             (4u * 1024u * 1024u)

/* Writes data to a new private temp file registered in k->tmp_files[slot]
 * (so gw_kube_creds_clear() removes it) and makes *dst point to a copy of its
 * name. */
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
    return gw_creds_set_str(dst, name, err, errlen);
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
    return gw_creds_check_readable(*dst, what, err, errlen);
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
    if ((rc = gw_creds_set_str(&k->server, server, err, errlen)))
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

static gw_err apply_user(gw_kube_creds *k, kubeconfig *kc, const char *name, char *err,
                         size_t errlen)
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

    if ((rc = file_or_data(k, kc, u, where, "client-certificate", GW_KUBE_TMP_CERT,
                           &k->cert_file, err, errlen)))
        return rc;
    if ((rc = file_or_data(k, kc, u, where, "client-key", GW_KUBE_TMP_KEY, &k->key_file, err,
                           errlen)))
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
        rc = gw_creds_load_token_file(k, path, sub, sizeof sub);
        free(path);
        if (rc)
            return kc_fail(kc, err, errlen, "%s: tokenFile %s", where, sub);
        return GW_OK;
    }
    if (token) {
        char source[512];
        snprintf(source, sizeof source, "kubeconfig %s: %s", kc->path, where);
        return gw_creds_clean_token(token, strlen(token), source, &k->token, err, errlen);
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

gw_err gw_kubeconfig_load(gw_kube_creds *k, const char *path, bool allow_insecure, char *err,
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
