/* SPDX-License-Identifier: Apache-2.0 */
/* bearer.c - see bearer.h.
 *
 * The configuration holds hashes, never tokens: a leaked config file or a
 * log line cannot be replayed.  Entries are parsed once, at start-up; a
 * request costs one SHA-256 and a constant-time comparison with every
 * entry, so timing tells nothing about which one matched.  The presented
 * token's hash is wiped after use, and only its first 8 hex digits ever
 * reach a log line (the principal "bearer:<id>"). */
#include "bearer.h"

#include <ctype.h>
#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "text.h"

#define MAX_TOKENS      4096
#define TOKENS_FILE_MAX (1 << 20)
#define LINE_MAX_BYTES  2046 /* of auth.bearer_tokens_file, newline not counted */

typedef struct {
    unsigned char hash[32];
    char          id[9];  /* first 8 hex digits of the hash: names the token in logs */
    char         *scope;  /* owned, "ns1|team-*"; NULL: any namespace */
} token;

struct gw_bearer {
    token  *tokens; /* MAX_TOKENS slots when any entry is configured, else NULL */
    size_t  ntokens;
};

static bool scope_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '*' || c == '?';
}

/* One bearer entry "<64 hex>[=ns1|ns2*]".  t may be NULL (validation
 * only).  false with why set on a bad entry. */
static bool parse_token(const char *s, size_t n, token *t, char *why, size_t whylen)
{
    const char *eq = memchr(s, '=', n);
    size_t hl = eq ? (size_t)(eq - s) : n;
    while (hl && s[hl - 1] == ' ')
        hl--;
    unsigned char h[32];
    if (hl != 64 || !gw_hex_decode(s, h, sizeof h)) {
        snprintf(why, whylen, "\"%.*s\" is not a SHA-256 hex digest (64 hex digits; "
                 "`printf %%s TOKEN | sha256sum`)", (int)(hl > 24 ? 24 : hl), s);
        return false;
    }
    const char *sc = NULL;
    size_t sl = 0;
    if (eq) {
        sc = eq + 1;
        sl = n - (size_t)(sc - s);
        while (sl && *sc == ' ') {
            sc++;
            sl--;
        }
        bool good = sl > 0 && sc[0] != '|' && sc[sl - 1] != '|';
        for (size_t i = 0; good && i < sl; i++)
            good = scope_char(sc[i]) || (sc[i] == '|' && sc[i + 1] != '|');
        if (!good) {
            snprintf(why, whylen, "token %.8s...: scope \"%.*s\" must be namespaces or globs "
                     "(a-z 0-9 - . * ?) separated by |", s, (int)(sl > 64 ? 64 : sl), sc);
            return false;
        }
    }
    if (t) {
        memcpy(t->hash, h, 32);
        for (int i = 0; i < 8; i++)
            t->id[i] = (char)tolower((unsigned char)s[i]);
        t->id[8] = '\0';
        t->scope = NULL;
        if (sc && !(t->scope = strndup(sc, sl))) {
            snprintf(why, whylen, "out of memory");
            return false;
        }
    }
    return true;
}

static gw_err add_token(gw_bearer *b, const char *s, size_t n, const char *where, char *err,
                        size_t errlen)
{
    char why[200];
    if (b->ntokens == MAX_TOKENS)
        return gw_fail(GW_ECONFIG, err, errlen, "%s: more than %d tokens", where, MAX_TOKENS);
    if (!parse_token(s, n, &b->tokens[b->ntokens], why, sizeof why))
        return gw_fail(GW_ECONFIG, err, errlen, "%s: %s", where, why);
    b->ntokens++;
    return GW_OK;
}

