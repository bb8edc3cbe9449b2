/* classify.h - environment and priority of a signal.
 *
 * This slice knows the alert's own `environment` label and the spec's
 * default severity x environment table; the namespace-label, ConfigMap and
 * pattern sources and configurable tables come with the classification
 * issue and slot in here without touching the pipeline. */
#ifndef GW_CLASSIFY_H
#define GW_CLASSIFY_H

#include <jansson.h>

/* Environment name (borrowed from labels, or "unknown"). */
const char *gw_classify_environment(json_t *labels);
/* "P0".."P3" for a raw severity and an environment (static strings). */
const char *gw_classify_priority(const char *severity, const char *environment);

#endif
