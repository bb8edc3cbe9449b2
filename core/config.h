/* SPDX-License-Identifier: Apache-2.0 */
/* config.h - alertgw configuration: one YAML file plus ALERTGW_* overrides.
 *
 * Every key lives in one static table in configkeys.c (name, type, default,
 * description).  The YAML loader, the environment overrides
 * (ALERTGW_<SECTION>_<KEY>, upper case), --check-config and the generated
 * reference in docs/configuration.md are all driven by that table.
 *
 * Ownership: gw_config owns every string in it; gw_config_free() releases
 * them.  A loaded config is read-only for the life of the process. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include "err.h"

typedef struct {
    /* server */
    char  *server_prometheus_path;   /* POST route for Alertmanager */
    char  *server_signals_prefix;    /* GET <prefix>/<fingerprint> */
    char  *server_events_path;       /* POST route for Kubernetes events */
    char  *server_grafana_path;      /* POST route for Grafana alerting */
    long   server_max_body_bytes;
    long   server_max_alerts;        /* alerts per webhook */
    long   server_max_labels;        /* labels (and annotations) per alert */
    long   server_max_label_bytes;   /* key or value length */
    long   server_max_json_depth;    /* nesting of objects/arrays in a body */
    long   server_max_parse_bytes;   /* memory one body's parse may take (jsonmem.h) */
    long   server_max_in_flight;     /* webhooks handled at once by the pool; 0: no cap */
    long   server_retry_after_s;     /* Retry-After seconds on 503 */
    char  *log_level;                /* debug, info, warn, error */

    /* redis */
    char  *redis_addr;               /* host:port or unix:/path */
    char  *redis_password_file;
    long   redis_connect_timeout_ms;
    long   redis_command_timeout_ms;
    char  *redis_key_prefix;
    char  *redis_sentinels;          /* "host:port,host:port"; "": no Sentinel */
    char  *redis_sentinel_master;    /* the master's name in Sentinel */
    char  *redis_sentinel_password_file; /* AUTH for the sentinels; "": none */

    /* kubernetes */
    char  *kube_api_url;
    char  *kube_token_file;
    char  *kube_ca_file;
    char  *kube_client_cert_file;
    char  *kube_client_key_file;
    char  *kube_kubeconfig;          /* explicit kubeconfig path */
    bool   kube_allow_insecure;      /* honour insecure-skip-tls-verify */
    long   kube_connect_timeout_ms;
    long   kube_timeout_ms;          /* budget of one call, retries included */
    long   kube_retries;             /* repeats after a network error, 429, 5xx */
    long   kube_retry_base_ms;       /* first backoff ceiling (full jitter) */
    long   kube_retry_max_delay_ms;  /* longest wait; largest Retry-After honoured */
    long   kube_breaker_failures;    /* consecutive failures that open it; 0: off */
    long   kube_breaker_open_ms;     /* open time before the half-open probe */
    long   kube_discovery_ttl_ms;    /* API discovery reuse; 0: built-in kinds only */

    /* remediation (the CRD we write) */
    char  *rr_group;
    char  *rr_version;
    char  *rr_kind;
    char  *rr_plural;
    char  *rr_namespace;
    char  *rr_namespace_mode;        /* "controller" or "signal" */
    long   rr_original_payload_max;
    bool   rr_field_fallback;        /* also look up by spec.signalFingerprint */
    long   rr_field_fallback_page;   /* its page size (limit) */
    long   rr_field_fallback_max;    /* most requests it reads per lookup */

    /* dedup */
    long   dedup_ttl_s;
    long   dedup_pending_lease_ms;
    long   dedup_pending_wait_ms;
    long   dedup_status_sync_interval_ms;

    /* fingerprint and signals */
    bool   fp_include_signal_name;
    char  *fp_cluster_label;
    bool   signals_allow_unknown_target;
    bool   signals_reject_without_target;
    char  *signals_heartbeat_alerts;  /* comma-separated alert names */
    char  *target_workload_kinds;    /* comma-separated workload CRD kinds */

    /* Grafana */
    char  *grafana_secret_files;     /* comma-separated; empty: unsigned accepted */
    char  *grafana_signature_header;
    char  *grafana_timestamp_header; /* empty: the body alone is signed */

    /* authentication, per route (auth.h, docs/security.md) */
    char  *auth_prometheus;          /* mode list: none, bearer, hmac, mtls, tokenreview */
    char  *auth_grafana;             /* "": hmac when grafana.secret_files is set, else none */
    char  *auth_events;
    char  *auth_signals;
    char  *auth_metrics;
    char  *auth_explain;             /* "": auth_prometheus's modes */
    char  *auth_allow_cidrs;         /* "10.0.0.0/8,2001:db8::/32"; empty: any address */
    bool   auth_allow_anonymous;     /* signal routes at none on a non-loopback address */
    char  *auth_bearer_tokens;       /* "<sha256 hex>[=ns|ns-*],..." */
    char  *auth_bearer_tokens_file;  /* the same entries, one per line */
    char  *auth_hmac_secret_files;   /* comma-separated */
    char  *auth_hmac_signature_header;
    char  *auth_hmac_timestamp_header; /* empty: timestamps never used */
    bool   auth_hmac_require_timestamp;
    long   auth_hmac_replay_window_s; /* signed timestamps further off: 401 */
    char  *auth_mtls_allowed_cns;    /* comma-separated; "*": any verified certificate */
    char  *auth_tokenreview_audiences; /* comma-separated; empty: the apiserver's */
    char  *auth_tokenreview_verb;    /* SubjectAccessReview attributes */
    char  *auth_tokenreview_group;
    char  *auth_tokenreview_resource;
    char  *auth_tokenreview_subresource;
    char  *auth_tokenreview_namespace; /* the read routes' SAR; empty: remediation.namespace */
    long   auth_tokenreview_cache_ttl_ms;
    long   auth_tokenreview_cache_entries;
    long   auth_tokenreview_max_per_second; /* review calls per worker; 0: no bound */

    /* Kubernetes events */
    long   events_max_age_s;         /* older events: 400 */
    long   events_max_future_s;      /* timestamps further ahead: 400 */
    char  *events_severity_overrides; /* "OOMKilled=critical,Evicted=critical" */

    /* environment classification (spec 3.6) */
    bool   environment_lookup;       /* read namespace labels and the ConfigMap */
    char  *environment_configmap_name;
    char  *environment_configmap_namespace;
    char  *environment_namespace_label;
    char  *environment_patterns;     /* "prod-*=production,..." (fnmatch globs) */
    long   environment_cache_ttl_ms;

    /* priority (spec 3.7) */
    char  *priority_table;           /* "critical/production=P0,..." */
    char  *priority_default;
    char  *priority_severity_aliases; /* "page=critical,..." */
    char  *priority_environment_aliases; /* "prod=production,..." */
    char  *priority_escalation;      /* "production=10": occurrences that raise one step */
    long   priority_escalation_window_ms; /* ...within this long; 0: dedup.ttl */

    /* scope (spec 3.5) */
    bool   scope_require_label;
    char  *scope_label;              /* "kubernaut.ai/managed" (value "true") */

    /* owner resolution */
    bool   owners_resolve;
    long   owners_max_depth;
    long   owners_cache_ttl_ms;
    long   k8s_cache_entries;        /* per-worker object cache size */

    /* storms (spec 3.8) */
    bool   storm_enabled;
    long   storm_rate_threshold;     /* > this many new signals per minute */
    long   storm_pattern_threshold;  /* >= this many distinct resources ... */
    long   storm_pattern_window_ms;  /* ... within this window */
    long   storm_aggregation_window_ms; /* quiet that closes a storm */
    long   storm_max_window_ms;      /* longest a storm stays open */
    long   storm_max_resources;      /* resources listed on the aggregate */
    long   storm_namespace_cap;      /* new requests per namespace per minute; 0: none */

    /* flapping: more than threshold resolved-then-firing flips within the
     * window (dedup.lua, "THE FLAPPING RULE") */
    long   flapping_threshold;       /* 0: off */
    long   flapping_window_ms;

    /* abuse limits: creation budgets (dedup.h) */
    long   limits_creates_per_minute;        /* new requests, whole gateway; 0: none */
    long   limits_creates_per_sender_per_minute; /* per sender identity; 0: none */

    /* the request history (recorder.h) */
    bool   recording_events;         /* one Event per decision about a request */

    /* metrics */
    char  *metrics_path;             /* shared counters file; "" derived (metrics.h) */
} gw_config;

