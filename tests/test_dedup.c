/* SPDX-License-Identifier: Apache-2.0 */
/* test_dedup.c - the dedup/storm Lua script (core/dedup.lua) against a real
 * redis-server, through the public API of dedup.h.
 *
 * Each test starts its own redis-server from PATH (port 0: no TCP, a unix
 * socket in a mkdtemp() directory, no persistence) and stops it by its PID
 * in teardown.  redis-server missing is a failure, not a skip:
 * deploy/install-deps.sh installs it.  The script takes the time as an
 * argument, so the tests drive a fake clock (T0 and offsets from it); the
 * real TTLs Redis sets (leases, dedup.ttl, the storm keys' lives) are far
 * longer than a test runs.
 *
 * The first two tests need no Redis: the SLOTS block of dedup.lua and
 * dedup_slots.h name the same slots, and the embedded script is the file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dedup.h"
#include "dedup_slots.h"
#include "redis.h"
#include "redisrv.h"
#include "testutil.h"

#ifndef GW_CORE_DIR
#error "GW_CORE_DIR (the source tree's core/) is set by Makefile.am"
#endif

/* 2026-01-01T00:00:00Z: a minute boundary, so budget minutes are known */
#define T0 1767225600000LL

/* ---- the slots: dedup.lua's comment block against dedup_slots.h -------- */

typedef struct {
    char name[96];
    bool key;   /* KEYS (else ARGV) */
    long index;
} slot;

