/* SPDX-License-Identifier: Apache-2.0 */
/* test_kube.c - unit tests for core/kube.c (credential resolution and the
 * request path).
 *
 * Each test gets a fresh temp directory with its own HOME (no ~/.kube), its
 * own TMPDIR (so the *-data temp files can be inspected) and no KUBECONFIG
 * or KUBERNETES_SERVICE_HOST, so nothing from the machine running the tests
 * leaks in.  A tiny HTTP/1.1 server on a loopback port (fakeserver.h), in
 * a thread, records the last request it saw and answers with a
 * configurable status and body size: enough to check the headers and
 * method we send and that options do not leak from one request to the
 * next.  The in-cluster source reads fixed
 * paths under /var/run/secrets and is not tested here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kube.h"
#include "kubecreds.h"
#include "rrstore.h"

#include "fakeserver.h"

/* ------------------------------------------------------- fake apiserver */

/* What the apiserver double (fakeserver.h's fake_server: status is the
 * next answer's, count the requests seen) answers and keeps, under
 * srv.mu. */
typedef struct {
    fake_server srv;
    size_t      body_len;    /* next response's body size ('x' bytes) */
    char        last[16384]; /* last request, headers and body */
    int         script[16];  /* statuses of the next requests, in order */
    int         nscript, iscript;
    long        retry_after; /* > 0: sent with every 429 */
    char        text[512];   /* non-empty: the body of every answer */
} fake_srv;

static void srv_serve(fake_server *fs, int fd)
{
    fake_srv *s = fs->arg;
    static char req[16384]; /* the server thread's */
    size_t have = 0, len;
    req[0] = '\0';
    while ((len = fake_http_next(fd, req, sizeof req, &have))) {
        pthread_mutex_lock(&fs->mu);
        memcpy(s->last, req, len);
        s->last[len] = '\0';
        fs->count++;
        int status = s->iscript < s->nscript ? s->script[s->iscript++] : fs->status;
        size_t blen = s->text[0] ? strlen(s->text) : s->body_len;
        long ra = status == 429 ? s->retry_after : 0;
        char text[sizeof s->text];
        memcpy(text, s->text, sizeof text);
        pthread_mutex_unlock(&fs->mu);
        fake_http_drop(req, &have, len);

        char rah[48] = "";
        if (ra > 0)
            snprintf(rah, sizeof rah, "Retry-After: %ld\r\n", ra);
        char *body = malloc(blen ? blen : 1);
        assert_non_null(body);
        if (text[0])
            memcpy(body, text, blen);
        else
            memset(body, 'x', blen);
        bool sent = fake_http_send(fd, status, rah, body, blen);
        free(body);
        if (!sent)
            return;
    }
}

static void srv_start(fake_srv *s)
{
    memset(s, 0, sizeof *s);
    s->body_len = 2;
    fake_server_start(&s->srv, NULL, srv_serve, s);
}

static void srv_stop(fake_srv *s)
{
    fake_server_stop(&s->srv);
}

static void srv_respond(fake_srv *s, int status, size_t body_len)
{
    pthread_mutex_lock(&s->srv.mu);
    s->srv.status = status;
    s->body_len = body_len;
    pthread_mutex_unlock(&s->srv.mu);
}

/* The next n requests get these statuses (then srv_respond's). */
static void srv_script(fake_srv *s, int n, const int *statuses)
{
    pthread_mutex_lock(&s->srv.mu);
    memcpy(s->script, statuses, (size_t)n * sizeof *statuses);
    s->nscript = n;
    s->iscript = 0;
    pthread_mutex_unlock(&s->srv.mu);
}

static int srv_nreq(fake_srv *s)
{
    return fake_server_count(&s->srv);
}

/* Copies the last request into out. */
static void srv_last(fake_srv *s, char *out, size_t outlen)
{
    pthread_mutex_lock(&s->srv.mu);
    snprintf(out, outlen, "%s", s->last);
    pthread_mutex_unlock(&s->srv.mu);
}

/* --------------------------------------------------------------- fixture */

