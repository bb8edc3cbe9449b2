/* SPDX-License-Identifier: Apache-2.0 */
/* k8sname.c - see k8sname.h.
 *
 * The syntax rules are apimachinery's (validation.IsDNS1123Label,
 * IsDNS1123Subdomain, the version pattern of discovery), written out as
 * byte loops: no regex engine on the request path. */
#include "k8sname.h"

#include <stdio.h>
#include <string.h>

static bool alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* s[0..n) is a DNS label of at most max bytes. */
static bool label_n(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool gw_is_dns_label(const char *s)
{
    return s && label_n(s, strlen(s), 63);
}

/* s[0..n) is a DNS subdomain: labels of [a-z0-9-] joined by single dots.
 * As in apimachinery, only the whole is limited (253), not each label. */
static bool subdomain_n(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (!label_n(s + start, i - start, 253))
            return false;
        start = i + 1;
    }
    return true;
}

bool gw_is_dns_subdomain(const char *s)
{
    return s && subdomain_n(s, strlen(s));
}

bool gw_is_kind(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !(s[0] >= 'A' && s[0] <= 'Z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || digit(s[i])))
            return false;
    return true;
}

/* "v1", "v2beta1", "v1alpha3": v, digits (no leading zero), optionally
 * "alpha" or "beta" and digits. */
static bool version_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 20 || s[0] != 'v' || !digit(s[1]) || s[1] == '0')
        return false;
    size_t i = 1;
    while (i < n && digit(s[i]))
        i++;
    if (i == n)
        return true;
    if (!strncmp(s + i, "alpha", 5))
        i += 5;
    else if (!strncmp(s + i, "beta", 4))
        i += 4;
    else
        return false;
    if (i == n || !digit(s[i]) || s[i] == '0')
        return false;
    while (i < n && digit(s[i]))
        i++;
    return i == n;
}

bool gw_is_api_version(const char *s)
{
    if (!s)
        return false;
    const char *slash = strchr(s, '/');
    if (!slash)
        return version_ok(s);
    return subdomain_n(s, (size_t)(slash - s)) && version_ok(slash + 1);
}

/* Appends "/" and seg, percent-encoding every byte outside RFC 3986's
 * unreserved set.  false when it does not fit. */
static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || digit((char)c) || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool add_segment(char *out, size_t outlen, size_t *len, const char *seg, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (*len + 1 >= outlen)
        return false;
    out[(*len)++] = '/';
    size_t plain_run = 0;
    while (plain_run < n && unreserved((unsigned char)seg[plain_run]))
        plain_run++;
    if (plain_run == n) { /* the usual case: a valid name needs no escape */
        if (*len + n >= outlen)
            return false;
        memcpy(out + *len, seg, n);
        *len += n;
        out[*len] = '\0';
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)seg[i];
        bool plain = unreserved(c);
        if (*len + (plain ? 1 : 3) >= outlen)
            return false;
        if (plain) {
            out[(*len)++] = (char)c;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[c >> 4];
            out[(*len)++] = hex[c & 15];
        }
    }
    out[*len] = '\0';
    return true;
}

static bool add(char *out, size_t outlen, size_t *len, const char *seg)
{
    return add_segment(out, outlen, len, seg, strlen(seg));
}

bool gw_k8s_path(char *out, size_t outlen, const char *api_version, const char *ns,
                 const char *plural, const char *name)
{
    if (!out || !outlen)
        return false;
    out[0] = '\0';
    bool namespaced = ns && *ns;
    if (!gw_is_api_version(api_version) || (namespaced && !gw_is_dns_label(ns)) ||
        !gw_is_dns_label(plural) || (name && !gw_is_dns_subdomain(name)))
        return false;
    const char *slash = strchr(api_version, '/');
    size_t len = 0;
    bool ok;
    if (slash)
        ok = add(out, outlen, &len, "apis") &&
             add_segment(out, outlen, &len, api_version, (size_t)(slash - api_version)) &&
             add(out, outlen, &len, slash + 1);
    else
        ok = add(out, outlen, &len, "api") && add(out, outlen, &len, api_version);
    if (ok && namespaced)
        ok = add(out, outlen, &len, "namespaces") && add(out, outlen, &len, ns);
    ok = ok && add(out, outlen, &len, plural);
    if (ok && name)
        ok = add(out, outlen, &len, name);
    if (!ok)
        out[0] = '\0';
    return ok;
}
