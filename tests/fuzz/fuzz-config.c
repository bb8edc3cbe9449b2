/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-config.c - the YAML config file through gw_config_load (the key
 * table, every value parser, the cross-key checks and the auth.* checks).
 * Input: one config file.  Corpus: tests/fuzz/config/.
 *
 * The ALERTGW_* environment also feeds gw_config_load: run the target with
 * none set (the auth target sets and clears its own). */
#include "fuzz.h"

GW_FUZZ_TARGET(config)
{
    static gw_fuzz_file file; /* harness state: see fuzz.h */
    const char *path = gw_fuzz_file_set(&file, data, size);
    gw_config c;
    char errs[4096];
    gw_config_load(&c, path, errs, sizeof errs);
    GW_FUZZ_REQUIRE(memchr(errs, '\0', sizeof errs) != NULL, "error text not terminated");
    gw_config_free(&c);
    return 0;
}
