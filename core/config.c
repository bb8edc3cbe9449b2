/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - the configuration's loaders and the checks after them.
 *
 * The key table (every key's type, default and description) and the one
 * parser of a value are in configkeys.c; this file reads the sources in
 * order of precedence: default < YAML file < ALERTGW_* environment.
 *
 * The YAML file is two levels deep: `section: { key: scalar }`.  Anything
 * else - an unknown section or key, a sequence, a bad scalar - is an error
 * naming the key and the line.  All errors are collected, not just the
 * first, so --check-config shows everything at once. */
#include "config.h"
#include "configkeys.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8sname.h"
#include "text.h"

static const char *scalar(yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A GW_T_LIST written as a YAML sequence, or a GW_T_MAP written as a mapping,
 * flattened into the string form ("a,b" / "k=v,k=v") in out.  An item that
 * is not a plain string, or that holds a separator of the string form, is
 * an error naming its own line.  false after an error (counted). */
static bool flatten(yaml_document_t *doc, yaml_node_t *v, const gw_key_def *k, char *out,
                    size_t outlen, char *errs, size_t errlen, int *nerr)
{
    size_t n = 0;
    out[0] = '\0';
    bool seq = v->type == YAML_SEQUENCE_NODE;
    size_t count = seq ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start)
                       : (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *a, *b = NULL;
        if (seq) {
            a = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
        } else {
            a = yaml_document_get_node(doc, v->data.mapping.pairs.start[i].key);
            b = yaml_document_get_node(doc, v->data.mapping.pairs.start[i].value);
        }
        const char *bad = NULL;
        yaml_node_t *at = a ? a : v;
        if (!a || a->type != YAML_SCALAR_NODE || (!seq && (!b || b->type != YAML_SCALAR_NODE)))
            bad = seq ? "each item must be a string" : "each key and value must be a string";
        else if (strchr(scalar(a), ',') || (!seq && strchr(scalar(b), ',')))
            bad = "an item may not contain a comma";
        else if (!seq && (strchr(scalar(a), '=') || !*scalar(a)))
            bad = "a key may not be empty or contain '='";
        if (!bad) {
            int w = seq ? snprintf(out + n, outlen - n, "%s%s", n ? "," : "", scalar(a))
                        : snprintf(out + n, outlen - n, "%s%s=%s", n ? "," : "", scalar(a),
                                   scalar(b));
            if (w < 0 || (size_t)w >= outlen - n)
                bad = "too long: put long lists in a file where the key has one";
            else
                n += (size_t)w;
        }
        if (bad) {
            gw_errs_add(errs, errlen, "%s.%s: line %zu: %s", k->section, k->key,
                        at->start_mark.line + 1, bad);
            (*nerr)++;
            return false;
        }
    }
    return true;
}

/* What loading one file carries from its sections down to each key. */
typedef struct {
    gw_config       *cfg;
    yaml_document_t *doc;
    int             *lines; /* per key: the line it was set on, 0: not in the file */
    char            *errs;
    size_t           errlen;
    int             *nerr;
} yaml_load;

/* A list or map key written as a YAML sequence or mapping. */
static void load_flattened(yaml_load *ld, const char *sec, const gw_key_def *k, yaml_node_t *kv)
{
    char *flat = malloc(65536);
    if (!flat) {
        gw_errs_add(ld->errs, ld->errlen, "%s.%s: out of memory", sec, k->key);
        (*ld->nerr)++;
        return;
    }
    if (flatten(ld->doc, kv, k, flat, 65536, ld->errs, ld->errlen, ld->nerr) &&
        gw_key_set_value(ld->cfg, k, flat)) {
        gw_errs_add(ld->errs, ld->errlen, "%s.%s: out of memory", sec, k->key);
        (*ld->nerr)++;
    }
    free(flat);
}

/* One `key: value` of section sec. */
static void load_key(yaml_load *ld, const char *sec, yaml_node_t *kk, yaml_node_t *kv)
{
    if (!kk || kk->type != YAML_SCALAR_NODE) {
        gw_errs_add(ld->errs, ld->errlen, "%s: key must be a string", sec);
        (*ld->nerr)++;
        return;
    }
    const gw_key_def *k = gw_key_find(sec, scalar(kk));
    if (!k) {
        gw_errs_add(ld->errs, ld->errlen, "%s.%s: line %zu: unknown key", sec, scalar(kk),
                    kk->start_mark.line + 1);
        (*ld->nerr)++;
        return;
    }
    ld->lines[k - gw_config_keys] = (int)kk->start_mark.line + 1;
    if (kv && ((kv->type == YAML_SEQUENCE_NODE && k->type == GW_T_LIST) ||
               (kv->type == YAML_MAPPING_NODE && k->type == GW_T_MAP))) {
        load_flattened(ld, sec, k, kv);
        return;
    }
    if (!kv || kv->type != YAML_SCALAR_NODE) {
        gw_errs_add(ld->errs, ld->errlen, "%s.%s: line %zu: must be %s", sec, k->key,
                    kk->start_mark.line + 1, gw_key_type_hint(k->type));
        (*ld->nerr)++;
        return;
    }
    if (gw_key_set_value(ld->cfg, k, scalar(kv))) {
        gw_errs_add(ld->errs, ld->errlen, "%s.%s: line %zu: invalid value \"%.64s\": must be %s",
                    sec, k->key, kv->start_mark.line + 1, scalar(kv), gw_key_type_hint(k->type));
        (*ld->nerr)++;
    }
}

/* One `section: { key: value ... }` of the top-level mapping. */
static void load_section(yaml_load *ld, yaml_node_t *sk, yaml_node_t *sv)
{
    if (!sk || sk->type != YAML_SCALAR_NODE) {
        gw_errs_add(ld->errs, ld->errlen, "line %zu: section name must be a string",
                    sk ? sk->start_mark.line + 1 : 0);
        (*ld->nerr)++;
        return;
    }
    const char *sec = scalar(sk);
    if (!gw_key_section_known(sec)) {
        gw_errs_add(ld->errs, ld->errlen, "%s: line %zu: unknown section", sec,
                    sk->start_mark.line + 1);
        (*ld->nerr)++;
        return;
    }
    if (!sv || sv->type != YAML_MAPPING_NODE) {
        if (sv && sv->type == YAML_SCALAR_NODE && !*scalar(sv))
            return; /* `section:` with nothing under it */
        gw_errs_add(ld->errs, ld->errlen, "%s: line %zu: must be a mapping of keys", sec,
                    sk->start_mark.line + 1);
        (*ld->nerr)++;
        return;
    }
    for (yaml_node_pair_t *q = sv->data.mapping.pairs.start; q < sv->data.mapping.pairs.top; q++)
        load_key(ld, sec, yaml_document_get_node(ld->doc, q->key),
                 yaml_document_get_node(ld->doc, q->value));
}

/* The file's keys: lines[i] is the line gw_config_keys[i] was set on (0:
 * not in the file), so that the checks after loading can name it. */
static void load_yaml(gw_config *cfg, const char *path, int *lines, char *errs, size_t errlen,
                      int *nerr)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        gw_errs_add(errs, errlen, "%s: cannot open: %s", path, strerror(errno));
        (*nerr)++;
        return;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        gw_errs_add(errs, errlen, "%s: out of memory", path);
        (*nerr)++;
        return;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        gw_errs_add(errs, errlen, "%s: line %zu: YAML syntax error: %s", path,
               parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
        (*nerr)++;
        yaml_parser_delete(&parser);
        fclose(f);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        /* an empty file is a valid, empty configuration */
    } else if (root->type != YAML_MAPPING_NODE) {
        gw_errs_add(errs, errlen, "%s: line %zu: top level must be a mapping of sections", path,
               root->start_mark.line + 1);
        (*nerr)++;
    } else {
        yaml_load ld = { cfg, &doc, lines, errs, errlen, nerr };
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++)
            load_section(&ld, yaml_document_get_node(&doc, p->key),
                         yaml_document_get_node(&doc, p->value));
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
}

