/* classify.c - see classify.h. */
#include "classify.h"

#include <string.h>
#include <strings.h>

#include "target.h"

const char *gw_classify_environment(json_t *labels)
{
    const char *env = json_string_value(json_object_get(labels, "environment"));
    if (env && gw_is_dns_label(env))
        return env;
    return "unknown";
}

/* Folds the common spellings onto critical / warning / info. */
static const char *severity_class(const char *sev)
{
    static const struct { const char *alias, *cls; } aliases[] = {
        { "critical", "critical" }, { "page", "critical" }, { "sev1", "critical" },
        { "p1", "critical" },       { "high", "critical" }, { "error", "critical" },
        { "warning", "warning" },   { "warn", "warning" },  { "sev2", "warning" },
        { "medium", "warning" },    { "info", "info" },     { "low", "info" },
        { "sev3", "info" },
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcasecmp(sev, aliases[i].alias))
            return aliases[i].cls;
    return "other";
}

static const char *env_class(const char *env)
{
    if (!strcasecmp(env, "production") || !strcasecmp(env, "prod"))
        return "production";
    if (!strcasecmp(env, "staging") || !strcasecmp(env, "stage"))
        return "staging";
    if (!strcasecmp(env, "development") || !strcasecmp(env, "dev"))
        return "development";
    return "other";
}

const char *gw_classify_priority(const char *severity, const char *environment)
{
    static const struct { const char *sev, *env, *prio; } table[] = {
        { "critical", "production", "P0" },  { "critical", "staging", "P1" },
        { "warning", "production", "P1" },   { "critical", "development", "P2" },
        { "warning", "staging", "P2" },      { "info", "production", "P2" },
    };
    const char *s = severity_class(severity), *e = env_class(environment);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(s, table[i].sev) && !strcmp(e, table[i].env))
            return table[i].prio;
    return "P3";
}
