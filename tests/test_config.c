/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c - unit tests for core/config.c: defaults, the YAML file,
 * ALERTGW_* environment overrides, error reporting (key and line, all at
 * once) and the generated reference.
 *
 * Every test starts with no ALERTGW_* variable in the environment, so a
 * developer's shell cannot change the outcome; YAML files are written to
 * mkstemp() files and removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#include "testutil.h"

#define assert_not_contains(hay, needle)                                                \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        if (h_ && strstr(h_, n_))                                                       \
            fail_msg("expected \"%s\" not to contain \"%s\"", h_, n_);                  \
    } while (0)

typedef struct {
    gw_config cfg;
    bool      loaded;
    char      path[256];
    char      errs[4096];
} fixture;

static int setup(void **state)
{
    clear_alertgw_env();
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->loaded)
        gw_config_free(&f->cfg);
    if (f->path[0])
        unlink(f->path);
    free(f);
    clear_alertgw_env();
    return 0;
}

/* Writes yaml to a fresh temp file whose name is kept in f->path. */
static const char *write_yaml(fixture *f, const char *yaml)
{
    if (f->path[0])
        unlink(f->path);
    const char *dir = getenv("TMPDIR");
    snprintf(f->path, sizeof f->path, "%s/alertgw-test-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(f->path);
    if (fd < 0)
        fail_msg("mkstemp %s failed", f->path);
    size_t len = strlen(yaml);
    assert_int_equal(write(fd, yaml, len), (ssize_t)len);
    close(fd);
    return f->path;
}

static gw_err load(fixture *f, const char *path)
{
    if (f->loaded)
        gw_config_free(&f->cfg);
    f->loaded = true;
    return gw_config_load(&f->cfg, path, f->errs, sizeof f->errs);
}

static gw_err load_yaml(fixture *f, const char *yaml)
{
    return load(f, write_yaml(f, yaml));
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ------------------------------------------------------------- defaults */

static void check_defaults(const gw_config *c)
{
    assert_string_equal(c->server_prometheus_path, "/api/v1/signals/prometheus");
    assert_string_equal(c->server_signals_prefix, "/api/v1/signals");
    assert_int_equal(c->server_max_body_bytes, 1048576);
    assert_int_equal(c->server_max_alerts, 1000);
    assert_int_equal(c->server_max_labels, 128);
    assert_int_equal(c->server_max_label_bytes, 4096);
    assert_int_equal(c->server_retry_after_s, 5);
    assert_string_equal(c->log_level, "info");
    assert_string_equal(c->redis_addr, "127.0.0.1:6379");
    assert_string_equal(c->redis_password_file, "");
    assert_int_equal(c->redis_connect_timeout_ms, 500);
    assert_int_equal(c->redis_command_timeout_ms, 500);
    assert_string_equal(c->redis_key_prefix, "alertgw:");
    assert_string_equal(c->kube_api_url, "");
    assert_string_equal(c->kube_token_file, "");
    assert_string_equal(c->kube_ca_file, "");
    assert_string_equal(c->kube_client_cert_file, "");
    assert_string_equal(c->kube_client_key_file, "");
    assert_string_equal(c->kube_kubeconfig, "");
    assert_false(c->kube_allow_insecure);
    assert_int_equal(c->kube_connect_timeout_ms, 2000);
    assert_int_equal(c->kube_timeout_ms, 5000);
    assert_int_equal(c->kube_retries, 2);
    assert_int_equal(c->kube_retry_base_ms, 100);
    assert_int_equal(c->kube_retry_max_delay_ms, 1000);
    assert_int_equal(c->kube_breaker_failures, 5);
    assert_int_equal(c->kube_breaker_open_ms, 10000);
    assert_string_equal(c->redis_sentinels, "");
    assert_string_equal(c->redis_sentinel_master, "");
    assert_string_equal(c->redis_sentinel_password_file, "");
    assert_string_equal(c->rr_group, "kubernaut.ai");
    assert_string_equal(c->rr_version, "v1alpha1");
    assert_string_equal(c->rr_kind, "RemediationRequest");
    assert_string_equal(c->rr_plural, "remediationrequests");
    assert_string_equal(c->rr_namespace, "kubernaut-system");
    assert_string_equal(c->rr_namespace_mode, "controller");
    assert_int_equal(c->rr_original_payload_max, 32768);
    assert_false(c->rr_field_fallback);
    assert_int_equal(c->rr_field_fallback_page, 100);
    assert_int_equal(c->rr_field_fallback_max, 2000);
    assert_int_equal(c->dedup_ttl_s, 300);
    assert_int_equal(c->dedup_pending_lease_ms, 10000);
    assert_int_equal(c->dedup_pending_wait_ms, 2000);
    assert_int_equal(c->dedup_status_sync_interval_ms, 5000);
    assert_false(c->fp_include_signal_name);
    assert_string_equal(c->fp_cluster_label, "cluster");
    assert_false(c->signals_allow_unknown_target);
}

static void defaults(void **state)
{
    fixture *f = *state;
    assert_int_equal(gw_config_defaults(&f->cfg), GW_OK);
    f->loaded = true;
    check_defaults(&f->cfg);
}

static void load_without_file_is_defaults(void **state)
{
    fixture *f = *state;
    strcpy(f->errs, "stale");
    assert_int_equal(load(f, NULL), GW_OK);
    assert_string_equal(f->errs, "");
    check_defaults(&f->cfg);
}

static void empty_file_is_defaults(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, ""), GW_OK);
    check_defaults(&f->cfg);
    assert_int_equal(load_yaml(f, "# only a comment\nserver:\n"), GW_OK);
    check_defaults(&f->cfg);
}

