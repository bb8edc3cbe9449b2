/* SPDX-License-Identifier: Apache-2.0 */
/* tokenreview.c - see tokenreview.h.
 *
 * Invariants:
 *  - a review that could not be completed (apiserver down, 429/5xx, the
 *    rate bound) is a 503 and is never cached; a 401 only ever follows an
 *    answer that said so;
 *  - the token goes into the TokenReview body only, which is wiped after
 *    use, as is the answer (it echoes the token);
 *  - both caches are fixed arrays of cache_entries slots indexed by a
 *    (uniform) SHA-256; a key probes at most PROBES slots and, when all
 *    are live, replaces the one expiring first.  Bounded; the only
 *    allocation per review is the reviewed user's JSON (at most
 *    SUBJECT_MAX bytes per cached review). */
#include "tokenreview.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmem.h"
#include "text.h"
#include "unavailable.h"

#define PROBES         8
#define REFUSAL_TTL_MS 10000 /* a refusal is asked about again after this */
#define SUBJECT_MAX    16384 /* a reviewed user's groups and extra, as JSON text */

/* The head of a cache entry: both caches are fixed arrays of structs that
 * start with one. */
typedef struct {
    unsigned char key[32];
    bool          used;
    long long     expires_ms;
} slot;

typedef struct {
    slot  s;         /* key: SHA-256 of the token */
    int   status;    /* 0 authenticated, 401 */
    char  user[128];
    char *subject;   /* owned: the SubjectAccessReview spec's user fields as
                      * JSON text (user, uid, groups, extra); NULL: refused */
} review;

typedef struct {
    slot s;          /* key: SHA-256 of (SHA-256 of the token, namespace) */
    bool allowed;
} grant;

/* The user the request in hand was reviewed as; gw_auth_result.subject
 * points here until the next gw_tokenreview_check. */
typedef struct {
    unsigned char key[32];  /* SHA-256 of the token */
    char          user[128];
    char         *subject;  /* owned, as in review */
} reviewed;

struct gw_tokenreview {
    const gw_config *cfg;
    gw_auth_post     post;
    void            *post_arg;
    gw_buf           scratch;   /* apiserver answers */
    json_t          *audiences; /* auth.tokenreview_audiences as an array; NULL: none */
    review          *cache;
    grant           *grants;    /* per (token, namespace); cache_cap of them */
    size_t           cache_cap;
    reviewed         cur;
    long long        bucket;    /* review calls left, in thousandths */
    long long        bucket_ms; /* when it was last filled */
    bool             bucket_started;
    const char      *sar_namespace; /* the read routes' SubjectAccessReview */
};

gw_err gw_tokenreview_new(const gw_config *cfg, gw_auth_post post, void *arg,
                          gw_tokenreview **out)
{
    *out = NULL;
    gw_tokenreview *t = calloc(1, sizeof *t);
    if (!t)
        return GW_ENOMEM;
    t->cfg = cfg;
    t->post = post;
    t->post_arg = arg;
    gw_buf_init(&t->scratch, 1u << 20);
    t->cache_cap = cfg->auth_tokenreview_cache_entries > 0
                       ? (size_t)cfg->auth_tokenreview_cache_entries : 1;
    t->sar_namespace = *cfg->auth_tokenreview_namespace ? cfg->auth_tokenreview_namespace
                                                        : cfg->rr_namespace;
    bool ok = (t->cache = calloc(t->cache_cap, sizeof *t->cache)) &&
              (t->grants = calloc(t->cache_cap, sizeof *t->grants));
    /* "a, b": each audience trimmed of blanks, empty ones skipped */
    for (const char *p = cfg->auth_tokenreview_audiences; ok && *p;) {
        size_t n = strcspn(p, ","), skip = n;
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
            skip--;
        }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n && !t->audiences && !(t->audiences = json_array()))
            ok = false;
        if (n && ok && json_array_append_new(t->audiences, json_stringn(p, n)))
            ok = false;
        p += skip;
        if (*p == ',')
            p++;
    }
    if (!ok) {
        gw_tokenreview_free(t);
        return GW_ENOMEM;
    }
    *out = t;
    return GW_OK;
}

void gw_tokenreview_free(gw_tokenreview *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->cache && i < t->cache_cap; i++)
        free(t->cache[i].subject);
    if (t->cache)
        OPENSSL_cleanse(t->cache, t->cache_cap * sizeof *t->cache);
    free(t->cache);
    if (t->grants)
        OPENSSL_cleanse(t->grants, t->cache_cap * sizeof *t->grants);
    free(t->grants);
    free(t->cur.subject);
    json_decref(t->audiences);
    if (t->scratch.data)
        OPENSSL_cleanse(t->scratch.data, t->scratch.len);
    gw_buf_free(&t->scratch);
    free(t);
}

