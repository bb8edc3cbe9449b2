/* SPDX-License-Identifier: Apache-2.0 */
/* test_classify.c - unit tests for core/classify.c, all with plain data:
 * environment precedence, patterns, aliases, the priority table,
 * escalation, and the configuration checks of those tables. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "config.h"

static int setup_cfg(void **state)
{
    static gw_config cfg;
    if (gw_config_defaults(&cfg))
        return -1;
    *state = &cfg;
    return 0;
}

static int teardown_cfg(void **state)
{
    gw_config_free(*state);
    return 0;
}

/* Replaces a string key of cfg (owned by it). */
static void set(char **field, const char *v)
{
    free(*field);
    *field = strdup(v);
}
/* ---------------------------------------------------------- environment */

static void environment_precedence(void **state)
{
    gw_config *c = *state;
    char env[64];
    json_t *l = json_pack("{s:s}", "environment", "development");
    /* ConfigMap beats everything */
    assert_int_equal(gw_classify_environment(c, "staging", "production", "prod-web", l, env),
                     GW_ENV_CONFIGMAP);
    assert_string_equal(env, "staging");
    /* then the namespace label */
    assert_int_equal(gw_classify_environment(c, NULL, "production", "dev-web", l, env),
                     GW_ENV_NAMESPACE_LABEL);
    assert_string_equal(env, "production");
    /* then the namespace-name pattern */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "prod-web", l, env), GW_ENV_PATTERN);
    assert_string_equal(env, "production");
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "web-staging", l, env),
                     GW_ENV_PATTERN);
    assert_string_equal(env, "staging");
    /* then the alert's own label */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "web", l, env), GW_ENV_ALERT_LABEL);
    assert_string_equal(env, "development");
    /* then unknown; cluster-scoped targets have no namespace */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "", NULL, env), GW_ENV_UNKNOWN);
    assert_string_equal(env, "unknown");
    json_decref(l);
}

static void environment_values_are_checked_and_folded(void **state)
{
    gw_config *c = *state;
    char env[64];
    /* an invalid value is skipped, never sanitised into something else */
    assert_int_equal(gw_classify_environment(c, "not a label!", "qa", "web", NULL, env),
                     GW_ENV_NAMESPACE_LABEL);
    assert_string_equal(env, "qa");
    char long_value[80];
    memset(long_value, 'a', 70);
    long_value[70] = '\0';
    assert_int_equal(gw_classify_environment(c, long_value, NULL, "web", NULL, env),
                     GW_ENV_UNKNOWN);
    /* aliases and case folding */
    assert_int_equal(gw_classify_environment(c, "Prod", NULL, "web", NULL, env), GW_ENV_CONFIGMAP);
    assert_string_equal(env, "production");
    json_t *l = json_pack("{s:s}", "environment", "stage");
    gw_classify_environment(c, NULL, NULL, "web", l, env);
    assert_string_equal(env, "staging");
    json_decref(l);
    l = json_pack("{s:i}", "environment", 1); /* not a string */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "web", l, env), GW_ENV_UNKNOWN);
    json_decref(l);
}

static void environment_patterns_from_config(void **state)
{
    gw_config *c = *state;
    char env[64];
    set(&c->environment_patterns, "team-a-*=qa,*=sandbox");
    gw_classify_environment(c, NULL, NULL, "team-a-web", NULL, env);
    assert_string_equal(env, "qa");
    gw_classify_environment(c, NULL, NULL, "prod-web", NULL, env); /* defaults replaced */
    assert_string_equal(env, "sandbox");
    set(&c->environment_patterns, "");
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "prod-web", NULL, env),
                     GW_ENV_UNKNOWN);
}

/* ------------------------------------------------------------- priority */

static const char *prio(const gw_config *c, const char *sev, const char *env)
{
    static char out[8];
    gw_classify_priority(c, sev, env, out);
    return out;
}

