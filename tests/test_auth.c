/* SPDX-License-Identifier: Apache-2.0 */
/* test_auth.c - per-route authentication (core/auth.c): bearer hashes and
 * namespace scope, HMAC with and without a signed timestamp, the replay
 * window's edges, key rotation, mTLS verify and CN, the IP allowlist (IPv4,
 * IPv6, mapped) and its parser, configuration errors, and tokenreview
 * against a canned apiserver (caching, bounds, outages).
 *
 * Configuration comes from ALERTGW_* variables through gw_config_load, the
 * way the worker reads it; every test starts from a clean environment. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "text.h"

#include "testutil.h"

#define NOW_MS 1700000000000LL
#define NOW_S  "1700000000"

/* Loads the config from "NAME=VALUE" pairs (NULL-terminated). */
static gw_err load(gw_config *c, char *errs, size_t errlen, const char *const *env)
{
    clear_alertgw_env();
    for (; env && *env; env++) {
        char name[128];
        const char *eq = strchr(*env, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - *env), *env);
        setenv(name, eq + 1, 1);
    }
    gw_err rc = gw_config_load(c, NULL, errs, errlen);
    clear_alertgw_env();
    return rc;
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
    gw_hex_encode(md, 32, out);
}

/* A temp file holding text; its name in path (unlinked by the caller). */
static void temp_file(char *path, size_t len, const char *text)
{
    snprintf(path, len, "/tmp/test_auth.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Request headers: NAME, VALUE pairs, NULL-terminated. */
static const char *hdr_of(void *hctx, const char *name)
{
    const char *const *h = hctx;
    for (; h && h[0]; h += 2)
        if (!strcasecmp(h[0], name))
            return h[1];
    return NULL;
}

static gw_request post_req(const char *body, const char *const *headers)
{
    gw_request r = {
        .method = "POST", .path = "/api/v1/signals/prometheus", .content_length = -1,
        .body = body, .body_len = body ? strlen(body) : 0, .header = hdr_of,
        .hctx = (void *)headers, .remote_addr = "127.0.0.1",
    };
    return r;
}

typedef struct {
    gw_config cfg;
    gw_auth  *auth;
    char      errs[4096];
} fx;

/* Config from env, then gw_auth_new with post (may be NULL). */
static void start(fx *f, const char *const *env, gw_auth_post post, void *arg)
{
    memset(f, 0, sizeof *f);
    if (load(&f->cfg, f->errs, sizeof f->errs, env))
        fail_msg("config rejected: %s", f->errs);
    char err[512];
    if (gw_auth_new(&f->cfg, post, arg, &f->auth, err, sizeof err))
        fail_msg("gw_auth_new: %s", err);
}

static void stop(fx *f)
{
    gw_auth_free(f->auth);
    gw_config_free(&f->cfg);
}

static void check(fx *f, gw_auth_route r, const gw_request *req, gw_auth_result *res)
{
    gw_auth_check(f->auth, r, req, NOW_MS, res);
}

/* Whether the request req, admitted on route, may act on namespace ns
 * (gw_auth_authorize, which refuses the result it is given: each call
 * checks req anew). */
static bool in_scope(fx *f, gw_auth_route route, const gw_request *req, const char *ns)
{
    gw_auth_result res;
    check(f, route, req, &res);
    assert_int_equal(res.status, 0);
    return gw_auth_authorize(f->auth, &res, ns, NOW_MS) == 0;
}

/* ------------------------------------------------------------- bearer */

static void bearer_hash_match_mismatch_and_scope(void **state)
{
    (void)state;
    char ha[65], hb[65], list[300];
    sha256_hex("token-a-0123456789", ha);
    sha256_hex("token-b-9876543210", hb);
    /* upper-case hex is accepted; the scope takes globs */
    for (char *p = hb; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
    snprintf(list, sizeof list, "%s, %s=team-a|prod-*", ha, hb);
    char env1[400];
    snprintf(env1, sizeof env1, "ALERTGW_AUTH_BEARER_TOKENS=%s", list);
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=bearer", env1, NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;

    gw_request r = post_req("{}", NULL);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.mode, GW_AM_BEARER);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    assert_string_equal(res.challenge, "Bearer realm=\"alertgw\"");

    const char *basic[] = { "Authorization", "Basic dXNlcjpwYXNz", NULL };
    r = post_req("{}", basic);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.reason, GW_AUTH_MISSING);

    const char *wrong[] = { "Authorization", "Bearer token-a-0123456788", NULL };
    r = post_req("{}", wrong);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    assert_contains(res.challenge, "invalid_token");
    /* the presented token is in neither the log reason nor the answer */
    assert_null(strstr(res.why, "token-a"));
    assert_null(strstr(res.detail, "token-a"));

    const char *good[] = { "Authorization", "bearer   token-a-0123456789  ", NULL };
    r = post_req("{}", good);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.mode, GW_AM_BEARER);
    char want[32];
    snprintf(want, sizeof want, "bearer:%.8s", ha);
    assert_string_equal(res.principal, want);
    assert_null(res.scope);
    assert_true(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, "anything"));
    assert_true(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, ""));

    const char *scoped[] = { "Authorization", "Bearer token-b-9876543210", NULL };
    r = post_req("{}", scoped);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_non_null(res.scope);
    assert_true(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, "team-a"));
    assert_true(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, "prod-eu"));
    assert_false(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, "team-b"));
    assert_false(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, "team-a2"));
    assert_false(in_scope(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, "")); /* cluster-scoped */

    /* other routes keep their default: none */
    r = post_req("{}", NULL);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.mode, GW_AM_NONE);
    stop(&f);
}

