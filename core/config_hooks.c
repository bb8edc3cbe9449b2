/* SPDX-License-Identifier: Apache-2.0 */
/* config_hooks.c - the modules that check their own configuration
 * sections (config.h: gw_config_hooks).
 *
 * config.c sits below every module that reads the configuration, so it
 * does not call them; it runs this table instead.  A module whose section
 * needs more than a range or a syntax check (auth's route modes, which
 * only auth.c parses; the anonymous-route exposure check, which needs
 * auth's view of a route) adds its check here. */
#include "config.h"

#include <stdlib.h>

#include "auth.h"
#include "exposure.h"

/* The exposure check reads the listen address the front end will use. */
static int exposure_check(const gw_config *c, char *errs, size_t errlen)
{
    return gw_exposure_config_errors(c, getenv("ALERTGW_LISTEN_ADDR"), errs, errlen);
}

const gw_config_hook gw_config_hooks[] = {
    { "exposure", exposure_check },
    { "auth", gw_auth_config_errors },
    { NULL, NULL },
};
