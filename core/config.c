/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - the configuration key table and its loaders.
 *
 * Design (after lighttpd's config tables): one static table, `keys`, lists
 * every key with its type, default and one-line description.  Defaults are
 * written as the strings a user would write and go through the same parser
 * as the file and the environment, so there is exactly one way a value is
 * read.  Order of precedence: default < YAML file < ALERTGW_* environment.
 *
 * The YAML file is two levels deep: `section: { key: scalar }`.  Anything
 * else - an unknown section or key, a sequence, a bad scalar - is an error
 * naming the key and the line.  All errors are collected, not just the
 * first, so --check-config shows everything at once. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8sname.h"
#include "text.h"

/* T_LIST and T_MAP are strings in gw_config ("a,b" and "k=v,k=v", the form
 * environment variables use); in the YAML file they may also be written as
 * a sequence or a mapping, which the loader flattens to that form. */
typedef enum { T_STR, T_INT, T_BOOL, T_DUR_MS, T_DUR_S, T_BYTES, T_LIST, T_MAP } key_type;

typedef struct {
    const char *section;
    const char *key;
    key_type    type;
    size_t      off;
    const char *def;
    const char *desc;
} key_def;

#define K(sec, k, t, field, d, desc) { sec, k, t, offsetof(gw_config, field), d, desc }

static const key_def keys[] = {
    K("server", "prometheus_path", T_STR, server_prometheus_path, "/api/v1/signals/prometheus",
      "route that accepts Alertmanager v4 webhooks"),
    K("server", "signals_prefix", T_STR, server_signals_prefix, "/api/v1/signals",
      "prefix of GET <prefix>/<fingerprint>"),
    K("server", "events_path", T_STR, server_events_path, "/api/v1/signals/kubernetes-event",
      "route that accepts one Kubernetes Event (core/v1, events.k8s.io/v1, exporter shape)"),
    K("server", "grafana_path", T_STR, server_grafana_path, "/api/v1/signals/grafana",
      "route that accepts Grafana Alerting webhooks (payload version 1)"),
    K("server", "max_body_bytes", T_BYTES, server_max_body_bytes, "1MiB",
      "largest request body accepted (413 above)"),
    K("server", "max_alerts", T_INT, server_max_alerts, "1000",
      "most alerts in one webhook (413 above)"),
    K("server", "max_labels", T_INT, server_max_labels, "128",
      "most labels or annotations on one alert (400 above)"),
    K("server", "max_label_bytes", T_INT, server_max_label_bytes, "4096",
      "longest label/annotation key or value in bytes (400 above)"),
    K("server", "max_json_depth", T_INT, server_max_json_depth, "32",
      "deepest nesting of objects and arrays in a body (400 above)"),
    K("server", "max_parse_bytes", T_BYTES, server_max_parse_bytes, "16MiB",
      "most memory the JSON parse of one body may take (413 above); a body's size alone does not bound it"),
    K("server", "max_in_flight", T_INT, server_max_in_flight, "0",
      "webhooks the whole worker pool handles at once; more get 503 + Retry-After (0: no cap)"),
    K("server", "retry_after", T_DUR_S, server_retry_after_s, "5s",
      "Retry-After sent with every 503"),
    K("log", "level", T_STR, log_level, "info", "debug, info, warn or error"),

    K("redis", "addr", T_STR, redis_addr, "127.0.0.1:6379",
      "host:port, or unix:/path/to/redis.sock"),
    K("redis", "password_file", T_STR, redis_password_file, "",
      "file holding the Redis AUTH password, at most 4096 bytes (empty: no AUTH)"),
    K("redis", "connect_timeout", T_DUR_MS, redis_connect_timeout_ms, "500ms",
      "Redis connect timeout"),
    K("redis", "command_timeout", T_DUR_MS, redis_command_timeout_ms, "500ms",
      "Redis per-command timeout"),
    K("redis", "key_prefix", T_STR, redis_key_prefix, "alertgw:",
      "prefix of every Redis key alertgw writes"),
    K("redis", "sentinels", T_LIST, redis_sentinels, "",
      "Sentinel addresses host:port, comma-separated; set: the master is found through them and redis.addr is not used"),
    K("redis", "sentinel_master", T_STR, redis_sentinel_master, "",
      "name of the master in Sentinel (required with redis.sentinels)"),
    K("redis", "sentinel_password_file", T_STR, redis_sentinel_password_file, "",
      "file holding the sentinels' AUTH password, at most 4096 bytes (empty: no AUTH to the sentinels)"),

    K("kubernetes", "api_url", T_STR, kube_api_url, "",
      "API server URL; empty: kubeconfig, then in-cluster"),
    K("kubernetes", "token_file", T_STR, kube_token_file, "",
      "bearer token file used with api_url (re-read when it changes)"),
    K("kubernetes", "ca_file", T_STR, kube_ca_file, "", "CA bundle used with api_url"),
    K("kubernetes", "client_cert_file", T_STR, kube_client_cert_file, "",
      "client certificate used with api_url"),
    K("kubernetes", "client_key_file", T_STR, kube_client_key_file, "",
      "client key used with api_url"),
    K("kubernetes", "kubeconfig", T_STR, kube_kubeconfig, "",
      "kubeconfig path; empty: $KUBECONFIG, then ~/.kube/config"),
    K("kubernetes", "allow_insecure", T_BOOL, kube_allow_insecure, "false",
      "honour insecure-skip-tls-verify in a kubeconfig"),
    K("kubernetes", "connect_timeout", T_DUR_MS, kube_connect_timeout_ms, "2s",
      "API server connect timeout"),
    K("kubernetes", "timeout", T_DUR_MS, kube_timeout_ms, "5s",
      "time budget of one API call, its retries and their waits included"),
    K("kubernetes", "retries", T_INT, kube_retries, "2",
      "repeats of a call after a network error, 429 or 5xx (only calls that cannot apply twice)"),
    K("kubernetes", "retry_base", T_DUR_MS, kube_retry_base_ms, "100ms",
      "backoff before the first repeat is random in [0, this]; doubles per repeat"),
    K("kubernetes", "retry_max_delay", T_DUR_MS, kube_retry_max_delay_ms, "1s",
      "longest wait before a repeat; a larger Retry-After from the apiserver ends the retries"),
    K("kubernetes", "breaker_failures", T_INT, kube_breaker_failures, "5",
      "consecutive failed calls (network, 5xx, 429 after the call's retries) that open the circuit "
      "breaker; 0: no breaker"),
    K("kubernetes", "breaker_open_time", T_DUR_MS, kube_breaker_open_ms, "10s",
      "how long the open breaker answers 503 at once before one request probes the apiserver"),
    K("kubernetes", "discovery_ttl", T_DUR_MS, kube_discovery_ttl_ms, "10m",
      "how long a worker reuses the cluster's API discovery (kinds, versions, plurals); 0: no "
      "discovery, the built-in kinds table only"),

    K("remediation", "group", T_STR, rr_group, "kubernaut.ai", "RemediationRequest API group"),
    K("remediation", "version", T_STR, rr_version, "v1alpha1", "RemediationRequest API version"),
    K("remediation", "kind", T_STR, rr_kind, "RemediationRequest", "custom resource kind"),
    K("remediation", "plural", T_STR, rr_plural, "remediationrequests", "custom resource plural"),
    K("remediation", "namespace", T_STR, rr_namespace, "kubernaut-system",
      "namespace requests are created in (namespace_mode: controller)"),
    K("remediation", "namespace_mode", T_STR, rr_namespace_mode, "controller",
      "controller: all requests in `namespace`; signal: in the signal's namespace"),
    K("remediation", "original_payload_max", T_BYTES, rr_original_payload_max, "32KiB",
      "cap on spec.originalPayload (longer bodies are cut and marked)"),
    K("remediation", "fingerprint_field_fallback", T_BOOL, rr_field_fallback, "false",
      "when the kubernaut.ai/fingerprint label finds no open request, also list the request "
      "namespace and match spec.signalFingerprint (requests made by other producers, e.g. "
      "upstream's gateway); costs paged apiserver reads on every create"),
    K("remediation", "fingerprint_field_fallback_page_size", T_INT, rr_field_fallback_page, "100",
      "requests per page (limit) of that list; a page too large to buffer is read again in halves"),
    K("remediation", "fingerprint_field_fallback_max_items", T_INT, rr_field_fallback_max, "2000",
      "most requests that list reads per lookup; a request beyond it is not found (logged)"),

    K("dedup", "ttl", T_DUR_S, dedup_ttl_s, "5m",
      "how long a fingerprint stays in Redis after its last occurrence"),
    K("dedup", "pending_lease", T_DUR_MS, dedup_pending_lease_ms, "10s",
      "lease of a creation claim; a crashed worker's claim expires after it; "
      "at least 2 x kubernetes.timeout"),
    K("dedup", "pending_wait", T_DUR_MS, dedup_pending_wait_ms, "2s",
      "how long a duplicate waits for a concurrent creation before 503"),
    K("dedup", "status_sync_interval", T_DUR_MS, dedup_status_sync_interval_ms, "5s",
      "at most one status.deduplication patch per request per interval"),

    K("fingerprint", "include_signal_name", T_BOOL, fp_include_signal_name, "false",
      "add the alert name to the fingerprint (one request per alert rule)"),
    K("fingerprint", "cluster_label", T_STR, fp_cluster_label, "cluster",
      "label naming the cluster; when present it is part of the fingerprint"),
    K("signals", "allow_unknown_target", T_BOOL, signals_allow_unknown_target, "false",
      "accept alerts without a target-resource label (kind Unknown) instead of 400"),
    K("target", "workload_kinds", T_LIST, target_workload_kinds, "",
      "comma-separated kinds of namespaced custom resources that are workloads (alert label = "
      "lower-case kind), besides those discovery shows with a scale subresource"),

    K("grafana", "secret_files", T_LIST, grafana_secret_files, "",
      "files holding HMAC-SHA256 secrets of at most 4096 bytes, comma-separated (several: rotation); empty: no check"),
    K("grafana", "signature_header", T_STR, grafana_signature_header,
      "X-Grafana-Alerting-Signature", "header carrying the hex HMAC-SHA256 of the body"),
    K("grafana", "timestamp_header", T_STR, grafana_timestamp_header, "",
      "header carrying the signed timestamp; set: \"<timestamp>:<body>\" is signed"),
    K("auth", "prometheus", T_LIST, auth_prometheus, "none",
      "modes accepted on the Alertmanager route, comma-separated: none, bearer, hmac, mtls, tokenreview (any one passing admits)"),
    K("auth", "grafana", T_LIST, auth_grafana, "",
      "modes accepted on the Grafana route; empty: hmac when grafana.secret_files is set, else none"),
    K("auth", "events", T_LIST, auth_events, "none", "modes accepted on the Kubernetes event route"),
    K("auth", "signals", T_LIST, auth_signals, "none",
      "modes accepted on GET <signals_prefix>/<fingerprint> (not hmac: no body)"),
    K("auth", "metrics", T_LIST, auth_metrics, "none", "modes accepted on GET /metrics (not hmac)"),
    K("auth", "allow_cidrs", T_LIST, auth_allow_cidrs, "",
      "client networks allowed on every route but /healthz and /readyz, comma-separated IPv4/IPv6 CIDRs; empty: any (403 otherwise)"),
    K("auth", "allow_anonymous", T_BOOL, auth_allow_anonymous, "false",
      "let signal routes (prometheus, grafana, events) stay at none while ALERTGW_LISTEN_ADDR is not loopback; false: that is a configuration error"),
    K("auth", "bearer_tokens", T_LIST, auth_bearer_tokens, "",
      "accepted bearer tokens as SHA-256 hex, comma-separated; `<hash>=<namespaces>` limits one to those namespaces (globs separated by a bar)"),
    K("auth", "bearer_tokens_file", T_STR, auth_bearer_tokens_file, "",
      "file with more bearer_tokens entries, one per line (# comments)"),
    K("auth", "hmac_secret_files", T_LIST, auth_hmac_secret_files, "",
      "files holding the hmac mode's HMAC-SHA256 secrets of at most 4096 bytes, comma-separated (several: rotation)"),
    K("auth", "hmac_signature_header", T_STR, auth_hmac_signature_header, "X-Signature-256",
      "header carrying `sha256=<hex HMAC-SHA256>` of the signed string"),
    K("auth", "hmac_timestamp_header", T_STR, auth_hmac_timestamp_header, "X-Signature-Timestamp",
      "header carrying Unix seconds; when sent, \"<timestamp>:<body>\" is signed (empty: never)"),
    K("auth", "hmac_require_timestamp", T_BOOL, auth_hmac_require_timestamp, "false",
      "refuse hmac signatures without a signed timestamp"),
    K("auth", "hmac_replay_window", T_DUR_S, auth_hmac_replay_window_s, "5m",
      "signed timestamps (hmac mode and Grafana) further than this from now are refused (401)"),
    K("auth", "mtls_allowed_cns", T_LIST, auth_mtls_allowed_cns, "",
      "client certificate CNs the mtls mode admits, comma-separated; `*`: any verified certificate"),
    K("auth", "tokenreview_audiences", T_LIST, auth_tokenreview_audiences, "",
      "audiences the reviewed token must carry, comma-separated (asked for, and the answer's status.audiences must list one); empty: the apiserver's own"),
    K("auth", "tokenreview_verb", T_STR, auth_tokenreview_verb, "create",
      "SubjectAccessReview verb a reviewed token's user needs"),
    K("auth", "tokenreview_group", T_STR, auth_tokenreview_group, "kubernaut.ai",
      "SubjectAccessReview API group"),
    K("auth", "tokenreview_resource", T_STR, auth_tokenreview_resource, "remediationrequests",
      "SubjectAccessReview resource"),
    K("auth", "tokenreview_subresource", T_STR, auth_tokenreview_subresource, "signals",
      "SubjectAccessReview subresource (a virtual one: granting it allows nothing else)"),
    K("auth", "tokenreview_namespace", T_STR, auth_tokenreview_namespace, "",
      "SubjectAccessReview namespace of the read routes (GET signal state, /metrics); signal routes are authorised in each signal's own namespace; empty: remediation.namespace"),
    K("auth", "tokenreview_cache_ttl", T_DUR_MS, auth_tokenreview_cache_ttl_ms, "1m",
      "how long a worker reuses a review or a per-namespace answer (refusals: at most 10s; 0: no cache)"),
    K("auth", "tokenreview_cache_entries", T_INT, auth_tokenreview_cache_entries, "1024",
      "reviews a worker keeps (by SHA-256 of the token), and as many per-namespace answers"),
    K("auth", "tokenreview_max_per_second", T_INT, auth_tokenreview_max_per_second, "20",
      "TokenReview and SubjectAccessReview calls one worker makes per second at most (burst: one second's worth); above it 503 + Retry-After (0: no bound)"),
    K("events", "max_age", T_DUR_S, events_max_age_s, "5m",
      "Kubernetes events older than this are refused (400)"),
    K("events", "max_future", T_DUR_S, events_max_future_s, "2m",
      "Kubernetes event timestamps and an alert's startsAt further in the future are refused (400); an alert's endsAt is never checked against the clock"),
    K("events", "severity_overrides", T_MAP, events_severity_overrides, "",
      "reason=severity pairs, comma-separated (OOMKilled=critical); others are warning"),

    K("environment", "lookup", T_BOOL, environment_lookup, "true",
      "read the override ConfigMap and namespace labels (cached); false: patterns and alert label only"),
    K("environment", "configmap_name", T_STR, environment_configmap_name,
      "kubernaut-environment-overrides", "ConfigMap whose data maps namespace -> environment"),
    K("environment", "configmap_namespace", T_STR, environment_configmap_namespace,
      "kubernaut-system", "namespace of that ConfigMap"),
    K("environment", "namespace_label", T_STR, environment_namespace_label, "environment",
      "namespace label naming the environment"),
    K("environment", "patterns", T_MAP, environment_patterns,
      "prod-*=production,*-prod=production,staging-*=staging,*-staging=staging,dev-*=development,*-dev=development",
      "namespace-name glob=environment pairs, comma-separated, first match wins"),
    K("environment", "cache_ttl", T_DUR_MS, environment_cache_ttl_ms, "30s",
      "how long a worker reuses a namespace's labels and the ConfigMap"),

    K("priority", "table", T_MAP, priority_table,
      "critical/production=P0,critical/staging=P1,warning/production=P1,critical/development=P2,warning/staging=P2,info/production=P2",
      "severity/environment=priority pairs; `*` matches any severity or environment"),
    K("priority", "default", T_STR, priority_default, "P3", "priority when the table has no entry"),
    K("priority", "severity_aliases", T_MAP, priority_severity_aliases,
      "page=critical,sev1=critical,p1=critical,high=critical,error=critical,warn=warning,sev2=warning,medium=warning,low=info,sev3=info",
      "alias=severity pairs (lower case) applied before the table"),
    K("priority", "environment_aliases", T_MAP, priority_environment_aliases,
      "prod=production,stage=staging,dev=development",
      "alias=environment pairs applied to every environment found"),
    K("priority", "escalation", T_MAP, priority_escalation, "production=10",
      "environment=N pairs: the Nth occurrence raises the priority one step (empty: never)"),

    K("scope", "require_label", T_BOOL, scope_require_label, "false",
      "act only on resources labelled `<scope.label>=true`, or in namespaces so labelled "
      "unless the resource says `false`; others 200 ignored"),
    K("scope", "label", T_STR, scope_label, "kubernaut.ai/managed", "the opt-in label"),

    K("owners", "resolve", T_BOOL, owners_resolve, "false",
      "follow controller ownerReferences (Pod -> ReplicaSet -> Deployment) to the top owner"),
    K("owners", "max_depth", T_INT, owners_max_depth, "5", "most ownerReference hops followed"),
    K("owners", "cache_ttl", T_DUR_MS, owners_cache_ttl_ms, "5m",
      "how long a worker reuses an object's owner"),
    K("owners", "cache_entries", T_INT, k8s_cache_entries, "4096",
      "objects (namespaces, owners, ConfigMap) each worker caches"),

    K("storm", "enabled", T_BOOL, storm_enabled, "true", "detect alert storms and aggregate them"),
    K("storm", "rate_threshold", T_INT, storm_rate_threshold, "10",
      "more occurrences than this (new signals and duplicates alike) of one alert name in a namespace within a minute opens a rate storm"),
    K("storm", "pattern_threshold", T_INT, storm_pattern_threshold, "5",
      "this many distinct resources with one alert name in a namespace opens a pattern storm"),
    K("storm", "pattern_window", T_DUR_MS, storm_pattern_window_ms, "2m",
      "window of the pattern count"),
    K("storm", "aggregation_window", T_DUR_MS, storm_aggregation_window_ms, "1m",
      "a storm closes after this long without a new member"),
    K("storm", "max_window", T_DUR_MS, storm_max_window_ms, "5m", "a storm closes after this long"),
    K("storm", "max_resources", T_INT, storm_max_resources, "100",
      "resources listed on an aggregated request (the total is always kept)"),
    K("storm", "namespace_cap", T_INT, storm_namespace_cap, "60",
      "new requests per namespace per minute; above: 503 + Retry-After (0: no cap)"),

    K("limits", "creates_per_minute", T_INT, limits_creates_per_minute, "300",
      "new RemediationRequests the whole gateway creates per minute; above: 503 + Retry-After (0: no budget; duplicates and storm members never count)"),
    K("limits", "creates_per_sender_per_minute", T_INT, limits_creates_per_sender_per_minute, "120",
      "new RemediationRequests one sender (bearer token, TLS client CN, reviewed user, else client address) may cause per minute; above: 503 + Retry-After (0: no budget)"),

    K("metrics", "path", T_STR, metrics_path, "",
      "file the workers share their counters through; empty: $ALERTGW_STATE_DIR/metrics.shm, else /run/alertgw/metrics.shm"),
};

#define NKEYS (sizeof keys / sizeof keys[0])

static gw_err parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return GW_EINVAL;
    *out = v;
    return GW_OK;
}

