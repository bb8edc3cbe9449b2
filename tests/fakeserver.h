/* SPDX-License-Identifier: Apache-2.0 */
/* fakeserver.h - doubles that speak a protocol on a socket, for the unit
 * tests of the pipeline (include after cmocka.h): a thread accepts one
 * connection at a time on a loopback TCP port or a unix socket and hands
 * it to the test's serve function; fake_server_stop shuts it down and
 * joins (cutting the connection being served, so a test that failed with
 * a keep-alive client left behind does not hang it).  The HTTP helpers
 * read one request (headers, and a body by Content-Length) and write one
 * keep-alive answer.  count and status are for the serve functions, under
 * mu. */
#ifndef GW_TEST_FAKESERVER_H
#define GW_TEST_FAKESERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct fake_server fake_server;
struct fake_server {
    int             lfd;
    int             cfd;      /* connection being served, -1 if none */
    pthread_t       thread;
    pthread_mutex_t mu;
    int             count;    /* what the serve function counts */
    int             status;   /* what the serve function answers with */
    unsigned short  port;     /* TCP: the port bound */
    void          (*serve)(fake_server *s, int fd);
    void           *arg;      /* the test's */
};

static inline void *fake_server_main(void *arg)
{
    fake_server *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL; /* shutdown() by fake_server_stop */
        pthread_mutex_lock(&s->mu);
        s->cfd = fd;
        pthread_mutex_unlock(&s->mu);
        s->serve(s, fd);
        pthread_mutex_lock(&s->mu);
        s->cfd = -1;
        pthread_mutex_unlock(&s->mu);
        close(fd);
    }
}

/* unix_path NULL: a free 127.0.0.1 port (s->port). */
static inline void fake_server_start(fake_server *s, const char *unix_path,
                                     void (*serve)(fake_server *, int), void *arg)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->cfd = -1;
    s->status = 200;
    s->serve = serve;
    s->arg = arg;
    if (!unix_path) {
        s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->lfd >= 0);
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
        socklen_t al = sizeof a;
        assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
        s->port = ntohs(a.sin_port);
    } else {
        s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->lfd >= 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t n = strlen(unix_path);
        assert_true(n < sizeof a.sun_path);
        memcpy(a.sun_path, unix_path, n + 1);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    }
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, fake_server_main, s), 0);
}

static inline void fake_server_stop(fake_server *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_mutex_lock(&s->mu);
    if (s->cfd >= 0)
        shutdown(s->cfd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

static inline int fake_server_count(fake_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->count;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Reads more of fd into buf (size bytes, *have used, NUL-terminated).
 * false when the connection ended or buf is full. */
static inline bool fake_read_more(int fd, char *buf, size_t size, size_t *have)
{
    if (*have == size - 1)
        return false;
    ssize_t n = read(fd, buf + *have, size - 1 - *have);
    if (n <= 0)
        return false;
    *have += (size_t)n;
    buf[*have] = '\0';
    return true;
}

/* The length of the HTTP request at the start of buf (size bytes, *have
 * of them already read, NUL-terminated): its headers and a body by
 * Content-Length, reading more of fd until all of it is there.  0 when
 * the connection ended or the request did not fit. */
static inline size_t fake_http_next(int fd, char *buf, size_t size, size_t *have)
{
    char *end;
    while (!(end = strstr(buf, "\r\n\r\n")))
        if (!fake_read_more(fd, buf, size, have))
            return 0;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    size_t used = (size_t)(end + 4 - buf);
    used += cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    while (*have < used)
        if (!fake_read_more(fd, buf, size, have))
            return 0;
    return used;
}

/* Drops the first used bytes of buf (a request fake_http_next measured):
 * what follows stays for the next call. */
static inline void fake_http_drop(char *buf, size_t *have, size_t used)
{
    memmove(buf, buf + used, *have - used + 1);
    *have -= used;
}

/* One HTTP request from fd into buf (as fake_http_next; it is dropped
 * from buf): method and path out.  false when the connection ended or the
 * request did not fit. */
static inline bool fake_http_read(int fd, char *buf, size_t size, size_t *have, char method[16],
                                  char path[2048])
{
    size_t used = fake_http_next(fd, buf, size, have);
    if (!used)
        return false;
    method[0] = path[0] = '\0';
    sscanf(buf, "%15s %2047s", method, path);
    fake_http_drop(buf, have, used);
    return true;
}

/* A keep-alive answer: status, extra header lines (each ending in CRLF;
 * "" for none) and len bytes of body. */
static inline bool fake_http_send(int fd, int status, const char *extra, const char *body,
                                  size_t len)
{
    char head[512];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d Test\r\nContent-Type: application/json\r\n"
                      "%sContent-Length: %zu\r\n\r\n", status, extra, len);
    return hl > 0 && (size_t)hl < sizeof head &&
           send(fd, head, (size_t)hl, MSG_NOSIGNAL) >= 0 &&
           send(fd, body, len, MSG_NOSIGNAL) >= 0;
}

static inline bool fake_http_reply(int fd, int status, const char *body)
{
    return fake_http_send(fd, status, "", body, strlen(body));
}

#endif
