/* SPDX-License-Identifier: Apache-2.0 */
/* test_hmac.c - HMAC-SHA256 signature checks; vectors from
 * `printf '%s' BODY | openssl dgst -sha256 -hmac s3cret`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hmac.h"

static const char body[] = "{\"receiver\":\"alertgw\",\"status\":\"firing\"}";
#define SIG_BODY "75ef49910c5e07316ac3c889b932fbacbd2ae81151aa76957bfd8a60e03adce7"
#define SIG_TS   "395334a795cf924bccc1a88a46584d477dc9c0ac562b6402384eb438db988d31"  /* of "1700000000:" + body */

static const gw_secret good = { "s3cret", 6 };
static const gw_secret other = { "old-secret", 10 };

static void verifies_a_known_vector(void **state)
{
    (void)state;
    assert_true(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), SIG_BODY));
}

static void timestamp_is_part_of_the_signed_string(void **state)
{
    (void)state;
    assert_true(gw_hmac_sha256_verify(&good, 1, "1700000000", body, strlen(body), SIG_TS));
    assert_false(gw_hmac_sha256_verify(&good, 1, "1700000001", body, strlen(body), SIG_TS));
    assert_false(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), SIG_TS));
}

static void any_of_several_secrets_rotation(void **state)
{
    (void)state;
    gw_secret both[] = { other, good };
    assert_true(gw_hmac_sha256_verify(both, 2, NULL, body, strlen(body), SIG_BODY));
    assert_false(gw_hmac_sha256_verify(&other, 1, NULL, body, strlen(body), SIG_BODY));
}

static void rejects_tampering_and_bad_hex(void **state)
{
    (void)state;
    char upper[65];
    strcpy(upper, SIG_BODY);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_true(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), upper));
    assert_false(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body) - 1, SIG_BODY));
    char flipped[65];
    strcpy(flipped, SIG_BODY);
    flipped[10] = flipped[10] == '0' ? '1' : '0';
    assert_false(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), flipped));
    assert_false(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), "abc"));
    char nonhex[65];
    strcpy(nonhex, SIG_BODY);
    nonhex[0] = 'g';
    assert_false(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), nonhex));
    assert_false(gw_hmac_sha256_verify(&good, 1, NULL, body, strlen(body), NULL));
    assert_false(gw_hmac_sha256_verify(&good, 0, NULL, body, strlen(body), SIG_BODY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verifies_a_known_vector),
        cmocka_unit_test(timestamp_is_part_of_the_signed_string),
        cmocka_unit_test(any_of_several_secrets_rotation),
        cmocka_unit_test(rejects_tampering_and_bad_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