/* "500ms", "5s", "2m", "1h"; a bare number is seconds. */
static gw_err parse_duration_ms(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < 0)
        return GW_EINVAL;
    long mul;
    if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "s") || !*end)
        mul = 1000;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else
        return GW_EINVAL;
    if (v > 0 && mul > 0 && v > (long)(86400L * 365 * 1000) / mul)
        return GW_EINVAL;
    *out = v * mul;
    return GW_OK;
}

/* "1048576", "512KiB", "1MiB". */
static gw_err parse_bytes(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < 0)
        return GW_EINVAL;
    long mul;
    if (!*end || !strcmp(end, "B"))
        mul = 1;
    else if (!strcmp(end, "KiB") || !strcmp(end, "K"))
        mul = 1024;
    else if (!strcmp(end, "MiB") || !strcmp(end, "M"))
        mul = 1024 * 1024;
    else
        return GW_EINVAL;
    if (v > (1L << 40) / mul)
        return GW_EINVAL;
    *out = v * mul;
    return GW_OK;
}

static const char *type_hint(key_type t)
{
    switch (t) {
    case T_STR:    return "a string";
    case T_INT:    return "a non-negative integer";
    case T_BOOL:   return "true or false";
    case T_DUR_MS:
    case T_DUR_S:  return "a duration like 500ms, 30s, 5m";
    case T_BYTES:  return "a size like 65536, 512KiB, 1MiB";
    case T_LIST:   return "a list, or a string of items separated by commas";
    case T_MAP:    return "a mapping, or a string of key=value pairs separated by commas";
    }
    return "?";
}