/* auth.bearer_tokens_file: one entry per line, # starts a comment. */
static gw_err load_token_file(gw_bearer *b, const char *path, char *err, size_t errlen)
{
    char *text, why[512], where[1100];
    size_t len;
    gw_err rc = gw_read_file(path, TOKENS_FILE_MAX, &text, &len, NULL, why, sizeof why);
    if (rc)
        return gw_fail(GW_ECONFIG, err, errlen, "auth.bearer_tokens_file: %s", why);
    long no = 0;
    for (char *line = text; !rc && line < text + len;) {
        no++;
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        char *next = nl ? nl + 1 : text + len;
        if (n > LINE_MAX_BYTES) {
            rc = gw_fail(GW_ECONFIG, err, errlen, "auth.bearer_tokens_file: %s: line %ld is "
                         "longer than %d bytes", path, no, LINE_MAX_BYTES);
            break;
        }
        char *hash = memchr(line, '#', n);
        if (hash)
            n = (size_t)(hash - line);
        char *s = line;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        while (n && isspace((unsigned char)*s)) {
            s++;
            n--;
        }
        line = next;
        if (!n)
            continue;
        snprintf(where, sizeof where, "auth.bearer_tokens_file: %s: line %ld", path, no);
        rc = add_token(b, s, n, where, err, errlen);
    }
    gw_file_free(text, len);
    return rc;
}

static bool sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

void gw_bearer_check(const gw_bearer *b, const char *tok, size_t n, gw_auth_result *r)
{
    if (!tok) {
        gw_auth_refuse(r, 401, GW_AM_BEARER, GW_AUTH_MISSING,
                       "missing credentials: send Authorization: Bearer <token>",
                       "no bearer token");
        return;
    }
    unsigned char h[32];
    const token *hit = NULL;
    if (sha256(tok, n, h)) {
        for (size_t i = 0; i < b->ntokens; i++) /* all of them: constant time */
            if (!CRYPTO_memcmp(h, b->tokens[i].hash, 32))
                hit = &b->tokens[i];
    }
    OPENSSL_cleanse(h, sizeof h);
    if (!hit) {
        gw_auth_refuse(r, 401, GW_AM_BEARER, GW_AUTH_MISMATCH, "bearer token not recognised",
                       "bearer token not recognised");
        return;
    }
    char who[32];
    snprintf(who, sizeof who, "bearer:%s", hit->id);
    gw_auth_admit(r, GW_AM_BEARER, who);
    r->scope = hit->scope ? hit : NULL;
}


gw_err gw_bearer_new(const gw_config *cfg, gw_bearer **out, char *err, size_t errlen)
{
    *out = NULL;
    gw_bearer *b = calloc(1, sizeof *b);
    if (!b)
        return GW_ENOMEM;
    gw_err rc = GW_OK;
    if ((*cfg->auth_bearer_tokens || *cfg->auth_bearer_tokens_file) &&
        !(b->tokens = calloc(MAX_TOKENS, sizeof *b->tokens)))
        rc = GW_ENOMEM;
    const char *p = cfg->auth_bearer_tokens, *it;
    size_t n;
    while (!rc && gw_list_next(&p, &it, &n))
        rc = add_token(b, it, n, "auth.bearer_tokens", err, errlen);
    if (!rc && *cfg->auth_bearer_tokens_file)
        rc = load_token_file(b, cfg->auth_bearer_tokens_file, err, errlen);
    if (rc) {
        gw_bearer_free(b);
        return rc;
    }
    *out = b;
    return GW_OK;
}

void gw_bearer_free(gw_bearer *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->ntokens; i++)
        free(b->tokens[i].scope);
    free(b->tokens);
    free(b);
}

size_t gw_bearer_count(const gw_bearer *b)
{
    return b ? b->ntokens : 0;
}

int gw_bearer_config_errors(const gw_config *cfg, char *errs, size_t errlen)
{
    int n = 0;
    char why[200];
    const char *p = cfg->auth_bearer_tokens, *it;
    size_t len;
    while (gw_list_next(&p, &it, &len)) {
        if (!parse_token(it, len, NULL, why, sizeof why)) {
            gw_errs_add(errs, errlen, "auth.bearer_tokens: %s", why);
            n++;
        }
    }
    return n;
}

bool gw_bearer_in_scope(const gw_auth_result *r, const char *ns)
{
    const token *t = r->scope;
    if (!t || !t->scope)
        return true;
    const char *p = t->scope;
    char glob[256];
    while (*p) {
        size_t n = strcspn(p, "|");
        if (n < sizeof glob) {
            memcpy(glob, p, n);
            glob[n] = '\0';
            if (!fnmatch(glob, ns ? ns : "", 0))
                return true;
        }
        p += n;
        if (*p == '|')
            p++;
    }
    return false;
}
