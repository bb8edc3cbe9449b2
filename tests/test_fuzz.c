/* SPDX-License-Identifier: Apache-2.0 */
/* test_fuzz.c - corpus replay and mutation fuzzing of every parser, run
 * under ASan+UBSan by the unit suite (build/asan).
 *
 * Targets (tests/fuzz/fuzz-<target>.c, shared with the coverage-guided
 * libFuzzer build; tests/fuzz/README.md): the Alertmanager webhook, the
 * Grafana webhook, Kubernetes Events (all shapes), the YAML config file,
 * kubeconfig files, and the auth option values with the requests they
 * judge.  Each target first replays its seed corpus (tests/fuzz/<target>/:
 * real payloads) and a few generated hostile inputs (deep nesting, NUL
 * bytes, invalid UTF-8, huge numbers), then runs mutations of the corpus:
 * bit flips, byte changes, inserted tokens, deleted, repeated and spliced
 * ranges.  A crash, a sanitizer report, a failed harness check (abort) or
 * a leak fails the run; the input being run is written to
 * fuzz-crash-<target>.bin first (ASan's death callback).
 *
 * Knobs: FUZZ_ITERATIONS per target (default 20000, the CI run),
 * FUZZ_SECONDS per target (fuzz by time instead: the long run),
 * FUZZ_SEED (default 1, so a CI failure reproduces). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#define FUZZ_MAX_INPUT (64 * 1024)
#define MAX_SEEDS 64

typedef struct {
    unsigned char *data;
    size_t         len;
} blob;

typedef int (*target_fn)(const uint8_t *data, size_t size);

/* The input in flight, for the death callback (test code: one process,
 * one input at a time). */
static const unsigned char *cur_data;
static size_t               cur_len;
static const char          *cur_target;
static unsigned long long   rng_state;

extern void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

/* A target's own checks abort(): let ASan treat SIGABRT as a crash, so the
 * death callback saves that input too. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "handle_abort=1";
}

static void save_crash(void)
{
    char path[128];
    snprintf(path, sizeof path, "fuzz-crash-%s.bin", cur_target ? cur_target : "unknown");
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(cur_data, 1, cur_len, f);
        fclose(f);
        fprintf(stderr, "fuzz: the crashing input is in %s\n", path);
    }
}

static unsigned long long rnd(void)
{
    /* xorshift64*: reproducible from FUZZ_SEED */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* ---------------------------------------------------------------- targets */

/* The targets live in tests/fuzz/fuzz-<name>.c (fuzz.h), shared with the
 * libFuzzer build; the name is also the corpus directory. */
int gw_fuzz_am(const uint8_t *data, size_t size);
int gw_fuzz_grafana(const uint8_t *data, size_t size);
int gw_fuzz_event(const uint8_t *data, size_t size);
int gw_fuzz_config(const uint8_t *data, size_t size);
int gw_fuzz_kubeconfig(const uint8_t *data, size_t size);
int gw_fuzz_auth(const uint8_t *data, size_t size);
int gw_fuzz_kpath(const uint8_t *data, size_t size);
int gw_fuzz_owners(const uint8_t *data, size_t size);

/* ---------------------------------------------------------------- inputs */

static size_t load_corpus(const char *target, blob *seeds)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/../fuzz/%s", TEST_DATA_DIR, target);
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && n < MAX_SEEDS) {
        if (e->d_name[0] == '.')
            continue;
        char path[800];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        seeds[n].data = malloc(FUZZ_MAX_INPUT);
        assert_non_null(seeds[n].data);
        seeds[n].len = fread(seeds[n].data, 1, FUZZ_MAX_INPUT, f);
        fclose(f);
        n++;
    }
    closedir(dp);
    assert_true(n > 0);
    return n;
}

static void run_one(target_fn fn, const unsigned char *d, size_t n)
{
    cur_data = d;
    cur_len = n;
    fn(d, n);
}