/* ------------------------------------------------------------ good file */

static const char full_yaml[] =
    "# alertgw.yaml - every section\n"
    "server:\n"
    "  prometheus_path: /hooks/am\n"
    "  signals_prefix: /hooks/signals\n"
    "  max_body_bytes: 512KiB\n"
    "  max_alerts: 200\n"
    "  max_labels: 64\n"
    "  max_label_bytes: 2048\n"
    "  retry_after: 30s\n"
    "log:\n"
    "  level: debug\n"
    "redis:\n"
    "  addr: unix:/run/redis/redis.sock\n"
    "  password_file: /etc/alertgw/redis.pass\n"
    "  connect_timeout: 250ms\n"
    "  command_timeout: 1s\n"
    "  key_prefix: \"gw:\"\n"
    "kubernetes:\n"
    "  api_url: https://10.0.0.1:6443\n"
    "  token_file: /etc/alertgw/token\n"
    "  ca_file: /etc/alertgw/ca.crt\n"
    "  client_cert_file: /etc/alertgw/client.crt\n"
    "  client_key_file: /etc/alertgw/client.key\n"
    "  kubeconfig: /etc/alertgw/kubeconfig\n"
    "  allow_insecure: yes\n"
    "  connect_timeout: 3s\n"
    "  timeout: 1m\n"
    "remediation:\n"
    "  group: remediation.kubernaut.io\n"
    "  version: v1\n"
    "  kind: RemediationRequest\n"
    "  plural: remediationrequests\n"
    "  namespace: remediation\n"
    "  namespace_mode: signal\n"
    "  original_payload_max: 1MiB\n"
    "dedup:\n"
    "  ttl: 1h\n"
    "  pending_lease: 150s\n"
    "  pending_wait: 1500ms\n"
    "  status_sync_interval: 2m\n"
    "fingerprint:\n"
    "  include_signal_name: true\n"
    "  cluster_label: k8s_cluster\n"
    "signals:\n"
    "  allow_unknown_target: 'true'\n";

static void full_file(void **state)
{
    fixture *f = *state;
    if (load_yaml(f, full_yaml))
        fail_msg("unexpected errors:\n%s", f->errs);
    assert_string_equal(f->errs, "");
    const gw_config *c = &f->cfg;
    assert_string_equal(c->server_prometheus_path, "/hooks/am");
    assert_string_equal(c->server_signals_prefix, "/hooks/signals");
    assert_int_equal(c->server_max_body_bytes, 512 * 1024);
    assert_int_equal(c->server_max_alerts, 200);
    assert_int_equal(c->server_max_labels, 64);
    assert_int_equal(c->server_max_label_bytes, 2048);
    assert_int_equal(c->server_retry_after_s, 30);
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->redis_addr, "unix:/run/redis/redis.sock");
    assert_string_equal(c->redis_password_file, "/etc/alertgw/redis.pass");
    assert_int_equal(c->redis_connect_timeout_ms, 250);
    assert_int_equal(c->redis_command_timeout_ms, 1000);
    assert_string_equal(c->redis_key_prefix, "gw:");
    assert_string_equal(c->kube_api_url, "https://10.0.0.1:6443");
    assert_string_equal(c->kube_token_file, "/etc/alertgw/token");
    assert_string_equal(c->kube_ca_file, "/etc/alertgw/ca.crt");
    assert_string_equal(c->kube_client_cert_file, "/etc/alertgw/client.crt");
    assert_string_equal(c->kube_client_key_file, "/etc/alertgw/client.key");
    assert_string_equal(c->kube_kubeconfig, "/etc/alertgw/kubeconfig");
    assert_true(c->kube_allow_insecure);
    assert_int_equal(c->kube_connect_timeout_ms, 3000);
    assert_int_equal(c->kube_timeout_ms, 60000);
    assert_string_equal(c->rr_group, "remediation.kubernaut.io");
    assert_string_equal(c->rr_version, "v1");
    assert_string_equal(c->rr_kind, "RemediationRequest");
    assert_string_equal(c->rr_plural, "remediationrequests");
    assert_string_equal(c->rr_namespace, "remediation");
    assert_string_equal(c->rr_namespace_mode, "signal");
    assert_int_equal(c->rr_original_payload_max, 1024 * 1024);
    assert_int_equal(c->dedup_ttl_s, 3600);
    assert_int_equal(c->dedup_pending_lease_ms, 150000);
    assert_int_equal(c->dedup_pending_wait_ms, 1500);
    assert_int_equal(c->dedup_status_sync_interval_ms, 120000);
    assert_true(c->fp_include_signal_name);
    assert_string_equal(c->fp_cluster_label, "k8s_cluster");
    assert_true(c->signals_allow_unknown_target);
}

/* ------------------------------------------------------------ bad files */

static void unknown_section(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "server:\n  max_alerts: 10\ntracing:\n  port: 9090\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "tracing: line 3: unknown section");
    /* the good part of the file still applied */
    assert_int_equal(f->cfg.server_max_alerts, 10);
}

