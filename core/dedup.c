/* SPDX-License-Identifier: Apache-2.0 */
/* dedup.c - the C wrappers of the dedup/storm Lua script; see dedup.h.
 *
 * The script is core/dedup.lua (its design comment says what each
 * operation does; the storm rule has its own section there), embedded at
 * build time as gw_dedup_lua.  It dispatches on ARGV[1] so that one SHA
 * covers every operation.  Each wrapper fills the KEYS and ARGV slots by
 * their names in dedup_slots.h, indexed as in Lua (1-based); numbers travel
 * as decimal strings. */
#include "dedup.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup_slots.h"
#include "text.h"

void gw_dedup_init(gw_dedup *d, gw_redis *r, const gw_config *cfg)
{
    memset(d, 0, sizeof *d);
    d->redis = r;
    d->cfg = cfg;
    snprintf(d->ttl, sizeof d->ttl, "%ld", cfg->dedup_ttl_s);
    snprintf(d->lease, sizeof d->lease, "%ld", cfg->dedup_pending_lease_ms);
    snprintf(d->sync, sizeof d->sync, "%ld", cfg->dedup_status_sync_interval_ms);
    snprintf(d->rate, sizeof d->rate, "%ld", cfg->storm_rate_threshold);
    snprintf(d->pattern, sizeof d->pattern, "%ld", cfg->storm_pattern_threshold);
    snprintf(d->pattern_win, sizeof d->pattern_win, "%ld", cfg->storm_pattern_window_ms);
    snprintf(d->agg_win, sizeof d->agg_win, "%ld", cfg->storm_aggregation_window_ms);
    snprintf(d->max_win, sizeof d->max_win, "%ld", cfg->storm_max_window_ms);
    snprintf(d->gmax, sizeof d->gmax, "%ld", cfg->limits_creates_per_minute);
    snprintf(d->smax, sizeof d->smax, "%ld", cfg->limits_creates_per_sender_per_minute);
    snprintf(d->cap, sizeof d->cap, "%ld", cfg->storm_namespace_cap);
    /* 0: the dedup TTL, the window the occurrences live in anyway */
    snprintf(d->esc_win, sizeof d->esc_win, "%lld",
             cfg->priority_escalation_window_ms > 0 ? (long long)cfg->priority_escalation_window_ms
                                                    : (long long)cfg->dedup_ttl_s * 1000);
    snprintf(d->flap_at, sizeof d->flap_at, "%ld", cfg->flapping_threshold);
    snprintf(d->flap_win, sizeof d->flap_win, "%ld", cfg->flapping_window_ms);
}

void gw_dedup_group(const char *ns, const char *alertname, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m || !EVP_DigestInit_ex(m, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(m, ns, strlen(ns)) || !EVP_DigestUpdate(m, "\n", 1) ||
        !EVP_DigestUpdate(m, alertname, strlen(alertname)) || !EVP_DigestFinal_ex(m, md, &mdlen))
        memset(md, 0, 8);
    EVP_MD_CTX_free(m);
    gw_hex_encode(md, 8, out);
}

static void copy_str(char *dst, size_t cap, const redisReply *e)
{
    size_t n = 0;
    if (e->type == REDIS_REPLY_STRING) {
        n = e->len < cap - 1 ? e->len : cap - 1;
        memcpy(dst, e->str, n);
    }
    dst[n] = '\0';
}

