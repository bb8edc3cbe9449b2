/* SPDX-License-Identifier: Apache-2.0 */
/* test_redis.c - unit tests for core/redis.c against a real redis-server.
 *
 * Each test starts its own redis-server (from PATH) on a unix socket in a
 * mkdtemp() directory, with no TCP port and no persistence, waits until it
 * answers PING, and stops it by PID (SIGTERM, waitpid) at teardown before
 * removing the directory.  What redis.h promises is checked: "unix:"
 * addresses, a failing command (server down, error reply) is GW_EREDIS
 * with a message and the next call starts afresh, a restart costs at most
 * one failed call, scripts are loaded again on NOSCRIPT, and the password
 * file (AUTH; a wrong password fails without the password in the message).
 * Sentinel is tested end to end (shell-tests).  Without redis-server on
 * PATH the program exits 77 (automake's SKIP). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"
#include "redisrv.h"
#include "testutil.h"

#define PASSWORD "s3cret-Pa55word"
#define WRONG_PASSWORD "not-the-Pa55word"

typedef test_redis redis_fx;

static int fx_setup(void **state, bool requirepass)
{
    redis_fx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    test_redis_open(x, "gw-test-redis", requirepass ? PASSWORD : NULL);
    *state = x;
    return 0;
}

static int setup(void **state)
{
    return fx_setup(state, false);
}

static int setup_requirepass(void **state)
{
    return fx_setup(state, true);
}

static int teardown(void **state)
{
    redis_fx *x = *state;
    test_redis_close(x);
    free(x);
    return 0;
}

/* Writes content to DIR/name, returns the path (static storage). */
static const char *write_file(const redis_fx *x, const char *name, const char *content)
{
    static char path[200];
    snprintf(path, sizeof path, "%s/%s", x->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

static void init(gw_redis *r, const char *addr, const char *password_file)
{
    gw_redis_opts o = { .addr = addr, .password_file = password_file, .connect_timeout_ms = 1000,
                        .command_timeout_ms = 1000, .log_min = GW_LOG_ERROR };
    char err[256];
    assert_int_equal(gw_redis_init(r, &o, err, sizeof err), GW_OK);
}

/* SET then GET key through gw_redis_command; the result of the GET. */
static gw_err set_get(gw_redis *r, const char *key, const char *value)
{
    const char *set[] = { "SET", key, value };
    size_t setl[] = { 3, strlen(key), strlen(value) };
    redisReply *rep;
    gw_err rc = gw_redis_command(r, 3, set, setl, &rep);
    if (rc)
        return rc;
    freeReplyObject(rep);
    const char *get[] = { "GET", key };
    size_t getl[] = { 3, strlen(key) };
    if ((rc = gw_redis_command(r, 2, get, getl, &rep)))
        return rc;
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, value);
    freeReplyObject(rep);
    return GW_OK;
}

/* ----------------------------------------------------------- connecting */

static void connects_by_unix_address(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, NULL);
    assert_null(r.c); /* lazily */
    assert_int_equal(gw_redis_ping(&r), GW_OK);
    assert_non_null(r.c);
    assert_int_equal(set_get(&r, "k", "v"), GW_OK);
    /* binary-safe arguments */
    const char *argv[] = { "SET", "bin", "a\0b" };
    size_t lens[] = { 3, 3, 3 };
    redisReply *rep;
    assert_int_equal(gw_redis_command(&r, 3, argv, lens, &rep), GW_OK);
    freeReplyObject(rep);
    const char *get[] = { "STRLEN", "bin" };
    size_t getl[] = { 6, 3 };
    assert_int_equal(gw_redis_command(&r, 2, get, getl, &rep), GW_OK);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    assert_int_equal(rep->integer, 3);
    freeReplyObject(rep);
    gw_redis_free(&r);
}

