/* SPDX-License-Identifier: Apache-2.0 */
/* classify.h - environment and priority of a signal (spec section 3.6-3.7).
 *
 * Pure functions of the configuration and of what the caller has already
 * looked up (the override ConfigMap's entry, the namespace's label), so the
 * precedence is unit-tested with plain data; enrich.c does the cached
 * Kubernetes reads.
 *
 * Environment, first match: ConfigMap entry > namespace label > namespace-
 * name pattern (environment.patterns, fnmatch globs) > the alert's own
 * `environment` label > "unknown".  The result is folded through
 * priority.environment_aliases (prod -> production) and must be a valid
 * label value; a value that is not is skipped, never sanitised into
 * something else.
 *
 * Priority: priority.severity_aliases folds the severity (page -> critical),
 * then priority.table is searched for "severity/environment", then
 * "severity/ *", then "* /environment", then priority.default. */
#ifndef GW_CLASSIFY_H
#define GW_CLASSIFY_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

typedef enum {
    GW_ENV_CONFIGMAP,
    GW_ENV_NAMESPACE_LABEL,
    GW_ENV_PATTERN,
    GW_ENV_ALERT_LABEL,
    GW_ENV_UNKNOWN
} gw_env_source;

/* override / ns_label may be NULL (not found); ns may be "" (cluster-
 * scoped); labels may be NULL.  out receives the environment (<= 63). */
gw_env_source gw_classify_environment(const gw_config *cfg, const char *override,
                                      const char *ns_label, const char *ns, json_t *labels,
                                      char out[64]);

/* The severity lower-cased and folded through priority.severity_aliases
 * ("Page" -> "critical"), cut to 63 bytes. */
void gw_severity_fold(const gw_config *cfg, const char *severity, char out[64]);

/* Which rule gave a priority: a priority.table entry (severity/environment,
 * severity/ *, * /environment) or priority.default. */
typedef enum {
    GW_PRIO_TABLE, GW_PRIO_TABLE_SEVERITY, GW_PRIO_TABLE_ENVIRONMENT, GW_PRIO_DEFAULT
} gw_prio_source;

/* "P0".."P3" into out; returns the rule that gave it. */
gw_prio_source gw_classify_priority(const gw_config *cfg, const char *severity,
                                    const char *environment, char out[8]);

/* priority.escalation's occurrence threshold for environment; 0: none. */
long gw_escalation_threshold(const gw_config *cfg, const char *environment);

/* One step more urgent (P2 -> P1); false when prio is already P0 or not a
 * priority. */
bool gw_priority_raise(const char *prio, char out[8]);

#endif