typedef struct {
    char     dir[64];      /* mkdtemp root, removed by teardown */
    char     tmp[128];     /* $TMPDIR */
    char     kc[128];      /* default kubeconfig location in tests */
    fake_srv srv;
} fx;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_kube.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char home[128];
    snprintf(home, sizeof home, "%s/home", f->dir);
    snprintf(f->tmp, sizeof f->tmp, "%s/tmp", f->dir);
    snprintf(f->kc, sizeof f->kc, "%s/kube/config", f->dir);
    char kdir[128];
    snprintf(kdir, sizeof kdir, "%s/kube", f->dir);
    if (mkdir(home, 0700) || mkdir(f->tmp, 0700) || mkdir(kdir, 0700))
        return -1;
    setenv("HOME", home, 1);
    setenv("TMPDIR", f->tmp, 1);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    srv_start(&f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    srv_stop(&f->srv);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Writes f->kc: context "test" -> cluster "c1" (server = the fake server
 * unless server is given) and user "u1".  cluster_extra and user_extra are
 * extra lines, already indented by four spaces. */
static void write_kubeconfig(fx *f, const char *server, const char *cluster_extra,
                             const char *user_extra)
{
    char srvurl[64];
    snprintf(srvurl, sizeof srvurl, "http://127.0.0.1:%u", f->srv.srv.port);
    char text[8192];
    snprintf(text, sizeof text,
             "apiVersion: v1\n"
             "kind: Config\n"
             "current-context: test\n"
             "contexts:\n"
             "- name: other\n"
             "  context: {cluster: nope, user: nope}\n"
             "- name: test\n"
             "  context:\n"
             "    cluster: c1\n"
             "    user: u1\n"
             "    namespace: default\n"
             "clusters:\n"
             "- name: c1\n"
             "  cluster:\n"
             "    server: %s\n"
             "%s"
             "users:\n"
             "- name: u1\n"
             "  user:\n"
             "%s",
             server ? server : srvurl, cluster_extra, user_extra);
    write_file(f->kc, text);
}

static gw_err new_from_kc(fx *f, bool allow_insecure, gw_kube **k, char *err, size_t errlen)
{
    gw_kube_opts o = { .kubeconfig = f->kc, .allow_insecure = allow_insecure };
    return gw_kube_new(&o, k, err, errlen);
}

/* GETs /api and copies what the fake server received into seen. */
static void get_api(fx *f, gw_kube *k, char *seen, size_t seenlen)
{
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status = -1;
    char err[512] = "";
    gw_err rc = gw_kube_request(k, "GET", "/api", NULL, NULL, 0, GW_KUBE_REPEATABLE, &status, &resp,
                                err, sizeof err);
    if (rc)
        fail_msg("request failed: %s", err);
    assert_int_equal(status, 200);
    assert_string_equal(resp.data, "xx");
    gw_buf_free(&resp);
    srv_last(&f->srv, seen, seenlen);
}

/* Lists the files in f->tmp; returns how many, first name in name. */
static int tmp_files(fx *f, char *name, size_t namelen)
{
    DIR *d = opendir(f->tmp);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            if (n++ == 0)
                snprintf(name, namelen, "%s/%s", f->tmp, e->d_name);
        }
    closedir(d);
    return n;
}

/* ----------------------------------------------------------------- tests */

static void test_token_and_ca_path(void **state)
{
    fx *f = *state;
    char ca[192], cluster[256], err[512] = "", seen[16384];
    snprintf(ca, sizeof ca, "%s/kube/ca.crt", f->dir);
    write_file(ca, "-----BEGIN CERTIFICATE-----\n");
    snprintf(cluster, sizeof cluster, "    certificate-authority: %s\n", ca);
    write_kubeconfig(f, NULL, cluster, "    token: \"  tok-abc.def  \"\n");

    gw_kube *k;
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_OK);

    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "GET /api HTTP/1.1\r\n"));
    char want[64]; /* the kubeconfig's server was the one asked */
    snprintf(want, sizeof want, "\r\nHost: 127.0.0.1:%u\r\n", f->srv.srv.port);
    assert_non_null(strstr(seen, want));
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer tok-abc.def\r\n"));
    assert_non_null(strstr(seen, "\r\nAccept: application/json\r\n"));
    assert_null(strstr(seen, "Content-Type"));
    gw_kube_free(k);

    /* A CA path that does not exist is reported with the path. */
    snprintf(cluster, sizeof cluster, "    certificate-authority: %s/nope.crt\n", f->dir);
    write_kubeconfig(f, NULL, cluster, "    token: t\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_null(k);
    assert_non_null(strstr(err, "nope.crt"));
    assert_non_null(strstr(err, "certificate-authority"));
}

