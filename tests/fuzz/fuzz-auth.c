/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-auth.c - the auth option values and the requests they judge.
 *
 * One input is an operator's auth.* settings plus a few requests and the
 * apiserver's answers to their token reviews.  The settings go in as
 * ALERTGW_* variables through gw_config_load (the key table's parsers and
 * gw_auth_config_errors); when the config is valid, gw_auth_new builds the
 * authenticator (secret and token files included) and every request is
 * judged on all five routes by gw_auth_check, with gw_auth_ip_allowed and
 * gw_auth_authorize (the namespace it acts on), through a fake apiserver
 * that answers the fuzzed JSON.
 *
 * Input format (stable: the committed corpus keeps its meaning).  The input
 * is a sequence of fields, each ended by a NUL byte (the last NUL may be
 * left out), in the order of the `fields` table below.  A field the input
 * does not reach is absent: its key keeps the default, its header or
 * variable is not sent.  A present field, even empty, is set.  New fields
 * are only ever appended to the table.
 *
 *   0-6   auth.prometheus, .grafana, .events, .signals, .metrics,
 *         .allow_cidrs, .bearer_tokens                         (values)
 *   7     the content of auth.bearer_tokens_file (set when non-empty)
 *   8, 9  the contents of two auth.hmac_secret_files (rotation; each file
 *         is listed when its field is non-empty)
 *   10-22 auth.hmac_signature_header, .hmac_timestamp_header,
 *         .hmac_require_timestamp, .hmac_replay_window, .mtls_allowed_cns,
 *         .tokenreview_audiences, .tokenreview_verb, .tokenreview_group,
 *         .tokenreview_resource, .tokenreview_subresource,
 *         .tokenreview_namespace, .tokenreview_cache_ttl,
 *         .tokenreview_cache_entries                           (values)
 *   23    the content of grafana.secret_files (set when non-empty)
 *   24,25 grafana.signature_header, grafana.timestamp_header   (values)
 *   26    REMOTE_ADDR                       27  SSL_CLIENT_VERIFY
 *   28    SSL_CLIENT_S_DN_CN                29  requests (below)
 *   30    the request body (HMAC-signed)    31  now, Unix seconds
 *   32    the TokenReview answer            33  the SubjectAccessReview answer
 *   34    a namespace for gw_auth_authorize
 *
 * Field 29 holds up to 16 requests separated by an empty line; each is
 * "Name: value" header lines (LF or CRLF).  Names match the way the
 * FastCGI front end maps them (case and - versus _ do not matter).  The
 * requests share one gw_auth, so the tokenreview cache carries over.
 * An apiserver answer (32, 33) is "<HTTP status> <JSON>"; an answer that
 * does not start with a digit is a transport error (no answer).
 *
 * Checks beyond the sanitizers: every outcome is 0, 401, 403, 500 or 503;
 * an admitted request names its principal; judging the same request again
 * at the same instant gives the same outcome (the tokenreview cache); and
 * an HMAC secret or a presented bearer token (16 bytes or more, found
 * nowhere else in the input) never appears in what the gateway logs or
 * answers (why, detail, principal, the config errors).
 *
 * Sizes the fuzzer could pick but that only make runs slow are capped:
 * auth.tokenreview_cache_entries at 4096 (the cache code is the same). */
#include "fuzz.h"

#include <jansson.h>
#include <strings.h>

#include "auth.h"
#include "gateway.h"

/* 2026-11-23T10:00:30Z, when field 31 is absent */
#define AUTH_NOW_S   1795428030LL
#define MAX_REQUESTS 16
#define MAX_HEADERS  16
#define MIN_SECRET   16

typedef enum { F_VALUE, F_FILE, F_REQUEST } field_kind;