/* ALERTGW_* names that are not configuration keys but parameters of the
 * front ends and of the scripts around them.  They share the workers'
 * environment (lighttpd hands its whole environment to the workers it
 * spawns; the units' EnvironmentFile holds both kinds), so the unknown-name
 * check below must let them pass, and only them: any other ALERTGW_*
 * variable is an error, so that a misspelt override cannot go unnoticed.
 * Exact names, no wildcards: a misspelt ALERTGW_TLS_CERT would otherwise
 * leave the port on plain HTTP without a word.  A front end that reads a
 * new ALERTGW_* name adds it here (t5100-cli checks every name the
 * repository's scripts and tests set). */
static const char *const front_end_vars[] = {
    /* fcgi/main.c (the YAML file); set by the units, the Apache config,
     * the Kubernetes Deployment */
    "ALERTGW_CONFIG",
    /* lighttpd.conf, 50-alertgw.conf, the Apache config (passed to the
     * workers), start-local.sh; and the exposure check (exposure.h) */
    "ALERTGW_LISTEN_ADDR",
    /* lighttpd.conf, 50-alertgw.conf, the Apache config, start-local.sh */
    "ALERTGW_LISTEN_PORT",
    /* lighttpd.conf (sockets, logs, spool), alertgw-container.sh, the
     * Apache config; metrics.path's default (metrics.c) */
    "ALERTGW_STATE_DIR",
    /* lighttpd.conf: where the access log (and a file error log) go, and
     * whether the error log is a file or lighttpd's stderr */
    "ALERTGW_LOG_DIR", "ALERTGW_ERROR_LOG",
    /* lighttpd.conf: the worker binary it spawns */
    "ALERTGW_FCGI_BIN",
    /* 50-alertgw.conf: the spawn-fcgi socket it connects to */
    "ALERTGW_FCGI_SOCKET",
    /* lighttpd.conf, alertgw-fcgi.service (multiwatch -f), start-local.sh */
    "ALERTGW_WORKERS",
    /* lighttpd.conf, 50-alertgw.conf: the hard body cap */
    "ALERTGW_MAX_REQUEST_KB",
    /* lighttpd.conf: TLS */
    "ALERTGW_TLS_CERT", "ALERTGW_TLS_KEY", "ALERTGW_TLS_CLIENT_CA",
    /* lighttpd.conf, 50-alertgw.conf, lighttpd-ratelimit.lua */
    "ALERTGW_RATE_LIMIT_RPS", "ALERTGW_RATE_LIMIT_BURST", "ALERTGW_RATE_LIMIT_STATUS",
    "ALERTGW_RATE_LIMIT_MAX_CLIENTS",
    /* deploy/kubernetes/alertgw-container.sh: the lighttpd config file */
    "ALERTGW_LIGHTTPD_CONF",
    /* developer scripts (start-local.sh passes every ALERTGW_* variable on
     * to lighttpd and so to the workers): kube-local.sh and test-all.sh
     * (the kube-apiserver cache), start-local.sh (state dir, no apt-get) */
    "ALERTGW_CACHE", "ALERTGW_LOCAL_DIR", "ALERTGW_SKIP_INSTALL",
};

