/* SPDX-License-Identifier: Apache-2.0 */
/* kube.c - HTTPS transport to the Kubernetes API server; see kube.h.
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
 * The curl handle
 *
 * One easy handle per gw_kube, reused so the connection (and TLS session)
 * stays alive between requests.  Options that never change are set once in
 * open_handle(); every option that varies per request (URL, method, body,
 * headers, write target) is set on every request, and the pointers into the
 * caller's memory are cleared again before gw_kube_request() returns, so no
 * request can inherit anything from the one before.  After a transport
 * error, or a transfer we aborted, the handle is destroyed and the next
 * request builds a fresh one (the hiredis reconnect model): a half-dead
 * connection is never reused.
 *
 * A failing apiserver
 *
 * gw_kube_request() is one call to the caller, however many attempts it
 * takes.  All its attempts and the waits between them fit in timeout_ms
 * (each attempt gets what is left of it as its curl timeout), so a caller's
 * worst case is what it was before retries existed - which matters because
 * the Redis claim lease (dedup.pending_lease) is sized against a lookup plus
 * a create.  Repeated are network errors, 429 and 5xx (retry.h), at most
 * `retries` times, after a full-jitter wait drawn with RAND_bytes, and never
 * earlier than a Retry-After the server sent (one above the cap means we
 * give up instead).  4xx other than 401 are answers, not failures.
 *
 * Only the caller knows whether sending a request twice can apply it twice,
 * so it says so (gw_kube_retry).  The case that needs thought is a POST
 * create whose first attempt timed out or got a 5xx: the apiserver may have
 * stored the object anyway.  Our creates carry a fixed name chosen before
 * the first attempt (rr-<fp>-<random>), and every attempt sends the same
 * body, so a repeat either creates it (the first did not) or gets 409
 * AlreadyExists for that very name.  rrstore.c reads the object back on
 * 409 and takes it as created when it carries our fingerprint: exactly one
 * object either way, never a second one under a new name.  Only when the
 * name belongs to another fingerprint does the caller pick a new name.
 *
 * A 401 re-reads a file-backed token at once (not waiting for the
 * once-a-second stat) and, when it changed, repeats the attempt once: the
 * kubelet may have rotated the token between our last stat and this
 * request.  An unauthenticated request was not acted on, so this holds for
 * every method.
 *
 * The circuit breaker (breaker.h) counts calls, as kubernetes.
 * breaker_failures says: it is asked once when a call starts and told the
 * call's outcome once, after its repeats (a call whose last attempt failed
 * is one failure, however many attempts it made; one that got an answer at
 * a repeat is a success).  While it is open nothing is sent and the call
 * fails at once with GW_EKUBE; gw_kube_last_refused() lets the caller put
 * the time until the next probe in Retry-After.  A call whose repeat finds
 * the breaker opened meanwhile (by other workers) is not repeated.  A probe
 * is a single attempt.  Its state lives in the shared metrics mapping when one is
 * attached, so the whole worker pool opens and closes together, and the one
 * worker whose compare-and-swap made a transition logs it.
 *
 * Invariants
 *
 * - curl_global_init() is called once by the process at start-up, before any
 *   gw_kube_new(); it is not thread-safe and we keep no globals, so this
 *   file never calls it (nor curl_global_cleanup()).
 * - The token never appears in an error message, and CURLOPT_VERBOSE is
 *   never set, because it would print the Authorization header.
 * - A bearer token is never sent over plain http:// except to a loopback
 *   address (tests and local test doubles) unless opts->allow_insecure:
 *   127.0.0.0/8 written as four decimal parts, ::1, or localhost, parsed
 *   (is_loopback), never matched as a text prefix.
 * - gw_kube_request(): *http_status is non-zero exactly when it returns
 *   GW_OK.
 * - Redirects are not followed: the API server does not redirect, and a
 *   redirect would be the easiest way to lure the token somewhere else. */