#define MAX_SLOTS 128

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* The name at s (GW_DEDUP_[A-Z0-9_]*) into out; returns its length. */
static size_t slot_name(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
        n++;
    if (n == 0 || n >= outlen || strncmp(s, "GW_DEDUP_", 9))
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

/* Lines "--   KEYS[n]  NAME ..." / "--   ARGV[n]  NAME ..." between
 * "-- SLOTS BEGIN" and "-- SLOTS END". */
static size_t lua_slots(const char *text, slot *out)
{
    const char *b = strstr(text, "\n-- SLOTS BEGIN\n"), *e = strstr(text, "\n-- SLOTS END\n");
    assert_non_null(b);
    assert_non_null(e);
    assert_true(b < e);
    size_t n = 0;
    for (const char *l = b + 1; l && l < e; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        /* a slot line: "--", spaces, KEYS[ or ARGV[ (others are headings) */
        if (strncmp(l, "--", 2))
            continue;
        const char *p = l + 2;
        while (*p == ' ')
            p++;
        if (strncmp(p, "KEYS[", 5) && strncmp(p, "ARGV[", 5))
            continue;
        assert_true(n < MAX_SLOTS);
        char *end;
        out[n].key = p[0] == 'K';
        out[n].index = strtol(p + 5, &end, 10);
        assert_int_equal(*end, ']');
        end++;
        while (*end == ' ')
            end++;
        if (!slot_name(end, out[n].name, sizeof out[n].name))
            fail_msg("dedup.lua SLOTS: no GW_DEDUP_ name after %.9s", p);
        n++;
    }
    return n;
}

/* Enumerators "GW_DEDUP_..._KEY_... = n," / "GW_DEDUP_..._ARG_... = n,". */
static size_t header_slots(const char *text, slot *out)
{
    size_t n = 0;
    for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        while (*l == ' ')
            l++;
        char name[96];
        size_t len = slot_name(l, name, sizeof name);
        if (!len || (!strstr(name, "_KEY_") && !strstr(name, "_ARG_")))
            continue;
        const char *p = l + len;
        while (*p == ' ')
            p++;
        if (*p != '=')
            continue;
        p++;
        while (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            continue;
        assert_true(n < MAX_SLOTS);
        snprintf(out[n].name, sizeof out[n].name, "%s", name);
        out[n].key = strstr(name, "_KEY_") != NULL;
        out[n].index = strtol(p, NULL, 10);
        n++;
    }
    return n;
}

static void test_slots_agree(void **state)
{
    (void)state;
    char *lua = read_whole(GW_CORE_DIR "/dedup.lua");
    char *hdr = read_whole(GW_CORE_DIR "/dedup_slots.h");
    assert_non_null(lua);
    assert_non_null(hdr);
    slot *ls = calloc(MAX_SLOTS, sizeof *ls), *hs = calloc(MAX_SLOTS, sizeof *hs);
    size_t nl = lua_slots(lua, ls), nh = header_slots(hdr, hs);
    assert_true(nl >= 40); /* the parse found the block */
    for (size_t i = 0; i < nl; i++) {
        /* a KEYS slot is named _KEY_, an ARGV slot _ARG_ */
        if (ls[i].key != (strstr(ls[i].name, "_KEY_") != NULL))
            fail_msg("dedup.lua: %s is listed as %s", ls[i].name, ls[i].key ? "KEYS" : "ARGV");
        size_t j = 0;
        while (j < nh && strcmp(hs[j].name, ls[i].name))
            j++;
        if (j == nh)
            fail_msg("dedup.lua names %s, dedup_slots.h does not", ls[i].name);
        if (hs[j].index != ls[i].index)
            fail_msg("%s: dedup.lua says %ld, dedup_slots.h %ld", ls[i].name, ls[i].index,
                     hs[j].index);
        for (size_t k = i + 1; k < nl; k++)
            if (!strcmp(ls[k].name, ls[i].name))
                fail_msg("dedup.lua lists %s twice", ls[i].name);
    }
    for (size_t j = 0; j < nh; j++) {
        size_t i = 0;
        while (i < nl && strcmp(hs[j].name, ls[i].name))
            i++;
        if (i == nl)
            fail_msg("dedup_slots.h names %s, dedup.lua's SLOTS block does not", hs[j].name);
    }
    assert_int_equal(nl, nh);
    /* and the C names the same numbers the header's text says */
    assert_int_equal(GW_DEDUP_HIT_KEY_RATE, 8);
    assert_int_equal(GW_DEDUP_HIT_ARG_COUNT_RATE, 21);
    free(ls);
    free(hs);
    free(lua);
    free(hdr);
}

static void test_embedded_is_the_file(void **state)
{
    (void)state;
    char *lua = read_whole(GW_CORE_DIR "/dedup.lua");
    assert_non_null(lua);
    assert_int_equal(strlen(lua), gw_dedup_lua_len);
    assert_int_equal(strlen(gw_dedup_lua), gw_dedup_lua_len);
    assert_string_equal(gw_dedup_lua, lua);
    free(lua);
}

/* ---- a real redis-server ------------------------------------------------ */

typedef struct {
    test_redis srv;
    gw_config  cfg;
    gw_redis   redis;
    bool       redis_ok;
    gw_dedup   d;
} fx;

/* The defaults of the tests: storms on but no threshold reached unless a
 * test lowers one; no limits. */
static void base_config(gw_config *c)
{
    c->dedup_ttl_s = 3600;
    c->dedup_pending_lease_ms = 5000;
    c->dedup_status_sync_interval_ms = 1000;
    c->storm_enabled = true;
    c->storm_rate_threshold = 100000;
    c->storm_pattern_threshold = 100000;
    c->storm_pattern_window_ms = 120000;
    c->storm_aggregation_window_ms = 60000;
    c->storm_max_window_ms = 300000;
    c->storm_max_resources = 50;
    c->storm_namespace_cap = 0;
    c->limits_creates_per_minute = 0;
    c->limits_creates_per_sender_per_minute = 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    test_redis_open(&f->srv, "gw-test-dedup", NULL);
    if (gw_config_defaults(&f->cfg))
        return -1;
    base_config(&f->cfg);
    char err[256] = "";
    gw_redis_opts o = { .addr = f->srv.addr, .connect_timeout_ms = 1000,
                        .command_timeout_ms = 5000, .log_min = GW_LOG_ERROR };
    if (gw_redis_init(&f->redis, &o, err, sizeof err)) {
        fprintf(stderr, "test_dedup: gw_redis_init: %s\n", err);
        return -1;
    }
    f->redis_ok = true;
    gw_dedup_init(&f->d, &f->redis, &f->cfg);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (!f)
        return 0;
    if (f->redis_ok)
        gw_redis_free(&f->redis);
    gw_config_free(&f->cfg);
    test_redis_close(&f->srv);
    free(f);
    return 0;
}

/* After a change to f->cfg: the script's arguments are made at init. */
static void reconfigure(fx *f)
{
    gw_dedup_init(&f->d, &f->redis, &f->cfg);
}

/* One occurrence of alert in namespace prod on resource, from sender s1. */
static gw_dedup_result hit(fx *f, const char *fp, const char *alert, const char *resource,
                           long long now, const char *owner)
{
    char group[17];
    gw_dedup_group("prod", alert, group);
    gw_dedup_signal sig = { .group = group, .ns = "prod", .alertname = alert,
                            .resource = resource, .sender = "s1" };
    gw_dedup_result r;
    gw_err rc = gw_dedup_hit(&f->d, fp, &sig, now, owner, &r);
    if (rc)
        fail_msg("gw_dedup_hit(%s): %s (%s)", fp, gw_err_name(rc), f->redis.errstr);
    return r;
}

static gw_dedup_result activate(fx *f, const char *fp, long long now, const char *owner,
                                const char *name)
{
    gw_dedup_result r;
    gw_err rc = gw_dedup_activate(&f->d, fp, now, owner, name, "prod", &r);
    if (rc)
        fail_msg("gw_dedup_activate(%s): %s", fp, gw_err_name(rc));
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    return r;
}

/* A plain command's integer reply (arg NULL: none). */
static long long redis_int(fx *f, const char *cmd, const char *arg)
{
    const char *argv[] = { cmd, arg };
    size_t lens[] = { strlen(cmd), arg ? strlen(arg) : 0 };
    redisReply *rep;
    assert_int_equal(gw_redis_command(&f->redis, arg ? 2 : 1, argv, lens, &rep), GW_OK);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* A string value read as a number (GET; 0 when absent). */
static long long redis_get(fx *f, const char *k)
{
    const char *argv[] = { "GET", k };
    size_t lens[] = { 3, strlen(k) };
    redisReply *rep;
    assert_int_equal(gw_redis_command(&f->redis, 2, argv, lens, &rep), GW_OK);
    long long v = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    return v;
}

static void test_hit_new_then_duplicates(void **state)
{
    fx *f = *state;
    gw_dedup_result r = hit(f, "fp-a", "Crash", "Pod/a", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.first_ms, T0);
    assert_string_equal(r.storm_detected, "");

    r = activate(f, "fp-a", T0 + 2, "o1", "rr-a");
    assert_int_equal(r.count, 1);
    assert_string_equal(r.name, "rr-a");

    /* within the sync interval: counted, no status patch due, queued */
    r = hit(f, "fp-a", "Crash", "Pod/a", T0 + 3, "o2");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.first_ms, T0);
    assert_int_equal(r.last_ms, T0 + 3);
    assert_string_equal(r.name, "rr-a");
    assert_string_equal(r.ns, "prod");
    assert_false(r.sync_due);
    assert_false(r.member);
    /* the interval passed: this one patches */
    r = hit(f, "fp-a", "Crash", "Pod/a", T0 + 2000, "o3");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 3);
    assert_true(r.sync_due);

    assert_int_equal(gw_dedup_get(&f->d, "fp-a", 0, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.name, "rr-a");
    assert_false(r.member);
    /* the entry lives dedup.ttl */
    long long ttl = redis_int(f, "TTL", "alertgw:fp:fp-a");
    assert_true(ttl > 3500 && ttl <= 3600);

    assert_int_equal(gw_dedup_resolve(&f->d, "fp-a", T0 + 2100, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.resolved_ms, T0 + 2100);

    /* forget: only for the request's own name */
    assert_int_equal(gw_dedup_forget(&f->d, "fp-a", "rr-other"), GW_OK);
    assert_int_equal(gw_dedup_get(&f->d, "fp-a", 0, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(gw_dedup_forget(&f->d, "fp-a", "rr-a"), GW_OK);
    assert_int_equal(gw_dedup_get(&f->d, "fp-a", 0, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    r = hit(f, "fp-a", "Crash", "Pod/a", T0 + 3000, "o4");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
}

static void test_escalation(void **state)
{
    fx *f = *state;
    char group[17];
    gw_dedup_group("prod", "Slow", group);
    gw_dedup_signal sig = { .group = group, .ns = "prod", .alertname = "Slow",
                            .resource = "Pod/e", .sender = "s1", .escalate_at = 3 };
    gw_dedup_result r;
    assert_int_equal(gw_dedup_hit(&f->d, "fp-e", &sig, T0, "o1", &r), GW_OK);
    activate(f, "fp-e", T0, "o1", "rr-e");
    assert_int_equal(gw_dedup_hit(&f->d, "fp-e", &sig, T0 + 1, "o2", &r), GW_OK);
    assert_false(r.escalate);
    assert_int_equal(gw_dedup_hit(&f->d, "fp-e", &sig, T0 + 2, "o3", &r), GW_OK);
    assert_int_equal(r.count, 3);
    assert_true(r.escalate);  /* once, on the occurrence that crosses */
    assert_true(r.escalated);
    assert_int_equal(gw_dedup_hit(&f->d, "fp-e", &sig, T0 + 3, "o4", &r), GW_OK);
    assert_false(r.escalate);
    assert_true(r.escalated);
}

/* priority.escalation_window: escalate_at occurrences must fall within
 * it; the same number spread wider never escalates. */
static void test_escalation_window(void **state)
{
    fx *f = *state;
    f->cfg.priority_escalation_window_ms = 1000;
    gw_dedup_init(&f->d, &f->redis, &f->cfg);
    char group[17];
    gw_dedup_group("prod", "Slow", group);
    gw_dedup_signal sig = { .group = group, .ns = "prod", .alertname = "Slow",
                            .resource = "Pod/w", .sender = "s1", .escalate_at = 3 };
    gw_dedup_result r;
    /* one every 600 ms: never 3 within 1 s */
    assert_int_equal(gw_dedup_hit(&f->d, "fp-w", &sig, T0, "o1", &r), GW_OK);
    activate(f, "fp-w", T0, "o1", "rr-w");
    for (int i = 1; i <= 8; i++) {
        assert_int_equal(gw_dedup_hit(&f->d, "fp-w", &sig, T0 + 600 * i, "o", &r), GW_OK);
        assert_int_equal(r.count, i + 1);
        assert_false(r.escalate);
        assert_false(r.escalated);
    }
    /* at T0+4900 the window holds T0+4200, T0+4800 and this one */
    assert_int_equal(gw_dedup_hit(&f->d, "fp-w", &sig, T0 + 4900, "o", &r), GW_OK);
    assert_true(r.escalate);
    assert_true(r.escalated);

    /* the edges: the first occurrence counts, and one exactly a window
     * old still does */
    sig.resource = "Pod/v";
    assert_int_equal(gw_dedup_hit(&f->d, "fp-v", &sig, T0, "o1", &r), GW_OK);
    activate(f, "fp-v", T0, "o1", "rr-v");
    assert_int_equal(gw_dedup_hit(&f->d, "fp-v", &sig, T0 + 500, "o", &r), GW_OK);
    assert_false(r.escalate);
    assert_int_equal(gw_dedup_hit(&f->d, "fp-v", &sig, T0 + 1000, "o", &r), GW_OK);
    assert_true(r.escalate);
    /* one ms later it would not have */
    sig.resource = "Pod/u";
    assert_int_equal(gw_dedup_hit(&f->d, "fp-u", &sig, T0, "o1", &r), GW_OK);
    activate(f, "fp-u", T0, "o1", "rr-u");
    assert_int_equal(gw_dedup_hit(&f->d, "fp-u", &sig, T0 + 500, "o", &r), GW_OK);
    assert_int_equal(gw_dedup_hit(&f->d, "fp-u", &sig, T0 + 1001, "o", &r), GW_OK);
    assert_false(r.escalate);
    assert_false(r.escalated);
}

/* ---- flapping (dedup.lua, "THE FLAPPING RULE") ------------------------- */

static void flap_config(fx *f, long threshold, long window_ms)
{
    f->cfg.flapping_threshold = threshold;
    f->cfg.flapping_window_ms = window_ms;
    gw_dedup_init(&f->d, &f->redis, &f->cfg);
}

static gw_dedup_result resolve(fx *f, const char *fp, long long now)
{
    gw_dedup_result r;
    gw_err rc = gw_dedup_resolve(&f->d, fp, now, &r);
    if (rc)
        fail_msg("gw_dedup_resolve(%s): %s (%s)", fp, gw_err_name(rc), f->redis.errstr);
    return r;
}

/* One resolved notification at now, then a firing 10 ms later. */
static gw_dedup_result flip(fx *f, const char *fp, long long now)
{
    resolve(f, fp, now);
    return hit(f, fp, "Flap", "Pod/f", now + 10, "of");
}

/* How many times Redis ran cmd (lower case) since CONFIG RESETSTAT; the
 * script's own calls count. */
static long long cmd_calls(fx *f, const char *cmd)
{
    const char *argv[] = { "INFO", "commandstats" };
    size_t lens[] = { 4, 12 };
    redisReply *rep;
    assert_int_equal(gw_redis_command(&f->redis, 2, argv, lens, &rep), GW_OK);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof want, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(rep->str, want);
    long long n = p ? strtoll(p + strlen(want), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

/* More than threshold flips make it flap (at threshold: not yet); the hit
 * that does says 2, later flips 1; a plain duplicate is no flip. */
static void test_flapping_threshold(void **state)
{
    fx *f = *state;
    flap_config(f, 2, 60000);
    gw_dedup_result r = hit(f, "fp-f", "Flap", "Pod/f", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_int_equal(r.flips, 0);
    activate(f, "fp-f", T0 + 1, "o1", "rr-f");
    /* a repeat that follows a firing is no flip */
    r = hit(f, "fp-f", "Flap", "Pod/f", T0 + 50, "o2");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.flips, 0);
    int want[] = { 0, 0, 2, 1 };
    for (int i = 1; i <= 4; i++) {
        r = flip(f, "fp-f", T0 + 1000 * i);
        assert_int_equal(r.kind, GW_DEDUP_DUP);
        assert_string_equal(r.name, "rr-f");
        assert_int_equal(r.flips, i);
        assert_int_equal(r.flapping, want[i - 1]);
        /* the firing's repeat: no flip */
        r = hit(f, "fp-f", "Flap", "Pod/f", T0 + 1000 * i + 500, "o3");
        assert_int_equal(r.flips, 0);
        assert_int_equal(r.count, 2 + 2 * i);
    }
    /* a resolve repeated (Alertmanager resends it) is still one flip */
    resolve(f, "fp-f", T0 + 5000);
    resolve(f, "fp-f", T0 + 5100);
    r = hit(f, "fp-f", "Flap", "Pod/f", T0 + 5200, "o4");
    assert_int_equal(r.flips, 5);
    assert_int_equal(gw_dedup_get(&f->d, "fp-f", T0 + 5300, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.flips, 5);
    assert_int_equal(r.flapping, 1);
    long long pttl = redis_int(f, "PTTL", "alertgw:flap:fp-f");
    assert_true(pttl > 50000 && pttl <= 60000);
}

/* The hot path: a duplicate of a fingerprint never resolved reads nothing
 * but its own entry, and no flip history is written for it. */
static void test_flapping_costs_the_hot_path_nothing(void **state)
{
    fx *f = *state;
    flap_config(f, 4, 3600000);
    hit(f, "fp-g", "Hot", "Pod/g", T0, "o1");
    activate(f, "fp-g", T0 + 1, "o1", "rr-g");
    const char *argv[] = { "CONFIG", "RESETSTAT" };
    size_t lens[] = { 6, 9 };
    redisReply *rep;
    assert_int_equal(gw_redis_command(&f->redis, 2, argv, lens, &rep), GW_OK);
    freeReplyObject(rep);
    gw_dedup_result r = hit(f, "fp-g", "Hot", "Pod/g", T0 + 10, "o2");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(cmd_calls(f, "hmget"), 1);
    assert_int_equal(cmd_calls(f, "exists"), 0);
    assert_int_equal(cmd_calls(f, "pexpire"), 0);
    assert_int_equal(redis_int(f, "EXISTS", "alertgw:flap:fp-g"), 0);
    /* flapping off: a resolve writes no history either */
    flap_config(f, 0, 3600000);
    resolve(f, "fp-g", T0 + 20);
    r = hit(f, "fp-g", "Hot", "Pod/g", T0 + 30, "o3");
    assert_int_equal(r.flips, 0);
    assert_int_equal(redis_int(f, "EXISTS", "alertgw:flap:fp-g"), 0);
}

/* Flips older than the window do not count; a flapping fingerprint stays
 * flapping while flips come (one fewer in the window does not end it) and
 * stops after a whole window without a resolve or a flip. */
static void test_flapping_window(void **state)
{
    fx *f = *state;
    flap_config(f, 2, 10000);
    /* one flip every 6 s: never three within 10 s */
    hit(f, "fp-s", "Flap", "Pod/s", T0, "o1");
    activate(f, "fp-s", T0 + 1, "o1", "rr-s");
    gw_dedup_result r;
    for (int i = 1; i <= 5; i++) {
        r = flip(f, "fp-s", T0 + 6000 * i);
        assert_true(r.flips >= 1 && r.flips <= 2);
        assert_int_equal(r.flapping, 0);
    }
    /* three within 10 s flap */
    hit(f, "fp-w", "Flap", "Pod/w", T0, "o1");
    activate(f, "fp-w", T0 + 1, "o1", "rr-w");
    flip(f, "fp-w", T0 + 1000);
    flip(f, "fp-w", T0 + 5000);
    r = flip(f, "fp-w", T0 + 9000);
    assert_int_equal(r.flips, 3);
    assert_int_equal(r.flapping, 2);
    /* T0+1010 has left the window; still flapping */
    r = flip(f, "fp-w", T0 + 12000);
    assert_int_equal(r.flips, 3);
    assert_int_equal(r.flapping, 1);
    r = flip(f, "fp-w", T0 + 21000);
    assert_int_equal(r.flips, 2);
    assert_int_equal(r.flapping, 1);
    assert_int_equal(gw_dedup_get(&f->d, "fp-w", T0 + 21020, &r), GW_OK);
    assert_int_equal(r.flapping, 1);
    /* a whole window quiet (Redis would have expired the key by now):
     * not flapping, the next flip starts a new history */
    assert_int_equal(gw_dedup_get(&f->d, "fp-w", T0 + 21010 + 10000, &r), GW_OK);
    assert_int_equal(r.flapping, 0);
    assert_int_equal(r.flips, 0);
    r = flip(f, "fp-w", T0 + 31010);
    assert_int_equal(r.flips, 1);
    assert_int_equal(r.flapping, 0);
}

/* After the fingerprint's entry is gone (dedup.ttl, or its finished
 * request forgotten), a flapping fingerprint's firing takes a claim that
 * names the flapping request; one that does not flap is simply new. */
static void test_flapping_absorbs_after_the_entry_is_gone(void **state)
{
    fx *f = *state;
    flap_config(f, 2, 60000);
    hit(f, "fp-h", "Flap", "Pod/h", T0, "o1");
    activate(f, "fp-h", T0 + 1, "o1", "rr-h");
    for (int i = 1; i <= 3; i++)
        flip(f, "fp-h", T0 + 1000 * i);
    /* the request finished: the caller forgot the entry */
    assert_int_equal(gw_dedup_forget(&f->d, "fp-h", "rr-h"), GW_OK);
    gw_dedup_result r = hit(f, "fp-h", "Flap", "Pod/h", T0 + 4000, "o5");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_string_equal(r.name, "rr-h");
    assert_string_equal(r.ns, "prod");
    assert_int_equal(r.flapping, 1);
    assert_int_equal(r.flips, 0); /* no resolve came before it: no flip */
    assert_int_equal(gw_dedup_seed(&f->d, "fp-h", T0 + 4001, "o5", "rr-h", "prod", 9, T0, &r),
                     GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    /* the entry expired (dedup.ttl) and a resolve came meanwhile: the
     * firing is a flip, and names the request all the same */
    assert_int_equal(redis_int(f, "DEL", "alertgw:fp:fp-h"), 1);
    r = resolve(f, "fp-h", T0 + 5000);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    r = hit(f, "fp-h", "Flap", "Pod/h", T0 + 6000, "o6");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_string_equal(r.name, "rr-h");
    assert_int_equal(r.flips, 4);
    assert_int_equal(r.flapping, 1);
    /* get without an entry: the history alone */
    assert_int_equal(redis_int(f, "DEL", "alertgw:fp:fp-h"), 1);
    assert_int_equal(gw_dedup_get(&f->d, "fp-h", T0 + 6100, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    assert_int_equal(r.flapping, 1);
    assert_int_equal(r.flips, 4);
    assert_string_equal(r.name, "rr-h");

    /* below the threshold: new, no request named; the request made then
     * is recorded in the history */
    hit(f, "fp-k", "Flap", "Pod/k", T0, "o1");
    activate(f, "fp-k", T0 + 1, "o1", "rr-k");
    flip(f, "fp-k", T0 + 1000);
    assert_int_equal(redis_int(f, "DEL", "alertgw:fp:fp-k"), 1);
    resolve(f, "fp-k", T0 + 2000);
    r = hit(f, "fp-k", "Flap", "Pod/k", T0 + 3000, "o2");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_string_equal(r.name, "");
    assert_int_equal(r.flips, 2);
    assert_int_equal(r.flapping, 0);
    activate(f, "fp-k", T0 + 3001, "o2", "rr-k2");
    resolve(f, "fp-k", T0 + 4000);
    assert_int_equal(redis_int(f, "DEL", "alertgw:fp:fp-k"), 1);
    r = hit(f, "fp-k", "Flap", "Pod/k", T0 + 5000, "o3");
    assert_int_equal(r.flips, 3);
    assert_int_equal(r.flapping, 2);
    assert_string_equal(r.name, "rr-k2");
}

static void test_pending_lease_and_expiry(void **state)
{
    fx *f = *state;
    gw_dedup_result r = hit(f, "fp-b", "Crash", "Pod/b", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    /* the claim's key lives as long as the lease (real time) */
    long long pttl = redis_int(f, "PTTL", "alertgw:fp:fp-b");
    assert_true(pttl > 0 && pttl <= 5000);
    /* someone else: wait, up to and including the lease's last ms */
    r = hit(f, "fp-b", "Crash", "Pod/b", T0 + 1, "o2");
    assert_int_equal(r.kind, GW_DEDUP_PENDING);
    r = hit(f, "fp-b", "Crash", "Pod/b", T0 + 5000, "o2");
    assert_int_equal(r.kind, GW_DEDUP_PENDING);
    /* the lease expired: the creator died, o2 takes the claim over */
    r = hit(f, "fp-b", "Crash", "Pod/b", T0 + 5001, "o2");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_int_equal(r.first_ms, T0 + 5001);
    /* the old owner lost it; its release changes nothing */
    assert_int_equal(gw_dedup_activate(&f->d, "fp-b", T0 + 5002, "o1", "rr-old", "prod", &r),
                     GW_EBUSY);
    assert_int_equal(gw_dedup_release(&f->d, "fp-b", NULL, "o1"), GW_OK);
    r = hit(f, "fp-b", "Crash", "Pod/b", T0 + 5003, "o3");
    assert_int_equal(r.kind, GW_DEDUP_PENDING);
    r = activate(f, "fp-b", T0 + 5004, "o2", "rr-b");
    assert_string_equal(r.name, "rr-b");

    /* a released claim is free at once */
    r = hit(f, "fp-c", "Crash", "Pod/c", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_int_equal(gw_dedup_release(&f->d, "fp-c", NULL, "o1"), GW_OK);
    r = hit(f, "fp-c", "Crash", "Pod/c", T0 + 1, "o2");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
}

static void test_reseed(void **state)
{
    fx *f = *state;
    /* Redis had forgotten the request; Kubernetes has it with 7 occurrences */
    gw_dedup_result r = hit(f, "fp-s", "Crash", "Pod/s", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_int_equal(gw_dedup_seed(&f->d, "fp-s", T0 + 1, "o1", "rr-s", "prod", 7, T0 - 100000,
                                   &r),
                     GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 7);
    assert_int_equal(r.first_ms, T0 - 100000);
    assert_string_equal(r.name, "rr-s");
    r = hit(f, "fp-s", "Crash", "Pod/s", T0 + 2, "o2");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 8);
    assert_int_equal(r.first_ms, T0 - 100000);

    /* without a claim (the key expired meanwhile); first 0: now */
    assert_int_equal(gw_dedup_seed(&f->d, "fp-t", T0, "o9", "rr-t", "prod", 3, 0, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.first_ms, T0);

    /* someone else's claim, or an active entry: lost */
    hit(f, "fp-u", "Crash", "Pod/u", T0, "o1");
    assert_int_equal(gw_dedup_seed(&f->d, "fp-u", T0, "o2", "rr-u", "prod", 2, 0, &r), GW_EBUSY);
    assert_int_equal(gw_dedup_seed(&f->d, "fp-s", T0 + 3, "o1", "rr-s", "prod", 99, 0, &r),
                     GW_EBUSY);
    assert_int_equal(gw_dedup_get(&f->d, "fp-s", 0, &r), GW_OK);
    assert_int_equal(r.count, 8);
}

/* peek (explain): what a hit would meet, and nothing written - the same
 * keys with the same values before and after. */
static void test_peek_reads_only(void **state)
{
    fx *f = *state;
    f->cfg.storm_pattern_threshold = 3;
    reconfigure(f);
    char g[17];
    gw_dedup_group("prod", "Peek", g);
    gw_dedup_result r = hit(f, "fp-k1", "Peek", "Pod/k1", T0, "o1");
    activate(f, "fp-k1", T0, "o1", "rr-k1");
    hit(f, "fp-k1", "Peek", "Pod/k1", T0 + 10, "o2");
    r = hit(f, "fp-k2", "Peek", "Pod/k2", T0 + 20, "o3");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    long long keys = redis_int(f, "DBSIZE", NULL);
    gw_dedup_signal sig = { .group = g, .ns = "prod", .alertname = "Peek",
                            .resource = "Pod/k1", .sender = "s1" };
    gw_dedup_peek_result p;
    assert_int_equal(gw_dedup_peek(&f->d, "fp-k1", &sig, T0 + 30, &p), GW_OK);
    assert_string_equal(p.state, "active");
    assert_int_equal(p.count, 2);
    assert_string_equal(p.name, "rr-k1");
    assert_false(p.member);
    assert_string_equal(p.storm_state, "");
    assert_int_equal(p.recent, 2);  /* k1 and k2 had a new signal */
    assert_true(p.recent_mine);
    assert_int_equal(p.rate, 3);    /* three occurrences of the group */
    assert_int_equal(p.budget, 0);  /* only gw_dedup_create_limits counts creates */
    /* a third resource would open a pattern storm: 2 recent + itself */
    sig.resource = "Pod/k3";
    assert_int_equal(gw_dedup_peek(&f->d, "fp-k3", &sig, T0 + 30, &p), GW_OK);
    assert_string_equal(p.state, "");
    assert_false(p.recent_mine);
    assert_int_equal(p.recent, 2);
    assert_int_equal(redis_int(f, "DBSIZE", NULL), keys);
    assert_int_equal(redis_int(f, "HLEN", "alertgw:fp:fp-k3"), 0);
    /* and the hit it predicted */
    r = hit(f, "fp-k3", "Peek", "Pod/k3", T0 + 30, "o4");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
}

static void test_pattern_storm_open_join_close(void **state)
{
    fx *f = *state;
    f->cfg.storm_pattern_threshold = 3;
    reconfigure(f);
    char g[17];
    gw_dedup_group("prod", "Crash", g);
    gw_dedup_result r = hit(f, "fp-1", "Crash", "Pod/p1", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    activate(f, "fp-1", T0, "o1", "rr-1");
    r = hit(f, "fp-2", "Crash", "Pod/p2", T0 + 1000, "o2");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    activate(f, "fp-2", T0 + 1000, "o2", "rr-2");
    /* the third distinct resource in the window opens the storm */
    r = hit(f, "fp-3", "Crash", "Pod/p3", T0 + 2000, "o3");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_string_equal(r.storm_type, "pattern");
    assert_string_equal(r.storm_detected, "pattern");
    assert_int_equal(r.storm_total, 3);
    /* while its aggregate is being created, new members wait */
    r = hit(f, "fp-4", "Crash", "Pod/p4", T0 + 2001, "o4");
    assert_int_equal(r.kind, GW_DEDUP_PENDING);
    assert_int_equal(gw_dedup_storm_activate(&f->d, "fp-3", g, T0 + 2500, "o3", "rr-storm", "prod",
                                             &r),
                     GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_string_equal(r.name, "rr-storm");
    /* a second activation finds no claim: lost */
    assert_int_equal(gw_dedup_storm_activate(&f->d, "fp-3", g, T0 + 2501, "o3", "rr-storm",
                                             "prod", &r),
                     GW_EBUSY);

    r = hit(f, "fp-4", "Crash", "Pod/p4", T0 + 3000, "o4");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_string_equal(r.name, "rr-storm");
    assert_int_equal(r.storm_total, 4);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.storm_detected, "");
    assert_false(r.sync_due); /* the aggregate was synced at T0 + 2500 */
    /* a member's repeat counts on the aggregate, whose sync is due now */
    r = hit(f, "fp-4", "Crash", "Pod/p4", T0 + 4000, "o5");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_int_equal(r.count, 2);
    assert_true(r.member);
    assert_true(r.sync_due);
    /* a resource with its own request stays a plain duplicate */
    r = hit(f, "fp-1", "Crash", "Pod/p1", T0 + 4500, "o6");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_string_equal(r.name, "rr-1");

    assert_int_equal(gw_dedup_get(&f->d, "fp-4", 0, &r), GW_OK);
    assert_true(r.member);
    assert_string_equal(r.storm_type, "pattern");
    assert_int_equal(r.storm_total, 4);
    /* the join at T0 + 3000 queued the aggregate's sync for T0 + 3500;
     * fp-4's repeat at T0 + 4000 synced inline (sync_due) with the newer
     * count and took the queued one off: the flush finds nothing */
    gw_flush_item it;
    size_t n = 0;
    long long next = 0;
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 4600, &it, 1, &n, &next), GW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(gw_dedup_storm_info(&f->d, g, &it), GW_OK);
    assert_true(it.storm);
    assert_string_equal(it.name, "rr-storm");
    assert_string_equal(it.storm_type, "pattern");
    assert_int_equal(it.storm_total, 4);
    assert_contains(it.resources, "Pod/p1");
    assert_contains(it.resources, "Pod/p4");

    /* open while a member joined within the aggregation window ... */
    r = hit(f, "fp-5", "Crash", "Pod/p5", T0 + 3000 + 59999, "o7");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    /* ... closed after one without: past the pattern window too, so the
     * next new signal is an ordinary one */
    r = hit(f, "fp-6", "Crash", "Pod/p6", T0 + 62999 + 130000, "o8");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    assert_string_equal(r.storm_detected, "");

    /* the aggregate finished: storm_forget drops the storm (by its name only) */
    assert_int_equal(gw_dedup_storm_forget(&f->d, g, "rr-other"), GW_OK);
    assert_int_equal(gw_dedup_storm_info(&f->d, g, &it), GW_OK);
    assert_int_equal(gw_dedup_storm_forget(&f->d, g, "rr-storm"), GW_OK);
    assert_int_equal(gw_dedup_storm_info(&f->d, g, &it), GW_ENOTFOUND);
}

static void test_pattern_storm_reopens_after_aggregation_window(void **state)
{
    fx *f = *state;
    f->cfg.storm_pattern_threshold = 2;
    reconfigure(f);
    char g[17];
    gw_dedup_group("prod", "Crash", g);
    hit(f, "fp-1", "Crash", "Pod/q1", T0, "o1");
    gw_dedup_result r = hit(f, "fp-2", "Crash", "Pod/q2", T0 + 1, "o2");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_int_equal(gw_dedup_storm_activate(&f->d, "fp-2", g, T0 + 2, "o2", "rr-s1", "prod", &r),
                     GW_OK);
    /* no member for a whole aggregation window: the storm closed, and the
     * threshold still holds (both resources within the pattern window) */
    r = hit(f, "fp-3", "Crash", "Pod/q3", T0 + 1 + 60000, "o3");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_string_equal(r.storm_detected, "pattern");
}

static void test_rate_storm_opened_by_a_duplicate(void **state)
{
    fx *f = *state;
    f->cfg.storm_rate_threshold = 3;
    reconfigure(f);
    char g[17];
    gw_dedup_group("prod", "Latency", g);
    gw_dedup_result r = hit(f, "fp-r1", "Latency", "Pod/r1", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    activate(f, "fp-r1", T0, "o1", "rr-r1");
    r = hit(f, "fp-r1", "Latency", "Pod/r1", T0 + 1, "o2");
    assert_string_equal(r.storm_detected, "");
    r = hit(f, "fp-r1", "Latency", "Pod/r1", T0 + 2, "o3");
    assert_string_equal(r.storm_detected, "");
    /* the 4th occurrence (threshold + 1) opens a rate storm, keeps its answer */
    r = hit(f, "fp-r1", "Latency", "Pod/r1", T0 + 3, "o4");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(r.count, 4);
    assert_string_equal(r.storm_detected, "rate");
    assert_string_equal(r.name, "rr-r1");
    r = hit(f, "fp-r1", "Latency", "Pod/r1", T0 + 4, "o5");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_string_equal(r.storm_detected, "");
    /* a retry of a counted occurrence is not counted again */
    gw_dedup_signal sig = { .group = g, .ns = "prod", .alertname = "Latency",
                            .resource = "Pod/r1", .sender = "s1", .counted = true };
    char rate_key[64];
    snprintf(rate_key, sizeof rate_key, "alertgw:rate:%s", g);
    assert_int_equal(redis_get(f, rate_key), 5);
    assert_int_equal(gw_dedup_hit(&f->d, "fp-r1", &sig, T0 + 5, "o6", &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_DUP);
    assert_int_equal(redis_get(f, rate_key), 5);
    /* the next new signal creates the open storm's aggregate */
    r = hit(f, "fp-r2", "Latency", "Pod/r2", T0 + 10, "o7");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_string_equal(r.storm_type, "rate");
    assert_string_equal(r.storm_detected, ""); /* it was open already */
    assert_int_equal(r.storm_total, 2);
    assert_int_equal(gw_dedup_storm_activate(&f->d, "fp-r2", g, T0 + 11, "o7", "rr-rate", "prod",
                                             &r),
                     GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_string_equal(r.storm_type, "rate");
    r = hit(f, "fp-r3", "Latency", "Pod/r3", T0 + 12, "o8");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_string_equal(r.name, "rr-rate");
}

static void test_rate_storm_of_new_signals(void **state)
{
    fx *f = *state;
    f->cfg.storm_rate_threshold = 3;
    reconfigure(f);
    for (int i = 0; i < 3; i++) {
        char fp[16], res[16];
        snprintf(fp, sizeof fp, "fp-n%d", i);
        snprintf(res, sizeof res, "Pod/n%d", i);
        gw_dedup_result r = hit(f, fp, "Disk", res, T0 + i, "o");
        assert_int_equal(r.kind, GW_DEDUP_NEW);
    }
    gw_dedup_result r = hit(f, "fp-n3", "Disk", "Pod/n3", T0 + 3, "o");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_string_equal(r.storm_type, "rate");
    assert_string_equal(r.storm_detected, "rate");
    assert_int_equal(r.storm_total, 4);
}

static void test_max_window_closes_a_busy_storm(void **state)
{
    fx *f = *state;
    f->cfg.storm_pattern_threshold = 2;
    reconfigure(f);
    char g[17];
    gw_dedup_group("prod", "Crash", g);
    hit(f, "fp-m0", "Crash", "Pod/m0", T0, "o");
    long long opened = T0 + 1;
    gw_dedup_result r = hit(f, "fp-m1", "Crash", "Pod/m1", opened, "o1");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_int_equal(gw_dedup_storm_activate(&f->d, "fp-m1", g, opened, "o1", "rr-busy", "prod", &r),
                     GW_OK);
    /* a member every 50 s: the aggregation window (60 s) never lapses */
    long long t = opened;
    for (int i = 2; t + 50000 < opened + 300000; i++) {
        char fp[16], res[16];
        t += 50000;
        snprintf(fp, sizeof fp, "fp-m%d", i);
        snprintf(res, sizeof res, "Pod/m%d", i);
        r = hit(f, fp, "Crash", res, t, "o");
        assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
        assert_string_equal(r.name, "rr-busy");
    }
    r = hit(f, "fp-last", "Crash", "Pod/last", opened + 300000 - 1, "o");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    /* max_window after it opened: closed however busy; a new storm opens */
    r = hit(f, "fp-next", "Crash", "Pod/next", opened + 300000, "o2");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_string_equal(r.storm_detected, "pattern");
}

static void test_namespace_cap(void **state)
{
    fx *f = *state;
    f->cfg.storm_namespace_cap = 2;
    reconfigure(f);
    gw_dedup_result r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "s1", T0 + 1000, &r), GW_OK);
        assert_int_equal(r.kind, GW_DEDUP_NONE);
    }
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "s1", T0 + 2000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_CAPPED);
    /* per namespace ... */
    assert_int_equal(gw_dedup_create_limits(&f->d, "staging", "s1", T0 + 2000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    /* ... per clock minute */
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "s1", T0 + 60000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    /* a failed create gives its count back */
    assert_int_equal(gw_dedup_create_uncount(&f->d, "prod", "s1", T0 + 1000), GW_OK);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "s1", T0 + 3000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "s1", T0 + 3000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_CAPPED);
    /* the cap's key lives two minutes */
    long long ttl = redis_int(f, "TTL", "alertgw:nscap:prod:29453760");
    assert_true(ttl > 100 && ttl <= 120);

    /* duplicates are never capped */
    hit(f, "fp-d", "Crash", "Pod/d", T0 + 3000, "o1");
    activate(f, "fp-d", T0 + 3000, "o1", "rr-d");
    r = hit(f, "fp-d", "Crash", "Pod/d", T0 + 3001, "o2");
    assert_int_equal(r.kind, GW_DEDUP_DUP);
}

static void test_creation_budgets(void **state)
{
    fx *f = *state;
    f->cfg.limits_creates_per_minute = 2;
    f->cfg.limits_creates_per_sender_per_minute = 1;
    reconfigure(f);
    gw_dedup_result r;
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "sA", T0 + 15000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "sA", T0 + 15000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_OVER_BUDGET);
    assert_true(r.over_sender);
    assert_int_equal(r.budget_retry_s, 45);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "sB", T0 + 20000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "sC", T0 + 20000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_OVER_BUDGET);
    assert_false(r.over_sender);
    assert_int_equal(r.budget_retry_s, 40);
    /* the next minute has budgets of its own */
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "sA", T0 + 60000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    assert_int_equal(gw_dedup_create_uncount(&f->d, "prod", "sA", T0 + 60000), GW_OK);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "sA", T0 + 61000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);

    /* a storm's aggregate is a create: budgeted, and nothing is claimed */
    f->cfg.storm_pattern_threshold = 1;
    f->cfg.limits_creates_per_minute = 1;
    f->cfg.limits_creates_per_sender_per_minute = 0;
    reconfigure(f);
    assert_int_equal(gw_dedup_create_limits(&f->d, "prod", "s1", T0 + 120000, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    r = hit(f, "fp-agg", "Flood", "Pod/f1", T0 + 121000, "o1");
    assert_int_equal(r.kind, GW_DEDUP_OVER_BUDGET);
    assert_false(r.over_sender);
    assert_int_equal(r.budget_retry_s, 59);
    assert_int_equal(gw_dedup_get(&f->d, "fp-agg", 0, &r), GW_OK);
    assert_int_equal(r.kind, GW_DEDUP_NONE);
    /* in the next minute the aggregate is made, and counted */
    r = hit(f, "fp-agg", "Flood", "Pod/f1", T0 + 180000, "o2");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_int_equal(redis_get(f, "alertgw:budget:29453763"), 1);
}

static void test_trailing_flush(void **state)
{
    fx *f = *state;
    hit(f, "fp-f", "Crash", "Pod/f", T0, "o1");
    activate(f, "fp-f", T0, "o1", "rr-f");
    gw_dedup_result r = hit(f, "fp-f", "Crash", "Pod/f", T0 + 10, "o2");
    assert_false(r.sync_due);
    gw_flush_item items[4];
    size_t n = 9;
    long long next = 0;
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 500, items, 4, &n, &next), GW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(next, T0 + 1000);
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 1000, items, 4, &n, &next), GW_OK);
    assert_int_equal(n, 1);
    assert_false(items[0].storm);
    assert_string_equal(items[0].id, "fp-f");
    assert_string_equal(items[0].name, "rr-f");
    assert_int_equal(items[0].count, 2);
    assert_int_equal(next, 0);
    /* a patch of count 1 landed after the flush's count 2: queued again */
    assert_int_equal(gw_dedup_synced(&f->d, false, "fp-f", 1, T0 + 1001), GW_OK);
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 1001, items, 4, &n, &next), GW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].count, 2);
}

/* A storm's aggregate is rechecked after its status patch as a
 * fingerprint's request is: a patch that landed fewer occurrences than the
 * storm has counted queues the aggregate (s:<group>, the storm's dirty
 * flag set); one that landed the storm's count queues nothing; a failed
 * patch (-1) queues it max(dedup.status_sync_interval, 1 s) from now. */
static void test_synced_storm_aggregate(void **state)
{
    fx *f = *state;
    f->cfg.storm_pattern_threshold = 2;
    f->cfg.dedup_status_sync_interval_ms = 3000;
    reconfigure(f);
    char g[17], sk[64], member[24];
    gw_dedup_group("prod", "Flood", g);
    snprintf(sk, sizeof sk, "alertgw:storm:%s", g);
    snprintf(member, sizeof member, "s:%s", g);
    gw_dedup_result r = hit(f, "fp-1", "Flood", "Pod/p1", T0, "o1");
    assert_int_equal(r.kind, GW_DEDUP_NEW);
    activate(f, "fp-1", T0, "o1", "rr-1");
    r = hit(f, "fp-2", "Flood", "Pod/p2", T0 + 100, "o2");
    assert_int_equal(r.kind, GW_DEDUP_STORM_NEW);
    assert_int_equal(gw_dedup_storm_activate(&f->d, "fp-2", g, T0 + 100, "o2", "rr-storm", "prod",
                                             &r),
                     GW_OK);
    /* a join within the interval queues the aggregate; the flush claims it */
    r = hit(f, "fp-3", "Flood", "Pod/p3", T0 + 200, "o3");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_false(r.sync_due);
    gw_flush_item it;
    size_t n = 0;
    long long next = 0;
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 3100, &it, 1, &n, &next), GW_OK);
    assert_int_equal(n, 1);
    assert_true(it.storm);
    assert_int_equal(it.count, 2);
    /* another worker's member joins with its sync due: count 3, synced
     * inline, nothing queued */
    r = hit(f, "fp-4", "Flood", "Pod/p4", T0 + 6100, "o4");
    assert_int_equal(r.kind, GW_DEDUP_AGGREGATED);
    assert_true(r.sync_due);
    assert_int_equal(redis_int(f, "ZCARD", "alertgw:dirty"), 0);
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "count"), 3);

    /* the flush's count 2 lands after that worker's 3: queued at once */
    assert_int_equal(gw_dedup_synced(&f->d, true, g, 2, T0 + 6200), GW_OK);
    assert_int_equal(redis_int(f, "ZCARD", "alertgw:dirty"), 1);
    assert_int_equal(test_redis_num(&f->srv, "ZSCORE", "alertgw:dirty", member), T0 + 6200);
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "dirty"), 1);
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 6200, &it, 1, &n, &next), GW_OK);
    assert_int_equal(n, 1);
    assert_true(it.storm);
    assert_string_equal(it.id, g);
    assert_string_equal(it.name, "rr-storm");
    assert_int_equal(it.count, 3);

    /* the storm's count landed: nothing more */
    assert_int_equal(gw_dedup_synced(&f->d, true, g, 3, T0 + 6300), GW_OK);
    assert_int_equal(redis_int(f, "ZCARD", "alertgw:dirty"), 0);
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "dirty"), 0);

    /* the patch failed: queued after the back-off, the sync interval */
    assert_int_equal(gw_dedup_synced(&f->d, true, g, -1, T0 + 6400), GW_OK);
    assert_int_equal(test_redis_num(&f->srv, "ZSCORE", "alertgw:dirty", member), T0 + 9400);
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "dirty"), 1);
    assert_int_equal(gw_dedup_flush(&f->d, T0 + 9399, &it, 1, &n, &next), GW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(next, T0 + 9400);

}

/* EVALSHA by hand: the script refuses an operation it does not have. */
static void test_unknown_op(void **state)
{
    fx *f = *state;
    char sha[41] = "";
    const char *argv[] = { NULL, NULL, "0", "no-such-op", "0" };
    size_t lens[5] = { 0, 0, 1, strlen(argv[3]), 1 };
    redisReply *rep = NULL;
    assert_int_equal(gw_redis_eval(&f->redis, gw_dedup_lua, sha, 5, argv, lens, &rep), GW_EREDIS);
    assert_contains(f->redis.errstr, "unknown op");
    assert_int_equal(strlen(sha), 40);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_agree),
        cmocka_unit_test(test_embedded_is_the_file),
        cmocka_unit_test_setup_teardown(test_hit_new_then_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_costs_the_hot_path_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_absorbs_after_the_entry_is_gone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_lease_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reseed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pattern_storm_open_join_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peek_reads_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pattern_storm_reopens_after_aggregation_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rate_storm_opened_by_a_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_storm_of_new_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_window_closes_a_busy_storm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creation_budgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synced_storm_aggregate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_op, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