static void unknown_key(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "dedup:\n  ttl: 5m\n  tll: 5m\n"), GW_ECONFIG);
    assert_contains(f->errs, "dedup.tll: line 3: unknown key");
    assert_int_equal(count_lines(f->errs), 1);
}

static void bad_duration(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "dedup:\n  ttl: 5 minutes\n"), GW_ECONFIG);
    assert_contains(f->errs, "dedup.ttl: line 2");
    assert_contains(f->errs, "\"5 minutes\"");
    assert_contains(f->errs, "duration");
    assert_int_equal(f->cfg.dedup_ttl_s, 300); /* left at the default */
}

static void bad_bool(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "kubernetes:\n  allow_insecure: maybe\n"), GW_ECONFIG);
    assert_contains(f->errs, "kubernetes.allow_insecure: line 2");
    assert_contains(f->errs, "\"maybe\"");
    assert_contains(f->errs, "true or false");
    assert_false(f->cfg.kube_allow_insecure);
}

static void bad_integer(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "server:\n  max_alerts: -5\n  max_labels: 12abc\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "server.max_alerts: line 2");
    assert_contains(f->errs, "server.max_labels: line 3");
}

static void sequence_where_scalar_expected(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "remediation:\n  group:\n    - a.example.com\n"
                                  "    - b.example.com\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "remediation.group: line 2");
    assert_contains(f->errs, "must be a string");
    assert_string_equal(f->cfg.rr_group, "kubernaut.ai");
    /* a mapping is no better */
    assert_int_equal(load_yaml(f, "dedup:\n  ttl: {value: 5m}\n"), GW_ECONFIG);
    assert_contains(f->errs, "dedup.ttl: line 2");
}

/* Map- and list-valued keys take native YAML mappings and sequences; the
 * result is the string form the environment variables use. */
static void yaml_maps_and_lists(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "priority:\n"
                                  "  table:\n"
                                  "    critical/production: P0\n"
                                  "    \"*/staging\": P2\n"
                                  "  escalation: {production: 3, staging: 5}\n"
                                  "environment:\n"
                                  "  patterns:\n"
                                  "    \"prod-*\": production\n"
                                  "auth:\n"
                                  "  prometheus: [hmac, mtls]\n"
                                  "  hmac_secret_files: [/dev/null]\n"
                                  "  mtls_allowed_cns: [alertmanager]\n"
                                  "  allow_cidrs:\n"
                                  "    - 10.0.0.0/8\n"
                                  "    - 192.168.0.0/16\n"
                                  "events:\n"
                                  "  severity_overrides: {}\n"),
                     GW_OK);
    assert_string_equal(f->cfg.priority_table, "critical/production=P0,*/staging=P2");
    assert_string_equal(f->cfg.priority_escalation, "production=3,staging=5");
    assert_string_equal(f->cfg.environment_patterns, "prod-*=production");
    assert_string_equal(f->cfg.auth_prometheus, "hmac,mtls");
    assert_string_equal(f->cfg.auth_allow_cidrs, "10.0.0.0/8,192.168.0.0/16");
    assert_string_equal(f->cfg.events_severity_overrides, "");
    /* the string form still works in the file */
    assert_int_equal(load_yaml(f, "priority:\n  escalation: production=4\n"), GW_OK);
    assert_string_equal(f->cfg.priority_escalation, "production=4");
}

/* Errors in either form name the line: the item's own for a bad item, the
 * key's for what the checks after loading find. */
static void yaml_map_and_list_errors_name_the_line(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "auth:\n  allow_cidrs:\n    - 10.0.0.0/8\n    - [x]\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "auth.allow_cidrs: line 4: each item must be a string");
    assert_int_equal(load_yaml(f, "priority:\n  table:\n    \"a,b/c\": P0\n"), GW_ECONFIG);
    assert_contains(f->errs, "priority.table: line 3: an item may not contain a comma");
    /* a mapping where a list is wanted, and the other way round */
    assert_int_equal(load_yaml(f, "auth:\n  prometheus: {bearer: true}\n"), GW_ECONFIG);
    assert_contains(f->errs, "auth.prometheus: line 2: must be a list");
    assert_int_equal(load_yaml(f, "priority:\n  table: [P0]\n"), GW_ECONFIG);
    assert_contains(f->errs, "priority.table: line 2: must be a mapping");
    /* a bad value found by the checks after loading: the key's line */
    assert_int_equal(load_yaml(f, "log:\n  level: info\npriority:\n  table:\n"
                                  "    critical/production: P9\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "priority.table: line 4: \"critical/production=P9\"");
    assert_int_equal(load_yaml(f, "priority:\n  table: critical/production=P9\n"), GW_ECONFIG);
    assert_contains(f->errs, "priority.table: line 2: \"critical/production=P9\"");
    assert_int_equal(load_yaml(f, "\nlog:\n  level: loud\n"), GW_ECONFIG);
    assert_contains(f->errs, "log.level: line 3: must be debug");
    /* from the environment: no line (it is not the file's) */
    setenv("ALERTGW_PRIORITY_TABLE", "critical/production=P9", 1);
    assert_int_equal(load_yaml(f, "priority:\n  table: {critical/production: P0}\n"), GW_ECONFIG);
    unsetenv("ALERTGW_PRIORITY_TABLE");
    assert_contains(f->errs, "priority.table: \"critical/production=P9\"");
}

static void section_must_be_mapping(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "log: debug\n"), GW_ECONFIG);
    assert_contains(f->errs, "log: line 1: must be a mapping");
    assert_int_equal(load_yaml(f, "- server\n- log\n"), GW_ECONFIG);
    assert_contains(f->errs, "line 1: top level must be a mapping");
}

