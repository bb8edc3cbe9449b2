/* SPDX-License-Identifier: Apache-2.0 */
/* configkeys.h - the configuration key table (configkeys.c), shared by
 * config.c (the loaders and checks) and configkeys.c only; nothing else
 * includes it.
 *
 * Every key has one gw_key_def: section, key, type, where its value lives
 * in gw_config, its default written as a user would write it, and a
 * description.  The table and every string in it are static and read-only;
 * nobody frees them.  gw_key_set_value stores a copy of the string it is
 * given (gw_config owns it, gw_config_free releases it). */
#ifndef GW_CONFIGKEYS_H
#define GW_CONFIGKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* GW_T_LIST and GW_T_MAP are strings in gw_config ("a,b" and "k=v,k=v",
 * the form environment variables use); in the YAML file they may also be
 * written as a sequence or a mapping, which the loader flattens to that
 * form. */
typedef enum {
    GW_T_STR, GW_T_INT, GW_T_BOOL, GW_T_DUR_MS, GW_T_DUR_S, GW_T_BYTES, GW_T_LIST, GW_T_MAP
} gw_key_type;

typedef struct {
    const char *section;
    const char *key;
    gw_key_type type;
    size_t      off;   /* of the field in gw_config */
    const char *def;
    const char *desc;
} gw_key_def;

/* The number of keys: a constant, so that a loader can keep one slot per
 * key on the stack; configkeys.c checks it against the table at build
 * time (adding a key means raising it). */
#define GW_CONFIG_NKEYS 119

extern const gw_key_def gw_config_keys[GW_CONFIG_NKEYS];

/* Stores the textual value s into the field of k in cfg.  On a bad value
 * (GW_EINVAL) or GW_ENOMEM the field is left as it was. */
gw_err gw_key_set_value(gw_config *cfg, const gw_key_def *k, const char *s);

/* What a value of type t must look like, for error messages ("a duration
 * like 500ms, 30s, 5m"); a static string. */
const char *gw_key_type_hint(gw_key_type t);

/* The key section.key, or NULL. */
const gw_key_def *gw_key_find(const char *section, const char *key);

/* Whether any key has this section. */
bool gw_key_section_known(const char *section);

/* ALERTGW_<SECTION>_<KEY>, upper case, into out (outlen bytes). */
void gw_key_env_name(const gw_key_def *k, char *out, size_t outlen);

#endif
