/* SPDX-License-Identifier: Apache-2.0 */
/* configkeys.c - the configuration key table and what reads a key's value.
 *
 * Design (after lighttpd's config tables): one static table,
 * gw_config_keys, lists every key with its type, default and one-line
 * description.  Defaults are written as the strings a user would write and
 * go through the same parser (gw_key_set_value) as the file and the
 * environment, so there is exactly one way a value is read.  The loaders
 * (config.c), the defaults, gw_config_free and the reference in
 * docs/configuration.md are all driven by this table. */
#include "configkeys.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define K(sec, k, t, field, d, desc) { sec, k, GW_##t, offsetof(gw_config, field), d, desc }

const gw_key_def gw_config_keys[] = {
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
      "act on alerts without a target-resource label (kind Unknown) instead of ignoring them"),
    K("signals", "reject_without_target", T_BOOL, signals_reject_without_target, "false",
      "answer an alert without a target-resource label 400 instead of 200 ignored (no-target)"),
    K("signals", "heartbeat_alerts", T_LIST, signals_heartbeat_alerts, "Watchdog",
      "alert names recorded as a heartbeat (200 heartbeat) when they name no target resource"),
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
    K("auth", "explain", T_LIST, auth_explain, "",
      "modes accepted on POST /api/v1/explain; empty: those of auth.prometheus"),
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
      "environment=N pairs: N occurrences within priority.escalation_window raise the priority "
      "one step (empty: never)"),
    K("priority", "escalation_window", T_DUR_MS, priority_escalation_window_ms, "0",
      "the window those N occurrences must fall in; 0: dedup.ttl"),

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

    K("flapping", "threshold", T_INT, flapping_threshold, "4",
      "a fingerprint that resolves and fires again more than this many times within flapping.window is flapping: its request is labelled and later firings count on it even once it has finished (0: off)"),
    K("flapping", "window", T_DUR_MS, flapping_window_ms, "1h",
      "the window of those flips; flapping ends after a whole window without a resolved notification or a flip"),

    K("limits", "creates_per_minute", T_INT, limits_creates_per_minute, "300",
      "new RemediationRequests the whole gateway creates per minute; above: 503 + Retry-After (0: no budget; duplicates and storm members never count)"),
    K("limits", "creates_per_sender_per_minute", T_INT, limits_creates_per_sender_per_minute, "120",
      "new RemediationRequests one sender (bearer token, TLS client CN, reviewed user, else client address) may cause per minute; above: 503 + Retry-After (0: no budget)"),

    K("recording", "events", T_BOOL, recording_events, "true",
      "write each decision about a RemediationRequest (Created, Deduplicated, StormMember, "
      "Escalated, Resolved, Reopened) as a Kubernetes Event on it (best effort; `kubectl "
      "describe rr` shows them)"),

    K("metrics", "path", T_STR, metrics_path, "",
      "file the workers share their counters through; empty: $ALERTGW_STATE_DIR/metrics.shm, else /run/alertgw/metrics.shm"),
};

_Static_assert(sizeof gw_config_keys / sizeof gw_config_keys[0] == GW_CONFIG_NKEYS,
               "GW_CONFIG_NKEYS (configkeys.h) must be the number of keys");

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

const char *gw_key_type_hint(gw_key_type t)
{
    switch (t) {
    case GW_T_STR:    return "a string";
    case GW_T_INT:    return "a non-negative integer";
    case GW_T_BOOL:   return "true or false";
    case GW_T_DUR_MS:
    case GW_T_DUR_S:  return "a duration like 500ms, 30s, 5m";
    case GW_T_BYTES:  return "a size like 65536, 512KiB, 1MiB";
    case GW_T_LIST:   return "a list, or a string of items separated by commas";
    case GW_T_MAP:    return "a mapping, or a string of key=value pairs separated by commas";
    }
    return "?";
}

gw_err gw_key_set_value(gw_config *cfg, const gw_key_def *k, const char *s)
{
    char *base = (char *)cfg + k->off;
    long v;
    switch (k->type) {
    case GW_T_STR:
    case GW_T_LIST:
    case GW_T_MAP: {
        char *dup = strdup(s);
        if (!dup)
            return GW_ENOMEM;
        free(*(char **)base);
        *(char **)base = dup;
        return GW_OK;
    }
    case GW_T_INT:
        if (parse_long(s, &v))
            return GW_EINVAL;
        *(long *)base = v;
        return GW_OK;
    case GW_T_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
            *(bool *)base = true;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
            *(bool *)base = false;
        else
            return GW_EINVAL;
        return GW_OK;
    case GW_T_DUR_MS:
        if (parse_duration_ms(s, &v))
            return GW_EINVAL;
        *(long *)base = v;
        return GW_OK;
    case GW_T_DUR_S:
        if (parse_duration_ms(s, &v) || (v % 1000))
            return GW_EINVAL;
        *(long *)base = v / 1000;
        return GW_OK;
    case GW_T_BYTES:
        if (parse_bytes(s, &v))
            return GW_EINVAL;
        *(long *)base = v;
        return GW_OK;
    }
    return GW_EINTERNAL;
}

const gw_key_def *gw_key_find(const char *section, const char *key)
{
    for (const gw_key_def *k = gw_config_keys; k < gw_config_keys + GW_CONFIG_NKEYS; k++)
        if (!strcmp(k->section, section) && !strcmp(k->key, key))
            return k;
    return NULL;
}

bool gw_key_section_known(const char *section)
{
    for (size_t i = 0; i < GW_CONFIG_NKEYS; i++)
        if (!strcmp(gw_config_keys[i].section, section))
            return true;
    return false;
}

gw_err gw_config_defaults(gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < GW_CONFIG_NKEYS; i++) {
        const gw_key_def *k = &gw_config_keys[i];
        gw_err rc = gw_key_set_value(cfg, k, k->def);
        if (rc)
            return rc == GW_ENOMEM ? rc : GW_EINTERNAL;
    }
    return GW_OK;
}

void gw_key_env_name(const gw_key_def *k, char *out, size_t outlen)
{
    snprintf(out, outlen, "ALERTGW_%s_%s", k->section, k->key);
    for (char *p = out; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

void gw_config_free(gw_config *cfg)
{
    for (size_t i = 0; i < GW_CONFIG_NKEYS; i++) {
        const gw_key_def *k = &gw_config_keys[i];
        if (k->type == GW_T_STR || k->type == GW_T_LIST || k->type == GW_T_MAP) {
            char **p = (char **)((char *)cfg + k->off);
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
    for (const gw_key_def *k = gw_config_keys; k < gw_config_keys + GW_CONFIG_NKEYS; k++) {
        gw_key_env_name(k, name, sizeof name);
        fprintf(out, "| `%s.%s` | `%s` | %s | `%s` | %s |\n", k->section, k->key, name,
                gw_key_type_hint(k->type), *k->def ? k->def : "\"\"", k->desc);
    }
}