#include "kube.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <yaml.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"
#include "text.h"

#define KUBE_CONNECT_TIMEOUT_MS_DEFAULT 2000L
#define KUBE_RETRY_BASE_MS_DEFAULT      100L
#define KUBE_RETRY_MAX_DELAY_MS_DEFAULT 1000L
#define KUBE_BREAKER_OPEN_MS_DEFAULT    10000L
#define KUBE_TIMEOUT_MS_DEFAULT         5000L
#define KUBE_TOKEN_MAX                  (64u * 1024u)
#define KUBE_KUBECONFIG_MAX             (4u * 1024u * 1024u)
#define KUBE_PATH_MAX                   8192u
#define KUBE_TOKEN_RECHECK_NS           1000000000LL
#define KUBE_SA_DIR                     "/var/run/secrets/kubernetes.io/serviceaccount"

enum { TMP_CA, TMP_CERT, TMP_KEY, TMP_COUNT };

struct gw_kube {
    char           *server;        /* scheme://host[:port][/prefix], no trailing '/' */
    char           *ca_file;       /* NULL: libcurl's default trust store */
    char           *cert_file;     /* client certificate (PEM), with key_file */
    char           *key_file;
    bool            insecure;      /* kubeconfig insecure-skip-tls-verify, allowed */
    char           *token;         /* NULL: no bearer authentication */
    char           *token_file;    /* NULL: token is fixed for our lifetime */
    struct stat     token_st;      /* identity of the file the token came from */
    struct timespec token_checked; /* CLOCK_MONOTONIC of the last stat */
    char           *tmp_files[TMP_COUNT];
    long            connect_timeout_ms;
    long            timeout_ms;
    CURL           *curl;          /* NULL after a failed transfer */
    char            curl_err[CURL_ERROR_SIZE];
    gw_retry_policy retry;
    gw_breaker_policy brk_policy;
    gw_breaker      own_breaker;   /* used until gw_kube_attach_metrics */
    gw_breaker     *breaker;       /* &own_breaker or in the shared mapping */
    gw_metrics     *metrics;       /* borrowed; NULL: nothing counted */
    gw_log_level    log_min;
    bool            refused;       /* the last call was refused by the breaker */
    long            refused_retry_s;
};

/* ------------------------------------------------------------------ files */

/* Reads a whole regular file of at most max bytes into out (initialised
 * here; the caller frees it).  st receives the identity of what was read. */
