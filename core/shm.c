/* SPDX-License-Identifier: Apache-2.0 */
/* shm.c - see shm.h. */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header; the area starts at the next 64-byte boundary (a cache line,
 * so no counter shares one with the header). */
typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t size;
} head;
#define AREA_OFF 64

static void init_new(void *base, size_t size, uint64_t magic, uint32_t version,
                     void (*init)(void *area))
{
    head *h = base;
    memset(base, 0, AREA_OFF + size);
    if (init)
        init((char *)base + AREA_OFF);
    h->version = version;
    h->size = (uint32_t)size;
    atomic_thread_fence(memory_order_release);
    h->magic = magic; /* last: a reader that sees it sees an initialised area */
}

static gw_err private_area(gw_shm *s, size_t size, uint64_t magic, uint32_t version,
                           void (*init)(void *area))
{
    s->base = malloc(AREA_OFF + size);
    if (!s->base)
        return GW_ENOMEM;
    init_new(s->base, size, magic, version, init);
    s->len = AREA_OFF + size;
    s->area = (char *)s->base + AREA_OFF;
    s->shared = false;
    return GW_OK;
}

/* Maps an open file under flock: sizes and initialises a new (empty) file;
 * *stale when the file holds another layout (the caller replaces it). */
static gw_err map_locked(int fd, const char *path, size_t size, uint64_t magic,
                         uint32_t version, void (*init)(void *area), void **p, bool *stale,
                         char *err, size_t errlen)
{
    struct stat st;
    size_t len = AREA_OFF + size;
    *stale = false;
    if (fstat(fd, &st))
        return gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: %s", path, strerror(errno));
    bool empty = st.st_size == 0;
    if (!empty) {
        head h;
        if (st.st_size != (off_t)len || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
            h.magic != magic || h.version != version || h.size != size) {
            *stale = true;
            return GW_OK;
        }
    } else if (ftruncate(fd, (off_t)len)) {
        return gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: cannot size it: %s", path,
                       strerror(errno));
    }
    *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (*p == MAP_FAILED)
        return gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: mmap: %s", path, strerror(errno));
    if (empty)
        init_new(*p, size, magic, version, init);
    return GW_OK;
}

gw_err gw_shm_open(const char *path, size_t size, uint64_t magic, uint32_t version,
                   void (*init)(void *area), gw_shm *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    gw_err rc = GW_OK;
    void *p = MAP_FAILED;
    /* a file of another layout (an upgrade) is unlinked, never truncated:
     * workers of the old binary may still have it mapped */
    for (int attempt = 0; attempt < 4 && p == MAP_FAILED && !rc; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: %s", path, strerror(errno));
            break;
        }
        bool stale = false;
        struct stat a, b;
        if (flock(fd, LOCK_EX) != 0) {
            rc = gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: flock: %s", path,
                         strerror(errno));
        } else if (!(fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
                     a.st_dev == b.st_dev)) {
            flock(fd, LOCK_UN); /* replaced by another worker while we waited: reopen */
        } else {
            rc = map_locked(fd, path, size, magic, version, init, &p, &stale, err, errlen);
            if (stale && unlink(path))
                rc = gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: old layout, cannot "
                             "replace it: %s", path, strerror(errno));
            flock(fd, LOCK_UN);
        }
        close(fd); /* the mapping stays */
    }
    if (!rc && p == MAP_FAILED)
        rc = gw_fail(GW_ECONFIG, err, errlen, "metrics.path %s: could not be set up", path);
    if (rc) {
        if (private_area(out, size, magic, version, init))
            return GW_ENOMEM;
        return rc;
    }
    out->base = p;
    out->len = AREA_OFF + size;
    out->area = (char *)p + AREA_OFF;
    out->shared = true;
    return GW_OK;
}

void gw_shm_close(gw_shm *s)
{
    if (!s->base)
        return;
    if (s->shared)
        munmap(s->base, s->len);
    else
        free(s->base);
    memset(s, 0, sizeof *s);
}