static long long int_of(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

static gw_err decode(gw_redis *r, redisReply *rep, gw_dedup_result *res)
{
    memset(res, 0, sizeof *res);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(r->errstr, sizeof r->errstr, "dedup script: unexpected reply");
        return GW_EREDIS;
    }
    static const struct { const char *s; gw_dedup_kind k; } kinds[] = {
        { "new", GW_DEDUP_NEW },           { "dup", GW_DEDUP_DUP },
        { "pending", GW_DEDUP_PENDING },   { "aggregated", GW_DEDUP_AGGREGATED },
        { "storm_new", GW_DEDUP_STORM_NEW }, { "capped", GW_DEDUP_CAPPED },
        { "budget", GW_DEDUP_OVER_BUDGET },
    };
    const char *k = rep->element[0]->str;
    if (!strcmp(k, "lost"))
        return GW_EBUSY;
    res->kind = GW_DEDUP_NONE;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(k, kinds[i].s))
            res->kind = kinds[i].k;
    if (rep->elements >= 13) {
        redisReply **e = rep->element;
        res->count = int_of(e[1]);
        res->first_ms = int_of(e[2]);
        res->last_ms = int_of(e[3]);
        copy_str(res->name, sizeof res->name, e[4]);
        copy_str(res->ns, sizeof res->ns, e[5]);
        res->resolved_ms = int_of(e[6]);
        res->sync_due = int_of(e[7]) != 0;
        res->escalate = int_of(e[8]) != 0;
        res->storm_total = int_of(e[9]);
        copy_str(res->storm_type, sizeof res->storm_type, e[10]);
        res->escalated = int_of(e[11]) != 0;
        res->member = int_of(e[12]) != 0;
    }
    if (rep->elements >= 14)
        copy_str(res->storm_detected, sizeof res->storm_detected, rep->element[13]);
    if (rep->elements >= 16) {
        res->flips = int_of(rep->element[14]);
        res->flapping = (int)int_of(rep->element[15]);
    }
    return GW_OK;
}

/* Runs the script: KEYS[1..nkeys] from keys[1..nkeys], ARGV[1] op,
 * ARGV[2] now, ARGV[3..nargs] from args[3..nargs] (the slot numbers of
 * dedup_slots.h; the other elements are not read).  The reply is handed to
 * the caller (rep). */
static gw_err eval(gw_dedup *d, int nkeys, const char **keys, const char *op, long long now_ms,
                   int nargs, const char **args, redisReply **rep)
{
    char now[24], nk[24];
    gw_dec(now_ms, now);
    gw_dec(nkeys, nk);
    const char *argv[3 + GW_DEDUP_MAX_KEYS + GW_DEDUP_MAX_ARGS];
    size_t lens[3 + GW_DEDUP_MAX_KEYS + GW_DEDUP_MAX_ARGS];
    int argc = 0;
    if (nkeys > GW_DEDUP_MAX_KEYS || nargs > GW_DEDUP_MAX_ARGS)
        return GW_EINTERNAL;
    argv[argc++] = NULL; /* EVALSHA */
    argv[argc++] = NULL; /* sha */
    argv[argc++] = nk;
    for (int i = 1; i <= nkeys; i++)
        argv[argc++] = keys[i];
    argv[argc++] = op;  /* GW_DEDUP_ARG_OP */
    argv[argc++] = now; /* GW_DEDUP_ARG_NOW */
    for (int i = GW_DEDUP_ARG_NOW + 1; i <= nargs; i++)
        argv[argc++] = args[i];
    for (int i = 2; i < argc; i++) {
        if (!argv[i]) { /* a slot left empty: a bug of this file */
            snprintf(d->redis->errstr, sizeof d->redis->errstr, "dedup %s: a slot is empty", op);
            return GW_EINTERNAL;
        }
        lens[i] = strlen(argv[i]);
    }
    return gw_redis_eval(d->redis, gw_dedup_lua, d->sha, argc, argv, lens, rep);
}

static gw_err run(gw_dedup *d, int nkeys, const char **keys, const char *op, long long now_ms,
                  int nargs, const char **args, gw_dedup_result *res)
{
    redisReply *rep;
    gw_err rc = eval(d, nkeys, keys, op, now_ms, nargs, args, &rep);
    if (rc)
        return rc;
    gw_dedup_result scratch;
    rc = decode(d->redis, rep, res ? res : &scratch);
    freeReplyObject(rep);
    return rc;
}