static gw_err read_file(const char *path, size_t max, gw_buf *out, struct stat *st,
                        char *err, size_t errlen)
{
    gw_buf_init(out, max);
    /* O_NONBLOCK: a FIFO in place of a token file must not hang start-up. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return gw_fail(GW_ECONFIG, err, errlen, "%s: %s", path, strerror(errno));
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return gw_fail(GW_ECONFIG, err, errlen, "%s: not a regular file", path);
    }
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            gw_buf_free(out);
            return gw_fail(GW_ECONFIG, err, errlen, "%s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        gw_err rc = gw_buf_append(out, chunk, (size_t)n);
        if (rc) {
            close(fd);
            gw_buf_free(out);
            if (rc == GW_ETOOBIG)
                return gw_fail(GW_ECONFIG, err, errlen, "%s: larger than %zu bytes", path, max);
            return gw_fail(rc, err, errlen, "%s: out of memory", path);
        }
    }
    close(fd);
    return GW_OK;
}

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
static gw_err write_tmp(gw_kube *k, int slot, const unsigned char *data, size_t len,
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
static gw_err load_token_file(gw_kube *k, const char *path, char *err, size_t errlen)
{
    gw_buf b;
    struct stat st;
    gw_err rc = read_file(path, KUBE_TOKEN_MAX, &b, &st, err, errlen);
    if (rc)
        return rc;
    char *tok = NULL;
    rc = clean_token(b.data ? b.data : "", b.len, path, &tok, err, errlen);
    gw_buf_free(&b);
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
static void refresh_token(gw_kube *k)
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
static bool reload_token(gw_kube *k)
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
static gw_err file_or_data(gw_kube *k, kubeconfig *kc, yaml_node_t *map, const char *where,
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

static gw_err apply_cluster(gw_kube *k, kubeconfig *kc, const char *name, bool allow_insecure,
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
    return file_or_data(k, kc, c, where, "certificate-authority", TMP_CA, &k->ca_file, err,
                        errlen);
}

static gw_err apply_user(gw_kube *k, kubeconfig *kc, const char *name, char *err, size_t errlen)
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

    if ((rc = file_or_data(k, kc, u, where, "client-certificate", TMP_CERT, &k->cert_file, err,
                           errlen)))
        return rc;
    if ((rc = file_or_data(k, kc, u, where, "client-key", TMP_KEY, &k->key_file, err, errlen)))
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

static gw_err apply_kubeconfig(gw_kube *k, kubeconfig *kc, bool allow_insecure, char *err,
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

static gw_err from_kubeconfig(gw_kube *k, const char *path, bool allow_insecure, char *err,
                              size_t errlen)
{
    gw_buf text;
    struct stat st;
    char sub[512];
    gw_err rc = read_file(path, KUBE_KUBECONFIG_MAX, &text, &st, sub, sizeof sub);
    if (rc)
        return gw_fail(rc, err, errlen, "kubeconfig %s", sub);

    kubeconfig kc = { .path = path, .dir = strdup(path) };
    if (!kc.dir) {
        gw_buf_free(&text);
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
        gw_buf_free(&text);
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text.data ? text.data : ""),
                                 text.len);
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
    gw_buf_free(&text);
    return rc;
}

/* ------------------------------------------------------- other sources */

static gw_err from_explicit(gw_kube *k, const gw_kube_opts *o, char *err, size_t errlen)
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

static gw_err from_in_cluster(gw_kube *k, const char *host, char *err, size_t errlen)
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

static gw_err resolve_credentials(gw_kube *k, const gw_kube_opts *o, char *err, size_t errlen)
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
static gw_err check_server(gw_kube *k, bool allow_insecure, char *err, size_t errlen)
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

/* ------------------------------------------------------------ the handle */

typedef struct {
    gw_buf *buf;
    gw_err  rc;    /* set when on_body refused data */
} body_sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    body_sink *sink = userdata;
    size_t n = size * nmemb;   /* size is always 1 */
    gw_err rc = gw_buf_append(sink->buf, data, n);
    if (rc) {
        sink->rc = rc;
        return 0;   /* anything but n makes libcurl abort with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Bodies always go through POSTFIELDS.  Should libcurl ever want to read
 * one instead, its default reads stdin - in a FastCGI worker that is the
 * listening socket - so fail the transfer rather than hang or eat it. */
static size_t no_upload(char *data, size_t size, size_t nmemb, void *userdata)
{
    (void)data; (void)size; (void)nmemb; (void)userdata;
    return CURL_READFUNC_ABORT;
}

static void close_handle(gw_kube *k)
{
    if (k->curl)
        curl_easy_cleanup(k->curl);
    k->curl = NULL;
}

/* Creates the easy handle and sets every option that is the same for all
 * requests. */
static gw_err open_handle(gw_kube *k, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (!h)
        return gw_fail(GW_EINTERNAL, err, errlen,
                       "curl_easy_init failed (was curl_global_init called at start-up?)");
    k->curl = h;
    k->curl_err[0] = '\0';

    /* HTTP/2 is an optimisation; a libcurl without nghttp2 refuses the
     * option and HTTP/1.1 keep-alive does the job. */
    (void)curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);

    CURLcode cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);   /* no SIGALRM in workers */
#if LIBCURL_VERSION_NUM >= 0x075500
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    /* the path is sent as built: no "/../" squashing (path_ok refuses
     * dot segments; this is the second line of that defence) */
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    if (cc == CURLE_OK)   /* idle keep-alive connections through NAT and LBs */
        cc = curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, k->curl_err);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_USERAGENT, "alertgw");
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_READFUNCTION, no_upload);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, k->insecure ? 0L : 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, k->insecure ? 0L : 2L);
    if (cc == CURLE_OK && k->ca_file)
        cc = curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
    if (cc == CURLE_OK && k->cert_file)
        cc = curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert_file);
    if (cc == CURLE_OK && k->key_file)
        cc = curl_easy_setopt(h, CURLOPT_SSLKEY, k->key_file);
    if (cc != CURLE_OK) {
        close_handle(k);
        return gw_fail(cc == CURLE_OUT_OF_MEMORY ? GW_ENOMEM : GW_EINTERNAL, err, errlen,
                       "libcurl setup: %s", curl_easy_strerror(cc));
    }
    return GW_OK;
}

