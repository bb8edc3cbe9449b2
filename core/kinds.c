/* SPDX-License-Identifier: Apache-2.0 */
/* kinds.c - see kinds.h.
 *
 * A discovery builds a new table next to the last good one and replaces it
 * only when the three root documents (/api, its preferred version, /apis)
 * were read: a half-read cluster never replaces a whole answer.  A group
 * document that fails (an aggregated API that is down answers 503) keeps
 * that group's kinds from the last good table. */
#include "kinds.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "k8sname.h"

/* Label rank: workloads 0, then the resources a workload owns or that
 * stand on their own, then node and pod, then kube-state-metrics' job_name.
 * Order inside one rank is the tie-break: first listed wins.  Versions are
 * what every supported Kubernetes serves (batch/v1beta1 and policy/v1beta1
 * are gone since 1.25); discovery replaces them with the cluster's own. */
static const gw_kind_builtin builtin[] = {
    { "Deployment", "apps", "v1", "apps/v1", "deployments", "deployment", 0, true },
    { "StatefulSet", "apps", "v1", "apps/v1", "statefulsets", "statefulset", 0, true },
    { "DaemonSet", "apps", "v1", "apps/v1", "daemonsets", "daemonset", 0, true },
    { "CronJob", "batch", "v1", "batch/v1", "cronjobs", "cronjob", 0, true },
    { "ReplicaSet", "apps", "v1", "apps/v1", "replicasets", "replicaset", 1, true },
    { "PersistentVolumeClaim", "", "v1", "v1", "persistentvolumeclaims",
      "persistentvolumeclaim", 1, true },
    { "HorizontalPodAutoscaler", "autoscaling", "v2", "autoscaling/v2",
      "horizontalpodautoscalers", "horizontalpodautoscaler", 1, true },
    { "Ingress", "networking.k8s.io", "v1", "networking.k8s.io/v1", "ingresses", "ingress", 1,
      true },
    { "PersistentVolume", "", "v1", "v1", "persistentvolumes", "persistentvolume", 1, false },
    /* node before pod: kube-state-metrics alerts about a node (KubeNodeNotReady)
     * carry the exporter's own `pod` label from target discovery; Kubernaut's
     * gateway also ranks node above pod (BR-GATEWAY-184) */
    { "Node", "", "v1", "v1", "nodes", "node", 2, false },
    { "Pod", "", "v1", "v1", "pods", "pod", 2, true },
    { "Job", "batch", "v1", "batch/v1", "jobs", "job_name", 3, true },
    /* owners and objects only: never named by a label */
    { "Namespace", "", "v1", "v1", "namespaces", NULL, -1, false },
    { "Service", "", "v1", "v1", "services", NULL, -1, true },
    { "ReplicationController", "", "v1", "v1", "replicationcontrollers", NULL, -1, true },
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

/* Labels that never name a target, whatever a CRD is called. */
static const char *const never_labels[] = {
    "job", "service", "instance", "endpoint", "container", "namespace",
};

const gw_kind_builtin *gw_kinds_builtin(size_t *n)
{
    *n = NBUILTIN;
    return builtin;
}

typedef struct {
    gw_kind *v;
    size_t   n, cap;
    int      bidx[NBUILTIN];      /* built-in row -> index in v, -1: not served */
    const gw_kind **work;         /* the workload CRDs (pointers into v) */
    size_t   nwork;
} table;

struct gw_kinds {
    gw_kcache_fetch fetch;
    void           *arg;
    long            ttl_ms;
    char           *workload_kinds; /* ",Kind,Kind," */
    table           t;              /* the last good discovery */
    bool            have;           /* t holds a discovery */
    long long       next_at;        /* when ensure discovers again */
    long long       last_try;       /* when the last discovery began; -1: never */
    gw_buf          buf;            /* the document being read */
};

static void table_free(table *t)
{
    free(t->v);
    free(t->work);
    memset(t, 0, sizeof *t);
}

gw_kinds *gw_kinds_new(gw_kcache_fetch fetch, void *arg, long ttl_ms, const char *workload_kinds)
{
    gw_kinds *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->fetch = fetch;
    k->arg = arg;
    k->ttl_ms = ttl_ms;
    k->last_try = -1;
    const char *w = workload_kinds ? workload_kinds : "";
    size_t wl = strlen(w);
    if (!(k->workload_kinds = malloc(wl + 3))) {
        free(k);
        return NULL;
    }
    /* ",A,B," with the spaces dropped, so that a lookup is one strstr */
    char *o = k->workload_kinds;
    *o++ = ',';
    for (const char *p = w; *p; p++)
        if (!isspace((unsigned char)*p))
            *o++ = *p;
    *o++ = ',';
    *o = '\0';
    gw_buf_init(&k->buf, GW_KINDS_MAX_DOC_BYTES);
    return k;
}

void gw_kinds_free(gw_kinds *k)
{
    if (!k)
        return;
    table_free(&k->t);
    gw_buf_free(&k->buf);
    free(k->workload_kinds);
    free(k);
}

bool gw_kinds_discovered(const gw_kinds *k)
{
    return k && k->have;
}

size_t gw_kinds_count(const gw_kinds *k)
{
    return k && k->have ? k->t.n : 0;
}

static void lower(const char *in, char *out, size_t outlen)
{
    size_t i = 0;
    for (; in[i] && i + 1 < outlen; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static int builtin_row(const char *kind, const char *group)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (!strcmp(builtin[i].kind, kind) && (!group || !strcmp(builtin[i].group, group)))
            return (int)i;
    return -1;
}

static void from_builtin(size_t i, gw_kind *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->kind, sizeof out->kind, "%s", builtin[i].kind);
    snprintf(out->group, sizeof out->group, "%s", builtin[i].group);
    snprintf(out->version, sizeof out->version, "%s", builtin[i].version);
    snprintf(out->plural, sizeof out->plural, "%s", builtin[i].plural);
    snprintf(out->label, sizeof out->label, "%s",
             builtin[i].label ? builtin[i].label : "");
    if (!builtin[i].label)
        lower(builtin[i].kind, out->label, sizeof out->label);
    out->namespaced = builtin[i].namespaced;
    out->builtin = true;
}

void gw_kind_api_version(const gw_kind *d, char *out, size_t outlen)
{
    if (*d->group)
        snprintf(out, outlen, "%s/%s", d->group, d->version);
    else
        snprintf(out, outlen, "%s", d->version);
}

static const gw_kind *table_find(const table *t, const char *kind, const char *group)
{
    int b = builtin_row(kind, group);
    if (b >= 0)
        return t->bidx[b] >= 0 ? &t->v[t->bidx[b]] : NULL;
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].kind, kind) && (!group || !strcmp(t->v[i].group, group)))
            return &t->v[i];
    return NULL;
}