static const struct {
    field_kind  kind;
    const char *var; /* F_VALUE, F_FILE: the variable it sets */
} fields[] = {
    { F_VALUE, "ALERTGW_AUTH_PROMETHEUS" },
    { F_VALUE, "ALERTGW_AUTH_GRAFANA" },
    { F_VALUE, "ALERTGW_AUTH_EVENTS" },
    { F_VALUE, "ALERTGW_AUTH_SIGNALS" },
    { F_VALUE, "ALERTGW_AUTH_METRICS" },
    { F_VALUE, "ALERTGW_AUTH_ALLOW_CIDRS" },
    { F_VALUE, "ALERTGW_AUTH_BEARER_TOKENS" },
    { F_FILE, "ALERTGW_AUTH_BEARER_TOKENS_FILE" },
    { F_FILE, "ALERTGW_AUTH_HMAC_SECRET_FILES" },
    { F_FILE, "ALERTGW_AUTH_HMAC_SECRET_FILES" },
    { F_VALUE, "ALERTGW_AUTH_HMAC_SIGNATURE_HEADER" },
    { F_VALUE, "ALERTGW_AUTH_HMAC_TIMESTAMP_HEADER" },
    { F_VALUE, "ALERTGW_AUTH_HMAC_REQUIRE_TIMESTAMP" },
    { F_VALUE, "ALERTGW_AUTH_HMAC_REPLAY_WINDOW" },
    { F_VALUE, "ALERTGW_AUTH_MTLS_ALLOWED_CNS" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_AUDIENCES" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_VERB" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_GROUP" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_RESOURCE" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_SUBRESOURCE" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_NAMESPACE" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_CACHE_TTL" },
    { F_VALUE, "ALERTGW_AUTH_TOKENREVIEW_CACHE_ENTRIES" },
    { F_FILE, "ALERTGW_GRAFANA_SECRET_FILES" },
    { F_VALUE, "ALERTGW_GRAFANA_SIGNATURE_HEADER" },
    { F_VALUE, "ALERTGW_GRAFANA_TIMESTAMP_HEADER" },
    /* the requests and the apiserver */
    { F_REQUEST, NULL }, /* 26 REMOTE_ADDR */
    { F_REQUEST, NULL }, /* 27 SSL_CLIENT_VERIFY */
    { F_REQUEST, NULL }, /* 28 SSL_CLIENT_S_DN_CN */
    { F_REQUEST, NULL }, /* 29 requests: header lines */
    { F_REQUEST, NULL }, /* 30 body */
    { F_REQUEST, NULL }, /* 31 now */
    { F_REQUEST, NULL }, /* 32 TokenReview answer */
    { F_REQUEST, NULL }, /* 33 SubjectAccessReview answer */
    { F_REQUEST, NULL }, /* 34 namespace */
};

enum {
    NFIELDS = sizeof fields / sizeof fields[0],
    FI_TOKENS_FILE = 7,
    FI_REMOTE = 26, FI_VERIFY, FI_CN, FI_HEADERS, FI_BODY, FI_NOW, FI_TR, FI_SAR, FI_NS,
};

typedef struct {
    const char *name[MAX_HEADERS];
    const char *value[MAX_HEADERS];
    size_t      n;
} headers;

/* The FastCGI front end's mapping: "X-Signature-256" is HTTP_X_SIGNATURE_256. */
static bool same_header(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x >= 'a' && x <= 'z')
            x = (char)(x - 32);
        if (y >= 'a' && y <= 'z')
            y = (char)(y - 32);
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

static const char *header_of(void *hctx, const char *name)
{
    const headers *h = hctx;
    for (size_t i = 0; i < h->n; i++)
        if (same_header(h->name[i], name))
            return h->value[i];
    return NULL;
}

/* Cuts the next request out of *p (modified in place): header lines up to
 * an empty line or the end.  false when nothing is left. */
static bool next_request(char **p, headers *h)
{
    h->n = 0;
    if (!*p || !**p)
        return false;
    char *s = *p;
    while (s && *s) {
        char *nl = strchr(s, '\n'), *next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        size_t len = strlen(s);
        if (len && s[len - 1] == '\r')
            s[--len] = '\0';
        if (!len) { /* an empty line ends this request */
            s = next;
            break;
        }
        char *colon = strchr(s, ':');
        if (colon && h->n < MAX_HEADERS) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            h->name[h->n] = s;
            h->value[h->n] = v;
            h->n++;
        }
        s = next;
    }
    *p = s;
    return true;
}

typedef struct {
    const char *answer[2]; /* TokenReview, SubjectAccessReview; NULL: absent */
} apiserver;

/* gw_auth_post: the fuzzed answers.  The review the gateway sends must be
 * JSON the apiserver can read. */
static gw_err fake_post(void *arg, const char *path, const char *body, size_t len,
                        long *http_status, gw_buf *resp, char *err, size_t errlen)
{
    const apiserver *api = arg;
    json_t *sent = json_loadb(body, len, 0, NULL);
    GW_FUZZ_REQUIRE(sent != NULL, "the review sent to %s is not JSON", path);
    json_decref(sent);
    const char *a = api->answer[strstr(path, "subjectaccessreviews") ? 1 : 0];
    gw_buf_reset(resp);
    if (!a || *a < '0' || *a > '9') {
        snprintf(err, errlen, "connection refused");
        return GW_EKUBE;
    }
    char *end;
    *http_status = strtol(a, &end, 10);
    if (*end == ' ')
        end++;
    gw_err rc = gw_buf_append(resp, end, strlen(end));
    if (rc)
        snprintf(err, errlen, "answer too large");
    return rc;
}