static slot *slot_at(void *base, size_t size, size_t i)
{
    return (slot *)((char *)base + i * size);
}

/* The slot of key in a cache of cap entries of size bytes each (review or
 * grant, both starting with a slot): its own (*hit when still valid), else
 * one for a new entry: free, else expired, else the one expiring first.
 * NULL when cap is 0. */
static slot *cache_find(void *base, size_t size, size_t cap, const unsigned char key[32],
                        long long now, bool *hit)
{
    *hit = false;
    if (!cap)
        return NULL;
    uint64_t h;
    memcpy(&h, key, sizeof h);
    size_t start = (size_t)(h % cap), probes = cap < PROBES ? cap : PROBES;
    for (size_t i = 0; i < probes; i++) {
        slot *e = slot_at(base, size, (start + i) % cap);
        if (e->used && !CRYPTO_memcmp(e->key, key, 32)) {
            *hit = e->expires_ms > now;
            return e;
        }
    }
    slot *victim = NULL;
    for (size_t i = 0; i < probes; i++) {
        slot *e = slot_at(base, size, (start + i) % cap);
        if (!e->used)
            return e;
        if (e->expires_ms <= now)
            victim = victim && victim->expires_ms <= now ? victim : e;
        else if (!victim || (victim->expires_ms > now && e->expires_ms < victim->expires_ms))
            victim = e;
    }
    return victim;
}

/* How long an answer is kept: the TTL, a refusal at most REFUSAL_TTL_MS. */
static long answer_ttl(const gw_tokenreview *t, bool refused)
{
    long ttl = t->cfg->auth_tokenreview_cache_ttl_ms;
    return refused && ttl > REFUSAL_TTL_MS ? REFUSAL_TTL_MS : ttl;
}

/* auth.tokenreview_max_per_second as a token bucket in thousandths of a
 * call: refilled by rate per second, holding one second's worth (at least
 * two calls: a review and its SubjectAccessReview).  Takes one call; false
 * when the bucket is empty.  A clock that steps back refills nothing for
 * the step, and the bucket goes on filling from the new time. */
static bool bucket_take(gw_tokenreview *t, long long now)
{
    long long rate = t->cfg->auth_tokenreview_max_per_second;
    if (rate <= 0)
        return true;
    long long cap = (rate < 2 ? 2 : rate) * 1000;
    if (!t->bucket_started) {
        t->bucket = cap;
        t->bucket_ms = now;
        t->bucket_started = true;
    } else if (now > t->bucket_ms) {
        long long idle = now - t->bucket_ms; /* ms: each one brings rate thousandths */
        t->bucket = idle >= 2000 ? cap : t->bucket + idle * rate;
        if (t->bucket > cap)
            t->bucket = cap;
        t->bucket_ms = now;
    } else {
        t->bucket_ms = now; /* the clock stepped back: refill from here on */
    }
    if (t->bucket < 1000)
        return false;
    t->bucket -= 1000;
    return true;
}

static bool send_review(gw_tokenreview *t, const char *what, const char *path, const char *body,
                        long long now, json_t **j, gw_auth_result *r);

/* POSTs a review - apiVersion and kind around spec (stolen; NULL: out of
 * memory) - to path; on success *j is the answer's JSON.  Otherwise
 * refuses r (error: 503 when temporary or over the rate bound, 500 when the
 * apiserver refused us or memory ran out) and returns false.  The body sent
 * is wiped before it is freed: a TokenReview carries the token. */
static bool post_review(gw_tokenreview *t, const char *api_version, const char *kind,
                        json_t *spec, const char *what, const char *path, long long now,
                        json_t **j, gw_auth_result *r)
{
    *j = NULL;
    json_t *req = spec ? json_pack("{s:s,s:s,s:o}", "apiVersion", api_version, "kind", kind,
                                   "spec", spec) : NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        gw_auth_refuse(r, 500, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, "internal error",
                       "%s: out of memory", what);
        return false;
    }
    bool ok = send_review(t, what, path, body, now, j, r);
    OPENSSL_cleanse(body, strlen(body));
    gw_json_free(body);
    return ok;
}