static void test_ca_data(void **state)
{
    fx *f = *state;
    char err[512] = "", path[512];
    /* "CA bytes\x01\x02\xff" needs one '=' of padding; folded over two lines
     * by a YAML block scalar, which the decoder must tolerate. */
    write_kubeconfig(f, "https://kube.example:6443",
                     "    certificate-authority: /ignored/because/data/wins\n"
                     "    certificate-authority-data: |\n"
                     "      Q0EgYnl0\n"
                     "      ZXMBAv8=\n",
                     "    token: t\n");
    gw_kube *k;
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_OK);

    assert_int_equal(tmp_files(f, path, sizeof path), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 11);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char got[16];
    assert_int_equal(fread(got, 1, sizeof got, fp), 11);
    fclose(fp);
    assert_memory_equal(got, "CA bytes\x01\x02\xff", 11);

    gw_kube_free(k);
    assert_int_equal(tmp_files(f, path, sizeof path), 0);
    /* the server is the kubeconfig's, as the credentials read it */
    gw_kube_creds c = { 0 };
    gw_kube_source src = { .kubeconfig = f->kc };
    assert_int_equal(gw_kube_creds_load(&c, &src, err, sizeof err), GW_OK);
    assert_string_equal(c.server, "https://kube.example:6443");
    gw_kube_creds_clear(&c);
    assert_int_equal(tmp_files(f, path, sizeof path), 0);

    /* Unpadded base64 is accepted too; garbage is a clear error. */
    write_kubeconfig(f, "https://kube.example", "    certificate-authority-data: Q0EgYnl0ZXMBAv8\n",
                     "    token: t\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_OK);
    gw_kube_free(k);
    write_kubeconfig(f, "https://kube.example", "    certificate-authority-data: \"!!not*base64\"\n",
                     "    token: t\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "certificate-authority-data is not valid base64"));
    assert_int_equal(tmp_files(f, path, sizeof path), 0);
}

static void test_client_cert_data(void **state)
{
    fx *f = *state;
    char err[512] = "", path[512];
    write_kubeconfig(f, "https://kube.example", "",
                     "    client-certificate-data: Y2VydA==\n"
                     "    client-key-data: a2V5\n");
    gw_kube *k;
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_OK);
    assert_int_equal(tmp_files(f, path, sizeof path), 2);
    gw_kube_free(k);
    assert_int_equal(tmp_files(f, path, sizeof path), 0);

    write_kubeconfig(f, "https://kube.example", "", "    client-certificate-data: Y2VydA==\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "client-key"));
    assert_int_equal(tmp_files(f, path, sizeof path), 0);
}

static void test_token_file_relative_and_rotation(void **state)
{
    fx *f = *state;
    char tok[192], ca[192], err[512] = "", seen[16384];
    snprintf(tok, sizeof tok, "%s/kube/token", f->dir);
    snprintf(ca, sizeof ca, "%s/kube/ca.crt", f->dir);
    write_file(tok, "  tok-one\n");
    write_file(ca, "ca");
    /* Relative paths resolve against the kubeconfig's directory, not the
     * working directory; tokenFile beats token. */
    write_kubeconfig(f, NULL, "    certificate-authority: ca.crt\n",
                     "    token: inline-loses\n"
                     "    tokenFile: token\n");
    assert_int_equal(chdir("/"), 0);

    gw_kube *k;
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_OK);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer tok-one\r\n"));

    /* Rotation: the kubelet swaps in a new file; we notice within a second. */
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.new", tok);
    write_file(tmp, "tok-two-rotated\n");
    assert_int_equal(rename(tmp, tok), 0);
    struct timespec pause = { .tv_sec = 1, .tv_nsec = 100000000 };
    nanosleep(&pause, NULL);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer tok-two-rotated\r\n"));

    /* A token file that vanishes keeps the last good token. */
    assert_int_equal(unlink(tok), 0);
    nanosleep(&pause, NULL);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer tok-two-rotated\r\n"));
    gw_kube_free(k);

    /* A relative path that does not exist names the resolved path. */
    write_kubeconfig(f, NULL, "    certificate-authority: missing.crt\n", "    token: t\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    char want[192];
    snprintf(want, sizeof want, "%s/kube/missing.crt", f->dir);
    assert_non_null(strstr(err, want));

    /* A missing tokenFile is an error at start-up. */
    write_kubeconfig(f, NULL, "", "    tokenFile: gone\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "tokenFile"));
    assert_non_null(strstr(err, "gone"));
}

static void test_insecure(void **state)
{
    fx *f = *state;
    char err[512] = "";
    write_kubeconfig(f, "https://kube.example", "    insecure-skip-tls-verify: true\n",
                     "    token: t\n");
    gw_kube *k;
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_null(k);
    assert_non_null(strstr(err, "insecure-skip-tls-verify"));
    assert_non_null(strstr(err, "allow_insecure"));

    assert_int_equal(new_from_kc(f, true, &k, err, sizeof err), GW_OK);
    gw_kube_free(k);

    write_kubeconfig(f, "https://kube.example", "    insecure-skip-tls-verify: false\n",
                     "    token: t\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_OK);
    gw_kube_free(k);
}

static void test_kubeconfig_errors(void **state)
{
    fx *f = *state;
    char err[512] = "";
    gw_kube *k;

    write_file(f->kc, "apiVersion: v1\nkind: Config\nclusters: []\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "current-context is not set"));
    assert_non_null(strstr(err, f->kc));

    write_file(f->kc, "current-context: nowhere\ncontexts: []\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "\"nowhere\""));
    assert_non_null(strstr(err, "contexts"));

    write_file(f->kc,
               "current-context: a\n"
               "contexts: [{name: a, context: {cluster: c, user: ghost}}]\n"
               "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
               "users: [{name: someone-else, user: {token: t}}]\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "\"ghost\""));
    assert_non_null(strstr(err, "users"));

    write_kubeconfig(f, NULL, "",
                     "    exec:\n"
                     "      apiVersion: client.authentication.k8s.io/v1\n"
                     "      command: aws\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "exec"));
    assert_non_null(strstr(err, "not supported"));

    write_kubeconfig(f, NULL, "", "    auth-provider: {name: gcp}\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "auth-provider"));

    write_file(f->kc, "current-context: [unterminated\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "YAML error"));

    /* The token must never be quoted back, even when it is the problem. */
    write_kubeconfig(f, NULL, "", "    token: \"secret-part1 secret-part2\"\n");
    assert_int_equal(new_from_kc(f, false, &k, err, sizeof err), GW_ECONFIG);
    assert_null(strstr(err, "secret-part"));
}

static void test_explicit_wins_over_kubeconfig(void **state)
{
    fx *f = *state;
    char tok[192], err[512] = "", seen[16384];
    write_file(f->kc, "this: is: not: a kubeconfig\n");
    setenv("KUBECONFIG", f->kc, 1);
    snprintf(tok, sizeof tok, "%s/explicit-token", f->dir);
    write_file(tok, "explicit-tok\n");

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", f->srv.srv.port);
    gw_kube_opts o = { .api_url = url, .token_file = tok };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "GET /api HTTP/1.1\r\n")); /* not "//api" */
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer explicit-tok\r\n"));
    gw_kube_free(k);
    /* the trailing slash is dropped from the server the credentials hold */
    gw_kube_creds c = { 0 };
    gw_kube_source src = { .api_url = url, .token_file = tok };
    assert_int_equal(gw_kube_creds_load(&c, &src, err, sizeof err), GW_OK);
    url[strlen(url) - 1] = '\0';
    assert_string_equal(c.server, url);
    gw_kube_creds_clear(&c);

    /* Without explicit options the broken KUBECONFIG is used and fails. */
    gw_kube_opts none = { 0 };
    assert_int_equal(gw_kube_new(&none, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, f->kc));
}

static void test_kubeconfig_env_first_path(void **state)
{
    fx *f = *state;
    char env[512], err[512] = "", seen[16384];
    /* the fake server, with a token that says which kubeconfig was read */
    write_kubeconfig(f, NULL, "", "    token: first-tok\n");
    snprintf(env, sizeof env, "::%s:/nonexistent/second", f->kc);
    setenv("KUBECONFIG", env, 1);
    gw_kube *k;
    assert_int_equal(gw_kube_new(NULL, &k, err, sizeof err), GW_OK);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer first-tok\r\n"));
    gw_kube_free(k);

    /* An explicitly named kubeconfig that is missing is an error, not a
     * reason to fall through to in-cluster. */
    setenv("KUBECONFIG", "/nonexistent/kubeconfig", 1);
    assert_int_equal(gw_kube_new(NULL, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "/nonexistent/kubeconfig"));

    /* ~/.kube/config is the default. */
    unsetenv("KUBECONFIG");
    char dir[192], path[256];
    snprintf(dir, sizeof dir, "%s/.kube", getenv("HOME"));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/config", dir);
    write_kubeconfig(f, NULL, "", "    token: home-tok\n");
    assert_int_equal(rename(f->kc, path), 0);
    assert_int_equal(gw_kube_new(NULL, &k, err, sizeof err), GW_OK);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer home-tok\r\n"));
    gw_kube_free(k);
}

static void test_nothing_found(void **state)
{
    (void)state;
    char err[512] = "";
    gw_kube *k = (gw_kube *)&err;   /* must be reset to NULL */
    assert_int_equal(gw_kube_new(NULL, &k, err, sizeof err), GW_ECONFIG);
    assert_null(k);
    assert_non_null(strstr(err, "no Kubernetes credentials found"));
    assert_non_null(strstr(err, "api_url"));
    assert_non_null(strstr(err, "KUBECONFIG"));
    assert_non_null(strstr(err, "/.kube/config"));
    assert_non_null(strstr(err, "in-cluster"));
}

static void test_plain_http_token_refused(void **state)
{
    fx *f = *state;
    char tok[192], err[512] = "";
    snprintf(tok, sizeof tok, "%s/t", f->dir);
    write_file(tok, "do-not-leak\n");
    gw_kube_opts o = { .api_url = "http://kube.example:8080", .token_file = tok };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "plain http"));
    assert_null(strstr(err, "do-not-leak"));
    o.allow_insecure = true;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);
    gw_kube_free(k);

    gw_kube_opts bad = { .api_url = "kube.example:6443" };
    assert_int_equal(gw_kube_new(&bad, &k, err, sizeof err), GW_ECONFIG);
    assert_non_null(strstr(err, "https://"));
}