#define NFRONT (sizeof front_end_vars / sizeof front_end_vars[0])

/* Optimal string alignment distance of a and b, ignoring case, capped at
 * limit + 1 (names are short; longer than 127 bytes: not compared). */
static size_t name_distance(const char *a, size_t al, const char *b, size_t bl, size_t limit)
{
    if (al > 127 || bl > 127)
        return limit + 1;
    unsigned char d[128][128]; /* at most 127 */
    for (size_t i = 0; i <= al; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= bl; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= al; i++) {
        for (size_t j = 1; j <= bl; j++) {
            int ca = toupper((unsigned char)a[i - 1]), cb = toupper((unsigned char)b[j - 1]);
            size_t best = (size_t)d[i - 1][j - 1] + (ca != cb);
            if ((size_t)d[i - 1][j] + 1 < best)
                best = (size_t)d[i - 1][j] + 1;
            if ((size_t)d[i][j - 1] + 1 < best)
                best = (size_t)d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == toupper((unsigned char)b[j - 2]) &&
                toupper((unsigned char)a[i - 2]) == cb && (size_t)d[i - 2][j - 2] + 1 < best)
                best = (size_t)d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[al][bl] > limit ? limit + 1 : d[al][bl];
}

/* Every ALERTGW_* variable in the environment must be a key's or a front
 * end's; the error names the variable and the closest known name when one
 * is close (at most 2 edits, 3 in names of 12 characters or more after
 * the prefix). */
static void check_unknown_env(char *errs, size_t errlen, int *nerr)
{
    extern char **environ;
    char known[128];
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "ALERTGW_", 8))
            continue;
        const char *name = *e;
        size_t len = strcspn(name, "=");
        bool ok = false;
        for (size_t i = 0; i < GW_CONFIG_NKEYS && !ok; i++) {
            gw_key_env_name(&gw_config_keys[i], known, sizeof known);
            ok = strlen(known) == len && !memcmp(known, name, len);
        }
        for (size_t i = 0; i < NFRONT && !ok; i++)
            ok = strlen(front_end_vars[i]) == len && !memcmp(front_end_vars[i], name, len);
        if (ok)
            continue;
        size_t limit = len - 8 >= 12 ? 3 : 2, best = limit + 1;
        char guess[128] = "", guess_what[128] = "";
        for (size_t i = 0; i < GW_CONFIG_NKEYS + NFRONT; i++) {
            if (i < GW_CONFIG_NKEYS)
                gw_key_env_name(&gw_config_keys[i], known, sizeof known);
            const char *cand = i < GW_CONFIG_NKEYS ? known : front_end_vars[i - GW_CONFIG_NKEYS];
            size_t d = name_distance(name + 8, len - 8, cand + 8, strlen(cand) - 8, limit);
            if (d < best) {
                best = d;
                snprintf(guess, sizeof guess, "%s", cand);
                if (i < GW_CONFIG_NKEYS)
                    snprintf(guess_what, sizeof guess_what, "%s.%s", gw_config_keys[i].section,
                             gw_config_keys[i].key);
                else
                    snprintf(guess_what, sizeof guess_what, "a front-end parameter");
            }
        }
        char shown[96];
        gw_text_clean(name, len, shown, sizeof shown);
        if (*guess)
            gw_errs_add(errs, errlen, "%s: unknown environment variable: neither a configuration "
                        "key (ALERTGW_<SECTION>_<KEY>, docs/configuration.md) nor a front-end "
                        "parameter; did you mean %s (%s)?", shown, guess, guess_what);
        else
            gw_errs_add(errs, errlen, "%s: unknown environment variable: neither a configuration "
                        "key (ALERTGW_<SECTION>_<KEY>, docs/configuration.md) nor a front-end "
                        "parameter", shown);
        (*nerr)++;
    }
}