/* The kind in group (NULL: any group): see gw_kinds_find_av. */
static bool find(const gw_kinds *k, const char *kind, const char *group, gw_kind *out)
{
    if (!kind)
        return false;
    if (k && k->have) {
        const gw_kind *d = table_find(&k->t, kind, group);
        if (d) {
            *out = *d;
            return true;
        }
    }
    /* not discovered (yet, or not served): the built-in row, if any */
    int b = builtin_row(kind, group);
    if (b < 0)
        return false;
    from_builtin((size_t)b, out);
    return true;
}

bool gw_kinds_find_av(const gw_kinds *k, const char *kind, const char *api_version,
                      gw_kind *out)
{
    char group[254];
    const char *g = NULL;
    if (api_version && *api_version) {
        const char *slash = strchr(api_version, '/');
        size_t n = slash ? (size_t)(slash - api_version) : 0;
        if (n >= sizeof group)
            return false;
        memcpy(group, api_version, n);
        group[n] = '\0';
        g = group;
    }
    return find(k, kind, g, out);
}

const gw_kind *const *gw_kinds_workloads(const gw_kinds *k, size_t *n)
{
    *n = k && k->have ? k->t.nwork : 0;
    return *n ? k->t.work : NULL;
}

/* ---- discovery ------------------------------------------------------- */

typedef struct {
    gw_kinds *k;
    table     t;
    int       docs;
    char     *err;
    size_t    errlen;
} run;

/* GETs path into k->buf and parses it.  NULL with run->err set on failure. */
static json_t *get_doc(run *r, const char *path)
{
    if (r->docs >= GW_KINDS_MAX_DOCS) {
        gw_fail(GW_ETOOBIG, r->err, r->errlen, "discovery: more than %d documents",
                GW_KINDS_MAX_DOCS);
        return NULL;
    }
    r->docs++;
    long status = 0;
    gw_buf_reset(&r->k->buf);
    gw_err rc = r->k->fetch(r->k->arg, path, &status, &r->k->buf, r->err, r->errlen);
    if (rc == GW_ETOOBIG) {
        gw_fail(rc, r->err, r->errlen, "discovery: GET %.100s: larger than %u bytes", path,
                GW_KINDS_MAX_DOC_BYTES);
        return NULL;
    }
    if (rc)
        return NULL;
    if (status != 200) {
        gw_fail(GW_EKUBE, r->err, r->errlen, "discovery: GET %.100s: apiserver answered %ld",
                path, status);
        return NULL;
    }
    json_t *doc = json_loadb(r->k->buf.data, r->k->buf.len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        gw_fail(GW_EKUBE, r->err, r->errlen, "discovery: GET %.100s: not a JSON object", path);
        return NULL;
    }
    return doc;
}

