/* SPDX-License-Identifier: Apache-2.0 */
/* redisrv.h - a real redis-server for the unit tests (include after
 * cmocka.h): started from PATH on a unix socket in a mkdtemp() directory,
 * no TCP port, no persistence; waited for until it answers PING; stopped
 * by its PID (SIGTERM, waitpid), never by name.  test_redis_close also
 * removes the directory. */
#ifndef GW_TEST_REDISRV_H
#define GW_TEST_REDISRV_H

#include <dirent.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char        dir[64];
    char        sock[128];
    char        addr[160];  /* "unix:<sock>", for redis.addr */
    pid_t       pid;        /* 0: not running */
    const char *password;   /* NULL: no --requirepass */
} test_redis;

static inline void test_redis_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Whether the server on the socket answers PING (any reply, NOAUTH too). */
static inline bool test_redis_answers(const char *sock)
{
    struct timeval tv = { 0, 200000 };
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *rep = redisCommand(c, "PING");
        ok = rep != NULL;
        if (rep)
            freeReplyObject(rep);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* (Re)starts the server of x on its socket; fails the test if it does not
 * answer within 10 s (a busy machine). */
static inline void test_redis_start(test_redis *x)
{
    char logfile[160];
    snprintf(logfile, sizeof logfile, "%s/redis.log", x->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[] = { "redis-server", "--port", "0", "--unixsocket", x->sock,
                               "--save", "", "--appendonly", "no", "--dir", x->dir,
                               "--logfile", logfile, x->password ? "--requirepass" : NULL,
                               x->password, NULL };
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    x->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (test_redis_answers(x->sock))
            return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            x->pid = 0;
            fail_msg("redis-server exited (status %d; 127: not on PATH); see %s", status,
                     logfile);
        }
        test_redis_sleep_ms(20);
    }
    fail_msg("redis-server did not answer on %s", x->sock);
}

static inline void test_redis_stop(test_redis *x)
{
    if (!x->pid)
        return;
    kill(x->pid, SIGTERM);
    waitpid(x->pid, NULL, 0);
    x->pid = 0;
}

/* A new directory under /tmp named after prefix, and the server in it. */
static inline void test_redis_open(test_redis *x, const char *prefix, const char *password)
{
    memset(x, 0, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/%s.XXXXXX", prefix);
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->sock, sizeof x->sock, "%s/redis.sock", x->dir);
    snprintf(x->addr, sizeof x->addr, "unix:%s", x->sock);
    x->password = password;
    test_redis_start(x);
}

/* "cmd key arg" (HGET, ZSCORE: a bulk reply) on a connection of its own,
 * the reply read as a number; -1 when it is nil. */
static inline long long test_redis_num(const test_redis *x, const char *cmd, const char *key,
                                       const char *arg)
{
    redisContext *c = redisConnectUnix(x->sock);
    assert_true(c && !c->err);
    if (x->password) {
        redisReply *a = redisCommand(c, "AUTH %s", x->password);
        assert_non_null(a);
        freeReplyObject(a);
    }
    redisReply *r = redisCommand(c, "%s %s %s", cmd, key, arg);
    assert_non_null(r);
    long long n = -1;
    if (r->type == REDIS_REPLY_STRING)
        n = strtoll(r->str, NULL, 10);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Stops the server and removes its directory (flat: the socket, the log,
 * and whatever the test wrote there). */
static inline void test_redis_close(test_redis *x)
{
    test_redis_stop(x);
    DIR *d = opendir(x->dir);
    if (d) {
        struct dirent *e;
        char path[400];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(path, sizeof path, "%s/%s", x->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(x->dir);
}

#endif
