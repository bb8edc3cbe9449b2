/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c - see auth.h.
 *
 * Start-up does all parsing (mode lists, CIDRs, token hashes, secret
 * files), so a request only compares bytes.  Invariants:
 *  - a configured mode is never silently open: a missing secret, token or
 *    CN list is a configuration error, not an accepted request;
 *  - secrets and presented credentials never reach `why` or `detail`;
 *  - tokens are compared as SHA-256 digests with CRYPTO_memcmp over every
 *    configured entry, so timing tells nothing about which one matched
 *    (bearer.c, which owns the entries and their namespace scopes);
 *  - a tokenreview that could not be completed is a 503 (the sender
 *    retries), never a 401 (the signal would be dropped).
 *
 * The tokenreview mode, its caches and its rate bound live in
 * tokenreview.c. */
#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bearer.h"
#include "hmac.h"
#include "secretfile.h"
#include "text.h"
#include "tokenreview.h"

#define M_NONE        1u
#define M_BEARER      2u
#define M_HMAC        4u
#define M_MTLS        8u
#define M_TOKENREVIEW 16u

#define MAX_SECRETS   8
#define MAX_CIDRS     256

static const struct {
    const char *name;
    unsigned    bit;
} mode_names[] = {
    { "none", M_NONE }, { "bearer", M_BEARER }, { "hmac", M_HMAC }, { "mtls", M_MTLS },
    { "tokenreview", M_TOKENREVIEW },
};

static const char *const route_keys[GW_AUTH_ROUTE_N] = {
    "auth.prometheus", "auth.grafana", "auth.events", "auth.signals", "auth.metrics",
    "auth.explain",
};

typedef struct {
    int           family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int           bits;
} cidr;

typedef struct {
    gw_secret   secrets[MAX_SECRETS]; /* data owned */
    size_t      n;
    const char *sig_header;           /* borrowed from the config */
    const char *ts_header;            /* "": no timestamp */
    bool        require_ts;
} hmac_profile;

struct gw_auth {
    const gw_config *cfg;
    unsigned         modes[GW_AUTH_ROUTE_N];
    cidr            *cidrs;
    size_t           ncidrs;
    gw_bearer       *bearer;
    hmac_profile     generic, grafana;
    gw_tokenreview  *tokenreview; /* NULL when no route uses it */
};

/* ---- small parsers ------------------------------------------------------ */

static bool item_is(const char *item, size_t len, const char *word)
{
    return strlen(word) == len && !memcmp(item, word, len);
}

/* A route's mode set; false with bad set to the first unknown word. */
static bool route_modes(const gw_config *c, gw_auth_route r, unsigned *out, char *bad,
                        size_t badlen)
{
    const char *lists[GW_AUTH_ROUTE_N] = {
        c->auth_prometheus, c->auth_grafana, c->auth_events, c->auth_signals, c->auth_metrics,
        c->auth_explain,
    };
    if (r == GW_AUTH_ROUTE_EXPLAIN && !*lists[r]) /* the default: as the Alertmanager route */
        r = GW_AUTH_ROUTE_PROMETHEUS;
    const char *p = lists[r], *it;
    size_t n;
    *out = 0;
    if (r == GW_AUTH_ROUTE_GRAFANA && !*p) { /* the default: as before issue 6 */
        *out = *c->grafana_secret_files ? M_HMAC : M_NONE;
        return true;
    }
    while (gw_list_next(&p, &it, &n)) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
            if (item_is(it, n, mode_names[i].name))
                bit = mode_names[i].bit;
        if (!bit) {
            if (bad)
                snprintf(bad, badlen, "%.*s", (int)(n > 40 ? 40 : n), it);
            return false;
        }
        *out |= bit;
    }
    return true;
}

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). */
static bool parse_cidr(const char *s, size_t n, cidr *out, char *why, size_t whylen)
{
    char buf[64];
    if (n >= sizeof buf) {
        snprintf(why, whylen, "\"%.40s...\" is too long for an address/prefix", s);
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || errno || bits < 0 || !isdigit((unsigned char)slash[1])) {
            snprintf(why, whylen, "\"%s\": bad prefix length", s[0] ? buf : "");
            return false;
        }
    }
    cidr c;
    memset(&c, 0, sizeof c);
    int max;
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        max = 128;
    } else {
        snprintf(why, whylen, "\"%.*s\" is not an IPv4 or IPv6 network", (int)n, s);
        return false;
    }
    if (bits > max) {
        snprintf(why, whylen, "\"%.*s\": prefix length above %d", (int)n, s, max);
        return false;
    }
    c.bits = bits < 0 ? max : (int)bits;
    for (int b = c.bits; b < max; b++) {
        if (c.addr[b / 8] & (0x80 >> (b % 8))) {
            snprintf(why, whylen, "\"%.*s\": host bits set after the /%d prefix", (int)n, s,
                     c.bits);
            return false;
        }
    }
    if (out)
        *out = c;
    return true;
}

