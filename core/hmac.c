/* SPDX-License-Identifier: Apache-2.0 */
/* hmac.c - see hmac.h.  OpenSSL's EVP_MAC API, so a timestamp prefix is fed
 * incrementally instead of copying the body. */
#include "hmac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "text.h"

static bool mac(const gw_secret *secret, const char *timestamp, const char *body, size_t len,
                unsigned char out[32])
{
    bool ok = false;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    if (c) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        size_t outlen = 0;
        ok = EVP_MAC_init(c, (const unsigned char *)secret->data, secret->len, params) &&
             (!timestamp ||
              (EVP_MAC_update(c, (const unsigned char *)timestamp, strlen(timestamp)) &&
               EVP_MAC_update(c, (const unsigned char *)":", 1))) &&
             EVP_MAC_update(c, (const unsigned char *)body, len) &&
             EVP_MAC_final(c, out, &outlen, 32) && outlen == 32;
    }
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return ok;
}

bool gw_hmac_sha256_verify(const gw_secret *secrets, size_t n, const char *timestamp,
                           const char *body, size_t len, const char *sig_hex)
{
    if (!sig_hex || strlen(sig_hex) != 64)
        return false;
    unsigned char want[32];
    if (!gw_hex_decode(sig_hex, want, sizeof want))
        return false;
    bool match = false;
    /* every secret is tried, so timing does not tell which one matched */
    for (size_t k = 0; k < n; k++) {
        unsigned char got[32];
        if (mac(&secrets[k], timestamp, body, len, got) && !CRYPTO_memcmp(got, want, 32))
            match = true;
    }
    return match;
}