static bool send_review(gw_tokenreview *t, const char *what, const char *path, const char *body,
                        long long now, json_t **j, gw_auth_result *r)
{
    long status = 0;
    char err[256];
    if (!bucket_take(t, now)) {
        gw_auth_refuse(r, 503, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, GW_503_REVIEW_RATE,
                       "%s: review rate bound reached (auth.tokenreview_max_per_second: %ld)",
                       what, t->cfg->auth_tokenreview_max_per_second);
        return false;
    }
    gw_err rc = t->post(t->post_arg, path, body, strlen(body), &status, &t->scratch, err,
                        sizeof err);
    static const char down[] = GW_503_REVIEW_DOWN;
    if (rc) {
        gw_auth_refuse(r, 503, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, down, "%s: %s", what, err);
        return false;
    }
    rc = gw_err_from_http(status);
    if (rc == GW_OK && status != 200 && status != 201) /* a 2xx no review answers with */
        rc = GW_EKUBECONF;
    if (gw_err_temporary(rc)) {
        gw_auth_refuse(r, 503, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, down,
                       "%s: apiserver answered %ld", what, status);
    } else if (rc) {
        gw_auth_refuse(r, 500, GW_AM_TOKENREVIEW, GW_AUTH_ERROR,
                       "the gateway may not ask the Kubernetes API to review tokens (RBAC); see "
                       "the worker log",
                       "%s: apiserver answered %ld (RBAC: create %s?)", what, status, what);
    } else if (!(*j = json_loadb(t->scratch.data, t->scratch.len, 0, NULL))) {
        gw_auth_refuse(r, 503, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, down, "%s: answer is not JSON",
                       what);
    }
    /* a TokenReview answer echoes the token */
    OPENSSL_cleanse(t->scratch.data, t->scratch.len);
    gw_buf_reset(&t->scratch);
    return *j != NULL;
}

/* Whether the answer's status.audiences names one of the configured ones. */
static bool audience_listed(const json_t *want, const json_t *auds)
{
    size_t i, k;
    json_t *v, *w;
    json_array_foreach(auds, i, v) {
        json_array_foreach(want, k, w) {
            if (json_is_string(v) && json_equal(v, w))
                return true;
        }
    }
    return false;
}

/* The TokenReview.  Returns 0 with user and *subject (the user fields of
 * a SubjectAccessReview spec as JSON text, owned by the caller), 401 with
 * r->why saying why (user set when known), or -1 with r refused (no
 * answer: not to be cached). */
static int review_token(gw_tokenreview *t, const char *tok, size_t n, long long now, char *user,
                        size_t userlen, char **subject, gw_auth_result *r)
{
    user[0] = '\0';
    *subject = NULL;
    json_t *spec = json_pack("{s:s%}", "token", tok, n);
    if (spec && t->audiences)
        json_object_set(spec, "audiences", t->audiences);
    json_t *ans;
    if (!post_review(t, "authentication.k8s.io/v1", "TokenReview", spec, "tokenreviews",
                     "/apis/authentication.k8s.io/v1/tokenreviews", now, &ans, r))
        return -1;
    json_t *st = json_object_get(ans, "status");
    json_t *u = json_object_get(st, "user");
    const char *name = json_string_value(json_object_get(u, "username"));
    if (!json_is_true(json_object_get(st, "authenticated")) || !name) {
        const char *e = json_string_value(json_object_get(st, "error"));
        snprintf(r->why, sizeof r->why, "token not authenticated by the apiserver%s%.120s",
                 e ? ": " : "", e ? e : "");
        json_decref(ans);
        return 401;
    }
    snprintf(user, userlen, "%s", name);
    /* An apiserver that ignores spec.audiences (or predates them) answers
     * for its own audiences: the token may have been minted for anyone. */
    json_t *auds = json_object_get(st, "audiences");
    if (t->audiences && !audience_listed(t->audiences, auds)) {
        char *got = json_is_array(auds) ? json_dumps(auds, JSON_COMPACT) : NULL;
        snprintf(r->why, sizeof r->why, "token of \"%.48s\" not for auth.tokenreview_audiences "
                 "(the answer lists %.60s)", name, got ? got : "no audiences");
        gw_json_free(got);
        json_decref(ans);
        return 401;
    }
    json_t *subj = json_pack("{s:s}", "user", name), *v;
    if (subj && (v = json_object_get(u, "uid")) && json_is_string(v))
        json_object_set(subj, "uid", v);
    if (subj && (v = json_object_get(u, "groups")) && json_is_array(v))
        json_object_set(subj, "groups", v);
    if (subj && (v = json_object_get(u, "extra")) && json_is_object(v))
        json_object_set(subj, "extra", v);
    json_decref(ans);
    /* kept beyond this request: a plain copy, not jansson's (counted) memory */
    char *text = subj ? json_dumps(subj, JSON_COMPACT) : NULL;
    json_decref(subj);
    *subject = text ? strdup(text) : NULL;
    gw_json_free(text);
    if (!*subject) {
        gw_auth_refuse(r, 500, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, "internal error",
                       "tokenreview: out of memory");
        return -1;
    }
    if (strlen(*subject) > SUBJECT_MAX) { /* groups and extra beyond reason: no cache room */
        free(*subject);
        *subject = NULL;
        snprintf(r->why, sizeof r->why, "user \"%.64s\": groups and extra over %d bytes", user,
                 SUBJECT_MAX);
        return 401;
    }
    return 0;
}