/* Plain http with a token is allowed only to this machine: a literal
 * 127.0.0.0/8 address in dotted-quad form, ::1 (any spelling) or the name
 * localhost (either case: libcurl resolves it itself, never through DNS).
 * A name that merely starts with "127." is any host on the internet, and
 * the shorthand 127.1 is refused too: inet_pton takes only the four-part
 * form, and shorthand or octal/hex forms are read differently by
 * different parsers, so the strict form is the one that cannot surprise. */
static void test_plain_http_loopback_only(void **state)
{
    fx *f = *state;
    char tok[192], err[512], url[256];
    snprintf(tok, sizeof tok, "%s/t", f->dir);
    write_file(tok, "loopback-secret\n");
    static const struct {
        const char *host;
        bool        ok;
    } cases[] = {
        { "127.evil.example", false }, { "127.0.0.1.nip.io", false }, { "127.1", false },
        { "127.0.0.1", true },         { "127.255.0.9", true },        { "[::1]", true },
        { "localhost", true },         { "LOCALHOST", true },          { "[0:0:0:0:0:0:0:1]", true },
        { "127.0.0.1.", false },       { "127.0.0.256", false },       { "0177.0.0.1", false },
        { "0x7f.0.0.1", false },       { "2130706433", false },        { "128.0.0.1", false },
        { "localhost.evil.example", false }, { "[::2]", false },       { "[::ffff:127.0.0.1]", false },
        { "[::1%25lo]", false },       { "127.0.0.01", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int with_port = 0; with_port < 2; with_port++) {
            snprintf(url, sizeof url, "http://%s%s/", cases[i].host, with_port ? ":8080" : "");
            gw_kube_opts o = { .api_url = url, .token_file = tok };
            gw_kube *k = NULL;
            err[0] = '\0';
            gw_err rc = gw_kube_new(&o, &k, err, sizeof err);
            if ((rc == GW_OK) != cases[i].ok)
                fail_msg("%s: %s (%s)", url, rc == GW_OK ? "accepted as loopback" : "refused",
                         err);
            if (rc == GW_OK)
                gw_kube_free(k);
            else
                assert_non_null(strstr(err, "plain http"));
        }
    }
}