static void bearer_tokens_file(void **state)
{
    (void)state;
    char ha[65], hb[65], text[400], path[64], env1[128];
    sha256_hex("from-file-1", ha);
    sha256_hex("from-file-2", hb);
    snprintf(text, sizeof text, "# alert senders\n\n%s\n  %s=ns1|ns2   # team b\n", ha, hb);
    temp_file(path, sizeof path, text);
    snprintf(env1, sizeof env1, "ALERTGW_AUTH_BEARER_TOKENS_FILE=%s", path);
    const char *env[] = { "ALERTGW_AUTH_METRICS=bearer", env1, NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;
    const char *h2[] = { "Authorization", "Bearer from-file-2", NULL };
    gw_request r = post_req(NULL, h2);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_true(in_scope(&f, GW_AUTH_ROUTE_METRICS, &r, "ns2"));
    assert_false(in_scope(&f, GW_AUTH_ROUTE_METRICS, &r, "ns3"));
    stop(&f);

    /* a bad line is a start-up error naming the file and line */
    snprintf(text, sizeof text, "%s\nnot-a-hash\n", ha);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    gw_config cfg;
    char errs[1024], err[512];
    assert_int_equal(load(&cfg, errs, sizeof errs, env), GW_OK);
    gw_auth *a = NULL;
    assert_int_equal(gw_auth_new(&cfg, NULL, NULL, &a, err, sizeof err), GW_ECONFIG);
    assert_null(a);
    assert_contains(err, "auth.bearer_tokens_file");
    assert_contains(err, "line 2");
    gw_config_free(&cfg);

    /* a line longer than any entry is refused, never cut short */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n%s=%0*d\n", ha, hb, 3000, 0);
    fclose(fp);
    assert_int_equal(load(&cfg, errs, sizeof errs, env), GW_OK);
    assert_int_equal(gw_auth_new(&cfg, NULL, NULL, &a, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "line 2 is longer than");
    gw_config_free(&cfg);

    /* the last line needs no newline */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n%s", ha, hb);
    fclose(fp);
    start(&f, env, NULL, NULL);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 0);
    stop(&f);

    /* a missing file says why */
    unlink(path);
    assert_int_equal(load(&cfg, errs, sizeof errs, env), GW_OK);
    assert_int_equal(gw_auth_new(&cfg, NULL, NULL, &a, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "auth.bearer_tokens_file: cannot read");
    assert_contains(err, "No such file");
    gw_config_free(&cfg);
}

/* --------------------------------------------------------------- hmac */

typedef struct {
    char dir[64], s1[80], s2[80];
} secrets;

static void make_secrets(secrets *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/test_auth_d.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->s1, sizeof s->s1, "%s/current", s->dir);
    snprintf(s->s2, sizeof s->s2, "%s/previous", s->dir);
    FILE *f = fopen(s->s1, "w");
    fputs("current-secret\n", f);
    fclose(f);
    f = fopen(s->s2, "w");
    fputs("previous-secret", f);
    fclose(f);
}

static void drop_secrets(secrets *s)
{
    unlink(s->s1);
    unlink(s->s2);
    rmdir(s->dir);
}

/* "sha256=" and the hex HMAC-SHA256 of [ts ":"] body under secret, as a
 * sender computes it (OpenSSL's HMAC, not the gateway's code). */
static void sign(const char *secret, const char *ts, const char *body, char out[80])
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s%s%s", ts ? ts : "", ts ? ":" : "", body);
    assert_true(n > 0 && (size_t)n < sizeof msg);
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
                         (size_t)n, md, &mdlen));
    assert_int_equal(mdlen, 32);
    char hex[65];
    gw_hex_encode(md, 32, hex);
    snprintf(out, 80, "sha256=%s", hex);
}

static const char body[] = "{\"receiver\":\"alertgw\",\"alerts\":[]}";

static void hmac_without_and_with_timestamp(void **state)
{
    (void)state;
    secrets s;
    make_secrets(&s);
    char env1[200];
    snprintf(env1, sizeof env1, "ALERTGW_AUTH_HMAC_SECRET_FILES=%s,%s", s.s1, s.s2);
    const char *env[] = { "ALERTGW_AUTH_EVENTS=hmac", env1, NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;
    char sig[80], sig_ts[80];
    sign("current-secret", NULL, body, sig);
    sign("current-secret", NOW_S, body, sig_ts);

    gw_request r = post_req(body, NULL);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    assert_null(res.challenge); /* no standard scheme for a body signature */

    const char *plain[] = { "X-Signature-256", sig, NULL };
    r = post_req(body, plain);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.mode, GW_AM_HMAC);

    const char *bare[] = { "X-Signature-256", sig + 7, NULL }; /* without "sha256=" */
    r = post_req(body, bare);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);

    r = post_req("{\"receiver\":\"alertgw\",\"alerts\":[1]}", plain); /* tampered */
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    assert_string_equal(res.why, "signature mismatch");

    /* timestamped: "<ts>:<body>" is what is signed */
    const char *ts_ok[] = { "X-Signature-256", sig_ts, "X-Signature-Timestamp", NOW_S, NULL };
    r = post_req(body, ts_ok);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);
    const char *ts_moved[] = { "X-Signature-256", sig_ts, "X-Signature-Timestamp",
                               "1700000001", NULL };
    r = post_req(body, ts_moved);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    const char *ts_dropped[] = { "X-Signature-256", sig_ts, NULL };
    r = post_req(body, ts_dropped);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    const char *ts_bad[] = { "X-Signature-256", sig_ts, "X-Signature-Timestamp", "17e8", NULL };
    r = post_req(body, ts_bad);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    /* the secret never shows */
    assert_null(strstr(res.why, "secret"));
    stop(&f);

    /* hmac_require_timestamp: a body-only signature is not enough */
    const char *env2[] = { "ALERTGW_AUTH_EVENTS=hmac", env1,
                           "ALERTGW_AUTH_HMAC_REQUIRE_TIMESTAMP=true", NULL };
    start(&f, env2, NULL, NULL);
    r = post_req(body, plain);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    assert_string_equal(res.why, "missing signed timestamp");
    r = post_req(body, ts_ok);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);
    stop(&f);
    drop_secrets(&s);
}

static void replay_window_edges(void **state)
{
    (void)state;
    secrets s;
    make_secrets(&s);
    char env1[200];
    snprintf(env1, sizeof env1, "ALERTGW_AUTH_HMAC_SECRET_FILES=%s", s.s1);
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=hmac", env1,
                          "ALERTGW_AUTH_HMAC_REPLAY_WINDOW=5m", NULL };
    fx f;
    start(&f, env, NULL, NULL);
    static const struct {
        long long offset;
        int       status;
    } cases[] = { { 0, 0 }, { -300, 0 }, { 300, 0 }, { -301, 401 }, { 301, 401 },
                  { -86400, 401 } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ts[32], sig[80];
        snprintf(ts, sizeof ts, "%lld", NOW_MS / 1000 + cases[i].offset);
        sign("current-secret", ts, body, sig);
        const char *h[] = { "X-Signature-256", sig, "X-Signature-Timestamp", ts, NULL };
        gw_request r = post_req(body, h);
        gw_auth_result res;
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
        if (res.status != cases[i].status)
            fail_msg("offset %lld: status %d, want %d", cases[i].offset, res.status,
                     cases[i].status);
        if (res.status) {
            assert_int_equal(res.reason, GW_AUTH_EXPIRED);
            assert_contains(res.detail, "300 s");
        }
    }
    stop(&f);
    drop_secrets(&s);
}