/* -------------------------------------------------------------- public */

gw_err gw_kube_new(const gw_kube_opts *opts, gw_kube **out, char *err, size_t errlen)
{
    static const gw_kube_opts defaults;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    gw_kube *k = calloc(1, sizeof *k);
    if (!k)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    k->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                         : KUBE_CONNECT_TIMEOUT_MS_DEFAULT;
    k->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : KUBE_TIMEOUT_MS_DEFAULT;
    k->retry.retries = opts->retries > 0 ? opts->retries : 0;
    k->retry.base_ms = opts->retry_base_ms > 0 ? opts->retry_base_ms : KUBE_RETRY_BASE_MS_DEFAULT;
    k->retry.max_delay_ms = opts->retry_max_delay_ms > 0 ? opts->retry_max_delay_ms
                                                         : KUBE_RETRY_MAX_DELAY_MS_DEFAULT;
    k->brk_policy.failures = opts->breaker_failures > 0 ? opts->breaker_failures : 0;
    k->brk_policy.open_ms = opts->breaker_open_ms > 0 ? opts->breaker_open_ms
                                                      : KUBE_BREAKER_OPEN_MS_DEFAULT;
    /* a probe is one attempt: it ends within timeout_ms; the margin covers
     * a worker that is slow to report */
    k->brk_policy.probe_ms = k->timeout_ms + 1000;
    gw_breaker_init(&k->own_breaker);
    k->breaker = &k->own_breaker;
    k->log_min = opts->log_min;

    gw_err rc = resolve_credentials(k, opts, err, errlen);
    if (rc == GW_OK)
        rc = check_server(k, opts->allow_insecure, err, errlen);
    if (rc == GW_OK)
        rc = open_handle(k, err, errlen);
    if (rc) {
        gw_kube_free(k);
        return rc;
    }
    *out = k;
    return GW_OK;
}

void gw_kube_free(gw_kube *k)
{
    if (!k)
        return;
    close_handle(k);
    for (int i = 0; i < TMP_COUNT; i++) {
        if (k->tmp_files[i])
            unlink(k->tmp_files[i]);
        free(k->tmp_files[i]);
    }
    free(k->server);
    free(k->ca_file);
    free(k->cert_file);
    free(k->key_file);
    free(k->token);
    free(k->token_file);
    free(k);
}

const char *gw_kube_server(const gw_kube *k)
{
    return k->server;
}

/* A request path: "/" segments, then at most one "?query".  Visible bytes
 * only (a control byte or a space would make libcurl reject the URL, which
 * would look like a transport failure when it is bad input), no fragment,
 * no "." or ".." segment (even percent-encoded), and "%" only as the start
 * of a %XX escape.  Callers build paths with gw_k8s_path, which already
 * guarantees all of this; here it is checked once more where the URL is
 * made, and CURLOPT_PATH_AS_IS keeps libcurl from collapsing dot segments
 * should one ever slip through. */