static void load_env(gw_config *cfg, int *lines, char *errs, size_t errlen, int *nerr)
{
    char name[128];
    for (size_t i = 0; i < GW_CONFIG_NKEYS; i++) {
        const gw_key_def *k = &gw_config_keys[i];
        gw_key_env_name(k, name, sizeof name);
        const char *v = getenv(name);
        if (!v)
            continue;
        lines[i] = 0; /* the environment's value wins over the file's */
        if (gw_key_set_value(cfg, k, v)) {
            gw_errs_add(errs, errlen, "%s.%s: environment %s: invalid value \"%.64s\": must be %s",
                   k->section, k->key, name, v, gw_key_type_hint(k->type));
            (*nerr)++;
        }
    }
    check_unknown_env(errs, errlen, nerr);
}

typedef enum { V_SEVERITY, V_LABEL, V_PRIORITY_SLASH, V_COUNT } pair_rule;

/* target.workload_kinds: "" or kinds separated by commas (spaces allowed). */
static bool kinds_list_ok(const char *v)
{
    char kind[64];
    size_t n = 0;
    for (const char *p = v;; p++) {
        if (*p == ',' || !*p) {
            kind[n] = '\0';
            if (n && !gw_is_kind(kind))
                return false;
            if (!*p)
                return true;
            n = 0;
        } else if (!isspace((unsigned char)*p)) {
            if (n + 1 >= sizeof kind)
                return false;
            kind[n++] = *p;
        }
    }
}

static bool is_priority(const char *v, size_t n)
{
    return n == 2 && v[0] == 'P' && v[1] >= '0' && v[1] <= '3';
}

/* Checks a "key=value,..." list: every entry has a non-empty key and a
 * value that satisfies rule. */