/* A signature over a timestamp names the request for the replay cache
 * (res.nonce: the signature in lowercase hex, so a change of case or of
 * the "sha256=" prefix is the same request); a body-only signature has
 * none. */
static void hmac_nonce_names_timestamped_requests(void **state)
{
    (void)state;
    secrets s;
    make_secrets(&s);
    char env1[200], env2[200];
    snprintf(env1, sizeof env1, "ALERTGW_AUTH_HMAC_SECRET_FILES=%s", s.s1);
    snprintf(env2, sizeof env2, "ALERTGW_GRAFANA_SECRET_FILES=%s", s.s1);
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=hmac", env1, env2,
                          "ALERTGW_GRAFANA_TIMESTAMP_HEADER=X-Grafana-Alerting-Signature-Timestamp",
                          NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;
    char sig[80], sig_ts[80], upper[80];
    sign("current-secret", NULL, body, sig);
    sign("current-secret", NOW_S, body, sig_ts);
    const char *plain[] = { "X-Signature-256", sig, NULL };
    gw_request r = post_req(body, plain);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.nonce, "");
    const char *ts_ok[] = { "X-Signature-256", sig_ts, "X-Signature-Timestamp", NOW_S, NULL };
    r = post_req(body, ts_ok);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.nonce, sig_ts + 7);
    /* the same signature in upper case, without the prefix: the same nonce */
    snprintf(upper, sizeof upper, "%s", sig_ts + 7);
    for (char *p = upper; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
    const char *ts_upper[] = { "X-Signature-256", upper, "X-Signature-Timestamp", NOW_S, NULL };
    r = post_req(body, ts_upper);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.nonce, sig_ts + 7);
    /* refused: no nonce */
    const char *ts_moved[] = { "X-Signature-256", sig_ts, "X-Signature-Timestamp",
                               "1700000001", NULL };
    r = post_req(body, ts_moved);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_string_equal(res.nonce, "");
    /* Grafana's signature with its timestamp header */
    const char *graf[] = { "X-Grafana-Alerting-Signature", sig_ts + 7,
                           "X-Grafana-Alerting-Signature-Timestamp", NOW_S, NULL };
    r = post_req(body, graf);
    check(&f, GW_AUTH_ROUTE_GRAFANA, &r, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.nonce, sig_ts + 7);
    stop(&f);
    drop_secrets(&s);
}

static void key_rotation_and_grafana_route(void **state)
{
    (void)state;
    secrets s;
    make_secrets(&s);
    char env1[200];
    snprintf(env1, sizeof env1, "ALERTGW_GRAFANA_SECRET_FILES=%s,%s", s.s1, s.s2);
    /* auth.grafana unset: hmac because grafana.secret_files is set */
    const char *env[] = { env1, NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;
    char sig[80];
    const char *who[] = { "current-secret", "previous-secret", "old-secret" };
    for (int i = 0; i < 3; i++) {
        sign(who[i], NULL, body, sig);
        const char *h[] = { "X-Grafana-Alerting-Signature", sig + 7, NULL };
        gw_request r = post_req(body, h);
        check(&f, GW_AUTH_ROUTE_GRAFANA, &r, &res);
        assert_int_equal(res.status, i < 2 ? 0 : 401);
    }
    /* the generic header means nothing on the Grafana route */
    sign("current-secret", NULL, body, sig);
    const char *generic[] = { "X-Signature-256", sig, NULL };
    gw_request r = post_req(body, generic);
    check(&f, GW_AUTH_ROUTE_GRAFANA, &r, &res);
    assert_int_equal(res.status, 401);
    assert_string_equal(res.why, "missing signature");
    /* the Alertmanager route is still open */
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    stop(&f);

    /* without grafana.secret_files the Grafana route is open, as before */
    start(&f, NULL, NULL, NULL);
    r = post_req(body, NULL);
    check(&f, GW_AUTH_ROUTE_GRAFANA, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.mode, GW_AM_NONE);
    stop(&f);
    drop_secrets(&s);
}

/* --------------------------------------------------------------- mtls */

static void mtls_verify_and_cn(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=mtls",
                          "ALERTGW_AUTH_MTLS_ALLOWED_CNS=alertmanager, grafana", NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;
    gw_request r = post_req(body, NULL);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.mode, GW_AM_MTLS);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    r.tls_client_verify = "NONE";
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    r.tls_client_verify = "FAILED:certificate has expired";
    r.tls_client_cn = "alertmanager";
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    r.tls_client_verify = "SUCCESS";
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.principal, "cn:alertmanager");
    r.tls_client_cn = "grafana";
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    r.tls_client_cn = "alertmanager2";
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 403);
    assert_int_equal(res.reason, GW_AUTH_FORBIDDEN);
    assert_contains(res.detail, "alertmanager2");
    r.tls_client_cn = NULL;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 403);
    stop(&f);

    const char *any[] = { "ALERTGW_AUTH_PROMETHEUS=mtls", "ALERTGW_AUTH_MTLS_ALLOWED_CNS=*", NULL };
    start(&f, any, NULL, NULL);
    r.tls_client_cn = "whoever";
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    stop(&f);
}

/* ---------------------------------------------------------- allowlist */