static void test_closed_port(void **state)
{
    fx *f = *state;
    char tok[192], err[512] = "";
    snprintf(tok, sizeof tok, "%s/t", f->dir);
    write_file(tok, "closed-port-secret\n");
    gw_kube_opts o = { .api_url = "http://127.0.0.1:1", .token_file = tok };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);

    gw_buf resp;
    gw_buf_init(&resp, 1024);
    long status = 42;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(gw_kube_request(k, "GET", "/api", NULL, NULL, 0, GW_KUBE_REPEATABLE,
                                     &status, &resp, err, sizeof err), GW_EKUBE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(status, 0);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    assert_true(strlen(err) > 0);
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_null(strstr(err, "closed-port-secret"));

    /* The handle was reset; the next call fails the same way, cleanly. */
    assert_int_equal(gw_kube_request(k, "POST", "/api", "application/json", "{}", 2,
                                     GW_KUBE_ONCE, &status, &resp, err, sizeof err), GW_EKUBE);
    assert_int_equal(status, 0);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

static void test_methods_do_not_leak(void **state)
{
    fx *f = *state;
    char url[64], err[512] = "", seen[16384];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", f->srv.srv.port);
    gw_kube_opts o = { .api_url = url };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;

    static const char body[] = "{\"kind\":\"RemediationRequest\"}";
    srv_respond(&f->srv, 201, 2);
    assert_int_equal(gw_kube_request(k, "POST", "/apis/x/v1/namespaces/n/rr", "application/json",
                                     body, sizeof body - 1, GW_KUBE_ONCE, &status, &resp, err,
                                     sizeof err),
                     GW_OK);
    assert_int_equal(status, 201);
    srv_last(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "POST /apis/x/v1/namespaces/n/rr HTTP/1.1\r\n"));
    assert_non_null(strstr(seen, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(seen, "\r\n\r\n{\"kind\":\"RemediationRequest\"}"));
    assert_null(strstr(seen, "Authorization"));   /* no token configured */

    /* GET after POST: no body, no Content-Type, method GET. */
    srv_respond(&f->srv, 200, 2);
    gw_buf_reset(&resp);
    get_api(f, k, seen, sizeof seen);
    assert_non_null(strstr(seen, "GET /api HTTP/1.1\r\n"));
    assert_null(strstr(seen, "Content-Type"));
    assert_null(strstr(seen, "Content-Length"));
    assert_null(strstr(seen, "RemediationRequest"));

    /* PATCH with its own content type, then DELETE without a body. */
    gw_buf_reset(&resp);
    assert_int_equal(gw_kube_request(k, "PATCH", "/apis/x/v1/rr/a",
                                     "application/merge-patch+json", "{}", 2, GW_KUBE_ONCE,
                                     &status, &resp, err, sizeof err), GW_OK);
    srv_last(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "PATCH /apis/x/v1/rr/a HTTP/1.1\r\n"));
    assert_non_null(strstr(seen, "\r\nContent-Type: application/merge-patch+json\r\n"));
    assert_non_null(strstr(seen, "\r\n\r\n{}"));

    gw_buf_reset(&resp);
    assert_int_equal(gw_kube_request(k, "DELETE", "/apis/x/v1/rr/a", NULL, NULL, 0,
                                     GW_KUBE_ONCE, &status, &resp, err, sizeof err), GW_OK);
    srv_last(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "DELETE /apis/x/v1/rr/a HTTP/1.1\r\n"));
    assert_null(strstr(seen, "Content-Type"));

    /* Any HTTP status is GW_OK with the status set. */
    srv_respond(&f->srv, 404, 2);
    gw_buf_reset(&resp);
    assert_int_equal(gw_kube_request(k, "GET", "/api/v1/namespaces/nope", NULL, NULL, 0,
                                     GW_KUBE_ONCE, &status, &resp, err, sizeof err), GW_OK);
    assert_int_equal(status, 404);

    /* Bad paths are the caller's error, not a transport failure. */
    assert_int_equal(gw_kube_request(k, "GET", "/api/v1/namespaces/a b", NULL, NULL, 0,
                                     GW_KUBE_ONCE, &status, &resp, err, sizeof err), GW_EINVAL);
    assert_int_equal(gw_kube_request(k, "GET", "api", NULL, NULL, 0, GW_KUBE_ONCE, &status,
                                     &resp, err, sizeof err), GW_EINVAL);
    assert_int_equal(status, 0);
    /* Paths that would leave the object they name: dot segments (plain or
     * encoded), a fragment, a second query, a stray '%', a backslash.  The
     * review's exploit was an apiVersion of
     * "../api/v1/namespaces/kube-system/secrets/admin-token#". */
    static const char *const escapes[] = {
        "/apis/../api/v1/namespaces/kube-system/secrets/admin-token#/namespaces/a/pods/b",
        "/api/v1/namespaces/a/pods/..", "/api/v1/namespaces/a/pods/.", "/api/./v1",
        "/api/v1/%2e%2E/secrets", "/api/v1/%2e/x", "/api/v1/namespaces/a#b",
        "/api/v1/pods?a=1?b=2", "/api/v1/pods/%zz", "/api/v1/pods/%4", "/api/v1\\..\\secrets",
    };
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        assert_int_equal(gw_kube_request(k, "GET", escapes[i], NULL, NULL, 0, GW_KUBE_ONCE,
                                         &status, &resp, err, sizeof err), GW_EINVAL);
        assert_int_equal(status, 0);
    }

    gw_buf_free(&resp);
    gw_kube_free(k);
    assert_int_equal(srv_nreq(&f->srv), 5);
}

