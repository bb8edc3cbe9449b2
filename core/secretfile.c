/* SPDX-License-Identifier: Apache-2.0 */
/* secretfile.c - see secretfile.h.
 *
 * The file is read (file.h) to its end, or to GW_SECRET_MAX plus some
 * slack for trailing newlines, whichever comes first: a file that does not
 * end there is too long, whatever the slack would have held.  The buffer
 * is wiped before it is freed, also on every error path, because it held
 * the secret (or a part of it). */
#include "secretfile.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file.h"

/* Trailing newlines (and, for passwords, blanks) past GW_SECRET_MAX that
 * are still read, so "<4096 bytes>\r\n" is accepted. */
#define SLACK 64

void gw_secret_free(char *data, size_t len)
{
    gw_file_free(data, len);
}

/* gw_secret_file_read; *unreadable tells a file that could not be opened
 * or read (possibly fine where the workers run) from one whose content is
 * wrong (wrong everywhere). */
static gw_err read_secret(const char *key, const char *path, gw_secret_kind kind, char **out,
                          size_t *len, bool *unreadable, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    char *buf, why[512];
    size_t n;
    struct stat st = { 0 };
    gw_err rc = gw_read_file(path, GW_SECRET_MAX + SLACK, &buf, &n, &st, why, sizeof why);
    *unreadable = rc == GW_ECONFIG;
    bool too_big = rc == GW_ETOOBIG;
    if (rc && !too_big)
        return gw_fail(rc == GW_ENOMEM ? rc : GW_ECONFIG, err, errlen, "%s: %s", key, why);
    size_t full = n;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                 (kind == GW_SECRET_TEXT && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))))
        n--;
    if (too_big || n > GW_SECRET_MAX)
        rc = gw_fail(GW_ECONFIG, err, errlen, "%s: %s holds %lld bytes, more than the %d a "
                     "secret may have (it is never cut short)", key, path,
                     (long long)st.st_size, GW_SECRET_MAX);
    else if (!n)
        rc = gw_fail(GW_ECONFIG, err, errlen, "%s: %s is empty", key, path);
    else if (kind == GW_SECRET_TEXT && memchr(buf, '\0', n))
        rc = gw_fail(GW_ECONFIG, err, errlen, "%s: %s holds a NUL byte, which would end the "
                     "password early", key, path);
    if (rc) {
        gw_file_free(buf, full);
        return rc;
    }
    OPENSSL_cleanse(buf + n, full - n); /* the stripped tail */
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return GW_OK;
}

gw_err gw_secret_file_read(const char *key, const char *path, gw_secret_kind kind, char **out,
                           size_t *len, char *err, size_t errlen)
{
    bool unreadable;
    return read_secret(key, path, kind, out, len, &unreadable, err, errlen);
}

/* Every key that names secret files: one file, or a comma-separated list
 * (rotation).  redis.c and auth.c read these at start-up with the same
 * kind. */
static const struct {
    const char     *key;
    size_t          off;  /* of the char * in gw_config */
    bool            list;
    gw_secret_kind  kind;
} secret_keys[] = {
    { "redis.password_file", offsetof(gw_config, redis_password_file), false, GW_SECRET_TEXT },
    { "redis.sentinel_password_file", offsetof(gw_config, redis_sentinel_password_file), false,
      GW_SECRET_TEXT },
    { "auth.hmac_secret_files", offsetof(gw_config, auth_hmac_secret_files), true,
      GW_SECRET_BINARY },
    { "grafana.secret_files", offsetof(gw_config, grafana_secret_files), true,
      GW_SECRET_BINARY },
};

/* One path of a list: blanks around it trimmed, empty items skipped (as
 * auth.c reads the lists); false at the end. */
static bool next_path(const char **p, bool list, char *out, size_t outlen, bool *toolong)
{
    while (**p) {
        const char *s = *p;
        size_t n = list ? strcspn(s, ",") : strlen(s);
        *p = s + n + (list && s[n] == ',');
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!n)
            continue;
        *toolong = n >= outlen;
        if (*toolong)
            n = outlen - 1;
        memcpy(out, s, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

int gw_secret_files_check(const gw_config *c, char *errs, size_t errlen, char *notes,
                          size_t noteslen)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof secret_keys / sizeof secret_keys[0]; i++) {
        const char *p = *(char *const *)((const char *)c + secret_keys[i].off);
        char path[1024], why[1400];
        bool toolong;
        while (p && next_path(&p, secret_keys[i].list, path, sizeof path, &toolong)) {
            if (toolong) {
                gw_errs_add(errs, errlen, "%s: a file name is longer than %zu bytes",
                            secret_keys[i].key, sizeof path - 1);
                bad++;
                continue;
            }
            char *data;
            size_t len;
            bool unreadable;
            gw_err rc = read_secret(secret_keys[i].key, path, secret_keys[i].kind, &data, &len,
                                    &unreadable, why, sizeof why);
            gw_secret_free(data, len);
            if (!rc)
                continue;
            if (unreadable) {
                gw_errs_add(notes, noteslen, "%s", why);
            } else {
                gw_errs_add(errs, errlen, "%s", why);
                bad++;
            }
        }
    }
    return bad;
}