static bool add_kind(table *t, const gw_kind *d)
{
    if (table_find(t, d->kind, d->group))
        return true; /* an earlier (more preferred) version has it */
    if (t->n >= GW_KINDS_MAX)
        return false;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (cap > GW_KINDS_MAX)
            cap = GW_KINDS_MAX;
        gw_kind *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return false;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = *d;
    int b = builtin_row(d->kind, d->group);
    if (b >= 0)
        t->bidx[b] = (int)t->n;
    t->n++;
    return true;
}

static bool valid_group_version(const char *group, const char *version)
{
    char av[300];
    if (*group && !gw_is_dns_subdomain(group))
        return false;
    if (strlen(version) >= sizeof ((gw_kind *)0)->version)
        return false;
    if (*group)
        snprintf(av, sizeof av, "%s/%s", group, version);
    else
        snprintf(av, sizeof av, "%s", version);
    return gw_is_api_version(av);
}

/* The kinds of one APIResourceList.  Entries that are not valid Kubernetes
 * syntax are skipped, never mended. */
static void add_resources(table *t, json_t *doc, const char *group, const char *version)
{
    json_t *res = json_object_get(doc, "resources"), *it;
    size_t i;
    size_t first = t->n;
    json_array_foreach(res, i, it) {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *kind = json_string_value(json_object_get(it, "kind"));
        if (!name || strchr(name, '/'))
            continue; /* a subresource: looked at below */
        if (!gw_is_kind(kind) || !gw_is_dns_label(name) || strlen(kind) >= 64 ||
            strlen(name) >= 64)
            continue;
        gw_kind d;
        memset(&d, 0, sizeof d);
        snprintf(d.kind, sizeof d.kind, "%s", kind);
        snprintf(d.group, sizeof d.group, "%s", group);
        snprintf(d.version, sizeof d.version, "%s", version);
        snprintf(d.plural, sizeof d.plural, "%s", name);
        lower(kind, d.label, sizeof d.label);
        d.namespaced = json_is_true(json_object_get(it, "namespaced"));
        d.builtin = builtin_row(kind, group) >= 0;
        if (!add_kind(t, &d))
            break; /* full: GW_KINDS_MAX */
    }
    /* "<plural>/scale" marks a scalable kind (workload() reads it) */
    json_array_foreach(res, i, it) {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *slash = name ? strchr(name, '/') : NULL;
        if (!slash || strcmp(slash, "/scale"))
            continue;
        for (size_t j = first; j < t->n; j++)
            if (strlen(t->v[j].plural) == (size_t)(slash - name) &&
                !strncmp(t->v[j].plural, name, (size_t)(slash - name)))
                t->v[j].workload = true; /* scalable; decided in finish() */
    }
}

static bool reserved_label(const char *label)
{
    for (size_t i = 0; i < sizeof never_labels / sizeof never_labels[0]; i++)
        if (!strcmp(never_labels[i], label))
            return true;
    for (size_t i = 0; i < NBUILTIN; i++) {
        char l[64];
        lower(builtin[i].kind, l, sizeof l);
        if (!strcmp(l, label) || (builtin[i].label && !strcmp(builtin[i].label, label)))
            return true;
    }
    return false;
}

/* Decides which kinds are workload custom resources and indexes them. */
static bool finish(gw_kinds *k, table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        gw_kind *d = &t->v[i];
        char key[70];
        snprintf(key, sizeof key, ",%s,", d->kind);
        bool listed = strstr(k->workload_kinds, key) != NULL;
        d->workload = (d->workload || listed) && d->namespaced && !d->builtin &&
                      !reserved_label(d->label);
        if (d->workload)
            t->nwork++;
    }
    if (t->nwork && !(t->work = malloc(t->nwork * sizeof *t->work)))
        return false;
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].workload)
            t->work[w++] = &t->v[i];
    return true;
}

/* Whether a built-in kind of group is still missing from t. */
static bool builtin_missing(const table *t, const char *group)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (!strcmp(builtin[i].group, group) && t->bidx[i] < 0)
            return true;
    return false;
}