/* How often needle occurs in hay[0..n). */
static size_t occurrences(const char *hay, size_t n, const char *needle, size_t nl)
{
    size_t count = 0;
    for (const char *p = hay; nl && (size_t)(p - hay) + nl <= n;) {
        const char *q = memmem(p, n - (size_t)(p - hay), needle, nl);
        if (!q)
            break;
        count++;
        p = q + 1;
    }
    return count;
}

/* The secrets the leak check looks for in this input. */
typedef struct {
    bool        on;  /* false: this input is not checked for leaks */
    const char *s[4];
    size_t      len[4];
    size_t      n;
} secrets;

static void add_secret(secrets *sc, const uint8_t *input, size_t size, const char *s, size_t n)
{
    if (!sc->on)
        return;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) /* as auth.c stores it */
        n--;
    if (n >= MIN_SECRET && sc->n < sizeof sc->s / sizeof sc->s[0] &&
        occurrences((const char *)input, size, s, n) == 1) {
        sc->s[sc->n] = s;
        sc->len[sc->n] = n;
        sc->n++;
    }
}

static void require_no_secret(const secrets *sc, const char *what, const char *text)
{
    for (size_t i = 0; i < sc->n; i++)
        GW_FUZZ_REQUIRE(!occurrences(text, strlen(text), sc->s[i], sc->len[i]),
                        "a secret or token (%zu bytes) appears in %s", sc->len[i], what);
}

static void require_sane(const gw_auth_result *r, const secrets *sc)
{
    GW_FUZZ_REQUIRE(r->status == 0 || r->status == 401 || r->status == 403 ||
                        r->status == 500 || r->status == 503,
                    "status %d", r->status);
    GW_FUZZ_REQUIRE(r->status || r->principal[0], "admitted without a principal");
    require_no_secret(sc, "why", r->why);
    require_no_secret(sc, "detail", r->detail);
    require_no_secret(sc, "principal", r->principal);
}

/* The presented bearer token, as auth.c reads it, for the leak check. */
static void add_token(secrets *sc, const uint8_t *input, size_t size, const headers *h)
{
    const char *v = header_of((void *)h, "Authorization");
    if (!v || strncasecmp(v, "Bearer", 6) || (v[6] != ' ' && v[6] != '\t'))
        return;
    v += 6;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    add_secret(sc, input, size, v, n);
}

/* FUZZ_AUTH_TRACE=1 prints what each input did (for writing seeds and
 * reading crashes, not for fuzzing). */
static bool tracing(void)
{
    static int on = -1; /* harness state: see fuzz.h */
    if (on < 0)
        on = getenv("FUZZ_AUTH_TRACE") != NULL;
    return on;
}

static void judge(gw_auth *a, const char *const *f, const uint8_t *input, size_t size,
                  secrets *sc)
{
    long long now_s = f[FI_NOW] ? strtoll(f[FI_NOW], NULL, 10) : AUTH_NOW_S;
    if (now_s < 0 || now_s > 100000000000LL) /* keep now_ms far from overflow */
        now_s = AUTH_NOW_S;
    long long now_ms = now_s * 1000;
    char *reqs = f[FI_HEADERS] ? strdup(f[FI_HEADERS]) : NULL, *p = reqs;
    if (f[FI_HEADERS] && !reqs)
        abort();
    headers h = { .n = 0 };
    size_t base = sc->n;
    for (int i = 0; i < MAX_REQUESTS; i++) {
        headers next;
        bool more = next_request(&p, &next);
        if (!more && i > 0)
            break; /* with no requests at all, one request without headers */
        h = next;
        sc->n = base;
        add_token(sc, input, size, &h);
        gw_request req = {
            .method = "POST", .path = "/api/v1/signals/prometheus", .content_length = -1,
            .body = f[FI_BODY], .body_len = f[FI_BODY] ? strlen(f[FI_BODY]) : 0,
            .remote_addr = f[FI_REMOTE], .tls_client_verify = f[FI_VERIFY],
            .tls_client_cn = f[FI_CN], .header = header_of, .hctx = &h,
        };
        (void)gw_auth_ip_allowed(a, req.remote_addr);
        for (int r = 0; r < GW_AUTH_ROUTE_N; r++) {
            gw_auth_result first, again;
            gw_auth_check(a, (gw_auth_route)r, &req, now_ms, &first);
            require_sane(&first, sc);
            if (tracing())
                fprintf(stderr, "auth: request %d route %d: %d %s (%s) [%s]\n", i, r,
                        first.status, first.principal, first.why, first.detail);
            /* the namespace the request acts on (a refusal is written into
             * the result: a copy, so first stays what the check said) */
            gw_auth_result scoped = first;
            (void)gw_auth_authorize(a, &scoped, f[FI_NS] ? f[FI_NS] : "", now_ms);
            require_sane(&scoped, sc);
            gw_auth_check(a, (gw_auth_route)r, &req, now_ms, &again);
            require_sane(&again, sc);
            /* (a limit on the review rate may refuse the second review of an
             * uncached token: that 503 is not a different judgement) */
            bool limited = again.status == 503 && again.mode == GW_AM_TOKENREVIEW;
            GW_FUZZ_REQUIRE(limited || (first.status == again.status && first.mode == again.mode),
                            "route %d: %d then %d for the same request", r, first.status,
                            again.status);
        }
        if (!more)
            break;
    }
    /* the last request again an hour on: every cached review has expired */
    gw_request req = { .method = "POST", .content_length = -1, .header = header_of,
                       .hctx = &h, .remote_addr = f[FI_REMOTE] };
    gw_auth_result later;
    gw_auth_check(a, GW_AUTH_ROUTE_PROMETHEUS, &req, now_ms + 3600000, &later);
    require_sane(&later, sc);
    sc->n = base;
    free(reqs);
}