static void test_response_too_big(void **state)
{
    fx *f = *state;
    char url[64], err[512] = "", seen[16384];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", f->srv.srv.port);
    gw_kube_opts o = { .api_url = url };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);

    gw_buf small;
    gw_buf_init(&small, 1000);
    long status = 42;
    srv_respond(&f->srv, 200, 200000);
    assert_int_equal(gw_kube_request(k, "GET", "/big", NULL, NULL, 0, GW_KUBE_ONCE, &status,
                                     &small, err, sizeof err), GW_ETOOBIG);
    assert_int_equal(status, 0);
    assert_non_null(strstr(err, "1000"));
    gw_buf_free(&small);

    /* The aborted connection is not reused; the next request works. */
    srv_respond(&f->srv, 200, 2);
    get_api(f, k, seen, sizeof seen);
    gw_kube_free(k);
}


/* ------------------------------------------------ retries and the breaker */

static long long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static gw_kube *new_retrying(fx *f, long retries, long timeout_ms, long max_delay_ms,
                             long breaker_failures, long open_ms)
{
    char url[64], err[512] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%u", f->srv.srv.port);
    gw_kube_opts o = { .api_url = url, .retries = retries, .retry_base_ms = 5,
                       .retry_max_delay_ms = max_delay_ms, .timeout_ms = timeout_ms,
                       .breaker_failures = breaker_failures, .breaker_open_ms = open_ms,
                       .log_min = GW_LOG_ERROR };
    gw_kube *k;
    if (gw_kube_new(&o, &k, err, sizeof err))
        fail_msg("gw_kube_new: %s", err);
    return k;
}

static gw_err call(gw_kube *k, const char *method, gw_kube_retry retry, long *status,
                   gw_buf *resp)
{
    char err[512];
    gw_buf_reset(resp);
    return gw_kube_request(k, method, "/apis/x/v1/namespaces/n/rr", "application/json",
                           strcmp(method, "GET") ? "{}" : NULL, strcmp(method, "GET") ? 2 : 0,
                           retry, status, resp, err, sizeof err);
}

static void test_repeatable_retried_until_answered(void **state)
{
    fx *f = *state;
    gw_kube *k = new_retrying(f, 2, 5000, 1000, 0, 0);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;
    /* 503, 502, then 200: one call, three requests, the body of the last */
    srv_script(&f->srv, 2, (const int[]){ 503, 502 });
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 200);
    assert_string_equal(resp.data, "xx");
    assert_int_equal(srv_nreq(&f->srv), 3);
    /* a POST of a named object is repeated too when the caller says so */
    srv_script(&f->srv, 1, (const int[]){ 500 });
    srv_respond(&f->srv, 201, 2);
    assert_int_equal(call(k, "POST", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 201);
    assert_int_equal(srv_nreq(&f->srv), 5);
    /* repeats used up: the last answer is returned as an answer */
    srv_respond(&f->srv, 500, 2);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 500);
    assert_string_equal(resp.data, "xx");
    assert_int_equal(srv_nreq(&f->srv), 8);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

static void test_once_and_4xx_not_retried(void **state)
{
    fx *f = *state;
    gw_kube *k = new_retrying(f, 2, 5000, 1000, 0, 0);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;
    srv_script(&f->srv, 1, (const int[]){ 503 });
    assert_int_equal(call(k, "POST", GW_KUBE_ONCE, &status, &resp), GW_OK);
    assert_int_equal(status, 503);
    assert_int_equal(srv_nreq(&f->srv), 1);
    static const int answers[] = { 400, 401, 403, 404, 409, 422 };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        srv_respond(&f->srv, answers[i], 2);
        assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
        assert_int_equal(status, answers[i]);
        assert_int_equal(srv_nreq(&f->srv), 2 + (int)i);
    }
    gw_buf_free(&resp);
    gw_kube_free(k);
}

static void test_retry_after_honoured_or_given_up(void **state)
{
    fx *f = *state;
    gw_kube *k = new_retrying(f, 2, 5000, 1500, 0, 0);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;
    struct timespec t0;
    /* 429 with Retry-After: 1 -> the repeat waits at least a second */
    f->srv.retry_after = 1;
    srv_script(&f->srv, 1, (const int[]){ 429 });
    srv_respond(&f->srv, 200, 2);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 200);
    assert_true(elapsed_ms(&t0) >= 1000);
    assert_int_equal(srv_nreq(&f->srv), 2);
    gw_kube_free(k);
    /* a Retry-After above retry_max_delay: no repeat, the 429 is the answer */
    k = new_retrying(f, 2, 5000, 500, 0, 0);
    srv_script(&f->srv, 1, (const int[]){ 429 });
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 429);
    assert_true(elapsed_ms(&t0) < 500);
    assert_int_equal(srv_nreq(&f->srv), 3);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

