/* SPDX-License-Identifier: Apache-2.0 */
/* fingerprint.c - see fingerprint.h. */
#include "fingerprint.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

gw_err gw_fingerprint(const char *cluster, const gw_target *t, const char *signal_name,
                      char out[65])
{
    /* names are bounded (253 each) by the adapters, so this cannot overflow */
    char key[1200];
    int n;
    if (cluster && *cluster)
        n = snprintf(key, sizeof key, "%s:%s:%s:%s", cluster, t->namespace_, t->kind, t->name);
    else
        n = snprintf(key, sizeof key, "%s:%s:%s", t->namespace_, t->kind, t->name);
    if (n < 0 || (size_t)n >= sizeof key)
        return GW_EINVAL;
    if (signal_name) {
        int m = snprintf(key + n, sizeof key - (size_t)n, ":%s", signal_name);
        if (m < 0 || (size_t)m >= sizeof key - (size_t)n)
            return GW_EINVAL;
        n += m;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(key, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return GW_EINTERNAL;
    gw_hex_encode(md, 32, out);
    return GW_OK;
}
