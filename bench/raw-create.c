/* SPDX-License-Identifier: Apache-2.0 */
/* raw-create.c - the benchmark's bound for the new-alert path: what the
 * apiserver itself takes of the calls the gateway must make for a new
 * signal, with nothing of the gateway in between.
 *
 * Each of CONNS threads loops for SECONDS: the lookup by fingerprint label
 * (GET of the request collection with labelSelector and resourceVersion=0,
 * as the gateway asks), then the create (POST) of a RemediationRequest
 * made from a template (a request the gateway created, so of the same size
 * and shape) with a fresh name and fingerprint.  libcurl with the
 * gateway's settings: one keep-alive handle per thread, HTTP/2 over TLS
 * when offered, the CA verified, a bearer token.
 *
 * With "all" as the last argument, each create is followed by the two
 * other writes the gateway makes for a new signal: the merge patch of
 * status.deduplication through the status subresource (which ignores a
 * status sent with the create) and the Created Event (POST of a v1 Event
 * of the gateway's shape).  That is the same four calls as the gateway,
 * with nothing of the gateway in between.
 *
 * usage: raw-create CONNS SECONDS API_URL CA_FILE TOKEN_FILE COLLECTION TEMPLATE [all]
 *   COLLECTION  the request collection's path, e.g.
 *               apis/kubernaut.ai/v1alpha1/namespaces/kubernaut-system/remediationrequests
 *   TEMPLATE    a request's JSON in which RAWNAME stands for the name, RAWFP
 *               for the fingerprint (64 hex digits) and RAWLB for the
 *               fingerprint label (its first 63: a label value's limit)
 * Prints one line: RESULT creates=N lookups=N errors=N seconds=S rps=R
 * (rps: creates per second; with "all", a create counts when all three
 * writes succeeded). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file.h"

typedef struct {
    const char *api, *ca, *coll, *tmpl;
    struct curl_slist *headers, *patch_headers; /* JSON; merge patch */
    double seconds;
    int id;
    int all; /* also the status patch and the Created Event */
    long creates, lookups, errors;
} worker;

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* tmpl with every RAWNAME replaced by name, RAWFP by fp and RAWLB by lb;
 * the caller frees it (NULL: out of memory) */
static char *fill(const char *tmpl, const char *name, const char *fp, const char *lb)
{
    size_t cap = strlen(tmpl) * 2 + 256, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        const char *with = NULL;
        size_t skip = 0;
        if (!strncmp(p, "RAWNAME", 7))
            with = name, skip = 7;
        else if (!strncmp(p, "RAWFP", 5))
            with = fp, skip = 5;
        else if (!strncmp(p, "RAWLB", 5))
            with = lb, skip = 5;
        size_t add = with ? strlen(with) : 1;
        if (n + add + 1 > cap) {
            free(out);
            return NULL;
        }
        memcpy(out + n, with ? with : p, add);
        n += add;
        p += with ? skip : 1;
    }
    out[n] = '\0';
    return out;
}

/* GET (body NULL), POST, or PATCH (patch set: a merge patch) */
static long call(CURL *h, const worker *w, const char *url, const char *body, int patch)
{
    long code = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, patch ? w->patch_headers : w->headers);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, patch ? "PATCH" : NULL);
    if (curl_easy_perform(h) != CURLE_OK)
        return 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* The status patch and the Created Event of request name (in the
 * collection's namespace, ns): the gateway's other two writes.  0: both
 * written. */
static int other_writes(CURL *h, const worker *w, const char *coll_url, const char *ns,
                        const char *name, const char *fp)
{
    char url[1400], ts[32], body[2048];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(url, sizeof url, "%s/%s/status", coll_url, name);
    snprintf(body, sizeof body,
             "{\"status\":{\"deduplication\":{\"firstSeenAt\":\"%s\",\"lastSeenAt\":\"%s\","
             "\"occurrenceCount\":1}}}", ts, ts);
    if (call(h, w, url, body, 1) != 200)
        return -1;
    snprintf(url, sizeof url, "%s/api/v1/namespaces/%s/events", w->api, ns);
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"%s.created\","
             "\"namespace\":\"%s\",\"labels\":{\"app.kubernetes.io/managed-by\":\"alertgw\"}},"
             "\"involvedObject\":{\"apiVersion\":\"kubernaut.ai/v1alpha1\","
             "\"kind\":\"RemediationRequest\",\"name\":\"%s\",\"namespace\":\"%s\"},"
             "\"reason\":\"Created\",\"message\":\"created for signal BenchNew "
             "(fingerprint %.16s), environment unknown, priority P3\",\"type\":\"Normal\","
             "\"source\":{\"component\":\"alertgw\"},\"reportingComponent\":\"alertgw\","
             "\"reportingInstance\":\"alertgw\",\"firstTimestamp\":\"%s\","
             "\"lastTimestamp\":\"%s\",\"count\":1}",
             name, ns, name, ns, fp, ts, ts);
    return call(h, w, url, body, 0) == 201 ? 0 : -1;
}

