/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz.h - what the fuzz targets (tests/fuzz/fuzz-<target>.c) share.
 *
 * A target is one file defining
 *
 *     GW_FUZZ_TARGET(name) { ... return 0; }
 *
 * which is the function gw_fuzz_<name>(data, size): it feeds one input to
 * the code under test and returns 0.  Two drivers run it:
 *  - the coverage-guided build (./configure CC=clang --enable-fuzzing):
 *    tests/fuzz/Makefile.am compiles the file with GW_LIBFUZZER defined, so
 *    the macro also emits libFuzzer's LLVMFuzzerTestOneInput calling it,
 *    and links it as tests/fuzz/fuzz-<name>;
 *  - the corpus-replay + mutation fuzzer of the unit suite
 *    (tests/test_fuzz.c), which links the same file and calls
 *    gw_fuzz_<name> from its table.
 * A target never aborts on input the product must accept or refuse; it
 * aborts (a crash both drivers report) only when one of its own checks of
 * the product's promises fails.
 *
 * Harness state (a lazily made config, the in-memory files) lives in
 * statics inside the targets: libFuzzer's entry point has no context
 * argument, and each driver runs one input at a time in one thread. */
#ifndef GW_FUZZ_H
#define GW_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "jsonmem.h"
#include "rr.h"
#include "signal.h"

#ifdef GW_LIBFUZZER
#define GW_FUZZ_TARGET(name)                                                                  \
    int gw_fuzz_##name(const uint8_t *data, size_t size);                                     \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                             \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                              \
    {                                                                                         \
        return gw_fuzz_##name(data, size);                                                    \
    }                                                                                         \
    int gw_fuzz_##name(const uint8_t *data, size_t size)
#else
#define GW_FUZZ_TARGET(name)                                                                  \
    int gw_fuzz_##name(const uint8_t *data, size_t size);                                     \
    int gw_fuzz_##name(const uint8_t *data, size_t size)
#endif

/* A harness check of a promise the product makes failed: report and crash,
 * so both drivers keep the input. */
#define GW_FUZZ_REQUIRE(cond, ...)                                                            \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* jansson's allocations counted and budgeted, as in the worker (jsonmem.h):
 * every target that makes jansson values calls this first.  Idempotent;
 * strings json_dumps returns are then freed with gw_json_free. */
static inline void gw_fuzz_jansson(void)
{
    gw_jsonmem_install();
}

/* The config the body parsers run with: the defaults, with max_alerts cut
 * to 50 so each input stays cheap, and the parse budget
 * (server.max_parse_bytes) cut to 256 KiB so that inputs of a few KiB can
 * trip it (a 4 KiB `[{},{},...]` takes some 400 KiB) and the refusal
 * path is fuzzed too.  Made on first use, never freed (one per process,
 * reachable: no leak report). */
static inline const gw_config *gw_fuzz_parser_config(void)
{
    static gw_config cfg;
    static bool made;
    if (!made) {
        gw_fuzz_jansson();
        if (gw_config_defaults(&cfg) != GW_OK)
            abort();
        cfg.server_max_alerts = 50;
        cfg.server_max_parse_bytes = 256 * 1024;
        made = true;
    }
    return &cfg;
}

/* An in-memory file (memfd) the code under test opens by path, as it opens
 * an operator's files: nothing is written to disk and nothing is left
 * behind when the process ends, however it ends. */
typedef struct {
    bool open;
    int  fd;
    char path[40];   /* "/proc/self/fd/<fd>" */
} gw_fuzz_file;

/* Replaces f's content with data[0..n) and returns its path. */
static inline const char *gw_fuzz_file_set(gw_fuzz_file *f, const void *data, size_t n)
{
    if (!f->open) {
        f->fd = memfd_create("alertgw-fuzz", MFD_CLOEXEC);
        if (f->fd < 0) {
            perror("fuzz: memfd_create");
            abort();
        }
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
        f->open = true;
    }
    if (ftruncate(f->fd, 0) != 0 || (n && pwrite(f->fd, data, n, 0) != (ssize_t)n)) {
        perror("fuzz: writing the in-memory file");
        abort();
    }
    return f->path;
}

/* Splits an input made of NUL-terminated fields (the last one may lack
 * its NUL) into at most max C strings.  The fields point into a copy the
 * caller frees with free(*copy).  Returns how many fields the input held;
 * fields[i] for i at or past that count are NULL ("absent"). */
static inline size_t gw_fuzz_fields(const uint8_t *data, size_t size, const char **fields,
                                    size_t max, char **copy)
{
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    if (size)
        memcpy(buf, data, size);
    buf[size] = '\0';
    *copy = buf;
    size_t n = 0, i = 0;
    while (i < size && n < max) {
        fields[n++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    for (size_t k = n; k < max; k++)
        fields[k] = NULL;
    return n;
}

/* An alert's originalPayload (gw_rr_alert_payload) is JSON holding that
 * one alert and only fields the webhook's top level has. */
static inline void gw_fuzz_check_payload(const gw_batch *b, const char *payload)
{
    json_t *p = json_loads(payload, 0, NULL);
    GW_FUZZ_REQUIRE(json_is_object(p), "originalPayload is not a JSON object");
    GW_FUZZ_REQUIRE(json_array_size(json_object_get(p, "alerts")) == 1,
                    "originalPayload holds %zu alerts",
                    json_array_size(json_object_get(p, "alerts")));
    const char *key;
    json_t *v;
    json_object_foreach(p, key, v) {
        GW_FUZZ_REQUIRE(!strcmp(key, "alerts") || json_object_get(b->root, key),
                        "originalPayload has a field \"%s\" the webhook did not", key);
    }
    json_decref(p);
}

/* What the gateway does next with a parsed webhook that needs no network:
 * builds the RemediationRequest of every accepted signal, with its
 * originalPayload as gateway.c makes it (the alert's own part of a
 * webhook, the whole body of an Event), and serialises it (label
 * sanitising, UTF-8 cuts, the capped originalPayload). */
static inline void gw_fuzz_build_requests(const gw_config *cfg, const gw_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const gw_signal *s = &b->signals[i];
        if (s->error[0] || s->ignored)
            continue;
        char *payload = s->item ? gw_rr_alert_payload(b->root, s->item) : NULL;
        if (payload)
            gw_fuzz_check_payload(b, payload);
        gw_rr_input in = {
            .sig = s, .name = "rr-0123456789ab-01234567", .namespace_ = "kubernaut-system",
            .environment = "production", .priority = "P0", .received_ms = 1795428030000LL,
            .raw = s->item ? payload : b->raw,
            .raw_len = s->item ? (payload ? strlen(payload) : 0) : b->raw_len,
        };
        json_t *obj = gw_rr_build(cfg, &in);
        if (obj) { /* NULL: out of memory */
            char *text = json_dumps(obj, JSON_COMPACT);
            GW_FUZZ_REQUIRE(text != NULL, "a built RemediationRequest does not serialise");
            gw_json_free(text);
            json_decref(obj);
        }
        gw_json_free(payload);
    }
}

#endif