/* Keeps the last good table's kinds of a group whose document failed. */
static void keep_old_group(gw_kinds *k, table *t, const char *group)
{
    if (!k->have)
        return;
    for (size_t i = 0; i < k->t.n; i++)
        if (!strcmp(k->t.v[i].group, group)) {
            if (!add_kind(t, &k->t.v[i]))
                return;
        }
}

static void do_group(run *r, json_t *g)
{
    const char *group = json_string_value(json_object_get(g, "name"));
    if (!group || !*group || !valid_group_version(group, "v1"))
        return; /* not a group name: skipped */
    json_t *pref = json_object_get(json_object_get(g, "preferredVersion"), "version");
    json_t *versions = json_object_get(g, "versions"), *v;
    size_t i;
    bool any_ok = false;
    /* the preferred version first, then the others in the server's order
     * while a built-in kind of the group is missing */
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(versions, i, v) {
            const char *ver = json_string_value(json_object_get(v, "version"));
            bool is_pref = ver && json_is_string(pref) && !strcmp(ver, json_string_value(pref));
            if (!ver || (pass == 0) != is_pref)
                continue;
            if (pass == 1 && !builtin_missing(&r->t, group))
                break;
            if (!valid_group_version(group, ver))
                continue;
            char path[400];
            snprintf(path, sizeof path, "/apis/%s/%s", group, ver);
            json_t *doc = get_doc(r, path);
            if (!doc)
                continue;
            any_ok = true;
            add_resources(&r->t, doc, group, ver);
            json_decref(doc);
        }
    }
    if (!any_ok)
        keep_old_group(r->k, &r->t, group);
}

static gw_err discover(gw_kinds *k, char *err, size_t errlen)
{
    run r = { .k = k, .err = err, .errlen = errlen };
    for (size_t i = 0; i < NBUILTIN; i++)
        r.t.bidx[i] = -1;
    gw_err rc = GW_EKUBE;
    json_t *api = get_doc(&r, "/api"), *core = NULL, *apis = NULL;
    if (!api)
        goto out;
    const char *cv = json_string_value(json_array_get(json_object_get(api, "versions"), 0));
    if (!cv || !valid_group_version("", cv)) {
        gw_fail(GW_EKUBE, err, errlen, "discovery: /api names no valid version");
        goto out;
    }
    char path[64];
    snprintf(path, sizeof path, "/api/%s", cv);
    if (!(core = get_doc(&r, path)))
        goto out;
    add_resources(&r.t, core, "", cv);
    if (!(apis = get_doc(&r, "/apis")))
        goto out;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(apis, "groups"), i, g)
        do_group(&r, g);
    if (!finish(k, &r.t)) {
        rc = gw_fail(GW_ENOMEM, err, errlen, "discovery: out of memory");
        goto out;
    }
    table_free(&k->t);
    k->t = r.t;
    memset(&r.t, 0, sizeof r.t);
    k->have = true;
    rc = GW_OK;
out:
    json_decref(api);
    json_decref(core);
    json_decref(apis);
    table_free(&r.t);
    /* the read buffer is not kept between discoveries */
    gw_buf_free(&k->buf);
    gw_buf_init(&k->buf, GW_KINDS_MAX_DOC_BYTES);
    if (rc == GW_EKUBE && !*err)
        gw_fail(rc, err, errlen, "discovery failed");
    return rc;
}

static long retry_ms(const gw_kinds *k)
{
    return k->ttl_ms < GW_KINDS_RETRY_MS ? k->ttl_ms : GW_KINDS_RETRY_MS;
}

static gw_err refresh(gw_kinds *k, long long now_ms, char *err, size_t errlen)
{
    k->last_try = now_ms;
    if (errlen)
        err[0] = '\0';
    gw_err rc = discover(k, err, errlen);
    k->next_at = now_ms + (rc ? retry_ms(k) : k->ttl_ms);
    return rc;
}

gw_err gw_kinds_ensure(gw_kinds *k, long long now_ms, int *fetched, char *err, size_t errlen)
{
    *fetched = 0;
    if (!k || k->ttl_ms <= 0 || (k->last_try >= 0 && now_ms < k->next_at))
        return GW_OK;
    *fetched = 1;
    return refresh(k, now_ms, err, errlen);
}

bool gw_kinds_stale(gw_kinds *k, long long now_ms)
{
    if (!k || k->ttl_ms <= 0)
        return false;
    if (k->last_try >= 0 && now_ms - k->last_try < retry_ms(k)) {
        /* too soon: the next ensure after the limit refreshes */
        long long at = k->last_try + retry_ms(k);
        if (at < k->next_at)
            k->next_at = at;
        return false;
    }
    char err[256];
    return refresh(k, now_ms, err, sizeof err) == GW_OK;
}