static void yaml_syntax_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "server:\n  max_alerts: 10\ndedup:\n  ttl: [5m\n"
                                  "log:\n  level: info\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, f->path);
    assert_contains(f->errs, "YAML syntax error");
    assert_contains(f->errs, "line 5");
    /* a tab for indentation is the classic one */
    assert_int_equal(load_yaml(f, "server:\n\tmax_alerts: 10\n"), GW_ECONFIG);
    assert_contains(f->errs, "YAML syntax error");
    assert_contains(f->errs, "line 2");
}

static void missing_file(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "/nonexistent/alertgw.yaml"), GW_ECONFIG);
    assert_contains(f->errs, "/nonexistent/alertgw.yaml");
    assert_contains(f->errs, "cannot open");
}

static void several_errors_at_once(void **state)
{
    fixture *f = *state;
    static const char yaml[] =
        "server:\n"                     /* 1 */
        "  max_alerts: 10\n"            /* 2 */
        "  colour: blue\n"              /* 3 unknown key */
        "dedup:\n"                      /* 4 */
        "  ttl: 5 minutes\n"            /* 5 bad duration */
        "kubernetes:\n"                 /* 6 */
        "  allow_insecure: maybe\n"     /* 7 bad bool */
        "remediation:\n"                /* 8 */
        "  group:\n"                    /* 9 sequence */
        "    - a\n"                     /* 10 */
        "  namespace_mode: cluster\n"   /* 11 fails validation */
        "tracing:\n"                    /* 12 unknown section */
        "  port: 9090\n";               /* 13 */
    assert_int_equal(load_yaml(f, yaml), GW_ECONFIG);
    assert_contains(f->errs, "server.colour: line 3: unknown key");
    assert_contains(f->errs, "dedup.ttl: line 5");
    assert_contains(f->errs, "kubernetes.allow_insecure: line 7");
    assert_contains(f->errs, "remediation.group: line 9");
    assert_contains(f->errs, "tracing: line 12: unknown section");
    /* found after loading, and named with the key's line too */
    assert_contains(f->errs, "remediation.namespace_mode: line 11: must be controller or signal");
    assert_int_equal(count_lines(f->errs), 6);
    assert_int_equal(f->cfg.server_max_alerts, 10);
}

static void error_buffer_is_bounded(void **state)
{
    fixture *f = *state;
    char small[48];
    memset(small, 'Z', sizeof small);
    if (f->loaded)
        gw_config_free(&f->cfg);
    f->loaded = true;
    assert_int_equal(gw_config_load(&f->cfg,
                                    write_yaml(f, "server:\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n"),
                                    small, sizeof small),
                     GW_ECONFIG);
    assert_true(memchr(small, '\0', sizeof small) != NULL);
    assert_contains(small, "server.a");
}

/* ------------------------------------------------ values and validation */

static void durations(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "redis:\n  connect_timeout: 500ms\n  command_timeout: 5s\n"
                                  "kubernetes:\n  connect_timeout: 2m\n  timeout: 1h\n"
                                  "dedup:\n  ttl: 2m\n  pending_lease: 2h\n  pending_wait: 7\n"),
                     GW_OK);
    assert_int_equal(f->cfg.redis_connect_timeout_ms, 500);
    assert_int_equal(f->cfg.redis_command_timeout_ms, 5000);
    assert_int_equal(f->cfg.kube_connect_timeout_ms, 120000);
    assert_int_equal(f->cfg.kube_timeout_ms, 3600000);
    assert_int_equal(f->cfg.dedup_ttl_s, 120);
    assert_int_equal(f->cfg.dedup_pending_wait_ms, 7000); /* bare number: seconds */

    assert_int_equal(load_yaml(f, "dedup:\n  ttl: 1h\n"), GW_OK);
    assert_int_equal(f->cfg.dedup_ttl_s, 3600);

    static const char *bad[] = { "5 minutes", "5min", "1d", "ms", "-5s", "1.5s", "", "5S" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "redis:\n  connect_timeout: \"%s\"\n", bad[i]);
        if (load_yaml(f, yaml) != GW_ECONFIG)
            fail_msg("accepted duration \"%s\"", bad[i]);
        assert_contains(f->errs, "redis.connect_timeout: line 2");
    }
    /* a seconds key does not take a fraction of a second */
    assert_int_equal(load_yaml(f, "dedup:\n  ttl: 1500ms\n"), GW_ECONFIG);
    assert_contains(f->errs, "dedup.ttl");
}