static void test_attempts_fit_the_timeout(void **state)
{
    (void)state;
    char err[512];
    /* nothing listens: every attempt fails at once; the waits (up to 1 s
     * each) must stop within the 400 ms budget */
    gw_kube_opts o = { .api_url = "http://127.0.0.1:1", .retries = 10, .retry_base_ms = 1000,
                       .retry_max_delay_ms = 1000, .timeout_ms = 400, .log_min = GW_LOG_ERROR };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status = 7;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(gw_kube_request(k, "GET", "/api", NULL, NULL, 0, GW_KUBE_REPEATABLE,
                                     &status, &resp, err, sizeof err), GW_EKUBE);
    assert_int_equal(status, 0);
    assert_true(elapsed_ms(&t0) < 700);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

static void test_breaker_opens_and_probes(void **state)
{
    fx *f = *state;
    /* no repeats: each call is one attempt; 3 failures open it for 300 ms */
    gw_kube *k = new_retrying(f, 0, 5000, 1000, 3, 300);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status, retry_s = -1;
    srv_respond(&f->srv, 503, 2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
        assert_int_equal(status, 503);
        assert_false(gw_kube_last_refused(k, NULL));
    }
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_OPEN);
    /* open: refused without a request, with a Retry-After */
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_EKUBE);
    assert_int_equal(status, 0);
    assert_true(gw_kube_last_refused(k, &retry_s));
    assert_int_equal(retry_s, 1);
    assert_int_equal(srv_nreq(&f->srv), 3);
    /* after the open time one probe goes out; it fails: open again */
    struct timespec pause = { 0, 350 * 1000000L };
    nanosleep(&pause, NULL);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 503);
    assert_int_equal(srv_nreq(&f->srv), 4);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_OPEN);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_EKUBE);
    assert_int_equal(srv_nreq(&f->srv), 4);
    /* the apiserver is back: the next probe closes it */
    srv_respond(&f->srv, 200, 2);
    nanosleep(&pause, NULL);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 200);
    assert_false(gw_kube_last_refused(k, NULL));
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_CLOSED);
    /* a 4xx is an answer: it never opens the breaker */
    srv_respond(&f->srv, 404, 2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_CLOSED);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

/* GW_KUBE_BEST_EFFORT (the request history's Event writes): one attempt,
 * never repeated, and the breaker neither counts its failures nor is reset
 * by its successes. */
static void test_best_effort_once_and_not_counted(void **state)
{
    fx *f = *state;
    gw_kube *k = new_retrying(f, 2, 5000, 1000, 3, 300);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;
    srv_respond(&f->srv, 503, 2);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(call(k, "PATCH", GW_KUBE_BEST_EFFORT, &status, &resp), GW_OK);
        assert_int_equal(status, 503);
        assert_int_equal(srv_nreq(&f->srv), i + 1); /* no repeat */
    }
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_CLOSED);
    /* two failed calls that count, a best-effort success between them and
     * the third: the success did not reset the count, so the third opens */
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    srv_respond(&f->srv, 201, 2);
    assert_int_equal(call(k, "POST", GW_KUBE_BEST_EFFORT, &status, &resp), GW_OK);
    assert_int_equal(status, 201);
    srv_respond(&f->srv, 503, 2);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_OPEN);
    /* open: a best-effort call is refused like any other */
    int before = srv_nreq(&f->srv);
    assert_int_equal(call(k, "POST", GW_KUBE_BEST_EFFORT, &status, &resp), GW_EKUBE);
    assert_int_equal(srv_nreq(&f->srv), before);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

/* A best-effort call gets GW_KUBE_BEST_EFFORT_MS, not the whole timeout:
 * an apiserver that accepts the connection and never answers costs it
 * about a second, and a timeout there does not count on the breaker. */
static void test_best_effort_budget(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0); /* never accepted: the kernel completes the connect */
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char url[64], err[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(a.sin_port));
    gw_kube_opts o = { .api_url = url, .retries = 2, .timeout_ms = 5000,
                       .breaker_failures = 1, .breaker_open_ms = 10000,
                       .log_min = GW_LOG_ERROR };
    gw_kube *k;
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status = 7;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(gw_kube_request(k, "POST", "/api/v1/namespaces/n/events", NULL, "{}", 2,
                                     GW_KUBE_BEST_EFFORT, &status, &resp, err, sizeof err),
                     GW_EKUBE);
    long long took = elapsed_ms(&t0);
    assert_int_equal(status, 0);
    assert_true(took >= GW_KUBE_BEST_EFFORT_MS - 100);
    assert_true(took < GW_KUBE_BEST_EFFORT_MS + 1500);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_CLOSED);
    gw_buf_free(&resp);
    gw_kube_free(k);
    close(fd);
}

/* kubernetes.breaker_failures counts failed calls, not attempts: with 2
 * repeats a failing call is 3 requests, and the breaker still opens after
 * exactly breaker_failures such calls, not after the first one.  The probe
 * that follows the open time is a single attempt. */
static void test_breaker_counts_calls_not_attempts(void **state)
{
    fx *f = *state;
    gw_kube *k = new_retrying(f, 2, 5000, 20, 3, 300);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;
    srv_respond(&f->srv, 503, 2);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
        assert_int_equal(status, 503);
        assert_false(gw_kube_last_refused(k, NULL));
        assert_int_equal(srv_nreq(&f->srv), 3 * i); /* every attempt was made */
        assert_int_equal(gw_kube_breaker_state(k, NULL),
                         i < 3 ? GW_BREAKER_CLOSED : GW_BREAKER_OPEN);
    }
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_EKUBE);
    assert_true(gw_kube_last_refused(k, NULL));
    assert_int_equal(srv_nreq(&f->srv), 9);
    /* the probe after the open time: one attempt, however many repeats a
     * call may have; it fails, so the breaker is open again */
    struct timespec pause = { 0, 350 * 1000000L };
    nanosleep(&pause, NULL);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(srv_nreq(&f->srv), 10);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_OPEN);
    /* back up: the next probe closes it */
    srv_respond(&f->srv, 200, 2);
    nanosleep(&pause, NULL);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_CLOSED);
    /* a call whose repeat succeeds is a successful call: it resets the
     * count, so two failed calls, a call that fails once and then gets an
     * answer, and two more failed calls leave the breaker closed */
    srv_respond(&f->srv, 503, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    srv_script(&f->srv, 2, (const int[]){ 502, 200 });
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 200);
    for (int i = 0; i < 2; i++)
        assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_CLOSED);
    /* a call that is never repeated (GW_KUBE_ONCE) is one failed call too */
    assert_int_equal(call(k, "POST", GW_KUBE_ONCE, &status, &resp), GW_OK);
    assert_int_equal(gw_kube_breaker_state(k, NULL), GW_BREAKER_OPEN);
    gw_buf_free(&resp);
    gw_kube_free(k);
}