/* A SubjectAccessReview for subject (review_token's JSON) in namespace ns
 * ("": cluster-wide, namespace omitted).  0 allowed, 403 with r->why the
 * apiserver's reason (may be empty), or -1 with r refused (no answer). */
static int review_access(gw_tokenreview *t, const char *subject, const char *ns, long long now,
                         gw_auth_result *r)
{
    const gw_config *c = t->cfg;
    json_t *sspec = json_loads(subject, 0, NULL);
    json_t *attrs = json_pack("{s:s,s:s,s:s}", "verb", c->auth_tokenreview_verb, "group",
                              c->auth_tokenreview_group, "resource",
                              c->auth_tokenreview_resource);
    if (attrs && *ns)
        json_object_set_new(attrs, "namespace", json_string(ns));
    if (attrs && *c->auth_tokenreview_subresource)
        json_object_set_new(attrs, "subresource", json_string(c->auth_tokenreview_subresource));
    if (sspec && attrs)
        json_object_set(sspec, "resourceAttributes", attrs);
    json_decref(attrs);
    json_t *ans;
    if (!post_review(t, "authorization.k8s.io/v1", "SubjectAccessReview", sspec,
                     "subjectaccessreviews",
                     "/apis/authorization.k8s.io/v1/subjectaccessreviews", now, &ans, r))
        return -1;
    json_t *st = json_object_get(ans, "status");
    int status = json_is_true(json_object_get(st, "allowed")) ? 0 : 403;
    const char *why = json_string_value(json_object_get(st, "reason"));
    snprintf(r->why, sizeof r->why, "%.100s", status && why ? why : "");
    json_decref(ans);
    return status;
}

/* The 403 for user in ns ("": cluster-wide); r->why holds the apiserver's
 * reason, or nothing. */
static void refuse_access(gw_tokenreview *t, const char *user, const char *ns, bool cached,
                          gw_auth_result *r)
{
    const gw_config *c = t->cfg;
    char d[320], reason[sizeof r->why], what[200], where[120], nsc[64];
    snprintf(reason, sizeof reason, "%s", r->why);
    const char *g = c->auth_tokenreview_group, *sub = c->auth_tokenreview_subresource;
    snprintf(what, sizeof what, "%.60s%s%.60s%s%.60s", g, *g ? "/" : "",
             c->auth_tokenreview_resource, *sub ? "/" : "", sub);
    gw_text_clean(ns, strlen(ns), nsc, sizeof nsc);
    if (*ns)
        snprintf(where, sizeof where, "in namespace \"%s\"", nsc);
    else
        snprintf(where, sizeof where, "cluster-wide (the target is cluster-scoped)");
    snprintf(d, sizeof d, "\"%.64s\" may not %.20s %.100s %s", user, c->auth_tokenreview_verb,
             what, where);
    gw_auth_refuse(r, 403, GW_AM_TOKENREVIEW, GW_AUTH_FORBIDDEN, d,
                   "user \"%.64s\" denied by SubjectAccessReview %s%s%s", user, where,
                   cached ? " (cached)" : *reason ? ": " : "", cached ? "" : reason);
    snprintf(r->principal, sizeof r->principal, "user:%.140s", user);
}

/* The reviewed user may act in ns: the cached answer for (token, ns), else
 * a SubjectAccessReview, cached.  0, 403, or -1 with r refused. */
