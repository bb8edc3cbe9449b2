/* SPDX-License-Identifier: Apache-2.0 */
/* file.c - see file.h.
 *
 * The buffer starts at the size fstat() reported (plus one byte, so a
 * file read to that size sees its end without growing) and doubles up to
 * max + 1 bytes: reading byte max + 1 proves the file too large without
 * reading the rest of it.  A file that grows while it is read is read as
 * far as it goes, within max.  Growing copies into a new buffer and wipes
 * the old one, because realloc() would leave the bytes read so far in
 * freed memory. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gw_file_free(char *data, size_t len)
{
    if (!data)
        return;
    OPENSSL_cleanse(data, len + 1);
    free(data);
}

/* buf (cap + 1 bytes, n used) into a new buffer of newcap + 1 bytes; the
 * old one is wiped and freed.  NULL (old kept) when out of memory. */
static char *grow(char *buf, size_t cap, size_t n, size_t newcap)
{
    char *b = malloc(newcap + 1);
    if (!b)
        return NULL;
    memcpy(b, buf, n);
    OPENSSL_cleanse(buf, cap + 1);
    free(buf);
    return b;
}

gw_err gw_read_file(const char *path, size_t max, char **out, size_t *len, struct stat *st,
                    char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO in place of the file must not hang the reader. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat s;
    if (fd < 0 || fstat(fd, &s) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return gw_fail(GW_ECONFIG, err, errlen, "cannot read %s: %s", path, strerror(e));
    }
    if (st)
        *st = s;
    if (!S_ISREG(s.st_mode)) {
        close(fd);
        return gw_fail(GW_EINVAL, err, errlen, "%s is not a regular file", path);
    }
    size_t limit = max + 1; /* reading this many bytes proves the file too large */
    size_t cap = s.st_size >= 0 && (unsigned long long)s.st_size < max ? (size_t)s.st_size + 1
                                                                       : limit;
    if (cap < 64 && limit > 64)
        cap = 64;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return gw_fail(GW_ENOMEM, err, errlen, "%s: out of memory", path);
    }
    size_t n = 0;
    gw_err rc = GW_OK;
    for (;;) {
        if (n == cap) {
            if (cap == limit) {
                rc = gw_fail(GW_ETOOBIG, err, errlen, "%s is larger than %zu bytes", path, max);
                break;
            }
            size_t newcap = cap > limit / 2 ? limit : cap * 2;
            char *b = grow(buf, cap, n, newcap);
            if (!b) {
                rc = gw_fail(GW_ENOMEM, err, errlen, "%s: out of memory", path);
                break;
            }
            buf = b;
            cap = newcap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = gw_fail(GW_ECONFIG, err, errlen, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rc) {
        OPENSSL_cleanse(buf, cap + 1);
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return GW_OK;
}