static void check_pairs(const char *list, const char *name, const char *shape, pair_rule rule,
                        char *errs, size_t errlen, int *nerr)
{
    const char *p = list, *k, *v;
    size_t kl, vl;
    while (gw_pairs_next(&p, &k, &kl, &v, &vl)) {
        bool ok = v && kl > 0 && vl > 0;
        if (ok && rule == V_SEVERITY)
            ok = vl <= 50;
        else if (ok && rule == V_LABEL)
            ok = gw_is_label_value(v, vl);
        else if (ok && rule == V_PRIORITY_SLASH)
            ok = memchr(k, '/', kl) && is_priority(v, vl);
        else if (ok && rule == V_COUNT)
            ok = vl < 10 && strspn(v, "0123456789") >= vl && strtol(v, NULL, 10) >= 1;
        if (!ok) {
            size_t n = (size_t)(p - k);
            gw_errs_add(errs, errlen, "%s: \"%.*s\" is not %s", name, (int)(n > 64 ? 64 : n), k,
                   shape);
            (*nerr)++;
            return;
        }
    }
}

/* redis.sentinels: "host:port" entries with a port in 1..65535, and a
 * master name to ask them about. */
static void check_sentinels(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
    const char *p = c->redis_sentinels;
    if (!*p)
        return;
    if (!*c->redis_sentinel_master) {
        gw_errs_add(errs, errlen, "redis.sentinel_master: must be set with redis.sentinels");
        (*nerr)++;
    }
    int n = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = memrchr(p, ':', len);
        bool ok = colon && colon > p && len < 300;
        if (ok) {
            char digits[8];
            size_t dl = len - (size_t)(colon + 1 - p);
            ok = dl >= 1 && dl < sizeof digits;
            if (ok) {
                memcpy(digits, colon + 1, dl);
                digits[dl] = '\0';
                long port = strtol(digits, NULL, 10);
                ok = strspn(digits, "0123456789") == dl && port >= 1 && port <= 65535;
            }
        }
        if (!ok) {
            gw_errs_add(errs, errlen, "redis.sentinels: \"%.*s\" is not host:port",
                   (int)(len > 64 ? 64 : len), p);
            (*nerr)++;
            return;
        }
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n > 16) {
        gw_errs_add(errs, errlen, "redis.sentinels: at most 16 entries");
        (*nerr)++;
    }
}

/* The checks after loading, in the order their messages come out.  Each
 * appends "section.key: what" to errs and counts it in *nerr. */
#define BAD(...) do { gw_errs_add(errs, errlen, __VA_ARGS__); (*nerr)++; } while (0)

/* Log level, where requests go, Redis address, the Alertmanager route. */
static void check_basics(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
    if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
        strcmp(c->log_level, "warn") && strcmp(c->log_level, "error"))
        BAD("log.level: must be debug, info, warn or error, not \"%.32s\"", c->log_level);
    if (strcmp(c->rr_namespace_mode, "controller") && strcmp(c->rr_namespace_mode, "signal"))
        BAD("remediation.namespace_mode: must be controller or signal, not \"%.32s\"",
            c->rr_namespace_mode);
    if (!*c->redis_addr)
        BAD("redis.addr: must not be empty");
    if (!*c->rr_namespace && !strcmp(c->rr_namespace_mode, "controller"))
        BAD("remediation.namespace: must not be empty with namespace_mode controller");
    if (c->rr_field_fallback_page < 1 || c->rr_field_fallback_page > 1000)
        BAD("remediation.fingerprint_field_fallback_page_size: must be 1..1000, not %ld",
            c->rr_field_fallback_page);
    if (c->rr_field_fallback_max < 1 || c->rr_field_fallback_max > 100000)
        BAD("remediation.fingerprint_field_fallback_max_items: must be 1..100000, not %ld",
            c->rr_field_fallback_max);
    if (c->server_prometheus_path[0] != '/')
        BAD("server.prometheus_path: must start with /");
}