static void cidr_matching_v4_v6(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_ALLOW_CIDRS=10.0.0.0/8, 192.168.1.0/24,172.16.0.0/12,"
                          "2001:db8::/32,::1,203.0.113.7", NULL };
    fx f;
    start(&f, env, NULL, NULL);
    static const struct {
        const char *addr;
        bool        ok;
    } cases[] = {
        { "10.1.2.3", true },         { "10.255.255.255", true }, { "11.0.0.1", false },
        { "9.255.255.255", false },   { "192.168.1.255", true },  { "192.168.2.1", false },
        { "172.31.255.255", true },   { "172.32.0.0", false },    { "172.15.255.255", false },
        { "203.0.113.7", true },      { "203.0.113.8", false },   { "2001:db8:1::5", true },
        { "2001:db9::1", false },     { "::1", true },            { "::2", false },
        { "::ffff:10.9.9.9", true },  { "::ffff:11.9.9.9", false }, { "127.0.0.1", false },
        { "garbage", false },         { "", false },              { NULL, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (gw_auth_ip_allowed(f.auth, cases[i].addr) != cases[i].ok)
            fail_msg("%s: want %s", cases[i].addr ? cases[i].addr : "(null)",
                     cases[i].ok ? "allowed" : "refused");
    stop(&f);

    /* empty list: everyone; /0: every IPv4 address but no IPv6 one */
    start(&f, NULL, NULL, NULL);
    assert_true(gw_auth_ip_allowed(f.auth, NULL));
    assert_true(gw_auth_ip_allowed(f.auth, "8.8.8.8"));
    stop(&f);
    const char *all4[] = { "ALERTGW_AUTH_ALLOW_CIDRS=0.0.0.0/0", NULL };
    start(&f, all4, NULL, NULL);
    assert_true(gw_auth_ip_allowed(f.auth, "8.8.8.8"));
    assert_false(gw_auth_ip_allowed(f.auth, "2001:db8::1"));
    stop(&f);
}

/* ------------------------------------------------------- config errors */

static void expect_config_error(const char *const *env, const char *needle)
{
    gw_config c;
    char errs[4096];
    if (load(&c, errs, sizeof errs, env) != GW_ECONFIG)
        fail_msg("accepted, expected an error containing \"%s\"", needle);
    assert_contains(errs, needle);
    gw_config_free(&c);
}

static void bad_cidrs_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "10.0.0.0/33", "10.0.0.1/8", "10.0.0/8", "abc", "::/129", "1.2.3.4/", "/8",
        "10.0.0.0/-1", "10.0.0.0/8x", "2001:db8::1/32", "10.0.0.0/8/8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char e[128];
        snprintf(e, sizeof e, "ALERTGW_AUTH_ALLOW_CIDRS=192.168.0.0/16,%s", bad[i]);
        const char *env[] = { e, NULL };
        expect_config_error(env, "auth.allow_cidrs");
    }
    const char *host[] = { "ALERTGW_AUTH_ALLOW_CIDRS=10.0.0.1/8", NULL };
    expect_config_error(host, "host bits set");
    /* and the good ones pass */
    gw_config c;
    char errs[1024];
    const char *good[] = { "ALERTGW_AUTH_ALLOW_CIDRS=10.0.0.0/8,::/0,fe80::/10,1.2.3.4,::1/128",
                           NULL };
    if (load(&c, errs, sizeof errs, good))
        fail_msg("%s", errs);
    gw_config_free(&c);
}