static void *run(void *arg)
{
    worker *w = arg;
    CURL *h = curl_easy_init();
    if (!h) {
        w->errors++;
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CAINFO, w->ca);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    char url[1200], coll_url[1024], name[64], fp[65], ns[64] = "";
    snprintf(coll_url, sizeof coll_url, "%.500s/%.500s", w->api, w->coll);
    const char *nsp = strstr(w->coll, "namespaces/");
    if (nsp)
        snprintf(ns, sizeof ns, "%.*s", (int)strcspn(nsp + 11, "/"), nsp + 11);
    double end = now_s() + w->seconds;
    for (long i = 0; now_s() < end; i++) {
        snprintf(name, sizeof name, "raw-%ld-%d-%ld", (long)getpid(), w->id, i);
        snprintf(fp, sizeof fp, "%08lx%04x%052ld", (long)getpid() & 0xffffffffL,
                 (unsigned)w->id & 0xffffu, i);
        snprintf(url, sizeof url,
                 "%s?labelSelector=kubernaut.ai%%2Ffingerprint%%3D%.63s&resourceVersion=0",
                 coll_url, fp);
        if (call(h, w, url, NULL, 0) != 200) {
            w->errors++;
            continue;
        }
        w->lookups++;
        char lb[64];
        snprintf(lb, sizeof lb, "%.63s", fp);
        char *body = fill(w->tmpl, name, fp, lb);
        if (!body) {
            w->errors++;
            break;
        }
        if (call(h, w, coll_url, body, 0) == 201 &&
            (!w->all || other_writes(h, w, coll_url, ns, name, fp) == 0))
            w->creates++;
        else
            w->errors++;
        free(body);
    }
    curl_easy_cleanup(h);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 8 && !(argc == 9 && !strcmp(argv[8], "all"))) {
        fprintf(stderr, "usage: raw-create CONNS SECONDS API_URL CA_FILE TOKEN_FILE COLLECTION "
                        "TEMPLATE [all]\n");
        return 2;
    }
    int conns = atoi(argv[1]);
    double seconds = atof(argv[2]);
    char *token = NULL, *tmpl = NULL, err[256];
    size_t token_len = 0, tmpl_len = 0;
    if (conns < 1 || conns > 256 || seconds <= 0 || seconds > 600) {
        fprintf(stderr, "raw-create: CONNS 1..256, SECONDS 0..600\n");
        return 2;
    }
    if (gw_read_file(argv[5], 16384, &token, &token_len, NULL, err, sizeof err) ||
        gw_read_file(argv[7], 1 << 20, &tmpl, &tmpl_len, NULL, err, sizeof err)) {
        fprintf(stderr, "raw-create: %s\n", err);
        return 2;
    }
    token[strcspn(token, "\r\n")] = '\0';
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %.4096s", token);
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return 1;
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    struct curl_slist *patch_headers = curl_slist_append(NULL, auth);
    patch_headers = curl_slist_append(patch_headers, "Content-Type: application/merge-patch+json");
    patch_headers = curl_slist_append(patch_headers, "Accept: application/json");
    worker *w = calloc((size_t)conns, sizeof *w);
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    if (!headers || !patch_headers || !w || !t)
        return 1;
    double start = now_s();
    for (int i = 0; i < conns; i++) {
        w[i] = (worker){ .api = argv[3], .ca = argv[4], .coll = argv[6], .tmpl = tmpl,
                         .headers = headers, .patch_headers = patch_headers,
                         .seconds = seconds, .id = i, .all = argc == 9 };
        if (pthread_create(&t[i], NULL, run, &w[i]))
            return 1;
    }
    long creates = 0, lookups = 0, errors = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(t[i], NULL);
        creates += w[i].creates;
        lookups += w[i].lookups;
        errors += w[i].errors;
    }
    double took = now_s() - start;
    printf("RESULT creates=%ld lookups=%ld errors=%ld seconds=%.2f rps=%.1f\n", creates, lookups,
           errors, took, (double)creates / took);
    curl_slist_free_all(headers);
    curl_slist_free_all(patch_headers);
    curl_global_cleanup();
    free(w);
    free(t);
    gw_file_free(token, token_len);
    gw_file_free(tmpl, tmpl_len);
    return errors > creates ? 1 : 0;
}