/* Every variable this target sets, unset (the caller's included): the
 * input alone decides the config. */
static void clear_env(void)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].var)
            unsetenv(fields[i].var);
}

/* Sets name=value for gw_config_load; the string is owned by *slot (putenv
 * keeps the pointer, so it is freed only after clear_env). */
static void set_var(char **slot, const char *name, const char *value)
{
    size_t n = strlen(name) + 1 + strlen(value) + 1;
    if (!(*slot = malloc(n)))
        abort();
    snprintf(*slot, n, "%s=%s", name, value);
    putenv(*slot);
}

GW_FUZZ_TARGET(auth)
{
    static gw_fuzz_file files[NFIELDS]; /* harness state: see fuzz.h */
    gw_fuzz_jansson();
    const char *f[NFIELDS];
    char *copy;
    gw_fuzz_fields(data, size, f, NFIELDS, &copy);

    /* Secrets are looked for only where the answers hold no JSON escape:
     * an escaped user name may spell a secret that the apiserver then
     * really did name. */
    secrets sc = { .on = !(f[FI_TR] && strchr(f[FI_TR], '\\')) &&
                         !(f[FI_SAR] && strchr(f[FI_SAR], '\\')) };

    /* the settings, one variable each; file fields are written to in-memory
     * files and the variable lists their paths */
    char *env[NFIELDS] = { NULL };
    char lists[NFIELDS][128];
    clear_env();
    for (size_t i = 0; i < NFIELDS; i++) {
        lists[i][0] = '\0';
        if (!f[i] || fields[i].kind == F_REQUEST)
            continue;
        if (fields[i].kind == F_VALUE) {
            set_var(&env[i], fields[i].var, f[i]);
            continue;
        }
        if (!*f[i])
            continue;
        if (i != FI_TOKENS_FILE)
            add_secret(&sc, data, size, f[i], strlen(f[i]));
        size_t first = i; /* the list goes with the first field of its variable */
        while (first && fields[first - 1].kind == F_FILE &&
               !strcmp(fields[first - 1].var, fields[i].var))
            first--;
        size_t used = strlen(lists[first]);
        snprintf(lists[first] + used, sizeof lists[0] - used, "%s%s", used ? "," : "",
                 gw_fuzz_file_set(&files[i], f[i], strlen(f[i])));
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if (lists[i][0])
            set_var(&env[i], fields[i].var, lists[i]);

    gw_config cfg;
    char errs[8192];
    gw_err rc = gw_config_load(&cfg, NULL, errs, sizeof errs);
    clear_env();
    for (size_t i = 0; i < NFIELDS; i++)
        free(env[i]);
    GW_FUZZ_REQUIRE(memchr(errs, '\0', sizeof errs) != NULL, "config errors not terminated");
    require_no_secret(&sc, "the config errors", errs);
    if (tracing())
        fprintf(stderr, "auth: config %s\n%s", rc ? "refused:" : "accepted", errs);

    if (rc == GW_OK) {
        if (cfg.auth_tokenreview_cache_entries > 4096)
            cfg.auth_tokenreview_cache_entries = 4096;
        apiserver api = { .answer = { f[FI_TR], f[FI_SAR] } };
        gw_auth *a = NULL;
        char err[512] = "";
        if (gw_auth_new(&cfg, fake_post, &api, &a, err, sizeof err) == GW_OK) {
            judge(a, f, data, size, &sc);
            gw_auth_free(a);
        } else {
            if (tracing())
                fprintf(stderr, "auth: gw_auth_new: %s\n", err);
            require_no_secret(&sc, "gw_auth_new's error", err);
        }
    }
    gw_config_free(&cfg);
    free(copy);
    return 0;
}