/* Key names: "<prefix><what><a>[:<b>]". */
typedef struct { char s[400]; } keybuf;

static const char *key(keybuf *k, const gw_dedup *d, const char *what, const char *a,
                       const char *b)
{
    /* memcpy, not snprintf: a duplicate builds nine of these (see
     * docs/performance.md); cut at the buffer's end, which the caller's
     * bounded inputs never reach */
    const char *part[] = { d->cfg->redis_key_prefix, what, a, b ? ":" : "", b ? b : "" };
    size_t n = 0;
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        size_t len = strlen(part[i]);
        if (len > sizeof k->s - 1 - n)
            len = sizeof k->s - 1 - n;
        memcpy(k->s + n, part[i], len);
        n += len;
    }
    k->s[n] = '\0';
    return k->s;
}

/* An OVER_BUDGET reply: which budget, and when its minute ends. */
static void budget_refusal(gw_dedup_result *res, long long now_ms)
{
    res->over_sender = !strcmp(res->storm_type, "sender");
    res->storm_type[0] = '\0';
    /* the budgets count per calendar minute: retry when this one ends */
    res->budget_retry_s = 60 - (long)((now_ms / 1000) % 60);
}

gw_err gw_dedup_hit(gw_dedup *d, const char *fp, const gw_dedup_signal *sig, long long now_ms,
                    const char *owner, gw_dedup_result *res)
{
    keybuf kf, kd, kr, ks, km, kg, kb, kq, kx;
    char minute[24];
    gw_dec(now_ms / 60000, minute);
    const char *keys[GW_DEDUP_HIT_NKEYS + 1] = {
        [GW_DEDUP_HIT_KEY_FP] = key(&kf, d, "fp:", fp, NULL),
        [GW_DEDUP_HIT_KEY_DIRTY] = key(&kd, d, "dirty", "", NULL),
        [GW_DEDUP_HIT_KEY_RECENT] = key(&kr, d, "recent:", sig->group, NULL),
        [GW_DEDUP_HIT_KEY_STORM] = key(&ks, d, "storm:", sig->group, NULL),
        [GW_DEDUP_HIT_KEY_STORMRES] = key(&km, d, "stormres:", sig->group, NULL),
        [GW_DEDUP_HIT_KEY_BUDGET] = key(&kg, d, "budget:", minute, NULL),
        [GW_DEDUP_HIT_KEY_SENDER_BUDGET] =
            key(&kb, d, "budget:", sig->sender && *sig->sender ? sig->sender : "_", minute),
        [GW_DEDUP_HIT_KEY_RATE] = key(&kq, d, "rate:", sig->group, NULL),
        [GW_DEDUP_HIT_KEY_FLAP] = key(&kx, d, "flap:", fp, NULL),
    };
    char esc[24];
    gw_dec(sig->escalate_at, esc);
    const char *args[GW_DEDUP_HIT_NARGS + 1] = {
        [GW_DEDUP_HIT_ARG_TTL] = d->ttl,
        [GW_DEDUP_HIT_ARG_LEASE] = d->lease,
        [GW_DEDUP_HIT_ARG_OWNER] = owner,
        [GW_DEDUP_HIT_ARG_SYNC] = d->sync,
        [GW_DEDUP_HIT_ARG_STORM_ENABLED] = d->cfg->storm_enabled ? "1" : "0",
        [GW_DEDUP_HIT_ARG_RESOURCE] = sig->resource,
        [GW_DEDUP_HIT_ARG_RATE_THRESHOLD] = d->rate,
        [GW_DEDUP_HIT_ARG_PATTERN_THRESHOLD] = d->pattern,
        [GW_DEDUP_HIT_ARG_PATTERN_WINDOW] = d->pattern_win,
        [GW_DEDUP_HIT_ARG_AGGREGATION_WINDOW] = d->agg_win,
        [GW_DEDUP_HIT_ARG_MAX_WINDOW] = d->max_win,
        [GW_DEDUP_HIT_ARG_ESCALATE_AT] = esc,
        [GW_DEDUP_HIT_ARG_GROUP] = sig->group,
        [GW_DEDUP_HIT_ARG_ALERTNAME] = sig->alertname,
        [GW_DEDUP_HIT_ARG_NS] = sig->ns,
        [GW_DEDUP_HIT_ARG_FP] = fp,
        [GW_DEDUP_HIT_ARG_GMAX] = d->gmax,
        [GW_DEDUP_HIT_ARG_SMAX] = d->smax,
        [GW_DEDUP_HIT_ARG_COUNT_RATE] = sig->counted ? "0" : "1",
        [GW_DEDUP_HIT_ARG_ESCALATE_WINDOW] = d->esc_win,
        [GW_DEDUP_HIT_ARG_FLAP_THRESHOLD] = d->flap_at,
        [GW_DEDUP_HIT_ARG_FLAP_WINDOW] = d->flap_win,
    };
    gw_err rc = run(d, GW_DEDUP_HIT_NKEYS, keys, "hit", now_ms, GW_DEDUP_HIT_NARGS, args, res);
    if (!rc && res->kind == GW_DEDUP_OVER_BUDGET)
        budget_refusal(res, now_ms);
    return rc;
}