static void error_reply_is_gw_eredis_and_the_next_call_works(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, NULL);
    const char *argv[] = { "NOSUCHCOMMAND", "x" };
    size_t lens[] = { 13, 1 };
    redisReply *rep = NULL;
    assert_int_equal(gw_redis_command(&r, 2, argv, lens, &rep), GW_EREDIS);
    assert_null(rep);
    assert_contains(r.errstr, "NOSUCHCOMMAND");
    assert_contains(r.errstr, "unknown command");
    assert_null(r.c); /* dropped: the next call starts afresh */
    assert_int_equal(gw_redis_ping(&r), GW_OK);
    gw_redis_free(&r);
}

/* ------------------------------------------------------- server down/up */

static void server_down_fails_cleanly(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, NULL);
    test_redis_stop(x);
    /* never connected: the connect fails */
    assert_int_equal(gw_redis_ping(&r), GW_EREDIS);
    assert_null(r.c);
    assert_contains(r.errstr, "connect");
    assert_contains(r.errstr, x->addr);
    redisReply *rep = NULL;
    const char *argv[] = { "GET", "k" };
    size_t lens[] = { 3, 1 };
    assert_int_equal(gw_redis_command(&r, 2, argv, lens, &rep), GW_EREDIS);
    assert_null(rep);
    assert_contains(r.errstr, "connect");
    /* once it is back, the next call connects */
    test_redis_start(x);
    assert_int_equal(gw_redis_ping(&r), GW_OK);
    gw_redis_free(&r);
}

static void restart_costs_at_most_one_call(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, NULL);
    assert_int_equal(set_get(&r, "before", "1"), GW_OK);
    assert_non_null(r.c);
    /* down: the open connection is dead, the call fails with a message */
    test_redis_stop(x);
    r.errstr[0] = '\0';
    assert_int_equal(gw_redis_ping(&r), GW_EREDIS);
    assert_true(r.errstr[0] != '\0');
    assert_null(r.c);
    assert_int_equal(gw_redis_ping(&r), GW_EREDIS);
    assert_contains(r.errstr, "connect");
    /* up again on the same socket: the next call reconnects */
    test_redis_start(x);
    assert_int_equal(gw_redis_ping(&r), GW_OK);
    assert_int_equal(set_get(&r, "after", "2"), GW_OK);

    /* restarted while connected: at most one failed call, then it works */
    test_redis_stop(x);
    test_redis_start(x);
    gw_err rc = gw_redis_ping(&r);
    if (rc) {
        assert_int_equal(rc, GW_EREDIS);
        assert_true(r.errstr[0] != '\0');
        assert_null(r.c);
        assert_int_equal(gw_redis_ping(&r), GW_OK);
    }
    assert_int_equal(set_get(&r, "again", "3"), GW_OK);
    gw_redis_free(&r);
}

/* -------------------------------------------------------------- scripts */

static void scripts_are_loaded_again_on_noscript(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, NULL);
    static const char src[] = "return redis.call('INCR', KEYS[1])";
    char sha[41] = "";
    const char *argv[4];
    size_t lens[4];
    long long want = 0;
    for (int round = 0; round < 3; round++) {
        argv[2] = "1";
        lens[2] = 1;
        argv[3] = "counter";
        lens[3] = 7;
        redisReply *rep;
        assert_int_equal(gw_redis_eval(&r, src, sha, 4, argv, lens, &rep), GW_OK);
        assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
        assert_int_equal(rep->integer, ++want);
        freeReplyObject(rep);
        assert_int_equal((int)strlen(sha), 40);
        if (round == 0) { /* the script cache is emptied behind our back */
            const char *flush[] = { "SCRIPT", "FLUSH" };
            size_t fl[] = { 6, 5 };
            assert_int_equal(gw_redis_command(&r, 2, flush, fl, &rep), GW_OK);
            freeReplyObject(rep);
        }
    }
    /* a script error is GW_EREDIS with Redis's words */
    char sha2[41] = "";
    argv[2] = "0";
    lens[2] = 1;
    redisReply *rep = NULL;
    assert_int_equal(gw_redis_eval(&r, "return redis.call('NOSUCHCMD')", sha2, 3, argv, lens,
                                   &rep), GW_EREDIS);
    assert_null(rep);
    assert_contains(r.errstr, "script");
    gw_redis_free(&r);
}