static int authorize_ns(gw_tokenreview *t, const reviewed *who, const char *ns, long long now,
                        gw_auth_result *r)
{
    unsigned char key[32];
    unsigned int len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, who->key, 32) == 1 &&
              EVP_DigestUpdate(md, ns, strlen(ns) + 1) == 1 &&
              EVP_DigestFinal_ex(md, key, &len) == 1 && len == 32;
    EVP_MD_CTX_free(md);
    if (!ok) {
        gw_auth_refuse(r, 500, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, "internal error", "sha256 failed");
        return -1;
    }
    r->why[0] = '\0';
    bool hit;
    grant *g = (grant *)cache_find(t->grants, sizeof *t->grants, t->cache_cap, key, now, &hit);
    int status;
    if (hit) {
        status = g->allowed ? 0 : 403;
    } else {
        status = review_access(t, who->subject, ns, now, r);
        if (status < 0)
            return -1; /* r is refused with the error; nothing cached */
        long ttl = answer_ttl(t, status != 0);
        if (g && ttl > 0) {
            memcpy(g->s.key, key, 32);
            g->s.used = true;
            g->s.expires_ms = now + ttl;
            g->allowed = status == 0;
        }
    }
    if (status)
        refuse_access(t, who->user, ns, hit, r);
    return status;
}

void gw_tokenreview_check(gw_tokenreview *t, const char *tok, size_t n, bool read_route,
                          long long now_ms, gw_auth_result *r)
{
    if (!tok) {
        gw_auth_refuse(r, 401, GW_AM_TOKENREVIEW, GW_AUTH_MISSING,
                       "missing credentials: send Authorization: Bearer <token>",
                       "no bearer token");
        return;
    }
    bool printable = n <= 16384;
    for (size_t i = 0; printable && i < n; i++)
        printable = tok[i] > 0x20 && tok[i] < 0x7f;
    if (!printable) { /* no apiserver issues such a token: not worth a review */
        gw_auth_refuse(r, 401, GW_AM_TOKENREVIEW, GW_AUTH_MISMATCH,
                       "bearer token not accepted by the Kubernetes API",
                       "malformed bearer token");
        return;
    }
    unsigned char key[32];
    unsigned int klen = 0;
    if (EVP_Digest(tok, n, key, &klen, EVP_sha256(), NULL) != 1 || klen != 32) {
        gw_auth_refuse(r, 500, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, "internal error", "sha256 failed");
        return;
    }
    bool hit;
    review *e = (review *)cache_find(t->cache, sizeof *t->cache, t->cache_cap, key, now_ms, &hit);
    char user[128];
    char *subject = NULL; /* owned here unless cached */
    int status;
    if (hit) {
        status = e->status;
        snprintf(user, sizeof user, "%s", e->user);
        if (!status && !(subject = strdup(e->subject))) {
            gw_auth_refuse(r, 500, GW_AM_TOKENREVIEW, GW_AUTH_ERROR, "internal error",
                           "tokenreview: out of memory");
            return;
        }
    } else {
        status = review_token(t, tok, n, now_ms, user, sizeof user, &subject, r);
        if (status < 0)
            return; /* r is refused with the error; nothing cached */
        long ttl = answer_ttl(t, status != 0);
        char *copy = NULL;
        if (e && ttl > 0 && (status || (copy = strdup(subject)))) {
            free(e->subject);
            memcpy(e->s.key, key, 32);
            e->s.used = true;
            e->s.expires_ms = now_ms + ttl;
            e->status = status;
            e->subject = copy;
            snprintf(e->user, sizeof e->user, "%s", user);
        }
    }
    if (status) {
        char why[sizeof r->why];
        snprintf(why, sizeof why, "%s", r->why[0] ? r->why : "token not authenticated (cached)");
        gw_auth_refuse(r, 401, GW_AM_TOKENREVIEW, GW_AUTH_MISMATCH,
                       "bearer token not accepted by the Kubernetes API", "%s", why);
        return;
    }
    /* the request's reviewed user, for the namespaces it names */
    free(t->cur.subject);
    memcpy(t->cur.key, key, 32);
    snprintf(t->cur.user, sizeof t->cur.user, "%s", user);
    t->cur.subject = subject;
    char who[160];
    snprintf(who, sizeof who, "user:%.140s", user);
    if (read_route && authorize_ns(t, &t->cur, t->sar_namespace, now_ms, r))
        return;
    gw_auth_admit(r, GW_AM_TOKENREVIEW, who);
    if (!read_route)
        r->subject = &t->cur;
}

int gw_tokenreview_authorize(gw_tokenreview *t, gw_auth_result *res, const char *ns,
                             long long now_ms)
{
    return authorize_ns(t, res->subject, ns ? ns : "", now_ms, res) ? res->status : 0;
}