static void config_errors(void **state)
{
    (void)state;
    const char *unknown[] = { "ALERTGW_AUTH_PROMETHEUS=bearer,magic", NULL };
    expect_config_error(unknown, "auth.prometheus: unknown mode \"magic\"");
    const char *none_mix[] = { "ALERTGW_AUTH_EVENTS=none,mtls",
                               "ALERTGW_AUTH_MTLS_ALLOWED_CNS=x", NULL };
    expect_config_error(none_mix, "auth.events: none cannot be combined");
    const char *empty[] = { "ALERTGW_AUTH_SIGNALS=", NULL };
    expect_config_error(empty, "auth.signals: must list at least one mode");
    const char *get_hmac[] = { "ALERTGW_AUTH_METRICS=hmac",
                               "ALERTGW_AUTH_HMAC_SECRET_FILES=/x", NULL };
    expect_config_error(get_hmac, "auth.metrics: hmac signs a request body");
    const char *no_secret[] = { "ALERTGW_AUTH_PROMETHEUS=hmac", NULL };
    expect_config_error(no_secret, "auth.prometheus: hmac needs auth.hmac_secret_files");
    const char *no_grafana[] = { "ALERTGW_AUTH_GRAFANA=hmac", NULL };
    expect_config_error(no_grafana, "auth.grafana: hmac needs grafana.secret_files");
    const char *no_tokens[] = { "ALERTGW_AUTH_PROMETHEUS=bearer", NULL };
    expect_config_error(no_tokens, "auth.bearer_tokens: a route accepts bearer");
    const char *no_cns[] = { "ALERTGW_AUTH_PROMETHEUS=mtls", NULL };
    expect_config_error(no_cns, "auth.mtls_allowed_cns");
    const char *bad_hash[] = { "ALERTGW_AUTH_BEARER_TOKENS=deadbeef", NULL };
    expect_config_error(bad_hash, "is not a SHA-256 hex digest");
    char e[200];
    snprintf(e, sizeof e, "ALERTGW_AUTH_BEARER_TOKENS=%064d=Team_A", 0);
    const char *bad_scope[] = { e, NULL };
    expect_config_error(bad_scope, "scope \"Team_A\"");
    snprintf(e, sizeof e, "ALERTGW_AUTH_BEARER_TOKENS=%064d=a||b", 0);
    const char *empty_scope[] = { e, NULL };
    expect_config_error(empty_scope, "scope");
    const char *req_ts[] = { "ALERTGW_AUTH_HMAC_REQUIRE_TIMESTAMP=true",
                             "ALERTGW_AUTH_HMAC_TIMESTAMP_HEADER=", NULL };
    expect_config_error(req_ts, "auth.hmac_require_timestamp");
    const char *bad_header[] = { "ALERTGW_AUTH_HMAC_SIGNATURE_HEADER=X Sig", NULL };
    expect_config_error(bad_header, "auth.hmac_signature_header");
    const char *window[] = { "ALERTGW_AUTH_HMAC_REPLAY_WINDOW=0s", NULL };
    expect_config_error(window, "auth.hmac_replay_window");
    const char *entries[] = { "ALERTGW_AUTH_TOKENREVIEW_CACHE_ENTRIES=0", NULL };
    expect_config_error(entries, "auth.tokenreview_cache_entries");

    /* a secret file that cannot be read stops the worker at start */
    const char *missing[] = { "ALERTGW_AUTH_PROMETHEUS=hmac",
                              "ALERTGW_AUTH_HMAC_SECRET_FILES=/nonexistent/secret", NULL };
    gw_config c;
    char errs[1024], err[512];
    assert_int_equal(load(&c, errs, sizeof errs, missing), GW_OK);
    gw_auth *a = NULL;
    assert_int_equal(gw_auth_new(&c, NULL, NULL, &a, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "auth.hmac_secret_files: cannot read /nonexistent/secret");
    gw_config_free(&c);
}

/* --------------------------------------------------------- tokenreview */

/* A canned apiserver: "good-token" is system:serviceaccount:ns:sender,
 * "denied-token" system:serviceaccount:ns:other, anything else
 * unauthenticated.  The SubjectAccessReview allows the sender in every
 * namespace but those starting with "deny-", cluster-wide only when
 * cluster_ok; the other user nowhere.  mode: 0 answers, 1 unreachable,
 * 2 answers 500, 3 answers 403.  aud: 0 a well-behaved apiserver (echoes
 * spec.audiences in status.audiences; without them, its own), 1 one that
 * ignores spec.audiences (answers its own), 2 one that sends no
 * status.audiences at all. */
typedef struct {
    int  mode;
    int  aud;
    bool cluster_ok;
    int  calls, tr_calls, sar_calls;
    char last_tr[2048], last_sar[2048];
} fake_api;

static gw_err fake_post(void *arg, const char *path, const char *b, size_t len, long *status,
                        gw_buf *resp, char *err, size_t errlen)
{
    fake_api *f = arg;
    f->calls++;
    gw_buf_reset(resp);
    if (f->mode == 1)
        return gw_fail(GW_EKUBE, err, errlen, "connect to 127.0.0.1:1 failed");
    if (f->mode == 2 || f->mode == 3) {
        *status = f->mode == 2 ? 500 : 403;
        return gw_buf_appends(resp, "{\"kind\":\"Status\"}");
    }
    json_t *j = json_loadb(b, len, 0, NULL);
    assert_non_null(j);
    json_t *spec = json_object_get(j, "spec");
    *status = 201;
    if (strstr(path, "/tokenreviews")) {
        f->tr_calls++;
        snprintf(f->last_tr, sizeof f->last_tr, "%.*s", (int)len, b);
        const char *tok = json_string_value(json_object_get(spec, "token"));
        const char *user = !strcmp(tok, "good-token")     ? "system:serviceaccount:ns:sender"
                           : !strcmp(tok, "denied-token") ? "system:serviceaccount:ns:other"
                                                          : NULL;
        json_t *asked = json_object_get(spec, "audiences");
        char *auds = f->aud == 0 && asked ? json_dumps(asked, JSON_COMPACT)
                                          : strdup("[\"https://kubernetes.default.svc\"]");
        assert_non_null(auds);
        if (user && f->aud == 2)
            gw_buf_printf(resp, "{\"status\":{\"authenticated\":true,\"user\":{\"username\":"
                          "\"%s\",\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\"]}},"
                          "\"spec\":{\"token\":\"%s\"}}", user, tok);
        else if (user)
            gw_buf_printf(resp, "{\"status\":{\"authenticated\":true,\"user\":{\"username\":"
                          "\"%s\",\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\"]},"
                          "\"audiences\":%s},\"spec\":{\"token\":\"%s\"}}", user, auds, tok);
        else
            gw_buf_appends(resp, "{\"status\":{\"authenticated\":false,\"error\":\"invalid "
                                 "bearer token\"}}");
        free(auds);
    } else {
        f->sar_calls++;
        snprintf(f->last_sar, sizeof f->last_sar, "%.*s", (int)len, b);
        const char *user = json_string_value(json_object_get(spec, "user"));
        const char *ns = json_string_value(
            json_object_get(json_object_get(spec, "resourceAttributes"), "namespace"));
        bool ok = !strcmp(user, "system:serviceaccount:ns:sender") &&
                  (ns ? strncmp(ns, "deny-", 5) != 0 : f->cluster_ok);
        gw_buf_printf(resp, "{\"status\":{\"allowed\":%s,\"reason\":\"RBAC\"}}",
                      ok ? "true" : "false");
    }
    json_decref(j);
    return GW_OK;
}

static gw_request bearer_req(const char **h, const char *tok, char *buf, size_t len)
{
    snprintf(buf, len, "Bearer %s", tok);
    h[0] = "Authorization";
    h[1] = buf;
    h[2] = NULL;
    return post_req(body, h);
}

static void tokenreview_allow_deny_unknown_and_cache(void **state)
{
    (void)state;
    /* a read route: one SubjectAccessReview in auth.tokenreview_namespace
     * (default remediation.namespace) */
    const char *env[] = { "ALERTGW_AUTH_METRICS=tokenreview",
                          "ALERTGW_AUTH_TOKENREVIEW_AUDIENCES=alertgw",
                          "ALERTGW_AUTH_TOKENREVIEW_CACHE_TTL=1m", NULL };
    fake_api api = { 0 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128];

    gw_request r = post_req(body, NULL);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.mode, GW_AM_TOKENREVIEW);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    assert_int_equal(api.calls, 0);

    r = bearer_req(h, "good-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.principal, "user:system:serviceaccount:ns:sender");
    assert_int_equal(api.calls, 2);
    assert_contains(api.last_tr, "\"audiences\":[\"alertgw\"]");
    assert_contains(api.last_sar, "\"subresource\":\"signals\"");
    assert_contains(api.last_sar, "\"namespace\":\"kubernaut-system\"");
    assert_contains(api.last_sar, "\"verb\":\"create\"");
    assert_contains(api.last_sar, "\"resource\":\"remediationrequests\"");
    assert_contains(api.last_sar, "\"groups\":[\"system:serviceaccounts\"]");
    assert_null(strstr(api.last_sar, "good-token"));
    /* cached: no further call within the TTL */
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(api.calls, 2);
    /* after the TTL it is asked again */
    gw_auth_check(f.auth, GW_AUTH_ROUTE_METRICS, &r, NOW_MS + 60001, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(api.calls, 4);

    r = bearer_req(h, "denied-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 403);
    assert_int_equal(res.reason, GW_AUTH_FORBIDDEN);
    assert_contains(res.detail, "\"system:serviceaccount:ns:other\" may not create "
                                "kubernaut.ai/remediationrequests/signals in namespace "
                                "\"kubernaut-system\"");
    int before = api.calls;
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res); /* cached refusal */
    assert_int_equal(res.status, 403);
    assert_int_equal(api.calls, before);
    /* a refusal is cached for at most 10 s even with a longer TTL (the
     * token itself was authenticated: only the SubjectAccessReview is
     * asked again) */
    gw_auth_check(f.auth, GW_AUTH_ROUTE_METRICS, &r, NOW_MS + 10001, &res);
    assert_int_equal(res.status, 403);
    assert_int_equal(api.calls, before + 1);

    r = bearer_req(h, "bogus", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);
    assert_contains(res.challenge, "invalid_token");
    assert_contains(res.why, "invalid bearer token");
    assert_null(strstr(res.why, "bogus"));

    /* a token with control characters never reaches the apiserver */
    before = api.calls;
    r = bearer_req(h, "bad\001token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(api.calls, before);
    stop(&f);
}

/* How many of the tokens "unknown-0".."unknown-<n-1>" have a cached
 * answer at now_ms: asked with the apiserver down, a cached one is
 * answered (401) and any other is a 503, which is not cached, so asking
 * changes nothing.  The call counters are left as they were. */
static int cached_reviews(fx *f, fake_api *api, int n, long long now_ms)
{
    fake_api saved = *api;
    api->mode = 1;
    int cached = 0;
    const char *h[3];
    char buf[128], tok[32];
    for (int i = 0; i < n; i++) {
        snprintf(tok, sizeof tok, "unknown-%d", i);
        gw_request r = bearer_req(h, tok, buf, sizeof buf);
        gw_auth_result res;
        gw_auth_check(f->auth, GW_AUTH_ROUTE_PROMETHEUS, &r, now_ms, &res);
        assert_true(res.status == 401 || res.status == 503);
        cached += res.status == 401;
    }
    *api = saved;
    return cached;
}

/* The same for the per-(token, namespace) answers of req's token in the
 * namespaces "ns-0".."ns-<n-1>" at NOW_MS (its review must be cached). */
static int cached_grants(fx *f, fake_api *api, const gw_request *req, int n)
{
    fake_api saved = *api;
    api->mode = 1;
    int cached = 0;
    char ns[32];
    for (int i = 0; i < n; i++) {
        gw_auth_result res;
        check(f, GW_AUTH_ROUTE_PROMETHEUS, req, &res);
        assert_int_equal(res.status, 0);
        snprintf(ns, sizeof ns, "ns-%d", i);
        int st = gw_auth_authorize(f->auth, &res, ns, NOW_MS);
        assert_true(st == 0 || st == 503);
        cached += st == 0;
    }
    *api = saved;
    return cached;
}

static void tokenreview_outages_are_503_and_not_cached(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview", NULL };
    fake_api api = { .mode = 1 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128];
    gw_request r = bearer_req(h, "good-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 503);
    assert_int_equal(res.reason, GW_AUTH_ERROR);
    assert_contains(res.detail, "retry later");
    assert_contains(res.why, "connect to 127.0.0.1:1 failed");
    api.mode = 2;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 503);
    api.mode = 3; /* our own RBAC is missing: the operator's problem */
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 500);
    assert_contains(res.why, "RBAC");
    api.mode = 0; /* back: answered at once, nothing stale was kept */
    int before = api.calls;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(api.calls, before + 1); /* none of the failures was cached */
    /* the answer is: the apiserver gone again, the token is still admitted */
    api.mode = 1;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(api.calls, before + 1);
    stop(&f);
}

static void tokenreview_cache_is_bounded(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                          "ALERTGW_AUTH_TOKENREVIEW_CACHE_ENTRIES=4",
                          "ALERTGW_AUTH_TOKENREVIEW_MAX_PER_SECOND=0", NULL };
    fake_api api = { 0 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128], tok[32];
    for (int i = 0; i < 50; i++) {
        snprintf(tok, sizeof tok, "unknown-%d", i);
        gw_request r = bearer_req(h, tok, buf, sizeof buf);
        gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS + i, &res);
        assert_int_equal(res.status, 401);
        assert_true(cached_reviews(&f, &api, i + 1, NOW_MS + i) <= 4);
    }
    assert_int_equal(cached_reviews(&f, &api, 50, NOW_MS + 49), 4);
    /* the good token still gets a slot and is served from it */
    gw_request r = bearer_req(h, "good-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    int before = api.calls;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(api.calls, before);
    stop(&f);

    /* cache_ttl 0: every request is reviewed (a TokenReview and, on a read
     * route, a SubjectAccessReview) */
    const char *nocache[] = { "ALERTGW_AUTH_METRICS=tokenreview",
                              "ALERTGW_AUTH_TOKENREVIEW_CACHE_TTL=0s", NULL };
    api.calls = 0;
    start(&f, nocache, fake_post, &api);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(api.calls, 4);
    api.mode = 1; /* nothing is cached: without the apiserver, no answer */
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 503);
    stop(&f);
}

