/* SPDX-License-Identifier: Apache-2.0 */
/* classify.c - see classify.h. */
#include "classify.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Copies a candidate environment into out, lower-cased and folded through
 * the aliases; false when it is not a valid label value. */
static bool take_env(const gw_config *cfg, const char *v, size_t n, char out[64])
{
    if (!v || !n || n > 63)
        return false;
    char raw[64];
    for (size_t i = 0; i < n; i++)
        raw[i] = (char)tolower((unsigned char)v[i]);
    raw[n] = '\0';
    char folded[64];
    const char *use = gw_pairs_get(cfg->priority_environment_aliases, raw, folded, sizeof folded)
                          ? folded : raw;
    if (!gw_is_label_value(use, strlen(use)))
        return false;
    snprintf(out, 64, "%s", use);
    return true;
}

gw_env_source gw_classify_environment(const gw_config *cfg, const char *override,
                                      const char *ns_label, const char *ns, json_t *labels,
                                      char out[64])
{
    if (override && take_env(cfg, override, strlen(override), out))
        return GW_ENV_CONFIGMAP;
    if (ns_label && take_env(cfg, ns_label, strlen(ns_label), out))
        return GW_ENV_NAMESPACE_LABEL;
    if (ns && *ns) {
        const char *p = cfg->environment_patterns, *k, *v;
        size_t kl, vl;
        while (gw_pairs_next(&p, &k, &kl, &v, &vl)) {
            char glob[128];
            if (!v || kl >= sizeof glob)
                continue;
            memcpy(glob, k, kl);
            glob[kl] = '\0';
            if (fnmatch(glob, ns, 0) == 0 && take_env(cfg, v, vl, out))
                return GW_ENV_PATTERN;
        }
    }
    const char *al = json_string_value(json_object_get(labels, "environment"));
    if (al && take_env(cfg, al, strlen(al), out))
        return GW_ENV_ALERT_LABEL;
    snprintf(out, 64, "unknown");
    return GW_ENV_UNKNOWN;
}

/* Looks "key" up in priority.table; true and out set when found. */
static bool table_get(const gw_config *cfg, const char *sev, const char *env, char out[8])
{
    char key[160];
    if (snprintf(key, sizeof key, "%s/%s", sev, env) >= (int)sizeof key)
        return false;
    return gw_pairs_get(cfg->priority_table, key, out, 8);
}

void gw_severity_fold(const gw_config *cfg, const char *severity, char out[64])
{
    char lower[64];
    size_t i = 0;
    for (; severity && severity[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)severity[i]);
    lower[i] = '\0';
    if (!gw_pairs_get(cfg->priority_severity_aliases, lower, out, 64))
        memcpy(out, lower, i + 1);
}

gw_prio_source gw_classify_priority(const gw_config *cfg, const char *severity,
                                    const char *environment, char out[8])
{
    char sev[64];
    gw_severity_fold(cfg, severity, sev);
    if (table_get(cfg, sev, environment, out))
        return GW_PRIO_TABLE;
    if (table_get(cfg, sev, "*", out))
        return GW_PRIO_TABLE_SEVERITY;
    if (table_get(cfg, "*", environment, out))
        return GW_PRIO_TABLE_ENVIRONMENT;
    snprintf(out, 8, "%s", cfg->priority_default);
    return GW_PRIO_DEFAULT;
}

long gw_escalation_threshold(const gw_config *cfg, const char *environment)
{
    char v[24];
    if (!gw_pairs_get(cfg->priority_escalation, environment, v, sizeof v) &&
        !gw_pairs_get(cfg->priority_escalation, "*", v, sizeof v))
        return 0;
    long n = strtol(v, NULL, 10);
    return n > 0 ? n : 0;
}

bool gw_priority_raise(const char *prio, char out[8])
{
    if (!prio || prio[0] != 'P' || prio[1] < '1' || prio[1] > '9' || prio[2])
        return false;
    snprintf(out, 8, "P%c", prio[1] - 1);
    return true;
}