static void priority_default_table(void **state)
{
    gw_config *c = *state;
    assert_string_equal(prio(c, "critical", "production"), "P0");
    assert_string_equal(prio(c, "critical", "staging"), "P1");
    assert_string_equal(prio(c, "warning", "production"), "P1");
    assert_string_equal(prio(c, "critical", "development"), "P2");
    assert_string_equal(prio(c, "warning", "staging"), "P2");
    assert_string_equal(prio(c, "info", "production"), "P2");
    assert_string_equal(prio(c, "warning", "development"), "P3");
    assert_string_equal(prio(c, "info", "staging"), "P3");
    assert_string_equal(prio(c, "critical", "unknown"), "P3");
    assert_string_equal(prio(c, "unknown", "production"), "P3");
    assert_string_equal(prio(c, "", ""), "P3");
    /* severity aliases, case-insensitive */
    assert_string_equal(prio(c, "page", "production"), "P0");
    assert_string_equal(prio(c, "SEV1", "production"), "P0");
    assert_string_equal(prio(c, "error", "production"), "P0");
    assert_string_equal(prio(c, "warn", "production"), "P1");
    assert_string_equal(prio(c, "criticall", "production"), "P3");
}

static void priority_table_from_config(void **state)
{
    gw_config *c = *state;
    set(&c->priority_table, "critical/production=P1,critical/*=P2,*/qa=P3,warning/qa=P0");
    set(&c->priority_default, "P2");
    set(&c->priority_severity_aliases, "boom=critical");
    assert_string_equal(prio(c, "critical", "production"), "P1");
    assert_string_equal(prio(c, "boom", "staging"), "P2");     /* severity wildcard */
    assert_string_equal(prio(c, "info", "qa"), "P3");          /* environment wildcard */
    assert_string_equal(prio(c, "warning", "qa"), "P0");       /* exact beats wildcard */
    assert_string_equal(prio(c, "info", "production"), "P2");  /* the default */
    assert_string_equal(prio(c, "page", "production"), "P2");  /* alias list replaced */
}

static void escalation(void **state)
{
    gw_config *c = *state;
    char out[8];
    assert_int_equal(gw_escalation_threshold(c, "production"), 10);
    assert_int_equal(gw_escalation_threshold(c, "staging"), 0);
    set(&c->priority_escalation, "staging=3,*=50");
    assert_int_equal(gw_escalation_threshold(c, "staging"), 3);
    assert_int_equal(gw_escalation_threshold(c, "production"), 50);
    assert_true(gw_priority_raise("P3", out));
    assert_string_equal(out, "P2");
    assert_true(gw_priority_raise("P1", out));
    assert_string_equal(out, "P0");
    assert_false(gw_priority_raise("P0", out));
    assert_false(gw_priority_raise("high", out));
    assert_false(gw_priority_raise(NULL, out));
}

static void config_rejects_bad_tables(void **state)
{
    (void)state;
    char errs[2048];
    gw_config c;
    setenv("ALERTGW_PRIORITY_TABLE", "critical=P0", 1);
    setenv("ALERTGW_PRIORITY_ESCALATION", "production=0", 1);
    setenv("ALERTGW_ENVIRONMENT_PATTERNS", "prod-*=Not Valid", 1);
    setenv("ALERTGW_PRIORITY_DEFAULT", "P9", 1);
    assert_int_equal(gw_config_load(&c, NULL, errs, sizeof errs), GW_ECONFIG);
    assert_non_null(strstr(errs, "priority.table: \"critical=P0\""));
    assert_non_null(strstr(errs, "priority.escalation"));
    assert_non_null(strstr(errs, "environment.patterns"));
    assert_non_null(strstr(errs, "priority.default"));
    gw_config_free(&c);
    unsetenv("ALERTGW_PRIORITY_TABLE");
    unsetenv("ALERTGW_PRIORITY_ESCALATION");
    unsetenv("ALERTGW_ENVIRONMENT_PATTERNS");
    unsetenv("ALERTGW_PRIORITY_DEFAULT");
    assert_int_equal(gw_config_load(&c, NULL, errs, sizeof errs), GW_OK);
    gw_config_free(&c);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(environment_precedence, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(environment_values_are_checked_and_folded, setup_cfg,
                                        teardown_cfg),
        cmocka_unit_test_setup_teardown(environment_patterns_from_config, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(priority_default_table, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(priority_table_from_config, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(escalation, setup_cfg, teardown_cfg),
        cmocka_unit_test(config_rejects_bad_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