/* Stores the textual value s into the field of k.  On a bad value the field
 * is left as it was. */
static gw_err set_value(gw_config *cfg, const key_def *k, const char *s)
{
    char *base = (char *)cfg + k->off;
    long v;
    switch (k->type) {
    case T_STR:
    case T_LIST:
    case T_MAP: {
        char *dup = strdup(s);
        if (!dup)
            return GW_ENOMEM;
        free(*(char **)base);
        *(char **)base = dup;
        return GW_OK;
    }
    case T_INT:
        if (parse_long(s, &v))
            return GW_EINVAL;
        *(long *)base = v;
        return GW_OK;
    case T_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
            *(bool *)base = true;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
            *(bool *)base = false;
        else
            return GW_EINVAL;
        return GW_OK;
    case T_DUR_MS:
        if (parse_duration_ms(s, &v))
            return GW_EINVAL;
        *(long *)base = v;
        return GW_OK;
    case T_DUR_S:
        if (parse_duration_ms(s, &v) || (v % 1000))
            return GW_EINVAL;
        *(long *)base = v / 1000;
        return GW_OK;
    case T_BYTES:
        if (parse_bytes(s, &v))
            return GW_EINVAL;
        *(long *)base = v;
        return GW_OK;
    }
    return GW_EINTERNAL;
}