static bool prefix_match(const unsigned char *a, const cidr *c)
{
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, (size_t)full))
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (c->addr[full] & mask);
}

static bool header_name_ok(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* ---- configuration checks (config.c calls these) ------------------------- */

static void adderr(char *errs, size_t errlen, int *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* gw_errs_add that also counts the problem */
static void adderr(char *errs, size_t errlen, int *n, const char *fmt, ...)
{
    (*n)++;
    va_list ap;
    va_start(ap, fmt);
    gw_errs_vadd(errs, errlen, fmt, ap);
    va_end(ap);
}

int gw_auth_config_errors(const gw_config *c, char *errs, size_t errlen)
{
    int n = 0;
    unsigned any = 0;
    char bad[64], why[200];
    for (int r = 0; r < GW_AUTH_ROUTE_N; r++) {
        unsigned m;
        if (r == GW_AUTH_ROUTE_EXPLAIN && !*c->auth_explain)
            continue; /* auth.prometheus's, checked there */
        if (!route_modes(c, (gw_auth_route)r, &m, bad, sizeof bad)) {
            adderr(errs, errlen, &n, "%s: unknown mode \"%s\": must be none, bearer, hmac, mtls "
                   "or tokenreview, comma-separated", route_keys[r], bad);
            continue;
        }
        if (!m)
            adderr(errs, errlen, &n, "%s: must list at least one mode (none: no check)",
                   route_keys[r]);
        if ((m & M_NONE) && m != M_NONE)
            adderr(errs, errlen, &n, "%s: none cannot be combined with other modes (it would "
                   "admit everything)", route_keys[r]);
        if ((m & M_HMAC) && (r == GW_AUTH_ROUTE_SIGNALS || r == GW_AUTH_ROUTE_METRICS))
            adderr(errs, errlen, &n, "%s: hmac signs a request body and this GET route has "
                   "none; use bearer, mtls or tokenreview", route_keys[r]);
        else if ((m & M_HMAC) && r == GW_AUTH_ROUTE_GRAFANA && !*c->grafana_secret_files)
            adderr(errs, errlen, &n, "auth.grafana: hmac needs grafana.secret_files");
        else if ((m & M_HMAC) && r != GW_AUTH_ROUTE_GRAFANA && !*c->auth_hmac_secret_files)
            adderr(errs, errlen, &n, "%s: hmac needs auth.hmac_secret_files", route_keys[r]);
        any |= m;
    }
    if ((any & M_BEARER) && !*c->auth_bearer_tokens && !*c->auth_bearer_tokens_file)
        adderr(errs, errlen, &n, "auth.bearer_tokens: a route accepts bearer but neither "
               "auth.bearer_tokens nor auth.bearer_tokens_file is set");
    if ((any & M_MTLS) && !*c->auth_mtls_allowed_cns)
        adderr(errs, errlen, &n, "auth.mtls_allowed_cns: a route accepts mtls but no CN is "
               "allowed (list CNs, or * for any verified certificate)");
    if ((any & M_TOKENREVIEW) &&
        (!*c->auth_tokenreview_verb || !*c->auth_tokenreview_resource))
        adderr(errs, errlen, &n, "auth.tokenreview_verb, auth.tokenreview_resource: must not "
               "be empty when a route accepts tokenreview");
    n += gw_bearer_config_errors(c, errs, errlen);
    const char *p = c->auth_allow_cidrs, *it;
    size_t len;
    size_t ncidr = 0;
    while (gw_list_next(&p, &it, &len)) {
        if (!parse_cidr(it, len, NULL, why, sizeof why))
            adderr(errs, errlen, &n, "auth.allow_cidrs: %s", why);
        ncidr++;
    }
    if (ncidr > MAX_CIDRS)
        adderr(errs, errlen, &n, "auth.allow_cidrs: more than %d networks", MAX_CIDRS);
    if (!header_name_ok(c->auth_hmac_signature_header))
        adderr(errs, errlen, &n, "auth.hmac_signature_header: must be a header name");
    if (*c->auth_hmac_timestamp_header && !header_name_ok(c->auth_hmac_timestamp_header))
        adderr(errs, errlen, &n, "auth.hmac_timestamp_header: must be a header name or empty");
    if (c->auth_hmac_require_timestamp && !*c->auth_hmac_timestamp_header)
        adderr(errs, errlen, &n, "auth.hmac_require_timestamp: needs auth.hmac_timestamp_header");
    if (c->auth_hmac_replay_window_s < 1)
        adderr(errs, errlen, &n, "auth.hmac_replay_window: must be at least 1s");
    if (c->auth_tokenreview_cache_entries < 1 || c->auth_tokenreview_cache_entries > 1000000)
        adderr(errs, errlen, &n, "auth.tokenreview_cache_entries: must be 1 to 1000000");
    if (c->auth_tokenreview_max_per_second < 0 || c->auth_tokenreview_max_per_second > 1000000)
        adderr(errs, errlen, &n, "auth.tokenreview_max_per_second: must be 0 (no bound) to "
               "1000000");
    return n;
}

bool gw_auth_route_anonymous(const gw_config *c, gw_auth_route r)
{
    unsigned m;
    return route_modes(c, r, &m, NULL, 0) && (m & M_NONE);
}

/* ---- start-up ----------------------------------------------------------- */

/* Reads the files named in list (comma-separated) into p: one secret per
 * file, read whole (secretfile.h: a trailing newline is not part of it;
 * empty, unreadable or over GW_SECRET_MAX is an error naming key). */
static gw_err load_secrets(hmac_profile *p, const char *list, const char *key, char *err,
                           size_t errlen)
{
    const char *it;
    size_t n;
    while (gw_list_next(&list, &it, &n)) {
        char path[1024];
        if (n >= sizeof path || p->n == MAX_SECRETS)
            return gw_fail(GW_ECONFIG, err, errlen, "%s: path too long or more than %d files",
                           key, MAX_SECRETS);
        memcpy(path, it, n);
        path[n] = '\0';
        char *buf;
        size_t len;
        gw_err rc = gw_secret_file_read(key, path, GW_SECRET_BINARY, &buf, &len, err, errlen);
        if (rc)
            return rc;
        p->secrets[p->n].data = buf;
        p->secrets[p->n].len = len;
        p->n++;
    }
    return GW_OK;
}

gw_err gw_auth_new(const gw_config *cfg, gw_auth_post post, void *arg, gw_auth **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    gw_auth *a = calloc(1, sizeof *a);
    if (!a)
        return GW_ENOMEM;
    a->cfg = cfg;
    gw_err rc = GW_OK;
    unsigned any = 0;
    for (int r = 0; r < GW_AUTH_ROUTE_N && !rc; r++) {
        char bad[64];
        if (!route_modes(cfg, (gw_auth_route)r, &a->modes[r], bad, sizeof bad) || !a->modes[r])
            rc = gw_fail(GW_ECONFIG, err, errlen, "%s: bad mode list", route_keys[r]);
        any |= a->modes[r];
    }
    const char *p = cfg->auth_allow_cidrs, *it;
    size_t n;
    if (!rc && *p && !(a->cidrs = calloc(MAX_CIDRS, sizeof *a->cidrs)))
        rc = GW_ENOMEM;
    while (!rc && gw_list_next(&p, &it, &n)) {
        char why[200];
        if (a->ncidrs == MAX_CIDRS || !parse_cidr(it, n, &a->cidrs[a->ncidrs], why, sizeof why))
            rc = gw_fail(GW_ECONFIG, err, errlen, "auth.allow_cidrs: bad entry");
        else
            a->ncidrs++;
    }
    if (!rc)
        rc = gw_bearer_new(cfg, &a->bearer, err, errlen);
    if (!rc && (any & M_BEARER) && !gw_bearer_count(a->bearer))
        rc = gw_fail(GW_ECONFIG, err, errlen, "auth.bearer_tokens_file: %s holds no token",
                     cfg->auth_bearer_tokens_file);

    a->generic.sig_header = cfg->auth_hmac_signature_header;
    a->generic.ts_header = cfg->auth_hmac_timestamp_header;
    a->generic.require_ts = cfg->auth_hmac_require_timestamp;
    if (!rc)
        rc = load_secrets(&a->generic, cfg->auth_hmac_secret_files, "auth.hmac_secret_files", err,
                          errlen);
    /* Grafana's own header; its timestamp header, when set, is required */
    a->grafana.sig_header = cfg->grafana_signature_header;
    a->grafana.ts_header = cfg->grafana_timestamp_header;
    a->grafana.require_ts = *cfg->grafana_timestamp_header != '\0';
    if (!rc)
        rc = load_secrets(&a->grafana, cfg->grafana_secret_files, "grafana.secret_files", err,
                          errlen);

    if (!rc && (any & M_TOKENREVIEW)) {
        if (!post)
            rc = gw_fail(GW_ECONFIG, err, errlen, "tokenreview: no Kubernetes client");
        else
            rc = gw_tokenreview_new(cfg, post, arg, &a->tokenreview);
    }
    if (rc) {
        gw_auth_free(a);
        return rc;
    }
    *out = a;
    return GW_OK;
}

static void wipe_profile(hmac_profile *p)
{
    for (size_t i = 0; i < p->n; i++)
        gw_secret_free((char *)p->secrets[i].data, p->secrets[i].len);
    p->n = 0;
}

void gw_auth_free(gw_auth *a)
{
    if (!a)
        return;
    wipe_profile(&a->generic);
    wipe_profile(&a->grafana);
    gw_bearer_free(a->bearer);
    free(a->cidrs);
    gw_tokenreview_free(a->tokenreview);
    free(a);
}

/* ---- requests ----------------------------------------------------------- */

bool gw_auth_ip_allowed(const gw_auth *a, const char *remote_addr)
{
    if (!a->ncidrs)
        return true;
    if (!remote_addr)
        return false;
    unsigned char v[16];
    int fam;
    if (inet_pton(AF_INET, remote_addr, v) == 1) {
        fam = AF_INET;
    } else if (inet_pton(AF_INET6, remote_addr, v) == 1) {
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        fam = AF_INET6;
        if (!memcmp(v, mapped, 12)) { /* ::ffff:a.b.c.d is an IPv4 client */
            memmove(v, v + 12, 4);
            fam = AF_INET;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < a->ncidrs; i++)
        if (a->cidrs[i].family == fam && prefix_match(v, &a->cidrs[i]))
            return true;
    return false;
}

static const char *header(const gw_request *req, const char *name)
{
    const char *v = req->header ? req->header(req->hctx, name) : NULL;
    return v && *v ? v : NULL;
}

/* The token of "Authorization: Bearer <token>"; NULL when there is none. */
static const char *bearer_of(const gw_request *req, size_t *len)
{
    const char *h = header(req, "Authorization");
    if (!h)
        return NULL;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t'))
        return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (!n)
        return NULL;
    *len = n;
    return h;
}

static void check_bearer(gw_auth *a, const gw_request *req, gw_auth_result *r)
{
    size_t n = 0;
    const char *tok = bearer_of(req, &n);
    gw_bearer_check(a->bearer, tok, n, r);
}

/* Unix seconds, digits only. */
static bool parse_ts(const char *s, long long *out)
{
    size_t n = strlen(s);
    if (!n || n > 12 || strspn(s, "0123456789") != n)
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

static void check_hmac(gw_auth *a, const hmac_profile *p, const gw_request *req, long long now_ms,
                       gw_auth_result *r)
{
    static const char bad_sig[] =
        "webhook signature missing or not valid for any configured secret";
    const char *sig = header(req, p->sig_header);
    if (!sig) {
        gw_auth_refuse(r, 401, GW_AM_HMAC, GW_AUTH_MISSING, bad_sig, "missing signature");
        return;
    }
    const char *ts = *p->ts_header ? header(req, p->ts_header) : NULL;
    if (!ts && p->require_ts) {
        gw_auth_refuse(r, 401, GW_AM_HMAC, GW_AUTH_MISSING, bad_sig, "missing signed timestamp");
        return;
    }
    long long tsv = 0;
    if (ts && !parse_ts(ts, &tsv)) {
        gw_auth_refuse(r, 401, GW_AM_HMAC, GW_AUTH_MISMATCH,
                       "signed timestamp must be Unix seconds", "malformed signed timestamp");
        return;
    }
    if (!strncasecmp(sig, "sha256=", 7))
        sig += 7;
    if (!gw_hmac_sha256_verify(p->secrets, p->n, ts, req->body ? req->body : "",
                               req->body ? req->body_len : 0, sig)) {
        gw_auth_refuse(r, 401, GW_AM_HMAC, GW_AUTH_MISMATCH, bad_sig, "signature mismatch");
        return;
    }
    long window = a->cfg->auth_hmac_replay_window_s;
    long long skew = now_ms / 1000 - tsv;
    if (ts && (skew > window || skew < -window)) {
        char d[160];
        snprintf(d, sizeof d, "signed timestamp is more than %ld s away from the gateway's "
                 "clock (replayed, or clock skew)", window);
        gw_auth_refuse(r, 401, GW_AM_HMAC, GW_AUTH_EXPIRED, d,
                       "signed timestamp outside the replay window (%lld s %s)",
                       skew < 0 ? -skew : skew, skew < 0 ? "ahead" : "old");
        return;
    }
    gw_auth_admit(r, GW_AM_HMAC, "hmac");
    /* A signed timestamp makes the request unique: its signature, in one
     * spelling (verified, so 64 hex digits), names it in the replay cache. */
    unsigned char md[32];
    if (ts && gw_hex_decode(sig, md, sizeof md))
        gw_hex_encode(md, sizeof md, r->nonce);
}

static bool cn_allowed(const char *list, const char *cn)
{
    return gw_list_has(list, "*") || (cn && gw_list_has(list, cn));
}

static void check_mtls(gw_auth *a, const gw_request *req, gw_auth_result *r)
{
    const char *v = req->tls_client_verify;
    if (!v || !*v || !strcmp(v, "NONE")) {
        gw_auth_refuse(r, 401, GW_AM_MTLS, GW_AUTH_MISSING,
                       "a verified TLS client certificate is required",
                       "no TLS client certificate");
        return;
    }
    if (strcmp(v, "SUCCESS")) {
        gw_auth_refuse(r, 401, GW_AM_MTLS, GW_AUTH_MISMATCH, "TLS client certificate not verified",
                       "TLS client certificate not verified (%.80s)", v);
        return;
    }
    const char *cn = req->tls_client_cn ? req->tls_client_cn : "";
    if (!cn_allowed(a->cfg->auth_mtls_allowed_cns, cn)) {
        char d[200];
        snprintf(d, sizeof d, "TLS client certificate CN \"%.64s\" is not allowed on this route",
                 cn);
        gw_auth_refuse(r, 403, GW_AM_MTLS, GW_AUTH_FORBIDDEN, d,
                       "TLS client CN \"%.64s\" not in auth.mtls_allowed_cns", cn);
        snprintf(r->principal, sizeof r->principal, "cn:%.80s", cn);
        return;
    }
    char who[96];
    snprintf(who, sizeof who, "cn:%.80s", cn);
    gw_auth_admit(r, GW_AM_MTLS, who);
}

static void check_tokenreview(gw_auth *a, const gw_request *req, bool read_route,
                              long long now_ms, gw_auth_result *r)
{
    size_t n = 0;
    const char *tok = bearer_of(req, &n);
    gw_tokenreview_check(a->tokenreview, tok, n, read_route, now_ms, r);
}

/* ---- the entry points ------------------------------------------------------ */

static int rank(gw_m_auth_reason why)
{
    switch (why) {
    case GW_AUTH_ERROR:     return 5;
    case GW_AUTH_FORBIDDEN: return 4;
    case GW_AUTH_EXPIRED:   return 3;
    case GW_AUTH_MISMATCH:  return 2;
    default:                return 1;
    }
}

void gw_auth_check(gw_auth *a, gw_auth_route route, const gw_request *req, long long now_ms,
                   gw_auth_result *res)
{
    memset(res, 0, sizeof *res);
    unsigned m = route < GW_AUTH_ROUTE_N ? a->modes[route] : 0;
    if (m & M_NONE) {
        gw_auth_admit(res, GW_AM_NONE, "none");
        return;
    }
    /* cheap modes first; a network round trip only when nothing else admits */
    static const unsigned order[] = { M_MTLS, M_BEARER, M_HMAC, M_TOKENREVIEW };
    gw_auth_result cur;
    bool have = false;
    int nmodes = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(m & order[i]))
            continue;
        nmodes++;
        memset(&cur, 0, sizeof cur);
        if (order[i] == M_MTLS)
            check_mtls(a, req, &cur);
        else if (order[i] == M_BEARER)
            check_bearer(a, req, &cur);
        else if (order[i] == M_HMAC)
            check_hmac(a, route == GW_AUTH_ROUTE_GRAFANA ? &a->grafana : &a->generic, req, now_ms,
                       &cur);
        else
            check_tokenreview(a, req,
                              route == GW_AUTH_ROUTE_SIGNALS || route == GW_AUTH_ROUTE_METRICS,
                              now_ms, &cur);
        if (!cur.status) {
            *res = cur;
            return;
        }
        if (!have || rank(cur.reason) > rank(res->reason)) {
            *res = cur;
            have = true;
        }
    }
    if (!have) { /* no mode at all: gw_auth_new refuses that; fail closed anyway */
        gw_auth_refuse(res, 500, GW_AM_NONE, GW_AUTH_ERROR, "no authentication mode configured",
                       "no authentication mode configured for this route");
        return;
    }
    if (res->reason == GW_AUTH_MISSING && nmodes > 1) {
        char d[sizeof res->detail];
        int k = snprintf(d, sizeof d, "missing credentials: this route accepts");
        const char *sep = " ";
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            if (!(m & order[i]))
                continue;
            const char *what = order[i] == M_MTLS     ? "a TLS client certificate"
                               : order[i] == M_BEARER ? "a bearer token"
                               : order[i] == M_HMAC   ? "an HMAC signature"
                                                      : "a Kubernetes bearer token";
            if (order[i] == M_TOKENREVIEW && (m & M_BEARER))
                continue; /* both are "Authorization: Bearer" */
            k += snprintf(d + k, k < (int)sizeof d ? sizeof d - (size_t)k : 0, "%s%s", sep,
                          what);
            sep = " or ";
        }
        snprintf(res->detail, sizeof res->detail, "%s", d);
    }
    if (res->status == 401 && (m & (M_BEARER | M_TOKENREVIEW)))
        res->challenge = res->reason == GW_AUTH_MISSING
                             ? "Bearer realm=\"alertgw\""
                             : "Bearer realm=\"alertgw\", error=\"invalid_token\"";
}

bool gw_auth_per_namespace(const gw_auth_result *res)
{
    /* gw_bearer_check sets scope for a scoped entry only */
    return res->scope || res->subject;
}

int gw_auth_authorize(gw_auth *a, gw_auth_result *res, const char *ns, long long now_ms)
{
    if (res->status)
        return res->status;
    ns = ns ? ns : "";
    if (res->scope) {
        if (gw_bearer_in_scope(res, ns))
            return 0;
        char nsc[64], d[128];
        gw_text_clean(ns, strlen(ns), nsc, sizeof nsc);
        if (*ns)
            snprintf(d, sizeof d, "namespace \"%s\" is outside this token's scope", nsc);
        else
            snprintf(d, sizeof d, "a cluster-scoped target is outside this token's namespace "
                     "scope");
        gw_auth_refuse(res, 403, res->mode, GW_AUTH_FORBIDDEN, d, "namespace \"%s\" outside the "
                       "token's scope", nsc);
        return 403;
    }
    if (!res->subject)
        return 0;
    return gw_tokenreview_authorize(a->tokenreview, res, ns, now_ms);
}