/* The keys of the create limits of the minute of now_ms: the gateway's
 * and the sender's budget, and with ns (not NULL) the namespace cap.
 * Returns how many. */
typedef struct {
    keybuf g, s, c;
} limit_keys;

static int create_limit_keys(const gw_dedup *d, const char *ns, const char *sender,
                             long long now_ms, limit_keys *k,
                             const char *keys[GW_DEDUP_LIMITS_NKEYS + 1])
{
    char minute[24];
    gw_dec(now_ms / 60000, minute);
    keys[GW_DEDUP_LIMITS_KEY_BUDGET] = key(&k->g, d, "budget:", minute, NULL);
    keys[GW_DEDUP_LIMITS_KEY_SENDER_BUDGET] =
        key(&k->s, d, "budget:", sender && *sender ? sender : "_", minute);
    if (!ns)
        return GW_DEDUP_LIMITS_KEY_SENDER_BUDGET;
    keys[GW_DEDUP_LIMITS_KEY_NSCAP] = key(&k->c, d, "nscap:", *ns ? ns : "_cluster", minute);
    return GW_DEDUP_LIMITS_KEY_NSCAP;
}

gw_err gw_dedup_create_limits(gw_dedup *d, const char *ns, const char *sender, long long now_ms,
                              gw_dedup_result *res)
{
    limit_keys k;
    const char *keys[GW_DEDUP_LIMITS_NKEYS + 1] = { NULL };
    int n = create_limit_keys(d, ns ? ns : "", sender, now_ms, &k, keys);
    const char *args[GW_DEDUP_LIMITS_NARGS + 1] = {
        [GW_DEDUP_LIMITS_ARG_GMAX] = d->gmax,
        [GW_DEDUP_LIMITS_ARG_SMAX] = d->smax,
        [GW_DEDUP_LIMITS_ARG_CAP] = d->cap,
    };
    gw_err rc = run(d, n, keys, "limits", now_ms, GW_DEDUP_LIMITS_NARGS, args, res);
    if (!rc && res->kind == GW_DEDUP_OVER_BUDGET)
        budget_refusal(res, now_ms);
    return rc;
}

gw_err gw_dedup_create_uncount(gw_dedup *d, const char *ns, const char *sender, long long now_ms)
{
    limit_keys k;
    const char *keys[GW_DEDUP_LIMITS_NKEYS + 1] = { NULL };
    int n = create_limit_keys(d, ns, sender, now_ms, &k, keys);
    return run(d, n, keys, "uncount", now_ms, GW_DEDUP_ARG_NOW, NULL, NULL);
}