/* Fills cfg with the defaults.  Never fails except on ENOMEM. */
gw_err gw_config_defaults(gw_config *cfg);

/* Loads defaults, then the YAML file at path (NULL: defaults only), then the
 * environment.  Every problem found is appended, one per line, "key: what"
 * (with "line N" where known) to errs, up to errlen; the return is GW_ECONFIG
 * if there was any.  Problems include an ALERTGW_* variable that is neither
 * a key's nor a front end's (config.c: front_end_vars), and signal routes
 * open to anyone while ALERTGW_LISTEN_ADDR is not loopback (exposure.h). */
gw_err gw_config_load(gw_config *cfg, const char *path, char *errs, size_t errlen);

void gw_config_free(gw_config *cfg);

/* Writes the key table as a Markdown table (for docs/configuration.md). */
void gw_config_print_reference(FILE *out);

/* A section that another module owns checks itself after loading: check
 * appends one "section.key: ..." line per problem to errs (NUL-terminated,
 * errlen bytes; NULL: count only) and returns how many it found. */
typedef struct {
    const char *owner;   /* the module, for readers: "auth" */
    int (*check)(const gw_config *c, char *errs, size_t errlen);
} gw_config_hook;

/* Every such check, ended by { NULL, NULL }; gw_config_load runs them after
 * its own.  Defined in config_hooks.c, the one file that knows the modules
 * above this one, so that config.c calls none of them by name. */
extern const gw_config_hook gw_config_hooks[];

#endif