static void test_401_rereads_token(void **state)
{
    fx *f = *state;
    char tok[192], url[64], err[512] = "", seen[16384];
    snprintf(tok, sizeof tok, "%s/token", f->dir);
    write_file(tok, "tok-old\n");
    snprintf(url, sizeof url, "http://127.0.0.1:%u", f->srv.srv.port);
    gw_kube_opts o = { .api_url = url, .token_file = tok, .log_min = GW_LOG_ERROR };
    gw_kube *k;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(gw_kube_new(&o, &k, err, sizeof err), GW_OK);
    gw_buf resp;
    gw_buf_init(&resp, 4096);
    long status;
    /* rotated within the once-a-second stat window: the first attempt
     * still sends the old token, the 401 makes us read the new one */
    write_file(tok, "tok-new\n");
    srv_script(&f->srv, 1, (const int[]){ 401 });
    srv_respond(&f->srv, 201, 2);
    assert_int_equal(call(k, "POST", GW_KUBE_ONCE, &status, &resp), GW_OK);
    assert_int_equal(status, 201);
    /* (on a machine so loaded that the stat window passed, the rotation
     * was picked up before the first attempt: one request) */
    if (elapsed_ms(&t0) < 900)
        assert_int_equal(srv_nreq(&f->srv), 2);
    srv_last(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "\r\nAuthorization: Bearer tok-new\r\n"));
    /* a 401 with an unchanged token file is the answer */
    srv_respond(&f->srv, 401, 2);
    int before = srv_nreq(&f->srv);
    assert_int_equal(call(k, "GET", GW_KUBE_REPEATABLE, &status, &resp), GW_OK);
    assert_int_equal(status, 401);
    assert_int_equal(srv_nreq(&f->srv), before + 1);
    gw_buf_free(&resp);
    gw_kube_free(k);
}


/* The exactly-once argument for repeating a create (rrstore.c): the first
 * POST was stored but answered 504; the repeat gets 409 for the same name;
 * the object read back carries our fingerprint, so it is the one created. */
static void test_create_repeat_409_is_ours(void **state)
{
    fx *f = *state;
    static const char fp[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    gw_kube *k = new_retrying(f, 2, 5000, 1000, 0, 0);
    gw_config cfg;
    assert_int_equal(gw_config_defaults(&cfg), GW_OK);
    gw_buf scratch;
    gw_buf_init(&scratch, 65536);
    char err[512] = "";
    json_t *obj = json_pack("{s:{s:s,s:s},s:{s:s}}", "metadata", "name", "rr-0123456789ab-00000001",
                            "namespace", "kubernaut-system", "spec", "signalFingerprint", fp);

    srv_script(&f->srv, 2, (const int[]){ 504, 409 });
    srv_respond(&f->srv, 200, 0);
    snprintf(f->srv.text, sizeof f->srv.text,
             "{\"metadata\":{\"name\":\"rr-0123456789ab-00000001\"},"
             "\"spec\":{\"signalFingerprint\":\"%s\"}}", fp);
    assert_int_equal(gw_rrstore_create(k, &cfg, obj, &scratch, err, sizeof err), GW_OK);
    assert_int_equal(srv_nreq(&f->srv), 3);
    char seen[16384];
    srv_last(&f->srv, seen, sizeof seen);
    assert_non_null(strstr(seen, "GET /apis/kubernaut.ai/v1alpha1/namespaces/kubernaut-system/"
                                 "remediationrequests/rr-0123456789ab-00000001 HTTP/1.1\r\n"));

    /* the name belongs to another fingerprint's request: a clash, the
     * caller picks a new name */
    srv_script(&f->srv, 1, (const int[]){ 409 });
    snprintf(f->srv.text, sizeof f->srv.text,
             "{\"spec\":{\"signalFingerprint\":\"%064d\"}}", 0);
    assert_int_equal(gw_rrstore_create(k, &cfg, obj, &scratch, err, sizeof err), GW_EBUSY);
    /* ours, but being deleted: not a request that stands */
    srv_script(&f->srv, 1, (const int[]){ 409 });
    snprintf(f->srv.text, sizeof f->srv.text,
             "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
             "\"spec\":{\"signalFingerprint\":\"%s\"}}", fp);
    assert_int_equal(gw_rrstore_create(k, &cfg, obj, &scratch, err, sizeof err), GW_EBUSY);
    json_decref(obj);
    gw_buf_free(&scratch);
    gw_config_free(&cfg);
    gw_kube_free(k);
}

int main(void)
{
    /* The process does this once at start-up; kube.c never does. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_and_ca_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cert_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_relative_and_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_wins_over_kubeconfig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_first_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_http_token_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_http_loopback_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_do_not_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeatable_retried_until_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_once_and_4xx_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_honoured_or_given_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempts_fit_the_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker_opens_and_probes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker_counts_calls_not_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_best_effort_once_and_not_counted, setup, teardown),
        cmocka_unit_test(test_best_effort_budget),
        cmocka_unit_test_setup_teardown(test_401_rereads_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_repeat_409_is_ours, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
