/* SPDX-License-Identifier: Apache-2.0 */
/* text.c - byte-level text helpers for values that reach Kubernetes, logs
 * and problem bodies; see text.h. */
#include "text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool gw_label_value(const char *in, char *out)
{
    size_t n = 0;
    for (const char *p = in; *p && n < 63; p++)
        out[n++] = (is_alnum(*p) || *p == '-' || *p == '_' || *p == '.') ? *p : '_';
    out[n] = '\0';
    size_t start = 0;
    while (start < n && !is_alnum(out[start]))
        start++;
    while (n > start && !is_alnum(out[n - 1]))
        n--;
    memmove(out, out + start, n - start);
    out[n - start] = '\0';
    return n > start;
}

bool gw_is_label_value(const char *s, size_t n)
{
    if (!n || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

size_t gw_utf8_cut(const char *s, size_t len, size_t max, char *out)
{
    size_t n = len < max ? len : max;
    if (n < len) {
        /* back off continuation bytes so we end on a sequence boundary */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

size_t gw_text_clean(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    if (!outlen)
        return 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            if (o + 1 >= outlen)
                break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= outlen)
            break;
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return o;
}

size_t gw_dec(long long v, char out[21])
{
    /* unsigned arithmetic: -LLONG_MIN does not fit a long long */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char digits[20];
    size_t k = 0, n = 0;
    do
        digits[k++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        out[n++] = '-';
    while (k > 0)
        out[n++] = digits[--k];
    out[n] = '\0';
    return n;
}

void gw_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool gw_hex_decode(const char *in, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

gw_err gw_json_str(gw_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    gw_err rc = gw_buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; !rc && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (p > run)
            rc = gw_buf_append(b, run, (size_t)(p - run));
        char esc[6] = { '\\', (char)c, 0, 0, 0, 0 };
        size_t n = 2;
        if (c < 0x20) {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (!rc)
            rc = gw_buf_append(b, esc, n);
        run = p + 1;
    }
    if (!rc && *run)
        rc = gw_buf_appends(b, run);
    if (!rc)
        rc = gw_buf_append(b, "\"", 1);
    return rc;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

bool gw_pairs_next(const char **p, const char **key, size_t *klen, const char **val,
                   size_t *vlen)
{
    while (*p && **p) {
        const char *s = *p, *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        *p = end ? end + 1 : s + n;
        const char *eq = memchr(s, '=', n);
        *key = s;
        *klen = eq ? (size_t)(eq - s) : n;
        trim(key, klen);
        if (eq) {
            *val = eq + 1;
            *vlen = n - (size_t)(eq - s) - 1;
            trim(val, vlen);
        } else {
            *val = NULL;
            *vlen = 0;
        }
        if (*klen || *val)
            return true;
    }
    return false;
}

bool gw_list_next(const char **p, const char **item, size_t *len)
{
    while (**p) {
        const char *s = *p, *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        *p = end ? end + 1 : s + n;
        trim(&s, &n);
        if (n) {
            *item = s;
            *len = n;
            return true;
        }
    }
    return false;
}

bool gw_list_has(const char *list, const char *item)
{
    const char *it;
    size_t n, want = strlen(item);
    while (list && gw_list_next(&list, &it, &n))
        if (n == want && !memcmp(it, item, n))
            return true;
    return false;
}

bool gw_pairs_get(const char *list, const char *key, char *out, size_t outlen)
{
    const char *p = list, *k, *v;
    size_t kl, vl, want = strlen(key);
    while (gw_pairs_next(&p, &k, &kl, &v, &vl)) {
        if (v && kl == want && !memcmp(k, key, kl)) {
            if (vl >= outlen)
                return false;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
    }
    return false;
}

bool gw_is_loopback_host(const char *host, size_t len)
{
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 9 && !strncasecmp(host, "localhost", 9))
        return true;
    char lit[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof lit || memchr(host, '\0', len))
        return false;
    memcpy(lit, host, len);
    lit[len] = '\0';
    unsigned char a[16];
    if (inet_pton(AF_INET, lit, a) == 1) /* glibc: dotted quad only */
        return a[0] == 127;
    struct in6_addr a6;
    return inet_pton(AF_INET6, lit, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}