/* activate and seed: args holds the seed's slots, or is only read up to
 * GW_DEDUP_ACTIVATE_NARGS; the common slots are filled here. */
static gw_err set_active(gw_dedup *d, const char *op, const char *fp, long long now_ms,
                         const char *owner, const char *name, const char *ns, int nargs,
                         const char *args[GW_DEDUP_SEED_NARGS + 1], gw_dedup_result *res)
{
    keybuf kf, kx;
    const char *keys[] = {
        [GW_DEDUP_ACTIVATE_KEY_FP] = key(&kf, d, "fp:", fp, NULL),
        [GW_DEDUP_ACTIVATE_KEY_FLAP] = key(&kx, d, "flap:", fp, NULL),
    };
    args[GW_DEDUP_ACTIVATE_ARG_TTL] = d->ttl;
    args[GW_DEDUP_ACTIVATE_ARG_OWNER] = owner;
    args[GW_DEDUP_ACTIVATE_ARG_NAME] = name;
    args[GW_DEDUP_ACTIVATE_ARG_NS] = ns;
    return run(d, GW_DEDUP_ACTIVATE_KEY_FLAP, keys, op, now_ms, nargs, args, res);
}

gw_err gw_dedup_activate(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                         const char *name, const char *ns, gw_dedup_result *res)
{
    const char *args[GW_DEDUP_SEED_NARGS + 1] = { NULL };
    return set_active(d, "activate", fp, now_ms, owner, name, ns, GW_DEDUP_ACTIVATE_NARGS, args,
                      res);
}

gw_err gw_dedup_seed(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                     const char *name, const char *ns, long long count, long long first_ms,
                     gw_dedup_result *res)
{
    char cnt[24], first[24];
    snprintf(cnt, sizeof cnt, "%lld", count);
    snprintf(first, sizeof first, "%lld", first_ms);
    const char *args[GW_DEDUP_SEED_NARGS + 1] = {
        [GW_DEDUP_SEED_ARG_COUNT] = cnt,
        [GW_DEDUP_SEED_ARG_FIRST] = first,
    };
    return set_active(d, "seed", fp, now_ms, owner, name, ns, GW_DEDUP_SEED_NARGS, args, res);
}

gw_err gw_dedup_storm_activate(gw_dedup *d, const char *fp, const char *group, long long now_ms,
                               const char *owner, const char *name, const char *ns,
                               gw_dedup_result *res)
{
    keybuf kf, ks, km;
    const char *keys[GW_DEDUP_STORM_ACTIVATE_NKEYS + 1] = {
        [GW_DEDUP_STORM_ACTIVATE_KEY_FP] = key(&kf, d, "fp:", fp, NULL),
        [GW_DEDUP_STORM_ACTIVATE_KEY_STORM] = key(&ks, d, "storm:", group, NULL),
        [GW_DEDUP_STORM_ACTIVATE_KEY_STORMRES] = key(&km, d, "stormres:", group, NULL),
    };
    const char *args[GW_DEDUP_STORM_ACTIVATE_NARGS + 1] = {
        [GW_DEDUP_STORM_ACTIVATE_ARG_OWNER] = owner,
        [GW_DEDUP_STORM_ACTIVATE_ARG_NAME] = name,
        [GW_DEDUP_STORM_ACTIVATE_ARG_NS] = ns,
        [GW_DEDUP_STORM_ACTIVATE_ARG_TTL] = d->ttl,
        [GW_DEDUP_STORM_ACTIVATE_ARG_GROUP] = group,
    };
    return run(d, GW_DEDUP_STORM_ACTIVATE_NKEYS, keys, "storm_activate", now_ms,
               GW_DEDUP_STORM_ACTIVATE_NARGS, args, res);
}