static bool hexdig(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* s[0..n) decodes to "." or "..". */
static bool dot_segment(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n; dots++) {
        if (s[i] == '.')
            i++;
        else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E'))
            i += 3;
        else
            return false;
    }
    return dots == 1 || dots == 2;
}

static bool path_ok(const char *path)
{
    if (path[0] != '/' || strlen(path) > KUBE_PATH_MAX)
        return false;
    size_t end = strcspn(path, "?");
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '#' || c == '\\')
            return false;
        if (c == '%' && !(hexdig(p[1]) && hexdig(p[2])))
            return false;
        if (c == '?' && (size_t)(p - path) != end)
            return false; /* a second '?' */
    }
    for (size_t i = 0; i < end;) { /* the path part, segment by segment */
        size_t n = strcspn(path + i + 1, "/?");
        if (dot_segment(path + i + 1, n))
            return false;
        i += 1 + n;
    }
    return true;
}

static bool header_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

/* Appends "name: value" to *list; false on ENOMEM. */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line;
    if (asprintf(&line, "%s: %s", name, value) < 0)
        return false;
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (!l)
        return false;
    *list = l;
    return true;
}

/* One attempt: one HTTP exchange within timeout_ms.  The contract of
 * gw_kube_request's return and *http_status; *retry_after_ms receives the
 * answer's Retry-After (0 if none). */
static gw_err attempt(gw_kube *k, const char *method, const char *path, const char *content_type,
                      const char *body, size_t body_len, long timeout_ms, long *http_status,
                      long long *retry_after_ms, gw_buf *resp, char *err, size_t errlen)
{
    *http_status = 0;
    *retry_after_ms = 0;
    gw_err rc;
    if (!k->curl && (rc = open_handle(k, err, errlen)))
        return rc;
    refresh_token(k);

    char *url;
    if (asprintf(&url, "%s%s", k->server, path) < 0)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");

    /* Rebuilt per request because the token may have rotated. */
    struct curl_slist *headers = NULL;
    bool ok = add_header(&headers, "Accept", "application/json");
    if (ok && k->token) {
        char *bearer;
        ok = asprintf(&bearer, "Bearer %s", k->token) >= 0;
        if (ok) {
            ok = add_header(&headers, "Authorization", bearer);
            free(bearer);
        }
    }
    if (ok && body)
        ok = add_header(&headers, "Content-Type", content_type);
    /* libcurl may wait a second for "100 Continue" on larger bodies; the API
     * server answers promptly anyway, so the round trip is pure latency. */
    if (ok && body)
        ok = add_header(&headers, "Expect", "");
    if (!ok) {
        curl_slist_free_all(headers);
        free(url);
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }

    /* Every per-request option is set here, each time, so nothing from the
     * previous request survives.  POSTFIELDS NULL switches libcurl to POST,
     * hence HTTPGET last on the bodiless path.  CUSTOMREQUEST only replaces
     * the method word; POST and GET use libcurl's own. */
    body_sink sink = { .buf = resp, .rc = GW_OK };
    CURL *h = k->curl;
    k->curl_err[0] = '\0';   /* a failed setopt must not show an old message */
    CURLcode cc = curl_easy_setopt(h, CURLOPT_URL, url);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                              k->connect_timeout_ms < timeout_ms ? k->connect_timeout_ms
                                                                 : timeout_ms);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    if (body) {
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                                  strcmp(method, "POST") ? method : NULL);
    } else {
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                                  strcmp(method, "GET") ? method : NULL);
    }
    if (cc == CURLE_OK)
        cc = curl_easy_perform(h);

    long status = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
#if LIBCURL_VERSION_NUM >= 0x074200
        /* seconds, from either form of the header (delta or HTTP date) */
        curl_off_t ra = 0;
        if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            *retry_after_ms = ra > 86400 ? 86400000LL : (long long)ra * 1000;
