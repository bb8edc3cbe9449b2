/* SPDX-License-Identifier: Apache-2.0 */
/* kube.c - HTTPS transport to the Kubernetes API server; see kube.h.
 *
 * Design
 *
 * The credentials (where they come from, the temp files for *-data, the
 * token that rotates) are kubecreds.c's; this file holds what talks to the
 * server with them: the curl handle, retries and the breaker.  Before
 * each request gw_kube_creds_refresh_token() picks up a rotated token.
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
 *   address unless allowed (kubecreds.c checks the URL once, at start-up).
 * - gw_kube_request(): *http_status is non-zero exactly when it returns
 *   GW_OK.
 * - Redirects are not followed: the API server does not redirect, and a
 *   redirect would be the easiest way to lure the token somewhere else. */#include "kube.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kubecreds.h"
#include "retry.h"
#include "text.h"

#define KUBE_CONNECT_TIMEOUT_MS_DEFAULT 2000L
#define KUBE_RETRY_BASE_MS_DEFAULT      100L
#define KUBE_RETRY_MAX_DELAY_MS_DEFAULT 1000L
#define KUBE_BREAKER_OPEN_MS_DEFAULT    10000L
#define KUBE_TIMEOUT_MS_DEFAULT         5000L
#define KUBE_PATH_MAX                   8192u

struct gw_kube {
    gw_kube_creds   creds;         /* server URL, TLS files, token */
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
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, k->creds.insecure ? 0L : 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, k->creds.insecure ? 0L : 2L);
    if (cc == CURLE_OK && k->creds.ca_file)
        cc = curl_easy_setopt(h, CURLOPT_CAINFO, k->creds.ca_file);
    if (cc == CURLE_OK && k->creds.cert_file)
        cc = curl_easy_setopt(h, CURLOPT_SSLCERT, k->creds.cert_file);
    if (cc == CURLE_OK && k->creds.key_file)
        cc = curl_easy_setopt(h, CURLOPT_SSLKEY, k->creds.key_file);
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

    gw_kube_source src = {
        .api_url = opts->api_url,
        .token_file = opts->token_file,
        .ca_file = opts->ca_file,
        .client_cert_file = opts->client_cert_file,
        .client_key_file = opts->client_key_file,
        .kubeconfig = opts->kubeconfig,
        .allow_insecure = opts->allow_insecure,
    };
    gw_err rc = gw_kube_creds_load(&k->creds, &src, err, errlen);
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
    gw_kube_creds_clear(&k->creds);
    free(k);
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

/* The request's headers, rebuilt per request because the token may have
 * rotated.  false on ENOMEM (*out is then NULL). */
static bool request_headers(const gw_kube *k, const char *content_type, bool has_body,
                            struct curl_slist **out)
{
    struct curl_slist *headers = NULL;
    bool ok = add_header(&headers, "Accept", "application/json");
    if (ok && k->creds.token) {
        char *bearer;
        ok = asprintf(&bearer, "Bearer %s", k->creds.token) >= 0;
        if (ok) {
            ok = add_header(&headers, "Authorization", bearer);
            free(bearer);
        }
    }
    if (ok && has_body)
        ok = add_header(&headers, "Content-Type", content_type);
    /* libcurl may wait a second for "100 Continue" on larger bodies; the API
     * server answers promptly anyway, so the round trip is pure latency. */
    if (ok && has_body)
        ok = add_header(&headers, "Expect", "");
    if (!ok) {
        curl_slist_free_all(headers);
        headers = NULL;
    }
    *out = headers;
    return ok;
}

/* Every per-request option is set here, each time, so nothing from the
 * previous request survives.  POSTFIELDS NULL switches libcurl to POST,
 * hence HTTPGET last on the bodiless path.  CUSTOMREQUEST only replaces
 * the method word; POST and GET use libcurl's own. */
static CURLcode set_request(gw_kube *k, const char *url, const char *method, const char *body,
                            size_t body_len, long timeout_ms, struct curl_slist *headers,
                            body_sink *sink)
{
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
        cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
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
    return cc;
}

/* What the exchange came to: GW_OK when an HTTP status arrived, else the
 * error (the handle is closed, so the next attempt starts afresh). */
static gw_err outcome(gw_kube *k, const char *method, const char *path, const char *url,
                      CURLcode cc, long status, gw_err sink_rc, const gw_buf *resp, char *err,
                      size_t errlen)
{
    if (sink_rc) {
        close_handle(k);
        if (sink_rc == GW_ETOOBIG)
            return gw_fail(GW_ETOOBIG, err, errlen, "kube %s %s: response larger than %zu bytes",
                           method, path, resp->max);
        return gw_fail(sink_rc, err, errlen, "kube %s %s: out of memory", method, path);
    }
    if (cc != CURLE_OK || status == 0) {
        /* The URL holds no credentials; the error buffer holds libcurl's
         * detail (address, errno text), never headers. */
        gw_fail(GW_EKUBE, err, errlen, "kube %s %s: %s%s%s", method, url,
                cc != CURLE_OK ? curl_easy_strerror(cc) : "no HTTP status",
                k->curl_err[0] ? ": " : "", k->curl_err);
        close_handle(k);
        return GW_EKUBE;
    }
    return GW_OK;
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
    gw_kube_creds_refresh_token(&k->creds);

    char *url;
    if (asprintf(&url, "%s%s", k->creds.server, path) < 0)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    struct curl_slist *headers;
    if (!request_headers(k, content_type, body != NULL, &headers)) {
        free(url);
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory");
    }

    body_sink sink = { .buf = resp, .rc = GW_OK };
    CURL *h = k->curl;
    CURLcode cc = set_request(k, url, method, body, body_len, timeout_ms, headers, &sink);
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

    rc = outcome(k, method, path, url, cc, status, sink.rc, resp, err, errlen);
    free(url);
    if (rc)
        return rc;
    *http_status = status;
    return GW_OK;
}

/* ------------------------------------------------- retries and the breaker */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

    const bool best_effort = retry == GW_KUBE_BEST_EFFORT;
    const long budget = best_effort && k->timeout_ms > GW_KUBE_BEST_EFFORT_MS
                            ? GW_KUBE_BEST_EFFORT_MS : k->timeout_ms;
    const long long deadline = mono_ms() + budget;
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
        if (rc == GW_OK && *http_status == 401 && !token_reread && gw_kube_creds_reload_token(&k->creds)) {
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
     * does so as a failure.  A best-effort call is not reported either: its
     * short budget would count a slow apiserver as a failing one. */
    bool answered = rc == GW_ETOOBIG || (rc == GW_OK && !gw_retry_failed(rc, *http_status));
    bool local = rc != GW_OK && rc != GW_EKUBE && rc != GW_ETOOBIG;
    t = (local || best_effort) && !probe
            ? GW_BREAKER_NO_CHANGE
            : gw_breaker_report(k->breaker, &k->brk_policy, mono_ms(), probe, !answered);
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