gw_err gw_dedup_release(gw_dedup *d, const char *fp, const char *group, const char *owner)
{
    keybuf kf, ks, km;
    const char *keys[] = {
        [GW_DEDUP_RELEASE_KEY_FP] = key(&kf, d, "fp:", fp, NULL),
        [GW_DEDUP_RELEASE_KEY_STORM] = group ? key(&ks, d, "storm:", group, NULL) : NULL,
        [GW_DEDUP_RELEASE_KEY_STORMRES] = group ? key(&km, d, "stormres:", group, NULL) : NULL,
    };
    const char *args[] = { [GW_DEDUP_RELEASE_ARG_OWNER] = owner };
    return run(d, group ? GW_DEDUP_RELEASE_KEY_STORMRES : GW_DEDUP_RELEASE_KEY_FP, keys, "release",
               0, GW_DEDUP_RELEASE_ARG_OWNER, args, NULL);
}

gw_err gw_dedup_synced(gw_dedup *d, bool storm, const char *id, long long count,
                       long long now_ms)
{
    keybuf ke, kd;
    const char *keys[] = {
        [GW_DEDUP_SYNCED_KEY_ENTRY] = key(&ke, d, storm ? "storm:" : "fp:", id, NULL),
        [GW_DEDUP_SYNCED_KEY_DIRTY] = key(&kd, d, "dirty", "", NULL),
    };
    char c[24], due[24], member[sizeof ke.s];
    snprintf(c, sizeof c, "%lld", count);
    snprintf(member, sizeof member, "%s%s", storm ? "s:" : "f:", id);
    /* a failed patch is retried no sooner than the sync interval (at least
     * 1 s), so an apiserver outage is not polled in a tight loop */
    long back_off = d->cfg->dedup_status_sync_interval_ms;
    snprintf(due, sizeof due, "%lld", now_ms + (count >= 0 ? 0 : back_off > 1000 ? back_off : 1000));
    const char *args[] = {
        [GW_DEDUP_SYNCED_ARG_COUNT] = c,
        [GW_DEDUP_SYNCED_ARG_MEMBER] = member,
        [GW_DEDUP_SYNCED_ARG_DUE] = due,
    };
    return run(d, GW_DEDUP_SYNCED_KEY_DIRTY, keys, "synced", now_ms, GW_DEDUP_SYNCED_ARG_DUE, args,
               NULL);
}

gw_err gw_dedup_forget(gw_dedup *d, const char *fp, const char *name)
{
    keybuf kf;
    const char *keys[] = { [GW_DEDUP_FORGET_KEY_FP] = key(&kf, d, "fp:", fp, NULL) };
    const char *args[] = { [GW_DEDUP_FORGET_ARG_NAME] = name };
    return run(d, GW_DEDUP_FORGET_KEY_FP, keys, "forget", 0, GW_DEDUP_FORGET_ARG_NAME, args, NULL);
}

gw_err gw_dedup_storm_forget(gw_dedup *d, const char *group, const char *name)
{
    keybuf ks, km;
    const char *keys[] = {
        [GW_DEDUP_STORM_FORGET_KEY_STORM] = key(&ks, d, "storm:", group, NULL),
        [GW_DEDUP_STORM_FORGET_KEY_STORMRES] = key(&km, d, "stormres:", group, NULL),
    };
    const char *args[] = { [GW_DEDUP_STORM_FORGET_ARG_NAME] = name };
    return run(d, GW_DEDUP_STORM_FORGET_KEY_STORMRES, keys, "storm_forget", 0,
               GW_DEDUP_STORM_FORGET_ARG_NAME, args, NULL);
}

/* resolve and get: the fingerprint's entry and its flip history (the same
 * KEYS slots), ARGV[3] arg3 and ARGV[4] flapping.window. */
