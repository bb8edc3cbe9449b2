/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-kpath.c - the apiserver path builder: gw_k8s_path and
 * gw_object_path, with every part attacker text.
 *
 * Input: NUL-terminated fields, in this order (append, never reorder):
 *   0 kind   1 apiVersion   2 namespace   3 plural   4 name
 * An absent field is NULL (gw_k8s_path's namespace and name may be).
 * Corpus: tests/fuzz/kpath/.
 *
 * Checks, besides the sanitizers:
 *  - a part that is not valid Kubernetes syntax is refused, and a refused
 *    path is "";
 *  - an accepted path starts with /api/ or /apis/, has no empty, "." or
 *    ".." segment, no '?' or '#', only unreserved bytes and %XX escapes,
 *    and its segments decode back to exactly the parts given;
 *  - gw_object_path accepts only what gw_k8s_path would, and its path
 *    passes the same checks. */
#include "fuzz.h"

#include "k8sname.h"
#include "owners.h"

#define NFIELDS 5

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Splits an accepted path into decoded segments (at most max, each at most
 * 300 bytes) and checks its shape; returns the count. */
static size_t check_shape(const char *p, char seg[][301], size_t max)
{
    GW_FUZZ_REQUIRE(!strncmp(p, "/api/", 5) || !strncmp(p, "/apis/", 6), "path %s", p);
    size_t n = 0;
    while (*p) {
        GW_FUZZ_REQUIRE(*p == '/', "segment does not start with '/': %s", p);
        p++;
        GW_FUZZ_REQUIRE(n < max, "too many segments");
        size_t len = 0;
        while (*p && *p != '/') {
            unsigned char c = (unsigned char)*p;
            if (c == '%') {
                int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
                GW_FUZZ_REQUIRE(hi >= 0 && lo >= 0, "stray %% in %s", p);
                c = (unsigned char)(hi * 16 + lo);
                p += 3;
            } else {
                GW_FUZZ_REQUIRE(unreserved(c), "byte 0x%02x in a path", c);
                p++;
            }
            GW_FUZZ_REQUIRE(len < 300, "segment too long");
            seg[n][len++] = (char)c;
        }
        seg[n][len] = '\0';
        GW_FUZZ_REQUIRE(len > 0 && strcmp(seg[n], ".") && strcmp(seg[n], ".."),
                        "empty or dot segment \"%s\"", seg[n]);
        n++;
    }
    return n;
}

GW_FUZZ_TARGET(kpath)
{
    const char *f[NFIELDS];
    char *copy;
    gw_fuzz_fields(data, size, f, NFIELDS, &copy);
    const char *kind = f[0], *av = f[1], *ns = f[2], *plural = f[3], *name = f[4];

    char out[600], seg[12][301];
    bool ok = gw_k8s_path(out, sizeof out, av, ns, plural, name);
    bool valid = gw_is_api_version(av) && (!ns || !*ns || gw_is_dns_label(ns)) &&
                 gw_is_dns_label(plural) && (!name || gw_is_dns_subdomain(name));
    GW_FUZZ_REQUIRE(!ok || valid, "an invalid part was accepted");
    if (!ok) {
        GW_FUZZ_REQUIRE(out[0] == '\0', "a refused path is not empty: %s", out);
    } else {
        size_t n = check_shape(out, seg, 12);
        /* the segments are exactly the parts given */
        const char *want[8];
        size_t w = 0;
        const char *slash = strchr(av, '/');
        char group[300] = "";
        if (slash) {
            snprintf(group, sizeof group, "%.*s", (int)(slash - av), av);
            want[w++] = "apis";
            want[w++] = group;
            want[w++] = slash + 1;
        } else {
            want[w++] = "api";
            want[w++] = av;
        }
        if (ns && *ns) {
            want[w++] = "namespaces";
            want[w++] = ns;
        }
        want[w++] = plural;
        if (name)
            want[w++] = name;
        GW_FUZZ_REQUIRE(n == w, "%zu segments, %zu parts", n, w);
        for (size_t i = 0; i < n; i++)
            GW_FUZZ_REQUIRE(!strcmp(seg[i], want[i]), "segment %zu \"%s\" is not \"%s\"", i,
                            seg[i], want[i]);
    }

    if (kind && name) {
        ok = gw_object_path(NULL, kind, av ? av : "", ns, name, out, sizeof out);
        if (ok) {
            GW_FUZZ_REQUIRE(gw_is_kind(kind) && gw_is_dns_subdomain(name) &&
                                (!av || !*av || gw_is_api_version(av)),
                            "gw_object_path accepted an invalid part");
            check_shape(out, seg, 12);
        }
    }
    free(copy);
    return 0;
}