/* status.audiences must name one of auth.tokenreview_audiences: an
 * apiserver that ignores spec.audiences (or predates them) would otherwise
 * admit a token minted for any other service. */
static void tokenreview_audiences_must_match(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                          "ALERTGW_AUTH_TOKENREVIEW_AUDIENCES=alertgw, alertgw-b", NULL };
    fake_api api = { 0 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128];
    gw_request r = bearer_req(h, "good-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_contains(api.last_tr, "\"audiences\":[\"alertgw\",\"alertgw-b\"]");
    stop(&f);

    for (int aud = 1; aud <= 2; aud++) {
        api = (fake_api){ .aud = aud };
        start(&f, env, fake_post, &api);
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
        if (res.status != 401)
            fail_msg("aud mode %d: status %d, want 401", aud, res.status);
        assert_int_equal(res.mode, GW_AM_TOKENREVIEW);
        assert_int_equal(res.reason, GW_AUTH_MISMATCH);
        assert_string_equal(res.detail, "bearer token not accepted by the Kubernetes API");
        assert_contains(res.why, "auth.tokenreview_audiences");
        assert_contains(res.challenge, "invalid_token");
        /* refused like any unauthenticated token: cached, no SAR asked */
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
        assert_int_equal(res.status, 401);
        assert_int_equal(api.tr_calls, 1);
        assert_int_equal(api.sar_calls, 0);
        stop(&f);
    }
    /* no audiences configured: the apiserver's own are what it checked */
    const char *noaud[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview", NULL };
    api = (fake_api){ .aud = 1 };
    start(&f, noaud, fake_post, &api);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_null(strstr(api.last_tr, "audiences"));
    stop(&f);
}

/* A signal route authorises every namespace a request names with its own
 * SubjectAccessReview (cached per token and namespace); the read routes
 * keep the one in auth.tokenreview_namespace. */