static void sizes(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "server:\n  max_body_bytes: 1MiB\n"
                                  "remediation:\n  original_payload_max: 512KiB\n"),
                     GW_OK);
    assert_int_equal(f->cfg.server_max_body_bytes, 1048576);
    assert_int_equal(f->cfg.rr_original_payload_max, 524288);
    assert_int_equal(load_yaml(f, "server:\n  max_body_bytes: 65536\n"), GW_OK);
    assert_int_equal(f->cfg.server_max_body_bytes, 65536);

    assert_int_equal(load_yaml(f, "server:\n  max_body_bytes: 1MB\n"), GW_ECONFIG);
    assert_contains(f->errs, "server.max_body_bytes: line 2");
    assert_contains(f->errs, "512KiB");
}

static void validation(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_yaml(f, "remediation:\n  namespace_mode: cluster\n"), GW_ECONFIG);
    assert_contains(f->errs, "remediation.namespace_mode");
    assert_contains(f->errs, "controller or signal");
    assert_int_equal(load_yaml(f, "remediation:\n  namespace_mode: signal\n"), GW_OK);
    assert_int_equal(load_yaml(f, "remediation:\n  fingerprint_field_fallback_page_size: 0\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "remediation.fingerprint_field_fallback_page_size: line 2: must be 1..1000");
    assert_int_equal(load_yaml(f, "remediation:\n  fingerprint_field_fallback_max_items: 0\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "remediation.fingerprint_field_fallback_max_items: line 2: must be 1..100000");
    assert_int_equal(load_yaml(f, "remediation:\n  fingerprint_field_fallback: true\n"
                                  "  fingerprint_field_fallback_page_size: 2\n"
                                  "  fingerprint_field_fallback_max_items: 10\n"), GW_OK);

    assert_int_equal(load_yaml(f, "log:\n  level: verbose\n"), GW_ECONFIG);
    assert_contains(f->errs, "log.level");
    assert_contains(f->errs, "verbose");
    static const char *levels[] = { "debug", "info", "warn", "error" };
    for (size_t i = 0; i < 4; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "log:\n  level: %s\n", levels[i]);
        assert_int_equal(load_yaml(f, yaml), GW_OK);
        assert_string_equal(f->cfg.log_level, levels[i]);
    }

    assert_int_equal(load_yaml(f, "kubernetes:\n  api_url: ftp://10.0.0.1\n"), GW_ECONFIG);
    assert_contains(f->errs, "kubernetes.api_url");
    assert_int_equal(load_yaml(f, "redis:\n  addr: \"\"\n"), GW_ECONFIG);
    assert_contains(f->errs, "redis.addr");
    assert_int_equal(load_yaml(f, "server:\n  prometheus_path: api/v1\n"), GW_ECONFIG);
    assert_contains(f->errs, "server.prometheus_path");
    assert_int_equal(load_yaml(f, "server:\n  max_alerts: 0\n"), GW_ECONFIG);
    assert_contains(f->errs, "server.max_alerts");
    assert_int_equal(load_yaml(f, "remediation:\n  namespace: \"\"\n"), GW_ECONFIG);
    assert_contains(f->errs, "remediation.namespace");

    /* retries and the breaker */
    assert_int_equal(load_yaml(f, "kubernetes:\n  retries: 11\n"), GW_ECONFIG);
    assert_contains(f->errs, "kubernetes.retries");
    assert_int_equal(load_yaml(f, "kubernetes:\n  retry_base: 2s\n  retry_max_delay: 1s\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "retry_max_delay");
    assert_int_equal(load_yaml(f, "kubernetes:\n  breaker_open_time: 0s\n"), GW_ECONFIG);
    assert_contains(f->errs, "kubernetes.breaker_open_time");
    assert_int_equal(load_yaml(f, "kubernetes:\n  retries: 0\n  breaker_failures: 0\n"), GW_OK);
    assert_int_equal(f->cfg.kube_retries, 0);
    assert_int_equal(f->cfg.kube_breaker_failures, 0);

    /* API discovery and workload kinds */
    assert_int_equal(f->cfg.kube_discovery_ttl_ms, 600000);
    assert_int_equal(load_yaml(f, "kubernetes:\n  discovery_ttl: 1s\n"), GW_ECONFIG);
    assert_contains(f->errs, "kubernetes.discovery_ttl");
    assert_int_equal(load_yaml(f, "kubernetes:\n  discovery_ttl: 0s\n"), GW_OK);
    assert_int_equal(load_yaml(f, "target:\n  workload_kinds: \"Rollout, ../x\"\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "target.workload_kinds");
    assert_int_equal(load_yaml(f, "target:\n  workload_kinds: \"Rollout, Pipeline\"\n"), GW_OK);

    /* a creation claim must outlive a lookup plus a create */
    assert_int_equal(load_yaml(f, "kubernetes:\n  timeout: 6s\n"), GW_ECONFIG);
    assert_contains(f->errs, "dedup.pending_lease (10000ms) must be at least 2 x "
                             "kubernetes.timeout (12000ms)");
    assert_int_equal(count_lines(f->errs), 1);
    assert_int_equal(load_yaml(f, "dedup:\n  pending_lease: 9s\n"), GW_ECONFIG);
    assert_contains(f->errs, "dedup.pending_lease (9000ms)");
    assert_int_equal(load_yaml(f, "kubernetes:\n  timeout: 6s\ndedup:\n  pending_lease: 12s\n"),
                     GW_OK);
    assert_int_equal(load_yaml(f, "dedup:\n  pending_lease: 10s\n"), GW_OK); /* = 2 x 5s */

    /* Sentinel: host:port entries and a master name */
    assert_int_equal(load_yaml(f, "redis:\n  sentinels: 127.0.0.1:26379\n"), GW_ECONFIG);
    assert_contains(f->errs, "redis.sentinel_master");
    assert_int_equal(load_yaml(f, "redis:\n  sentinels: \"a:1,b\"\n  sentinel_master: m\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "redis.sentinels: line 2: \"b\" is not host:port");
    assert_int_equal(load_yaml(f, "redis:\n  sentinels: \"a:0\"\n  sentinel_master: m\n"),
                     GW_ECONFIG);
    assert_int_equal(load_yaml(f, "redis:\n  sentinels: \"a:1,,b:2\"\n  sentinel_master: m\n"),
                     GW_ECONFIG);
    assert_int_equal(load_yaml(f, "redis:\n  sentinels: \"10.0.0.1:26379,s2.example:26379,"
                                  "[::1]:26379\"\n  sentinel_master: mymaster\n"), GW_OK);
    assert_string_equal(f->cfg.redis_sentinel_master, "mymaster");
}

/* ----------------------------------------------------------- environment */

static void env_overrides_file(void **state)
{
    fixture *f = *state;
    setenv("ALERTGW_DEDUP_TTL", "30s", 1);
    setenv("ALERTGW_REDIS_ADDR", "unix:/tmp/redis.sock", 1);
    setenv("ALERTGW_FINGERPRINT_INCLUDE_SIGNAL_NAME", "true", 1);
    assert_int_equal(load_yaml(f, "dedup:\n  ttl: 10m\nredis:\n  addr: 10.0.0.5:6379\n"), GW_OK);
    assert_int_equal(f->cfg.dedup_ttl_s, 30);
    assert_string_equal(f->cfg.redis_addr, "unix:/tmp/redis.sock");
    assert_true(f->cfg.fp_include_signal_name);

    /* and without the file */
    assert_int_equal(load(f, NULL), GW_OK);
    assert_int_equal(f->cfg.dedup_ttl_s, 30);

    unsetenv("ALERTGW_DEDUP_TTL");
    assert_int_equal(load_yaml(f, "dedup:\n  ttl: 10m\n"), GW_OK);
    assert_int_equal(f->cfg.dedup_ttl_s, 600);
}

static void bad_env_value_named(void **state)
{
    fixture *f = *state;
    setenv("ALERTGW_SERVER_MAX_ALERTS", "lots", 1);
    setenv("ALERTGW_KUBERNETES_ALLOW_INSECURE", "perhaps", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "ALERTGW_SERVER_MAX_ALERTS");
    assert_contains(f->errs, "server.max_alerts");
    assert_contains(f->errs, "\"lots\"");
    assert_contains(f->errs, "ALERTGW_KUBERNETES_ALLOW_INSECURE");
    assert_int_equal(count_lines(f->errs), 2);
    assert_int_equal(f->cfg.server_max_alerts, 1000);
}

static void env_value_validated(void **state)
{
    fixture *f = *state;
    setenv("ALERTGW_REMEDIATION_NAMESPACE_MODE", "cluster", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "remediation.namespace_mode");
}


/* A misspelt override must not pass unnoticed: it names the variable and
 * the key it probably meant. */
static void unknown_env_variable_named(void **state)
{
    fixture *f = *state;
    setenv("ALERTGW_REDIS_ADRR", "10.0.0.5:6379", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "ALERTGW_REDIS_ADRR: unknown");
    assert_contains(f->errs, "did you mean ALERTGW_REDIS_ADDR (redis.addr)?");
    assert_int_equal(count_lines(f->errs), 1);
    /* the typo is not applied anywhere */
    assert_string_equal(f->cfg.redis_addr, "127.0.0.1:6379");
    clear_alertgw_env();

    /* a lower-case key: the same name in upper case */
    setenv("ALERTGW_log_level", "debug", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "did you mean ALERTGW_LOG_LEVEL (log.level)?");
    clear_alertgw_env();

    /* a front-end parameter is suggested as such */
    setenv("ALERTGW_TLS_CRT", "/etc/alertgw/tls.pem", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "did you mean ALERTGW_TLS_CERT");
    clear_alertgw_env();

    /* nothing close: the error stays, without a guess */
    setenv("ALERTGW_COMPLETELY_DIFFERENT", "1", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "ALERTGW_COMPLETELY_DIFFERENT: unknown");
    assert_not_contains(f->errs, "did you mean");
    clear_alertgw_env();

    /* an empty value is still a variable that is set */
    setenv("ALERTGW_DEDUP_TTTL", "", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "ALERTGW_DEDUP_TTL (dedup.ttl)");
}

static void reserved_env_variables_accepted(void **state)
{
    fixture *f = *state;
    static const char *reserved[] = {
        "ALERTGW_CONFIG", "ALERTGW_LISTEN_ADDR", "ALERTGW_LISTEN_PORT", "ALERTGW_STATE_DIR",
        "ALERTGW_FCGI_BIN", "ALERTGW_FCGI_SOCKET", "ALERTGW_WORKERS", "ALERTGW_MAX_REQUEST_KB",
        "ALERTGW_TLS_CERT", "ALERTGW_TLS_KEY", "ALERTGW_TLS_CLIENT_CA",
        "ALERTGW_RATE_LIMIT_RPS", "ALERTGW_RATE_LIMIT_BURST", "ALERTGW_RATE_LIMIT_STATUS",
        "ALERTGW_RATE_LIMIT_MAX_CLIENTS", "ALERTGW_LIGHTTPD_CONF", "ALERTGW_CACHE",
        "ALERTGW_LOCAL_DIR", "ALERTGW_SKIP_INSTALL",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        setenv(reserved[i], strcmp(reserved[i], "ALERTGW_LISTEN_ADDR") ? "x" : "127.0.0.1", 1);
    if (load(f, NULL))
        fail_msg("reserved names refused: %s", f->errs);
    /* the wildcard is not: a misspelt TLS parameter would leave the port on
     * plain HTTP without a word */
    setenv("ALERTGW_TLS_CLIENT_CA_FILE", "x", 1);
    setenv("ALERTGW_RATE_LIMIT_RPSS", "x", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "ALERTGW_TLS_CLIENT_CA_FILE: unknown");
    assert_contains(f->errs, "ALERTGW_RATE_LIMIT_RPSS: unknown");
    assert_int_equal(count_lines(f->errs), 2);
}

/* --------------------------------------------- exposure: listen address */

static void public_listen_refuses_anonymous_signal_routes(void **state)
{
    fixture *f = *state;
    setenv("ALERTGW_LISTEN_ADDR", "0.0.0.0", 1);
    assert_int_equal(load(f, NULL), GW_ECONFIG);
    assert_contains(f->errs, "auth.prometheus, auth.grafana, auth.events:");
    assert_contains(f->errs, "0.0.0.0");
    assert_contains(f->errs, "ALERTGW_LISTEN_ADDR");
    assert_contains(f->errs, "bearer, hmac, mtls or tokenreview");
    assert_contains(f->errs, "auth.allow_anonymous: true");
    assert_not_contains(f->errs, "auth.signals");
    assert_not_contains(f->errs, "auth.metrics");
    assert_int_equal(count_lines(f->errs), 1);

    /* grafana's empty default is hmac once secret files are set; only the
     * routes still open are named */
    assert_int_equal(load_yaml(f, "auth:\n  prometheus: bearer\n  bearer_tokens: "
                                  "0000000000000000000000000000000000000000000000000000000000000000\n"
                                  "grafana:\n  secret_files: /nonexistent/grafana.key\n"),
                     GW_ECONFIG);
    assert_contains(f->errs, "auth.events:");
    assert_not_contains(f->errs, "auth.prometheus");
    assert_not_contains(f->errs, "auth.grafana");

    /* every signal route authenticates: accepted */
    assert_int_equal(load_yaml(f, "auth:\n  prometheus: bearer\n  grafana: mtls\n"
                                  "  events: tokenreview\n  mtls_allowed_cns: am\n  bearer_tokens: "
                                  "0000000000000000000000000000000000000000000000000000000000000000\n"),
                     GW_OK);

    /* said on purpose */
    assert_int_equal(load_yaml(f, "auth:\n  allow_anonymous: true\n"), GW_OK);
    assert_true(f->cfg.auth_allow_anonymous);
    assert_int_equal(load_yaml(f, "auth:\n  allow_anonymous: false\n"), GW_ECONFIG);
}

static void loopback_listen_allows_anonymous(void **state)
{
    fixture *f = *state;
    static const char *loopback[] = { "127.0.0.1", "127.255.0.9", "::1", "[::1]", "localhost",
                                      "LocalHost", "" };
    static const char *other[] = { "0.0.0.0", "::", "10.1.2.3", "127.evil.example",
                                   "127.0.0.1.nip.io", "127.1", "::ffff:127.0.0.1",
                                   "localhost.example", "[::]", " 127.0.0.1" };
    assert_int_equal(load(f, NULL), GW_OK); /* unset: lighttpd.conf's 127.0.0.1 */
    assert_false(f->cfg.auth_allow_anonymous);
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        setenv("ALERTGW_LISTEN_ADDR", loopback[i], 1);
        if (load(f, NULL))
            fail_msg("\"%s\" refused: %s", loopback[i], f->errs);
    }
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        setenv("ALERTGW_LISTEN_ADDR", other[i], 1);
        if (load(f, NULL) != GW_ECONFIG)
            fail_msg("\"%s\" counted as loopback", other[i]);
        assert_contains(f->errs, "auth.prometheus");
    }
}

/* ------------------------------------------------------------- reference */

static char *reference(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    gw_config_print_reference(mem);
    fclose(mem);
    assert_non_null(text);
    return text;
}

static void reference_lists_every_key(void **state)
{
    (void)state;
    char *ref = reference();
    static const char *all[] = {
        "server.prometheus_path", "server.events_path", "server.grafana_path",
        "server.signals_prefix", "grafana.secret_files", "grafana.signature_header",
        "grafana.timestamp_header",
        "server.max_body_bytes",
        "server.max_alerts", "server.max_labels", "server.max_label_bytes",
        "server.max_json_depth", "server.max_parse_bytes", "server.max_in_flight",
        "server.retry_after", "log.level", "redis.addr", "redis.password_file",
        "redis.connect_timeout", "redis.command_timeout", "redis.key_prefix",
        "redis.sentinels", "redis.sentinel_master", "redis.sentinel_password_file",
        "kubernetes.api_url", "kubernetes.token_file", "kubernetes.ca_file",
        "kubernetes.client_cert_file", "kubernetes.client_key_file", "kubernetes.kubeconfig",
        "kubernetes.allow_insecure", "kubernetes.connect_timeout", "kubernetes.timeout",
        "kubernetes.retries", "kubernetes.retry_base", "kubernetes.retry_max_delay",
        "kubernetes.breaker_failures", "kubernetes.breaker_open_time",
        "kubernetes.discovery_ttl", "target.workload_kinds",
        "remediation.group", "remediation.version", "remediation.kind", "remediation.plural",
        "remediation.namespace", "remediation.namespace_mode",
        "remediation.original_payload_max", "remediation.fingerprint_field_fallback",
        "remediation.fingerprint_field_fallback_page_size",
        "remediation.fingerprint_field_fallback_max_items", "dedup.ttl", "dedup.pending_lease",
        "dedup.pending_wait", "dedup.status_sync_interval", "fingerprint.include_signal_name",
        "fingerprint.cluster_label", "signals.allow_unknown_target",
        "signals.reject_without_target", "signals.heartbeat_alerts", "events.max_age",
        "events.max_future", "events.severity_overrides", "environment.lookup",
        "environment.configmap_name", "environment.configmap_namespace",
        "environment.namespace_label", "environment.patterns", "environment.cache_ttl",
        "priority.table", "priority.default", "priority.severity_aliases",
        "priority.environment_aliases", "priority.escalation", "priority.escalation_window",
        "scope.require_label",
        "scope.label", "owners.resolve", "owners.max_depth", "owners.cache_ttl",
        "owners.cache_entries", "storm.enabled", "storm.rate_threshold",
        "storm.pattern_threshold", "storm.pattern_window", "storm.aggregation_window",
        "storm.max_window", "storm.max_resources", "storm.namespace_cap", "flapping.threshold",
        "flapping.window",
        "limits.creates_per_minute", "limits.creates_per_sender_per_minute", "recording.events",
        "metrics.path",
        "auth.prometheus", "auth.grafana", "auth.events", "auth.signals", "auth.metrics",
        "auth.explain",
        "auth.allow_cidrs", "auth.bearer_tokens", "auth.bearer_tokens_file",
        "auth.hmac_secret_files", "auth.hmac_signature_header", "auth.hmac_timestamp_header",
        "auth.hmac_require_timestamp", "auth.hmac_replay_window", "auth.mtls_allowed_cns",
        "auth.tokenreview_audiences", "auth.tokenreview_verb", "auth.tokenreview_group",
        "auth.tokenreview_resource", "auth.tokenreview_subresource",
        "auth.tokenreview_namespace", "auth.tokenreview_cache_ttl",
        "auth.tokenreview_cache_entries", "auth.tokenreview_max_per_second",
        "auth.allow_anonymous",
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char want[96], env[96];
        snprintf(want, sizeof want, "| `%s` |", all[i]);
        assert_contains(ref, want);
        snprintf(env, sizeof env, "`ALERTGW_%s`", all[i]);
        for (char *p = env; *p; p++)
            *p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
        assert_contains(ref, env);
    }
    assert_contains(ref, "`ALERTGW_REDIS_ADDR`");
    assert_contains(ref, "`ALERTGW_DEDUP_TTL`");
    assert_contains(ref, "| `5m` |");
    /* header + separator + one row per key */
    assert_int_equal(count_lines(ref), 2 + sizeof all / sizeof all[0]);
    free(ref);
}

/* The reference is generated from the same table as the loaders: every
 * documented variable, set to its documented default, is accepted. */
static void reference_defaults_load(void **state)
{
    fixture *f = *state;
    char *ref = reference();
    size_t rows = 0;
    for (char *line = strtok(ref, "\n"); line; line = strtok(NULL, "\n")) {
        char key[96], env[96], def[128];
        if (sscanf(line, "| `%95[^`]` | `%95[^`]` | %*[^|]| `%127[^`]` |", key, env, def) != 3)
            continue;
        rows++;
        if (!strcmp(def, "\"\""))
            continue;
        clear_alertgw_env();
        setenv(env, def, 1);
        if (load(f, NULL))
            fail_msg("%s=%s rejected: %s", env, def, f->errs);
    }
    assert_true(rows >= 36);
    free(ref);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(defaults),
        T(load_without_file_is_defaults),
        T(empty_file_is_defaults),
        T(full_file),
        T(unknown_section),
        T(unknown_key),
        T(bad_duration),
        T(bad_bool),
        T(bad_integer),
        T(sequence_where_scalar_expected),
        T(yaml_maps_and_lists),
        T(yaml_map_and_list_errors_name_the_line),
        T(section_must_be_mapping),
        T(yaml_syntax_error),
        T(missing_file),
        T(several_errors_at_once),
        T(error_buffer_is_bounded),
        T(durations),
        T(sizes),
        T(validation),
        T(env_overrides_file),
        T(bad_env_value_named),
        T(env_value_validated),
        T(unknown_env_variable_named),
        T(reserved_env_variables_accepted),
        T(public_listen_refuses_anonymous_signal_routes),
        T(loopback_listen_allows_anonymous),
        T(reference_lists_every_key),
        T(reference_defaults_load),
    };
#undef T
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