/* Inputs no mutation of a small corpus is likely to reach. */
static void hostile(target_fn fn)
{
    unsigned char *b = malloc(FUZZ_MAX_INPUT);
    assert_non_null(b);
    size_t n = 0;
    for (; n < 10000 && n < FUZZ_MAX_INPUT; n++) /* 10k-deep nesting */
        b[n] = '[';
    run_one(fn, b, n);
    n = 0;
    for (int i = 0; i < 5000 && n + 8 < FUZZ_MAX_INPUT; i++) { /* {"a":{"a":{... */
        memcpy(b + n, "{\"a\":", 5);
        n += 5;
    }
    run_one(fn, b, n);
    static const char *const odd[] = {
        "{\"version\":\"4\",\"alerts\":[{\"labels\":{\"alertname\":\"a\\u0000b\",\"pod\":\"p\\u0000\"}}]}",
        "{\"version\":\"4\",\"alerts\":[{\"labels\":{\"alertname\":\"\xff\xfe\xc0\xaf\",\"pod\":\"x\"}}]}",
        "{\"count\":1e999999,\"series\":{\"count\":-99999999999999999999999999}}",
        "{\"alerts\":[{\"labels\":{\"alertname\":\"a\",\"pod\":\"p\",\"namespace\":\"n\\r\\nX-Injected: 1\"}}]}",
        "{\"a\":1,\"a\":2}",
        "\xef\xbb\xbf{}",
        "key: [unterminated\n\t- x: {",
        "server: &a {max_alerts: *a}\n",
        "",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        run_one(fn, (const unsigned char *)odd[i], strlen(odd[i]));
    free(b);
}

static const char *const tokens[] = {
    "{", "}", "[", "]", "\"", ":", ",", "\\u0000", "\\ud800", "null", "true", "-0",
    "1e308", "99999999999999999999", "\"labels\":{", "\"alerts\":[", "\xc3", "\xff",
    "\n", "- ", ": ", "&x ", "*x", "!!binary ", "---\n",
};

static size_t mutate(unsigned char *b, size_t n, const blob *seeds, size_t nseeds)
{
    int steps = 1 + (int)(rnd() % 4);
    for (int s = 0; s < steps; s++) {
        size_t pos = n ? rnd() % n : 0;
        switch (rnd() % 7) {
        case 0: /* bit flip */
            if (n)
                b[pos] ^= (unsigned char)(1u << (rnd() % 8));
            break;
        case 1: /* any byte */
            if (n)
                b[pos] = (unsigned char)rnd();
            break;
        case 2: { /* insert a token */
            const char *t = tokens[rnd() % (sizeof tokens / sizeof tokens[0])];
            size_t tl = strlen(t);
            if (n + tl < FUZZ_MAX_INPUT) {
                memmove(b + pos + tl, b + pos, n - pos);
                memcpy(b + pos, t, tl);
                n += tl;
            }
            break;
        }
        case 3: { /* delete a range */
            size_t len = n - pos ? 1 + rnd() % (n - pos) % 64 : 0;
            memmove(b + pos, b + pos + len, n - pos - len);
            n -= len;
            break;
        }
        case 4: { /* repeat a range */
            size_t len = n - pos ? 1 + rnd() % (n - pos) % 128 : 0;
            if (n + len < FUZZ_MAX_INPUT) {
                memmove(b + pos + len, b + pos, n - pos);
                n += len;
            }
            break;
        }
        case 5: { /* splice the tail of another seed */
            const blob *o = &seeds[rnd() % nseeds];
            size_t from = o->len ? rnd() % o->len : 0, len = o->len - from;
            if (pos + len < FUZZ_MAX_INPUT) {
                memcpy(b + pos, o->data + from, len);
                n = pos + len;
            }
            break;
        }
        default: /* truncate */
            n = pos;
            break;
        }
    }
    return n;
}

static void fuzz(const char *name, target_fn fn)
{
    cur_target = name;
    blob seeds[MAX_SEEDS];
    size_t nseeds = load_corpus(name, seeds);
    for (size_t i = 0; i < nseeds; i++)
        run_one(fn, seeds[i].data, seeds[i].len);
    hostile(fn);

    const char *it = getenv("FUZZ_ITERATIONS"), *secs = getenv("FUZZ_SECONDS");
    long iterations = it ? atol(it) : 20000;
    long seconds = secs ? atol(secs) : 0;
    time_t until = time(NULL) + seconds;
    unsigned char *b = malloc(FUZZ_MAX_INPUT);
    assert_non_null(b);
    long execs = 0;
    for (;; execs++) {
        if (seconds ? time(NULL) >= until : execs >= iterations)
            break;
        const blob *s = &seeds[rnd() % nseeds];
        memcpy(b, s->data, s->len);
        size_t n = mutate(b, s->len, seeds, nseeds);
        run_one(fn, b, n);
    }
    free(b);
    print_message("fuzz %s: %zu seeds replayed, %ld mutated inputs, no crash\n", name, nseeds,
                  execs);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
}

static void fuzz_alertmanager(void **state) { (void)state; fuzz("am", gw_fuzz_am); }
static void fuzz_grafana(void **state) { (void)state; fuzz("grafana", gw_fuzz_grafana); }
static void fuzz_events(void **state) { (void)state; fuzz("event", gw_fuzz_event); }
static void fuzz_config(void **state) { (void)state; fuzz("config", gw_fuzz_config); }
static void fuzz_kubeconfig(void **state) { (void)state; fuzz("kubeconfig", gw_fuzz_kubeconfig); }
static void fuzz_auth(void **state) { (void)state; fuzz("auth", gw_fuzz_auth); }
static void fuzz_kpath(void **state) { (void)state; fuzz("kpath", gw_fuzz_kpath); }
static void fuzz_owners(void **state) { (void)state; fuzz("owners", gw_fuzz_owners); }

int main(void)
{
    const char *seed = getenv("FUZZ_SEED");
    rng_state = seed ? strtoull(seed, NULL, 10) : 1;
    if (!rng_state)
        rng_state = 1;
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(save_crash);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fuzz_alertmanager), cmocka_unit_test(fuzz_grafana),
        cmocka_unit_test(fuzz_events),       cmocka_unit_test(fuzz_config),
        cmocka_unit_test(fuzz_kubeconfig),   cmocka_unit_test(fuzz_auth),
        cmocka_unit_test(fuzz_kpath),        cmocka_unit_test(fuzz_owners),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