/* Environment, priority, scope, owners and kinds: what enrich.c reads. */
static void check_classification(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
    check_pairs(c->events_severity_overrides, "events.severity_overrides", "reason=severity",
                V_SEVERITY, errs, errlen, nerr);
    check_pairs(c->environment_patterns, "environment.patterns", "glob=environment", V_LABEL,
                errs, errlen, nerr);
    check_pairs(c->priority_table, "priority.table", "severity/environment=P0..P3",
                V_PRIORITY_SLASH, errs, errlen, nerr);
    check_pairs(c->priority_severity_aliases, "priority.severity_aliases", "alias=severity",
                V_SEVERITY, errs, errlen, nerr);
    check_pairs(c->priority_environment_aliases, "priority.environment_aliases",
                "alias=environment", V_LABEL, errs, errlen, nerr);
    check_pairs(c->priority_escalation, "priority.escalation", "environment=N (N >= 1)",
                V_COUNT, errs, errlen, nerr);
    if (!is_priority(c->priority_default, strlen(c->priority_default)))
        BAD("priority.default: must be P0, P1, P2 or P3, not \"%.32s\"", c->priority_default);
    if (!*c->environment_namespace_label || !*c->scope_label)
        BAD("environment.namespace_label, scope.label: must not be empty");
    if (c->owners_max_depth < 1 || c->owners_max_depth > 10)
        BAD("owners.max_depth: must be 1 to 10");
    if (c->k8s_cache_entries < 16)
        BAD("owners.cache_entries: must be at least 16");
    if (c->kube_discovery_ttl_ms != 0 && c->kube_discovery_ttl_ms < 10000)
        BAD("kubernetes.discovery_ttl: must be 0 (no discovery) or at least 10s");
    if (!kinds_list_ok(c->target_workload_kinds))
        BAD("target.workload_kinds: must be comma-separated Kubernetes kinds (\"Rollout\")");
}

/* Storm rules and the request limits of the server section. */
static void check_storm_server(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
    if (c->storm_rate_threshold < 1 || c->storm_pattern_threshold < 2)
        BAD("storm.rate_threshold / pattern_threshold: must be at least 1 / 2");
    if (c->storm_pattern_window_ms < 1000 || c->storm_aggregation_window_ms < 1000 ||
        c->storm_max_window_ms < c->storm_aggregation_window_ms)
        BAD("storm windows: at least 1s each, and max_window >= aggregation_window");
    if (c->storm_max_resources < 1 || c->storm_max_resources > 1000)
        BAD("storm.max_resources: must be 1 to 1000");
    if (c->storm_namespace_cap < 0)
        BAD("storm.namespace_cap: must be 0 (no cap) or more");
    if (c->flapping_threshold < 0 || (c->flapping_threshold > 0 && c->flapping_window_ms < 1000))
        BAD("flapping.threshold / window: 0 (off) or more / at least 1s");
    if (c->server_grafana_path[0] != '/')
        BAD("server.grafana_path: must start with /");
    if (c->server_events_path[0] != '/')
        BAD("server.events_path: must start with /");
    if (c->server_signals_prefix[0] != '/')
        BAD("server.signals_prefix: must start with /");
    if (c->server_max_body_bytes < 1024)
        BAD("server.max_body_bytes: must be at least 1024");
    if (c->server_max_alerts < 1)
        BAD("server.max_alerts: must be at least 1");
    if (c->server_max_parse_bytes < 65536)
        BAD("server.max_parse_bytes: must be at least 64KiB");
    if (c->server_max_json_depth < 4 || c->server_max_json_depth > 1000)
        BAD("server.max_json_depth: must be 4 to 1000");
    if (c->server_max_in_flight < 0)
        BAD("server.max_in_flight: must be 0 (no cap) or more");
}

