/* SPDX-License-Identifier: Apache-2.0 */
/* test_secret.c - core/secretfile.c: a secret file is read whole or not at
 * all (over GW_SECRET_MAX bytes, empty, or a NUL in a password is a
 * configuration error naming the key and the file, never a shortened
 * secret), the trailing newline is not part of it, and the --check-config
 * pass over every secret file the configuration names.  The start-up users
 * (redis.c, auth.c) are checked through gw_redis_init and gw_auth_new. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "redis.h"
#include "secretfile.h"

#include "testutil.h"

/* Writes len bytes of data to a new temp file; its name goes to path. */
static void temp_file(char *path, size_t pathlen, const void *data, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, pathlen, "%s/test_secret.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        fail_msg("mkstemp %s failed", path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* n bytes of 'x', then tail (may be ""). */
static void temp_secret(char *path, size_t pathlen, size_t n, const char *tail)
{
    size_t tl = strlen(tail);
    char *buf = malloc(n + tl);
    assert_non_null(buf);
    memset(buf, 'x', n);
    memcpy(buf + n, tail, tl);
    temp_file(path, pathlen, buf, n + tl);
    free(buf);
}

static void read_whole_secret(void **state)
{
    (void)state;
    char path[256], err[512], *data = NULL;
    size_t len = 0;
    temp_file(path, sizeof path, "s3cret\r\n", 8);
    assert_int_equal(gw_secret_file_read("auth.hmac_secret_files", path, GW_SECRET_BINARY, &data,
                                         &len, err, sizeof err), GW_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(data, "s3cret", 7); /* NUL-terminated */
    gw_secret_free(data, len);
    unlink(path);

    /* exactly the maximum, with or without a newline */
    temp_secret(path, sizeof path, GW_SECRET_MAX, "\n");
    assert_int_equal(gw_secret_file_read("redis.password_file", path, GW_SECRET_TEXT, &data,
                                         &len, err, sizeof err), GW_OK);
    assert_int_equal(len, GW_SECRET_MAX);
    gw_secret_free(data, len);
    unlink(path);

    /* binary secrets keep NUL bytes */
    temp_file(path, sizeof path, "a\0b", 3);
    assert_int_equal(gw_secret_file_read("grafana.secret_files", path, GW_SECRET_BINARY, &data,
                                         &len, err, sizeof err), GW_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "a\0b", 3);
    gw_secret_free(data, len);
    unlink(path);
}

static void refuse_what_would_be_cut(void **state)
{
    (void)state;
    char path[256], err[512], *data = (char *)"untouched";
    size_t len = 7;

    /* one byte too many */
    temp_secret(path, sizeof path, GW_SECRET_MAX + 1, "");
    assert_int_equal(gw_secret_file_read("redis.password_file", path, GW_SECRET_TEXT, &data,
                                         &len, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "redis.password_file");
    assert_contains(err, path);
    assert_contains(err, "4096");
    assert_null(data);
    assert_int_equal(len, 0);
    unlink(path);

    /* far too many, with a newline at the end */
    temp_secret(path, sizeof path, 100000, "\n");
    assert_int_equal(gw_secret_file_read("auth.hmac_secret_files", path, GW_SECRET_BINARY, &data,
                                         &len, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "auth.hmac_secret_files");
    unlink(path);

    /* a NUL would end a password early */
    temp_file(path, sizeof path, "pass\0word\n", 10);
    assert_int_equal(gw_secret_file_read("redis.password_file", path, GW_SECRET_TEXT, &data,
                                         &len, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "NUL");
    unlink(path);

    /* empty, or nothing but a newline */
    temp_file(path, sizeof path, "\n", 1);
    assert_int_equal(gw_secret_file_read("redis.password_file", path, GW_SECRET_TEXT, &data,
                                         &len, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "empty");
    unlink(path);

    /* missing */
    assert_int_equal(gw_secret_file_read("redis.password_file", "/nonexistent/pw", GW_SECRET_TEXT,
                                         &data, &len, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "redis.password_file: cannot read /nonexistent/pw");

    /* a directory is not a secret */
    assert_int_equal(gw_secret_file_read("redis.password_file", "/", GW_SECRET_TEXT, &data, &len,
                                         err, sizeof err), GW_ECONFIG);
    assert_contains(err, "not a regular file");
}

/* Loads the config from the environment (name, value pairs, NULL-ended). */
static void load_env(gw_config *c, const char *const *env)
{
    char errs[2048];
    clear_alertgw_env();
    for (; env && *env; env += 2)
        setenv(env[0], env[1], 1);
    if (gw_config_load(c, NULL, errs, sizeof errs))
        fail_msg("config refused: %s", errs);
    clear_alertgw_env();
}

static void check_config_pass(void **state)
{
    (void)state;
    char big[256], ok[256], errs[2048], notes[1024];
    temp_secret(big, sizeof big, GW_SECRET_MAX + 1, "");
    temp_secret(ok, sizeof ok, 32, "\n");
    gw_config c;
    const char *env[] = {
        "ALERTGW_REDIS_PASSWORD_FILE", big,
        "ALERTGW_AUTH_HMAC_SECRET_FILES", NULL, /* filled below */
        "ALERTGW_GRAFANA_SECRET_FILES", "/nonexistent/grafana.key",
        NULL,
    };
    char list[600];
    snprintf(list, sizeof list, "%s, %s", ok, big);
    env[3] = list;
    load_env(&c, env);
    errs[0] = notes[0] = '\0';
    int n = gw_secret_files_check(&c, errs, sizeof errs, notes, sizeof notes);
    assert_int_equal(n, 2);
    assert_contains(errs, "redis.password_file");
    assert_contains(errs, "auth.hmac_secret_files");
    assert_contains(errs, big);
    if (strstr(errs, ok))
        fail_msg("the good file is named: %s", errs);
    /* one it cannot read is a note: the check may run elsewhere */
    assert_contains(notes, "grafana.secret_files: cannot read /nonexistent/grafana.key");
    gw_config_free(&c);

    /* nothing named: nothing to say */
    load_env(&c, NULL);
    errs[0] = notes[0] = '\0';
    assert_int_equal(gw_secret_files_check(&c, errs, sizeof errs, notes, sizeof notes), 0);
    assert_string_equal(errs, "");
    assert_string_equal(notes, "");
    gw_config_free(&c);
    unlink(big);
    unlink(ok);
}

/* The start-up readers refuse the same file with the same words. */
static void start_up_refuses(void **state)
{
    (void)state;
    char big[256], err[512];
    temp_secret(big, sizeof big, GW_SECRET_MAX + 1, "\n");
    gw_config c;
    const char *env[] = { "ALERTGW_AUTH_PROMETHEUS", "hmac", "ALERTGW_AUTH_HMAC_SECRET_FILES", big,
                          NULL };
    load_env(&c, env);
    gw_auth *a = NULL;
    assert_int_equal(gw_auth_new(&c, NULL, NULL, &a, err, sizeof err), GW_ECONFIG);
    assert_null(a);
    assert_contains(err, "auth.hmac_secret_files");
    assert_contains(err, big);
    assert_contains(err, "4096");
    gw_config_free(&c);

    gw_redis r;
    gw_redis_opts o = { .addr = "127.0.0.1:1", .password_file = big, .connect_timeout_ms = 100,
                        .command_timeout_ms = 100 };
    assert_int_equal(gw_redis_init(&r, &o, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "redis.password_file");
    assert_contains(err, big);
    gw_redis_free(&r);

    gw_redis_opts s = { .addr = "127.0.0.1:1", .sentinels = "127.0.0.1:2",
                        .sentinel_master = "m", .sentinel_password_file = big,
                        .connect_timeout_ms = 100, .command_timeout_ms = 100 };
    assert_int_equal(gw_redis_init(&r, &s, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "redis.sentinel_password_file");
    gw_redis_free(&r);
    unlink(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_whole_secret),
        cmocka_unit_test(refuse_what_would_be_cut),
        cmocka_unit_test(check_config_pass),
        cmocka_unit_test(start_up_refuses),
    };
    return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