static gw_err entry_and_history(gw_dedup *d, const char *op, const char *fp, long long now_ms,
                                const char *arg3, gw_dedup_result *res)
{
    _Static_assert(GW_DEDUP_RESOLVE_KEY_FP == GW_DEDUP_GET_KEY_FP &&
                   GW_DEDUP_RESOLVE_KEY_FLAP == GW_DEDUP_GET_KEY_FLAP &&
                   GW_DEDUP_RESOLVE_ARG_FLAP_THRESHOLD == GW_DEDUP_GET_ARG_PREFIX &&
                   GW_DEDUP_RESOLVE_ARG_FLAP_WINDOW == GW_DEDUP_GET_ARG_FLAP_WINDOW,
                   "resolve and get share their slots");
    keybuf kf, kx;
    const char *keys[] = {
        [GW_DEDUP_GET_KEY_FP] = key(&kf, d, "fp:", fp, NULL),
        [GW_DEDUP_GET_KEY_FLAP] = key(&kx, d, "flap:", fp, NULL),
    };
    const char *args[] = {
        [GW_DEDUP_GET_ARG_PREFIX] = arg3,
        [GW_DEDUP_GET_ARG_FLAP_WINDOW] = d->flap_win,
    };
    return run(d, GW_DEDUP_GET_KEY_FLAP, keys, op, now_ms, GW_DEDUP_GET_ARG_FLAP_WINDOW, args, res);
}

gw_err gw_dedup_resolve(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res)
{
    return entry_and_history(d, "resolve", fp, now_ms, d->flap_at, res);
}

gw_err gw_dedup_get(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res)
{
    return entry_and_history(d, "get", fp, now_ms, d->cfg->redis_key_prefix, res);
}

static void decode_item(const redisReply *e, gw_flush_item *it)
{
    memset(it, 0, sizeof *it);
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 10)
        return;
    it->storm = e->element[0]->type == REDIS_REPLY_STRING && e->element[0]->str[0] == 's';
    copy_str(it->id, sizeof it->id, e->element[1]);
    copy_str(it->name, sizeof it->name, e->element[2]);
    copy_str(it->ns, sizeof it->ns, e->element[3]);
    it->count = int_of(e->element[4]);
    it->first_ms = int_of(e->element[5]);
    it->last_ms = int_of(e->element[6]);
    copy_str(it->storm_type, sizeof it->storm_type, e->element[7]);
    it->storm_total = int_of(e->element[8]);
    copy_str(it->resources, sizeof it->resources, e->element[9]);
}

static gw_err run_items(gw_dedup *d, const char *op, long long now_ms, const char *extra,
                        gw_flush_item *items, size_t max, size_t *n, long long *next_due_ms)
{
    keybuf kd;
    const char *keys[] = { [GW_DEDUP_ITEMS_KEY_DIRTY] = key(&kd, d, "dirty", "", NULL) };
    char maxres[24];
    snprintf(maxres, sizeof maxres, "%ld", d->cfg->storm_max_resources);
    /* extra: GW_DEDUP_FLUSH_ARG_LIMIT or GW_DEDUP_STORM_INFO_ARG_GROUP */
    const char *args[GW_DEDUP_ITEMS_NARGS + 1] = {
        [GW_DEDUP_ITEMS_ARG_PREFIX] = d->cfg->redis_key_prefix,
        [GW_DEDUP_ITEMS_ARG_MAX_RESOURCES] = maxres,
        [GW_DEDUP_FLUSH_ARG_LIMIT] = extra,
    };
    redisReply *rep;
    *n = 0;
    if (next_due_ms)
        *next_due_ms = 0;
    gw_err rc = eval(d, GW_DEDUP_ITEMS_KEY_DIRTY, keys, op, now_ms, GW_DEDUP_ITEMS_NARGS, args, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        snprintf(d->redis->errstr, sizeof d->redis->errstr, "dedup %s: unexpected reply", op);
        return GW_EREDIS;
    }
    const redisReply *list = rep->element[0];
    for (size_t i = 0; i < list->elements && *n < max; i++)
        decode_item(list->element[i], &items[(*n)++]);
    if (next_due_ms)
        *next_due_ms = int_of(rep->element[1]);
    freeReplyObject(rep);
    return GW_OK;
}