/* ------------------------------------------------------------- password */

static void password_file_right_password_works(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, write_file(x, "pw", PASSWORD "\n"));
    assert_int_equal(gw_redis_ping(&r), GW_OK);
    assert_int_equal(set_get(&r, "k", "v"), GW_OK);
    /* after a restart the new connection authenticates again */
    test_redis_stop(x);
    test_redis_start(x);
    if (gw_redis_ping(&r))
        assert_int_equal(gw_redis_ping(&r), GW_OK);
    assert_int_equal(set_get(&r, "k2", "v2"), GW_OK);
    gw_redis_free(&r);
}

static void password_file_wrong_password_fails_without_saying_it(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, write_file(x, "pw", WRONG_PASSWORD "\n"));
    assert_int_equal(gw_redis_ping(&r), GW_EREDIS);
    assert_null(r.c);
    assert_contains(r.errstr, "AUTH");
    assert_contains(r.errstr, x->addr);
    if (strstr(r.errstr, WRONG_PASSWORD) || strstr(r.errstr, PASSWORD))
        fail_msg("the error names a password: %s", r.errstr);
    redisReply *rep = NULL;
    const char *argv[] = { "GET", "k" };
    size_t lens[] = { 3, 1 };
    assert_int_equal(gw_redis_command(&r, 2, argv, lens, &rep), GW_EREDIS);
    assert_null(rep);
    assert_contains(r.errstr, "AUTH");
    if (strstr(r.errstr, WRONG_PASSWORD))
        fail_msg("the error names the password: %s", r.errstr);
    gw_redis_free(&r);
}

static void no_password_file_is_refused_by_the_server(void **state)
{
    redis_fx *x = *state;
    gw_redis r;
    init(&r, x->addr, NULL);
    assert_int_equal(gw_redis_ping(&r), GW_EREDIS);
    assert_contains(r.errstr, "NOAUTH");
    gw_redis_free(&r);
}

static void missing_password_file_is_a_config_error(void **state)
{
    redis_fx *x = *state;
    char path[200], err[256];
    snprintf(path, sizeof path, "%s/absent", x->dir);
    gw_redis r;
    gw_redis_opts o = { .addr = x->addr, .password_file = path, .connect_timeout_ms = 1000,
                        .command_timeout_ms = 1000 };
    assert_int_equal(gw_redis_init(&r, &o, err, sizeof err), GW_ECONFIG);
    assert_contains(err, "redis.password_file");
    gw_redis_free(&r);
}

int main(void)
{
    /* as the worker does (fcgi/main.c): a vanished peer is an error, not a
     * signal */
    signal(SIGPIPE, SIG_IGN);
    if (system("command -v redis-server >/dev/null 2>&1")) {
        fprintf(stderr, "test_redis: no redis-server on PATH (deploy/install-deps.sh): SKIP\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(connects_by_unix_address, setup, teardown),
        cmocka_unit_test_setup_teardown(error_reply_is_gw_eredis_and_the_next_call_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(server_down_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_costs_at_most_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(scripts_are_loaded_again_on_noscript, setup, teardown),
        cmocka_unit_test_setup_teardown(password_file_right_password_works, setup_requirepass,
                                        teardown),
        cmocka_unit_test_setup_teardown(password_file_wrong_password_fails_without_saying_it,
                                        setup_requirepass, teardown),
        cmocka_unit_test_setup_teardown(no_password_file_is_refused_by_the_server,
                                        setup_requirepass, teardown),
        cmocka_unit_test_setup_teardown(missing_password_file_is_a_config_error, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