static void tokenreview_authorises_each_signal_namespace(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                          "ALERTGW_AUTH_METRICS=tokenreview",
                          "ALERTGW_AUTH_TOKENREVIEW_NAMESPACE=monitoring",
                          "ALERTGW_AUTH_TOKENREVIEW_CACHE_TTL=1m", NULL };
    fake_api api = { 0 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128];
    gw_request r = bearer_req(h, "good-token", buf, sizeof buf);
    /* authentication alone on a signal route: the namespaces come later */
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(api.tr_calls, 1);
    assert_int_equal(api.sar_calls, 0);
    assert_true(gw_auth_per_namespace(&res));
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS), 0);
    assert_int_equal(api.sar_calls, 1);
    assert_contains(api.last_sar, "\"namespace\":\"team-a\"");
    assert_contains(api.last_sar, "\"user\":\"system:serviceaccount:ns:sender\"");
    assert_contains(api.last_sar, "\"uid\":\"u-1\"");
    assert_contains(api.last_sar, "\"groups\":[\"system:serviceaccounts\"]");
    assert_contains(api.last_sar, "\"subresource\":\"signals\"");
    assert_null(strstr(api.last_sar, "good-token"));
    /* the answer is cached per (token, namespace) */
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS + 1000), 0);
    assert_int_equal(api.sar_calls, 1);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-b", NOW_MS), 0);
    assert_int_equal(api.sar_calls, 2);
    /* a namespace the sender has no RBAC for: 403 naming it */
    assert_int_equal(gw_auth_authorize(f.auth, &res, "deny-x", NOW_MS), 403);
    assert_int_equal(res.status, 403);
    assert_int_equal(res.mode, GW_AM_TOKENREVIEW);
    assert_int_equal(res.reason, GW_AUTH_FORBIDDEN);
    assert_string_equal(res.detail, "\"system:serviceaccount:ns:sender\" may not create "
                                    "kubernaut.ai/remediationrequests/signals in namespace "
                                    "\"deny-x\"");
    assert_string_equal(res.principal, "user:system:serviceaccount:ns:sender");
    assert_contains(res.why, "deny-x");
    /* the next request: cached review, cached refusal (at most 10 s) */
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "deny-x", NOW_MS + 9999), 403);
    assert_int_equal(api.sar_calls, 3);
    assert_int_equal(api.tr_calls, 1);
    gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS + 10001, &res);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "deny-x", NOW_MS + 10001), 403);
    assert_int_equal(api.sar_calls, 4);
    /* a cluster-scoped target: a cluster-wide review, namespace omitted */
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "", NOW_MS), 403);
    assert_null(strstr(api.last_sar, "\"namespace\""));
    assert_contains(api.last_sar, "\"resourceAttributes\":{");
    assert_string_equal(res.detail, "\"system:serviceaccount:ns:sender\" may not create "
                                    "kubernaut.ai/remediationrequests/signals cluster-wide "
                                    "(the target is cluster-scoped)");
    api.cluster_ok = true;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "", NOW_MS + 10001), 0);
    /* the apiserver unreachable: 503, not cached */
    api.mode = 1;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0); /* the review is cached */
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-c", NOW_MS), 503);
    assert_int_equal(res.reason, GW_AUTH_ERROR);
    api.mode = 0;
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-c", NOW_MS), 0);
    /* another token's answers are its own */
    r = bearer_req(h, "denied-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS), 403);

    /* the read routes: one review in auth.tokenreview_namespace */
    r = bearer_req(h, "good-token", buf, sizeof buf);
    int before = api.sar_calls;
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_false(gw_auth_per_namespace(&res));
    assert_int_equal(api.sar_calls, before + 1);
    assert_contains(api.last_sar, "\"namespace\":\"monitoring\"");
    check(&f, GW_AUTH_ROUTE_METRICS, &r, &res);
    assert_int_equal(api.sar_calls, before + 1);
    stop(&f);

    /* cache_ttl 0: every namespace of every request is asked */
    const char *nocache[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                              "ALERTGW_AUTH_TOKENREVIEW_CACHE_TTL=0s", NULL };
    api = (fake_api){ 0 };
    start(&f, nocache, fake_post, &api);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS), 0);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS), 0);
    assert_int_equal(api.sar_calls, 2);
    stop(&f);
}

/* The per-(token, namespace) cache is bounded like the review cache. */
static void tokenreview_namespace_cache_is_bounded(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                          "ALERTGW_AUTH_TOKENREVIEW_CACHE_ENTRIES=4",
                          "ALERTGW_AUTH_TOKENREVIEW_MAX_PER_SECOND=0", NULL };
    fake_api api = { 0 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128], ns[32];
    gw_request r = bearer_req(h, "good-token", buf, sizeof buf);
    for (int i = 0; i < 100; i++) {
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
        snprintf(ns, sizeof ns, "ns-%d", i);
        assert_int_equal(gw_auth_authorize(f.auth, &res, ns, NOW_MS), 0);
        assert_true(cached_grants(&f, &api, &r, i + 1) <= 4);
    }
    assert_int_equal(cached_grants(&f, &api, &r, 100), 4);
    assert_int_equal(api.sar_calls, 100);
    stop(&f);
}

/* Bearer scopes answer through the same call: a scoped token outside its
 * namespaces is 403 without any apiserver involved. */
static void bearer_scope_through_authorize(void **state)
{
    (void)state;
    char ha[65], e[200];
    sha256_hex("scoped-token-123", ha);
    snprintf(e, sizeof e, "ALERTGW_AUTH_BEARER_TOKENS=%s=team-*", ha);
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=bearer", e, NULL };
    fx f;
    start(&f, env, NULL, NULL);
    gw_auth_result res;
    const char *h[] = { "Authorization", "Bearer scoped-token-123", NULL };
    gw_request r = post_req(body, h);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_true(gw_auth_per_namespace(&res));
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS), 0);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "prod", NOW_MS), 403);
    assert_string_equal(res.detail, "namespace \"prod\" is outside this token's scope");
    assert_int_equal(res.reason, GW_AUTH_FORBIDDEN);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "", NOW_MS), 403);
    assert_string_equal(res.detail,
                        "a cluster-scoped target is outside this token's namespace scope");
    /* an unscoped admission has nothing to check */
    const char *none[] = { NULL };
    r = post_req(body, none);
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_false(gw_auth_per_namespace(&res));
    assert_int_equal(gw_auth_authorize(f.auth, &res, "anything", NOW_MS), 0);
    stop(&f);
}

/* auth.tokenreview_max_per_second: a token bucket over every review call
 * (TokenReview and SubjectAccessReview) a worker makes; above it 503 (the
 * sender retries), never 401, and nothing is cached. */