static const key_def *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
            return &keys[i];
    return NULL;
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section))
            return true;
    return false;
}

gw_err gw_config_defaults(gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        gw_err rc = set_value(cfg, &keys[i], keys[i].def);
        if (rc)
            return rc == GW_ENOMEM ? rc : GW_EINTERNAL;
    }
    return GW_OK;
}

static const char *scalar(yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A T_LIST written as a YAML sequence, or a T_MAP written as a mapping,
 * flattened into the string form ("a,b" / "k=v,k=v") in out.  An item that
 * is not a plain string, or that holds a separator of the string form, is
 * an error naming its own line.  false after an error (counted). */
static bool flatten(yaml_document_t *doc, yaml_node_t *v, const key_def *k, char *out,
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

/* The file's keys: lines[i] is the line keys[i] was set on (0: not in the
 * file), so that the checks after loading can name it. */
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
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *sk = yaml_document_get_node(&doc, p->key);
            yaml_node_t *sv = yaml_document_get_node(&doc, p->value);
            if (!sk || sk->type != YAML_SCALAR_NODE) {
                gw_errs_add(errs, errlen, "line %zu: section name must be a string",
                       sk ? sk->start_mark.line + 1 : 0);
                (*nerr)++;
                continue;
            }
            const char *sec = scalar(sk);
            if (!section_known(sec)) {
                gw_errs_add(errs, errlen, "%s: line %zu: unknown section", sec, sk->start_mark.line + 1);
                (*nerr)++;
                continue;
            }
            if (!sv || sv->type != YAML_MAPPING_NODE) {
                if (sv && sv->type == YAML_SCALAR_NODE && !*scalar(sv))
                    continue; /* `section:` with nothing under it */
                gw_errs_add(errs, errlen, "%s: line %zu: must be a mapping of keys", sec,
                       sk->start_mark.line + 1);
                (*nerr)++;
                continue;
            }
            for (yaml_node_pair_t *q = sv->data.mapping.pairs.start;
                 q < sv->data.mapping.pairs.top; q++) {
                yaml_node_t *kk = yaml_document_get_node(&doc, q->key);
                yaml_node_t *kv = yaml_document_get_node(&doc, q->value);
                if (!kk || kk->type != YAML_SCALAR_NODE) {
                    gw_errs_add(errs, errlen, "%s: key must be a string", sec);
                    (*nerr)++;
                    continue;
                }
                const key_def *k = find_key(sec, scalar(kk));
                if (!k) {
                    gw_errs_add(errs, errlen, "%s.%s: line %zu: unknown key", sec, scalar(kk),
                           kk->start_mark.line + 1);
                    (*nerr)++;
                    continue;
                }
                lines[k - keys] = (int)kk->start_mark.line + 1;
                if (kv && ((kv->type == YAML_SEQUENCE_NODE && k->type == T_LIST) ||
                           (kv->type == YAML_MAPPING_NODE && k->type == T_MAP))) {
                    char *flat = malloc(65536);
                    if (!flat) {
                        gw_errs_add(errs, errlen, "%s.%s: out of memory", sec, k->key);
                        (*nerr)++;
                        continue;
                    }
                    if (flatten(&doc, kv, k, flat, 65536, errs, errlen, nerr) &&
                        set_value(cfg, k, flat)) {
                        gw_errs_add(errs, errlen, "%s.%s: out of memory", sec, k->key);
                        (*nerr)++;
                    }
                    free(flat);
                    continue;
                }
                if (!kv || kv->type != YAML_SCALAR_NODE) {
                    gw_errs_add(errs, errlen, "%s.%s: line %zu: must be %s", sec, k->key,
                           kk->start_mark.line + 1, type_hint(k->type));
                    (*nerr)++;
                    continue;
                }
                gw_err rc = set_value(cfg, k, scalar(kv));
                if (rc) {
                    gw_errs_add(errs, errlen, "%s.%s: line %zu: invalid value \"%.64s\": must be %s",
                           sec, k->key, kv->start_mark.line + 1, scalar(kv), type_hint(k->type));
                    (*nerr)++;
                }
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
}

static void env_name(const key_def *k, char *out, size_t outlen)
{
    snprintf(out, outlen, "ALERTGW_%s_%s", k->section, k->key);
    for (char *p = out; *p; p++)
        *p = (char)toupper((unsigned char)*p);
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
        for (size_t i = 0; i < NKEYS && !ok; i++) {
            env_name(&keys[i], known, sizeof known);
            ok = strlen(known) == len && !memcmp(known, name, len);
        }
        for (size_t i = 0; i < NFRONT && !ok; i++)
            ok = strlen(front_end_vars[i]) == len && !memcmp(front_end_vars[i], name, len);
        if (ok)
            continue;
        size_t limit = len - 8 >= 12 ? 3 : 2, best = limit + 1;
        char guess[128] = "", guess_what[128] = "";
        for (size_t i = 0; i < NKEYS + NFRONT; i++) {
            if (i < NKEYS)
                env_name(&keys[i], known, sizeof known);
            const char *cand = i < NKEYS ? known : front_end_vars[i - NKEYS];
            size_t d = name_distance(name + 8, len - 8, cand + 8, strlen(cand) - 8, limit);
            if (d < best) {
                best = d;
                snprintf(guess, sizeof guess, "%s", cand);
                if (i < NKEYS)
                    snprintf(guess_what, sizeof guess_what, "%s.%s", keys[i].section,
                             keys[i].key);
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
    for (size_t i = 0; i < NKEYS; i++) {
        env_name(&keys[i], name, sizeof name);
        const char *v = getenv(name);
        if (!v)
            continue;
        lines[i] = 0; /* the environment's value wins over the file's */
        if (set_value(cfg, &keys[i], v)) {
            gw_errs_add(errs, errlen, "%s.%s: environment %s: invalid value \"%.64s\": must be %s",
                   keys[i].section, keys[i].key, name, v, type_hint(keys[i].type));
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

static void validate(const gw_config *c, char *errs, size_t errlen, int *nerr)
{
#define BAD(...) do { gw_errs_add(errs, errlen, __VA_ARGS__); (*nerr)++; } while (0)
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
    if (c->storm_rate_threshold < 1 || c->storm_pattern_threshold < 2)
        BAD("storm.rate_threshold / pattern_threshold: must be at least 1 / 2");
    if (c->storm_pattern_window_ms < 1000 || c->storm_aggregation_window_ms < 1000 ||
        c->storm_max_window_ms < c->storm_aggregation_window_ms)
        BAD("storm windows: at least 1s each, and max_window >= aggregation_window");
    if (c->storm_max_resources < 1 || c->storm_max_resources > 1000)
        BAD("storm.max_resources: must be 1 to 1000");
    if (c->storm_namespace_cap < 0)
        BAD("storm.namespace_cap: must be 0 (no cap) or more");
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
    /* the sections other modules own check themselves (config_hooks.c) */
    for (const gw_config_hook *h = gw_config_hooks; h->check; h++) {
        size_t used = errs && errlen ? strlen(errs) : 0;
        *nerr += h->check(c, errs && errlen ? errs + used : NULL,
                          errs && errlen ? errlen - used : 0);
    }
#undef BAD
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
            for (size_t i = 0; i < NKEYS; i++) {
                size_t sl = strlen(keys[i].section), kl = strlen(keys[i].key);
                if ((size_t)(dot - p) == sl && !strncmp(p, keys[i].section, sl) &&
                    (size_t)(colon - dot - 1) == kl && !strncmp(dot + 1, keys[i].key, kl)) {
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
    int lines[NKEYS] = { 0 };
    if (path && *path)
        load_yaml(cfg, path, lines, errs, errlen, &nerr);
    load_env(cfg, lines, errs, errlen, &nerr);
    size_t checked = errs && errlen ? strlen(errs) : 0;
    validate(cfg, errs, errlen, &nerr);
    if (errs && errlen)
        name_lines(errs + checked, errlen - checked, lines);
    return nerr ? GW_ECONFIG : GW_OK;
}

void gw_config_free(gw_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type == T_STR || keys[i].type == T_LIST || keys[i].type == T_MAP) {
            char **p = (char **)((char *)cfg + keys[i].off);
            free(*p);
            *p = NULL;
        }
    }
}

void gw_config_print_reference(FILE *out)
{
    char name[128];
    fprintf(out, "| key | environment | type | default | description |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        env_name(&keys[i], name, sizeof name);
        fprintf(out, "| `%s.%s` | `%s` | %s | `%s` | %s |\n", keys[i].section, keys[i].key, name,
                type_hint(keys[i].type), *keys[i].def ? keys[i].def : "\"\"", keys[i].desc);
    }
}