#endif
    }

    /* Drop every pointer into this call's memory (caller's body, our
     * headers, the stack sink) before returning. */
    (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_slist_free_all(headers);

    if (sink.rc) {
        close_handle(k);
        free(url);
        if (sink.rc == GW_ETOOBIG)
            return gw_fail(GW_ETOOBIG, err, errlen, "kube %s %s: response larger than %zu bytes",
                           method, path, resp->max);
        return gw_fail(sink.rc, err, errlen, "kube %s %s: out of memory", method, path);
    }
    if (cc != CURLE_OK || status == 0) {
        /* The URL holds no credentials; the error buffer holds libcurl's
         * detail (address, errno text), never headers. */
        gw_fail(GW_EKUBE, err, errlen, "kube %s %s: %s%s%s", method, url,
                cc != CURLE_OK ? curl_easy_strerror(cc) : "no HTTP status",
                k->curl_err[0] ? ": " : "", k->curl_err);
        close_handle(k);
        free(url);
        return GW_EKUBE;
    }
    free(url);
    *http_status = status;
    return GW_OK;
}

/* ------------------------------------------------- retries and the breaker */

static long long mono_ms(void)
{
    struct timespec ts;
    now_monotonic(&ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(gw_kube *k, gw_m_counter c)
{
    if (k->metrics)
        gw_metrics_count(k->metrics, c);
}

static void log_transition(gw_kube *k, gw_breaker_transition t, const char *why)
{
    switch (t) {
    case GW_BREAKER_OPENED:
        count(k, GW_C_BREAKER_OPENED);
        gw_log(k->log_min, GW_LOG_ERROR, NULL,
               "kubernetes circuit breaker opened after %ld consecutive failed calls (last: %s); "
               "Kubernetes-dependent requests get a fast 503 for %ld ms, then one probe",
               k->brk_policy.failures, why, k->brk_policy.open_ms);
        break;
    case GW_BREAKER_PROBING:
        gw_log(k->log_min, GW_LOG_INFO, NULL,
               "kubernetes circuit breaker half-open: this worker sends the probe");
        break;
    case GW_BREAKER_RECLOSED:
        gw_log(k->log_min, GW_LOG_WARN, NULL,
               "kubernetes circuit breaker closed: the probe succeeded");
        break;
    case GW_BREAKER_REOPENED:
        count(k, GW_C_BREAKER_OPENED);
        gw_log(k->log_min, GW_LOG_WARN, NULL,
               "kubernetes circuit breaker re-opened: the probe failed (%s); next probe in %ld ms",
               why, k->brk_policy.open_ms);
        break;
    case GW_BREAKER_NO_CHANGE:
        break;
    }
}

static uint64_t random64(void)
{
    uint64_t r;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = UINT64_MAX; /* no randomness: the longest wait of the range */
    return r;
}

/* Drops what a failed attempt appended, so that a repeat starts clean. */
static void truncate_to(gw_buf *b, size_t len)
{
    if (b->len > len) {
        b->len = len;
        if (b->data)
            b->data[len] = '\0';
    }
}

void gw_kube_attach_metrics(gw_kube *k, gw_metrics *m)
{
    k->metrics = m;
    k->breaker = m ? gw_metrics_breaker(m) : &k->own_breaker;
}

gw_breaker_state gw_kube_breaker_state(const gw_kube *k, long long *retry_in_ms)
{
    long long deadline = 0, now = mono_ms();
    gw_breaker_state st = gw_breaker_get(k->breaker, &deadline);
    if (retry_in_ms)
        *retry_in_ms = st != GW_BREAKER_CLOSED && deadline > now ? deadline - now : 0;
    return st;
}

bool gw_kube_last_refused(const gw_kube *k, long *retry_after_s)
{
    if (retry_after_s)
        *retry_after_s = k->refused ? k->refused_retry_s : 0;
    return k->refused;
}

gw_err gw_kube_request(gw_kube *k, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len,
                       gw_kube_retry retry, long *http_status, gw_buf *resp, char *err,
                       size_t errlen)
{
    *http_status = 0;
    k->refused = false;
    k->refused_retry_s = 0;
    if (!method || !*method || !header_value_ok(method) || strchr(method, ' ') || !path ||
        !path_ok(path) || !resp)
        return gw_fail(GW_EINVAL, err, errlen, "kube request: bad method or path");
    if (!content_type)
        content_type = "application/json";
    if (!header_value_ok(content_type))
        return gw_fail(GW_EINVAL, err, errlen, "kube request: bad content type");

    const long long deadline = mono_ms() + k->timeout_ms;
    const size_t mark = resp->len;
    long long refuse_in = 0;
    gw_breaker_transition t;
    gw_breaker_verdict v = gw_breaker_admit(k->breaker, &k->brk_policy, mono_ms(), &refuse_in, &t);
    if (v == GW_BREAKER_REJECT) {
        count(k, GW_C_BREAKER_REJECTED);
        k->refused = true;
        k->refused_retry_s = (long)((refuse_in + 999) / 1000);
        if (k->refused_retry_s < 1)
            k->refused_retry_s = 1;
        return gw_fail(GW_EKUBE, err, errlen,
                       "kube %s %s: not sent: circuit breaker open (the apiserver failed "
                       "repeatedly); next probe in %lld ms", method, path, refuse_in);
    }
    log_transition(k, t, "");
    const bool probe = v == GW_BREAKER_PROBE;
    bool token_reread = false;
    gw_err rc;
    int repeats = 0;
    for (;;) {
        truncate_to(resp, mark);
        long long left = deadline - mono_ms();
        long long retry_after = 0;
        rc = attempt(k, method, path, content_type, body, body_len,
                     (long)(left > GW_RETRY_MIN_ATTEMPT_MS ? left : GW_RETRY_MIN_ATTEMPT_MS),
                     http_status, &retry_after, resp, err, errlen);
        if (rc == GW_OK && *http_status == 401 && !token_reread && reload_token(k)) {
            token_reread = true; /* the token rotated under us: once more with the new one */
            continue;
        }
        if (!gw_retry_failed(rc, *http_status) || retry != GW_KUBE_REPEATABLE || probe)
            break;
        long delay = gw_retry_delay_ms(&k->retry, repeats, retry_after, deadline - mono_ms(),
                                       random64());
        if (delay < 0)
            break;
        if (delay > 0) {
            struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        if (gw_breaker_get(k->breaker, NULL) != GW_BREAKER_CLOSED) {
            /* the pool's breaker opened meanwhile (other workers' calls
             * failed too): no repeat; the last attempt's outcome stands */
            count(k, GW_C_BREAKER_REJECTED);
            break;
        }
        repeats++;
        count(k, GW_C_KUBE_RETRIES);
    }
    /* The call's outcome, after its repeats, is what the breaker counts.  An
     * answer (any status but 429/5xx, or one too large to keep) proves the
     * apiserver works; a local failure (out of memory) proves nothing and is
     * not reported - unless this was the probe, which must report, and then
     * does so as a failure. */
    bool answered = rc == GW_ETOOBIG || (rc == GW_OK && !gw_retry_failed(rc, *http_status));
    bool local = rc != GW_OK && rc != GW_EKUBE && rc != GW_ETOOBIG;
    t = local && !probe ? GW_BREAKER_NO_CHANGE
                        : gw_breaker_report(k->breaker, &k->brk_policy, mono_ms(), probe,
                                            !answered);
    if (t != GW_BREAKER_NO_CHANGE) {
        char why[64];
        if (rc == GW_OK)
            snprintf(why, sizeof why, "HTTP %ld", *http_status);
        else
            snprintf(why, sizeof why, "%s", rc == GW_EKUBE ? "no answer" : gw_err_name(rc));
        log_transition(k, t, why);
    }
    return rc;
}