static void tokenreview_rate_is_bounded(void **state)
{
    (void)state;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                          "ALERTGW_AUTH_TOKENREVIEW_MAX_PER_SECOND=5", NULL };
    fake_api api = { 0 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    const char *h[3];
    char buf[128], tok[32];
    /* random tokens: five reviews, then 503 without a call */
    for (int i = 0; i < 8; i++) {
        snprintf(tok, sizeof tok, "random-%d", i);
        gw_request r = bearer_req(h, tok, buf, sizeof buf);
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
        if (i < 5) {
            assert_int_equal(res.status, 401);
            continue;
        }
        assert_int_equal(res.status, 503);
        assert_int_equal(res.mode, GW_AM_TOKENREVIEW);
        assert_int_equal(res.reason, GW_AUTH_ERROR);
        assert_contains(res.detail, "retry later");
        assert_contains(res.why, "auth.tokenreview_max_per_second");
        assert_null(res.challenge);
    }
    assert_int_equal(api.calls, 5);
    /* a cached answer needs no call: still served */
    gw_request r = bearer_req(h, "random-0", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    /* a valid token arriving now is refused 503 (retried), never 401 */
    r = bearer_req(h, "good-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 503);
    /* the five answers are cached, and only they: with no token left in the
     * bucket, each is served and nothing else */
    for (int i = 0; i < 5; i++) {
        snprintf(tok, sizeof tok, "random-%d", i);
        gw_request again = bearer_req(h, tok, buf, sizeof buf);
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &again, &res);
        assert_int_equal(res.status, 401);
    }
    r = bearer_req(h, "good-token", buf, sizeof buf);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 503);
    assert_int_equal(api.calls, 5);
    /* 200 ms later one token is back: the review passes; the namespace
     * review needs another one */
    gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS + 200, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS + 200), 503);
    assert_int_equal(res.reason, GW_AUTH_ERROR);
    assert_int_equal(api.calls, 6);
    /* the sender's retry: the review is cached, the namespace is asked */
    gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS + 400, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS + 400), 0);
    assert_int_equal(api.calls, 7);
    /* a refused result stays refused */
    res.status = 503;
    assert_int_equal(gw_auth_authorize(f.auth, &res, "team-a", NOW_MS + 400), 503);
    /* the bucket holds one second's worth, no more, however long it idled */
    for (int i = 0; i < 8; i++) {
        snprintf(tok, sizeof tok, "later-%d", i);
        r = bearer_req(h, tok, buf, sizeof buf);
        gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS + 3600000, &res);
        assert_int_equal(res.status, i < 5 ? 401 : 503);
    }
    /* a clock stepped back an hour: the bucket fills from the new time on,
     * not only once the old one is reached again */
    r = bearer_req(h, "back-0", buf, sizeof buf);
    gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS, &res);
    assert_int_equal(res.status, 503);
    r = bearer_req(h, "back-1", buf, sizeof buf);
    gw_auth_check(f.auth, GW_AUTH_ROUTE_PROMETHEUS, &r, NOW_MS + 1000, &res);
    assert_int_equal(res.status, 401);
    stop(&f);
    /* 0: no bound */
    const char *unbounded[] = { "ALERTGW_AUTH_PROMETHEUS=tokenreview",
                                "ALERTGW_AUTH_TOKENREVIEW_MAX_PER_SECOND=0", NULL };
    api = (fake_api){ 0 };
    start(&f, unbounded, fake_post, &api);
    for (int i = 0; i < 100; i++) {
        snprintf(tok, sizeof tok, "random-%d", i);
        r = bearer_req(h, tok, buf, sizeof buf);
        check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
        assert_int_equal(res.status, 401);
    }
    assert_int_equal(api.calls, 100);
    stop(&f);
    const char *negative[] = { "ALERTGW_AUTH_TOKENREVIEW_MAX_PER_SECOND=-1", NULL };
    expect_config_error(negative, "auth.tokenreview_max_per_second");
}

/* ------------------------------------------------------ several modes */

static void any_mode_admits_and_the_telling_failure_is_reported(void **state)
{
    (void)state;
    secrets s;
    make_secrets(&s);
    char env1[200], env2[200], ha[65];
    sha256_hex("static-token", ha);
    snprintf(env1, sizeof env1, "ALERTGW_AUTH_HMAC_SECRET_FILES=%s", s.s1);
    snprintf(env2, sizeof env2, "ALERTGW_AUTH_BEARER_TOKENS=%s", ha);
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS=bearer, hmac",
                          "ALERTGW_AUTH_EVENTS=mtls,tokenreview",
                          "ALERTGW_AUTH_MTLS_ALLOWED_CNS=k8s-event-exporter", env1, env2, NULL };
    fake_api api = { .mode = 1 };
    fx f;
    start(&f, env, fake_post, &api);
    gw_auth_result res;
    char sig[80];
    sign("current-secret", NULL, body, sig);
    const char *signed_only[] = { "X-Signature-256", sig, NULL };
    gw_request r = post_req(body, signed_only);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.mode, GW_AM_HMAC);

    r = post_req(body, NULL);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.status, 401);
    assert_int_equal(res.reason, GW_AUTH_MISSING);
    assert_string_equal(res.detail,
                        "missing credentials: this route accepts a bearer token or an HMAC "
                        "signature");
    /* a wrong token says more than an absent signature */
    const char *wrong[] = { "Authorization", "Bearer nope", NULL };
    r = post_req(body, wrong);
    check(&f, GW_AUTH_ROUTE_PROMETHEUS, &r, &res);
    assert_int_equal(res.mode, GW_AM_BEARER);
    assert_int_equal(res.reason, GW_AUTH_MISMATCH);

    /* mtls forbidden, tokenreview unreachable: 503, the sender retries */
    const char *tok[] = { "Authorization", "Bearer good-token", NULL };
    r = post_req(body, tok);
    r.tls_client_verify = "SUCCESS";
    r.tls_client_cn = "someone-else";
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 503);
    assert_int_equal(res.mode, GW_AM_TOKENREVIEW);
    /* the apiserver is back: the token admits */
    api.mode = 0;
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);
    /* an allowed CN admits without asking the apiserver */
    int before = api.calls;
    r.tls_client_cn = "k8s-event-exporter";
    r.header = NULL;
    check(&f, GW_AUTH_ROUTE_EVENTS, &r, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.mode, GW_AM_MTLS);
    assert_int_equal(api.calls, before);
    stop(&f);
    drop_secrets(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bearer_hash_match_mismatch_and_scope),
        cmocka_unit_test(bearer_tokens_file),
        cmocka_unit_test(hmac_without_and_with_timestamp),
        cmocka_unit_test(replay_window_edges),
        cmocka_unit_test(hmac_nonce_names_timestamped_requests),
        cmocka_unit_test(key_rotation_and_grafana_route),
        cmocka_unit_test(mtls_verify_and_cn),
        cmocka_unit_test(cidr_matching_v4_v6),
        cmocka_unit_test(bad_cidrs_rejected),
        cmocka_unit_test(config_errors),
        cmocka_unit_test(tokenreview_allow_deny_unknown_and_cache),
        cmocka_unit_test(tokenreview_outages_are_503_and_not_cached),
        cmocka_unit_test(tokenreview_cache_is_bounded),
        cmocka_unit_test(tokenreview_audiences_must_match),
        cmocka_unit_test(tokenreview_authorises_each_signal_namespace),
        cmocka_unit_test(tokenreview_namespace_cache_is_bounded),
        cmocka_unit_test(bearer_scope_through_authorize),
        cmocka_unit_test(tokenreview_rate_is_bounded),
        cmocka_unit_test(any_mode_admits_and_the_telling_failure_is_reported),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