/* Dedup leases against the Kubernetes client's timing, Sentinel, api_url. */
static void check_dedup_kube(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
    if (c->dedup_ttl_s < 1)
        BAD("dedup.ttl: must be at least 1s");
    if (c->dedup_pending_lease_ms < 100)
        BAD("dedup.pending_lease: must be at least 100ms");
    if (c->kube_retries > 10)
        BAD("kubernetes.retries: must be 0 to 10");
    if (c->kube_retry_base_ms < 1 || c->kube_retry_max_delay_ms < c->kube_retry_base_ms)
        BAD("kubernetes.retry_base / retry_max_delay: at least 1ms, and retry_max_delay >= "
            "retry_base");
    if (c->kube_timeout_ms < 100)
        BAD("kubernetes.timeout: must be at least 100ms");
    /* A claim is held across one lookup and one create, each bounded by
     * kubernetes.timeout (a second create only after a clash of the random
     * name suffix, which is rare).  A shorter lease can expire while the
     * create is still running; a second worker then claims the fingerprint,
     * finds nothing yet and creates a second request for the same problem. */
    if (c->dedup_pending_lease_ms >= 100 && c->kube_timeout_ms >= 100 &&
        c->dedup_pending_lease_ms < 2 * c->kube_timeout_ms)
        BAD("dedup.pending_lease (%ldms) must be at least 2 x kubernetes.timeout (%ldms): a "
            "claim covers a lookup and a create, and a lease that expires before they finish "
            "lets a second worker create a duplicate request",
            c->dedup_pending_lease_ms, 2 * c->kube_timeout_ms);
    if (c->kube_breaker_failures > 1000)
        BAD("kubernetes.breaker_failures: must be 0 (no breaker) to 1000");
    if (c->kube_breaker_open_ms < 100)
        BAD("kubernetes.breaker_open_time: must be at least 100ms");
    check_sentinels(c, errs, errlen, nerr);
    if (*c->kube_api_url && strncmp(c->kube_api_url, "https://", 8) &&
        strncmp(c->kube_api_url, "http://", 7))
        BAD("kubernetes.api_url: must start with https:// or http://");
}

#undef BAD

static void validate(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
    check_basics(c, errs, errlen, nerr);
    check_classification(c, errs, errlen, nerr);
    check_storm_server(c, errs, errlen, nerr);
    check_dedup_kube(c, errs, errlen, nerr);
    /* the sections other modules own check themselves (config_hooks.c) */
    for (const gw_config_hook *h = gw_config_hooks; h->check; h++) {
        size_t used = errs && errlen ? strlen(errs) : 0;
        *nerr += h->check(c, errs && errlen ? errs + used : NULL,
                          errs && errlen ? errlen - used : 0);
    }
}

/* The checks after loading say "section.key: ..."; where the key came
 * from the file, its line is put after the name, as the loader's own
 * errors have it ("section.key: line N: ..."). */
static void name_lines(char *errs, size_t errlen, const int *lines)
{
    char out[8192];
    size_t n = 0;
    for (const char *p = errs; *p && n + 1 < sizeof out;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        const char *colon = memchr(p, ':', len);
        const char *dot = colon ? memchr(p, '.', (size_t)(colon - p)) : NULL;
        int line = 0;
        if (dot && strncmp(colon, ": line ", 7)) {
            for (size_t i = 0; i < GW_CONFIG_NKEYS; i++) {
                const gw_key_def *k = &gw_config_keys[i];
                size_t sl = strlen(k->section), kl = strlen(k->key);
                if ((size_t)(dot - p) == sl && !strncmp(p, k->section, sl) &&
                    (size_t)(colon - dot - 1) == kl && !strncmp(dot + 1, k->key, kl)) {
                    line = lines[i];
                    break;
                }
            }
        }
        int w = line ? snprintf(out + n, sizeof out - n, "%.*s: line %d%.*s",
                                (int)(colon - p), p, line, (int)(len - (size_t)(colon - p)), colon)
                     : snprintf(out + n, sizeof out - n, "%.*s", (int)len, p);
        if (w < 0 || (size_t)w >= sizeof out - n)
            break;
        n += (size_t)w;
        p += len;
    }
    if (n < errlen) {
        memcpy(errs, out, n);
        errs[n] = '\0';
    }
}

gw_err gw_config_load(gw_config *cfg, const char *path, char *errs, size_t errlen)
{
    if (errs && errlen)
        errs[0] = '\0';
    gw_err rc = gw_config_defaults(cfg);
    if (rc)
        return rc;
    int nerr = 0;
    int lines[GW_CONFIG_NKEYS] = { 0 };
    if (path && *path)
        load_yaml(cfg, path, lines, errs, errlen, &nerr);
    load_env(cfg, lines, errs, errlen, &nerr);
    size_t checked = errs && errlen ? strlen(errs) : 0;
    validate(cfg, errs, errlen, &nerr);
    if (errs && errlen)
        name_lines(errs + checked, errlen - checked, lines);
    return nerr ? GW_ECONFIG : GW_OK;
}