gw_err gw_dedup_flush(gw_dedup *d, long long now_ms, gw_flush_item *items, size_t max, size_t *n,
                      long long *next_due_ms)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", max);
    return run_items(d, "flush", now_ms, lim, items, max, n, next_due_ms);
}

gw_err gw_dedup_storm_info(gw_dedup *d, const char *group, gw_flush_item *out)
{
    size_t n = 0;
    gw_err rc = run_items(d, "storm_info", 0, group, out, 1, &n, NULL);
    if (rc)
        return rc;
    return n ? GW_OK : GW_ENOTFOUND;
}

gw_err gw_dedup_peek(gw_dedup *d, const char *fp, const gw_dedup_signal *sig, long long now_ms,
                     gw_dedup_peek_result *out)
{
    keybuf kf, ks, km, kr, kq;
    limit_keys lk;
    const char *lim[GW_DEDUP_LIMITS_NKEYS + 1] = { NULL };
    create_limit_keys(d, sig->ns, sig->sender, now_ms, &lk, lim);
    const char *keys[GW_DEDUP_PEEK_NKEYS + 1] = {
        [GW_DEDUP_PEEK_KEY_FP] = key(&kf, d, "fp:", fp, NULL),
        [GW_DEDUP_PEEK_KEY_STORM] = key(&ks, d, "storm:", sig->group, NULL),
        [GW_DEDUP_PEEK_KEY_STORMRES] = key(&km, d, "stormres:", sig->group, NULL),
        [GW_DEDUP_PEEK_KEY_RECENT] = key(&kr, d, "recent:", sig->group, NULL),
        [GW_DEDUP_PEEK_KEY_RATE] = key(&kq, d, "rate:", sig->group, NULL),
        [GW_DEDUP_PEEK_KEY_BUDGET] = lim[GW_DEDUP_LIMITS_KEY_BUDGET],
        [GW_DEDUP_PEEK_KEY_SENDER_BUDGET] = lim[GW_DEDUP_LIMITS_KEY_SENDER_BUDGET],
        [GW_DEDUP_PEEK_KEY_NSCAP] = lim[GW_DEDUP_LIMITS_KEY_NSCAP],
    };
    const char *args[GW_DEDUP_PEEK_NARGS + 1] = {
        [GW_DEDUP_PEEK_ARG_RESOURCE] = sig->resource,
        [GW_DEDUP_PEEK_ARG_PATTERN_WINDOW] = d->pattern_win,
    };
    redisReply *rep;
    memset(out, 0, sizeof *out);
    gw_err rc = eval(d, GW_DEDUP_PEEK_NKEYS, keys, "peek", now_ms, GW_DEDUP_PEEK_NARGS, args,
                     &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 17) {
        snprintf(d->redis->errstr, sizeof d->redis->errstr, "dedup peek: unexpected reply");
        freeReplyObject(rep);
        return GW_EREDIS;
    }
    redisReply **e = rep->element;
    copy_str(out->state, sizeof out->state, e[0]);
    out->count = int_of(e[1]);
    copy_str(out->name, sizeof out->name, e[2]);
    copy_str(out->ns, sizeof out->ns, e[3]);
    out->escalated = int_of(e[4]) != 0;
    out->member = int_of(e[5]) != 0;
    copy_str(out->storm_state, sizeof out->storm_state, e[6]);
    copy_str(out->storm_type, sizeof out->storm_type, e[7]);
    out->storm_opened_ms = int_of(e[8]);
    out->storm_joined_ms = int_of(e[9]);
    out->storm_resources = int_of(e[10]);
    out->recent = int_of(e[11]);
    out->recent_mine = int_of(e[12]) != 0;
    out->rate = int_of(e[13]);
    out->budget = int_of(e[14]);
    out->sender_budget = int_of(e[15]);
    out->nscap = int_of(e[16]);
    freeReplyObject(rep);
    return GW_OK;
}
