/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - alertgw-fcgi: the FastCGI / CGI front end.
 *
 * Runs as a FastCGI responder when stdin is a listening socket (spawned by
 * lighttpd's mod_fastcgi, spawn-fcgi or mod_fcgid), else as a plain CGI
 * program: one request from the environment and stdin, then exit.  Either
 * way it only maps the web server's variables to a gw_request and the
 * gw_response back to CGI headers: every decision is in libalertgw.
 *
 * Signals: SIGTERM, SIGINT and SIGUSR1 (lighttpd's graceful restart) ask for
 * shutdown; the request in hand is finished first, because the flag is only
 * looked at between requests.  Then the worker drains: the context is
 * marked draining (/readyz answers 503 "shutting down"), the connections
 * already queued on the listening socket are accepted and served (non-
 * blocking accept until none is waiting, for at most DRAIN_MAX_MS), and
 * the worker exits.  The web server connected those requests to this
 * worker before it knew of the stop; exiting without them would reset
 * every one of them, so a graceful stop would turn accepted webhooks into
 * errors.  The bound is for a socket that never empties (traffic that keeps
 * coming while /readyz takes the pod out of rotation); what is still
 * queued then is reset, which the web server answers 503 + Retry-After.  SIGHUP re-reads the configuration (file and
 * ALERTGW_* environment) between requests: a valid one replaces the
 * context (new Redis and Kubernetes connections), an invalid one is logged
 * with every error and the running configuration stays.  The handlers use
 * SA_RESTART: libfcgi does not retry a read or write that a signal
 * interrupts (it fails the stream, and the request would lose its body), so
 * nothing may interrupt a request.  The idle worker waits in poll() on the
 * listening socket instead of in accept(): poll() returns on a signal
 * whatever SA_RESTART says, and its timeout is the next trailing flush
 * (gw_tick), so no timer signal exists.  Where workers share one listening
 * socket (spawn-fcgi, mod_fcgid) the losers of a wake-up would sleep in
 * accept(), which SA_RESTART resumes, deaf to signals; the socket is
 * therefore non-blocking and a lost race returns to poll().  The two flags
 * are the only process-wide variables outside gw_ctx: a signal handler can
 * reach nothing else.  SIGPIPE is ignored so a vanished peer is an error
 * return, not a death.
 *
 * At start, before anything is read, the process makes itself not dumpable
 * (PR_SET_DUMPABLE 0): no core file with the secrets in it, no ptrace by
 * the same user.
 *
 * Other modes: --check-config FILE (exit 1 on errors, each with its key),
 * --config-reference (Markdown table of every key, for docs/). */
#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <curl/curl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "clock.h"
#include "config.h"
#include "gateway.h"
#include "jsonmem.h"
#include "log.h"
#include "secretfile.h"

/* Longest time a stopping worker keeps serving queued connections. */
/* Set by Makefile.am from ./configure --sysconfdir. */
#ifndef GW_DEFAULT_CONFIG
#error "GW_DEFAULT_CONFIG: the default config path comes from configure's sysconfdir"
#endif

#define DRAIN_MAX_MS 5000

static volatile sig_atomic_t stop_requested, reload_requested;
static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}
static void on_reload(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART; /* a request in hand is never interrupted */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 207: return "Multi-Status";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Internal Server Error";
    }
}

/* Where a request comes from: FastCGI params/streams, or CGI environ/stdio. */
typedef struct {
    FCGX_Request *fcgi; /* NULL in CGI mode */
} io;

static const char *param(const io *x, const char *name)
{
    return x->fcgi ? FCGX_GetParam(name, x->fcgi->envp) : getenv(name);
}

/* The parameters serve() reads, found in one pass over the request's
 * environment: FCGX_GetParam scans the whole list for every name, and the
 * thirteen lookups of a request were about 7k instructions. */
enum {
    P_REQUEST_URI, P_SCRIPT_NAME, P_PATH_INFO, P_CONTENT_LENGTH, P_REDIRECT_STATUS,
    P_REQUEST_METHOD, P_CONTENT_TYPE, P_REQUEST_ID, P_REMOTE_ADDR, P_QUERY_STRING,
    P_SSL_CLIENT_VERIFY, P_SSL_CLIENT_CN, P_EDGE_REFUSALS, P_N
};

static void collect_params(const io *x, const char *out[P_N])
{
    static const struct {
        const char *name;
        size_t      len;
    } want[P_N] = {
#define P(i, s) [i] = { s, sizeof s - 1 }
        P(P_REQUEST_URI, "REQUEST_URI"), P(P_SCRIPT_NAME, "SCRIPT_NAME"),
        P(P_PATH_INFO, "PATH_INFO"), P(P_CONTENT_LENGTH, "CONTENT_LENGTH"),
        P(P_REDIRECT_STATUS, "REDIRECT_STATUS"), P(P_REQUEST_METHOD, "REQUEST_METHOD"),
        P(P_CONTENT_TYPE, "CONTENT_TYPE"), P(P_REQUEST_ID, "HTTP_X_REQUEST_ID"),
        P(P_REMOTE_ADDR, "REMOTE_ADDR"), P(P_QUERY_STRING, "QUERY_STRING"),
        P(P_SSL_CLIENT_VERIFY, "SSL_CLIENT_VERIFY"), P(P_SSL_CLIENT_CN, "SSL_CLIENT_S_DN_CN"),
        P(P_EDGE_REFUSALS, "GATEWAY_EDGE_REFUSALS"),
#undef P
    };
    for (int i = 0; i < P_N; i++)
        out[i] = x->fcgi ? NULL : getenv(want[i].name);
    if (!x->fcgi)
        return;
    for (char **e = x->fcgi->envp; e && *e; e++) {
        size_t n = strcspn(*e, "=");
        if (!(*e)[n])
            continue;
        for (int i = 0; i < P_N; i++)
            if (want[i].len == n && !out[i] && !memcmp(*e, want[i].name, n)) {
                out[i] = *e + n + 1; /* the first one, as FCGX_GetParam */
                break;
            }
    }
}

static int read_some(const io *x, char *p, int n)
{
    if (x->fcgi)
        return FCGX_GetStr(p, n, x->fcgi->in);
    return (int)fread(p, 1, (size_t)n, stdin);
}

static void write_all(const io *x, const char *p, size_t n)
{
    if (x->fcgi)
        FCGX_PutStr(p, (int)n, x->fcgi->out);
    else
        fwrite(p, 1, n, stdout);
}

/* "X-Grafana-Alerting-Signature" -> the CGI variable
 * HTTP_X_GRAFANA_ALERTING_SIGNATURE. */
static const char *header_of(void *hctx, const char *name)
{
    char var[128] = "HTTP_";
    size_t n = 5;
    for (const char *p = name; *p; p++) {
        if (n + 1 >= sizeof var)
            return NULL;
        char c = *p;
        var[n++] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    var[n] = '\0';
    return param((const io *)hctx, var);
}

/* Reads exactly content_length bytes into body, or as much as arrives. */
static int read_body(const io *x, long long len, gw_buf *body)
{
    gw_buf_reset(body);
    char chunk[65536];
    while ((long long)body->len < len) {
        long long want = len - (long long)body->len;
        int n = read_some(x, chunk, want < (long long)sizeof chunk ? (int)want : (int)sizeof chunk);
        if (n <= 0)
            break;
        if (gw_buf_append(body, chunk, (size_t)n))
            return -1;
    }
    return 0;
}

/* A body we will not read is drained (bounded by the web server's own cap)
 * so the connection closes cleanly after our answer. */
static void drain(const io *x)
{
    char chunk[65536];
    while (read_some(x, chunk, sizeof chunk) > 0)
        ;
}

/* Ends a FastCGI request.  The request stream is read to its end (usually
 * only the empty stdin record, already in libfcgi's buffer), then the socket
 * is closed at once.  libfcgi's own close half-closes and waits (poll + read,
 * up to 2 s) for the web server to close first, so that unread input cannot
 * make a TCP reset discard the answer; with nothing left unread that guard
 * costs three system calls and a trip through the web server's event loop
 * per request.  FCGX_Detach is libfcgi's way to close without it. */
static void finish(FCGX_Request *r, const io *x)
{
    drain(x);
    FCGX_Detach(r);
    FCGX_Finish_r(r);
}

static void serve(gw_ctx *ctx, const io *x, gw_buf *body, gw_response *resp)
{
    const gw_config *cfg = gw_ctx_config(ctx);
    char path[2048];
    const char *pv[P_N];
    collect_params(x, pv);
    const char *uri = pv[P_REQUEST_URI];
    if (uri) {
        size_t n = strcspn(uri, "?");
        if (n >= sizeof path)
            n = sizeof path - 1;
        memcpy(path, uri, n);
        path[n] = '\0';
    } else {
        const char *sn = pv[P_SCRIPT_NAME], *pi = pv[P_PATH_INFO];
        snprintf(path, sizeof path, "%s%s", sn ? sn : "", pi ? pi : "");
    }
    const char *cl = pv[P_CONTENT_LENGTH];
    long long content_length = cl && *cl ? strtoll(cl, NULL, 10) : 0;
    if (content_length < 0)
        content_length = 0;

    /* lighttpd's server.error-handler: SCRIPT_NAME+PATH_INFO is the handler,
     * REQUEST_URI still the client's path, REDIRECT_STATUS the error */
    int web_error = 0;
    const char *redirect = pv[P_REDIRECT_STATUS];
    if (redirect) {
        const char *sn = pv[P_SCRIPT_NAME], *pi = pv[P_PATH_INFO];
        char handler[128];
        snprintf(handler, sizeof handler, "%s%s", sn ? sn : "", pi ? pi : "");
        if (!strcmp(handler, GW_WEB_ERROR_PATH))
            web_error = atoi(redirect);
    }
    gw_request req = {
        .method = pv[P_REQUEST_METHOD],
        .path = path,
        .content_type = pv[P_CONTENT_TYPE],
        .request_id = pv[P_REQUEST_ID],
        .content_length = content_length,
        .web_error = web_error,
        .remote_addr = pv[P_REMOTE_ADDR],
        .query = pv[P_QUERY_STRING],
        .tls_client_verify = pv[P_SSL_CLIENT_VERIFY],
        .tls_client_cn = pv[P_SSL_CLIENT_CN],
        .edge_refusals = pv[P_EDGE_REFUSALS],
        .header = header_of,
        .hctx = (void *)x,
    };
    if (content_length > 0 && content_length <= cfg->server_max_body_bytes &&
        read_body(x, content_length, body) == 0) {
        req.body = body->data;
        req.body_len = body->len;
    } else if (content_length > 0) {
        drain(x);
    }
    gw_handle(ctx, &req, resp);

    char head[512];
    int n = snprintf(head, sizeof head,
                     "Status: %d %s\r\nContent-Type: %s\r\nX-Request-ID: %s\r\n"
                     "Cache-Control: no-store\r\nContent-Length: %zu\r\n",
                     resp->status, reason(resp->status), resp->content_type, resp->request_id,
                     resp->body.len);
    if (resp->retry_after > 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "Retry-After: %ld\r\n", resp->retry_after);
    if (resp->allow)
        n += snprintf(head + n, sizeof head - (size_t)n, "Allow: %s\r\n", resp->allow);
    if (resp->www_authenticate)
        n += snprintf(head + n, sizeof head - (size_t)n, "WWW-Authenticate: %s\r\n",
                      resp->www_authenticate);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    write_all(x, head, (size_t)n);
    write_all(x, resp->body.data ? resp->body.data : "", resp->body.len);
}

/* SIGHUP: loads the configuration again and, when it is valid and a context
 * can be built from it, replaces *ctx and resizes the body buffer.  Anything
 * else leaves *ctx as it was and says why in one error line.  Nothing queued
 * is lost by the swap: the trailing-flush queue lives in Redis, the metrics
 * and the circuit breaker in the shared file (this pid keeps its slot). */
static void reload(gw_ctx **ctx, const char *cfg_path, gw_buf *body)
{
    gw_log_level min = gw_log_level_parse(gw_ctx_config(*ctx)->log_level);
    const char *src = cfg_path ? cfg_path : "environment";
    gw_config cfg;
    char errs[8192];
    if (gw_config_load(&cfg, cfg_path, errs, sizeof errs)) {
        gw_config_free(&cfg);
        gw_log(min, GW_LOG_ERROR, NULL, "configuration reload from %s refused, the running "
               "configuration stays: %s", src, errs);
        return;
    }
    long max_body = cfg.server_max_body_bytes;
    gw_ctx *next;
    char err[1024];
    if (gw_ctx_new(&cfg, &next, err, sizeof err)) {
        gw_config_free(&cfg);
        gw_log(min, GW_LOG_ERROR, NULL, "configuration reload from %s failed, the running "
               "configuration stays: %s", src, err);
        return;
    }
    gw_ctx_free(*ctx);
    *ctx = next;
    gw_buf_free(body);
    gw_buf_init(body, (size_t)max_body);
    gw_log(gw_log_level_parse(gw_ctx_config(next)->log_level), GW_LOG_INFO, NULL,
           "configuration reloaded from %s", src);
}

/* The next request.  libfcgi's accept follows every connection it takes on
 * a unix socket with a poll() for readability (it drops a peer that sends
 * nothing for 2 s); the web server writes its request as soon as it has
 * connected, so on the duplicate path that poll was one system call per
 * request (9 in all; each costs microseconds on a virtual machine) for
 * nothing.  On a unix socket the worker therefore accepts itself and hands
 * the connection to FCGX_Accept_r, which then only reads the request: it
 * closes a peer that sends nothing or no FastCGI and tries libfcgi's accept
 * once more (EAGAIN on this non-blocking socket).  keepConnection = 1 stops
 * FCGX_Accept_r's opening FCGX_Finish_r from closing the new connection
 * (the previous request is finished already); the request's BEGIN record
 * sets the flag again.  What is lost is the 2 s limit on a peer that
 * connects and stays silent; a peer that sends one byte and stops holds a
 * libfcgi worker just as long, and only the gateway's user can connect to
 * the 0600 socket.  A TCP socket keeps libfcgi's accept and its
 * FCGI_WEB_SERVER_ADDRS check.  Returns FCGX_Accept_r's value (-errno). */
static int accept_request(FCGX_Request *request, bool unix_listener)
{
    /* a connection kept open by the web server (FCGI_KEEP_CONN, e.g.
     * mod_proxy_fcgi with enablereuse) carries the next request itself */
    if (unix_listener && request->ipcFd < 0) {
        int fd = accept4(request->listen_sock, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) /* a connection gone before it was taken: look again */
            return errno == ECONNABORTED || errno == EPROTO ? -EAGAIN : -errno;
        request->keepConnection = 1;
        request->ipcFd = fd;
    }
    return FCGX_Accept_r(request);
}

/* Whether fd listens on a unix socket (where accept_request accepts itself). */
static bool is_unix_listener(int fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.ss_family == AF_UNIX;
}

/* After a stop signal: /readyz says "shutting down", and what is already
 * queued on the socket (which is non-blocking) is served before the exit. */
static void drain_queue(gw_ctx *ctx, FCGX_Request *request, bool unix_listener, const io *x,
                        gw_buf *body, gw_response *resp)
{
    gw_ctx_set_draining(ctx);
    const long long until = gw_mono_ms() + DRAIN_MAX_MS;
    while (gw_mono_ms() < until) {
        if (accept_request(request, unix_listener) < 0)
            break; /* -EAGAIN: none waiting */
        serve(ctx, x, body, resp);
        finish(request, x);
    }
}

/* --check-config: the configuration as a worker loads it (file and
 * environment), then the secret files it names, read as a worker reads them
 * at start-up (an over-long one is an error; one this user cannot read is
 * a warning, since the check may run elsewhere).  Connections and the other
 * files (kubeconfig, token lists) are left to start-up. */
static int check_config(const char *path)
{
    gw_config cfg;
    char errs[8192], notes[4096] = "";
    gw_err rc = gw_config_load(&cfg, path, errs, sizeof errs);
    if (rc != GW_ENOMEM && gw_secret_files_check(&cfg, errs, sizeof errs, notes, sizeof notes))
        rc = GW_ECONFIG;
    gw_config_free(&cfg);
    for (const char *n = notes; *n;) {
        size_t len = strcspn(n, "\n");
        fprintf(stderr, "%s: warning (not checked): %.*s\n", path, (int)len, n);
        n += len + (n[len] == '\n');
    }
    if (rc) {
        fprintf(stderr, "%s: configuration errors:\n%s", path, errs);
        return 1;
    }
    printf("%s: configuration OK\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    /* Not dumpable, before any secret is read: no core file (it would hold
     * the HMAC secrets, tokens and Redis password), and no ptrace or
     * /proc/PID/mem by other processes of the same user.  The units add
     * LimitCORE=0, the container entry point ulimit -c 0. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        fprintf(stderr, "alertgw-fcgi: cannot turn core dumps off (prctl): %s\n", strerror(errno));
    /* Before anything makes a JSON value: every jansson allocation is
     * counted, so a body's parse has a memory budget (jsonmem.h). */
    gw_jsonmem_install();
#ifdef __GLIBC__
    /* A fixed threshold: blocks of 256 KiB and more are mmap()ed and go
     * back to the kernel on free().  glibc would otherwise raise it after
     * each large free, and a large request's buffers would then stay in
     * the heap. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    if (argc == 3 && !strcmp(argv[1], "--check-config"))
        return check_config(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "--config-reference")) {
        gw_config_print_reference(stdout);
        return 0;
    }
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        printf("alertgw-fcgi %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: alertgw-fcgi [--check-config FILE | --config-reference | --version]\n"
                        "  without arguments: FastCGI responder (stdin is a listening socket)\n"
                        "  or CGI program; configuration from $ALERTGW_CONFIG "
                        "(default " GW_DEFAULT_CONFIG " if present) and ALERTGW_* variables\n");
        return 2;
    }

    install_signals();
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"curl_global_init failed\"}\n");
        return 1;
    }
    const char *cfg_path = getenv("ALERTGW_CONFIG");
    if (!cfg_path) {
        FILE *f = fopen(GW_DEFAULT_CONFIG, "r");
        if (f) {
            fclose(f);
            cfg_path = GW_DEFAULT_CONFIG;
        }
    }
    gw_config cfg;
    char errs[8192];
    if (gw_config_load(&cfg, cfg_path, errs, sizeof errs)) {
        fprintf(stderr, "alertgw-fcgi: configuration errors (%s):\n%s", cfg_path ? cfg_path : "environment", errs);
        gw_config_free(&cfg);
        return 1;
    }
    long max_body = cfg.server_max_body_bytes;
    gw_ctx *ctx;
    char err[1024];
    if (gw_ctx_new(&cfg, &ctx, err, sizeof err)) {
        fprintf(stderr, "alertgw-fcgi: cannot start: %s\n", err);
        gw_config_free(&cfg);
        return 1;
    }
    gw_buf body;
    gw_buf_init(&body, (size_t)max_body);
    gw_response resp;
    char *logbuf = NULL; /* stderr's buffer in FastCGI mode (gw_log_batch) */
    gw_response_init(&resp);

    int rc = 0;
    if (FCGX_IsCGI()) {
        io x = { NULL };
        serve(ctx, &x, &body, &resp);
        fflush(stdout);
        gw_response_done(ctx, &resp);
    } else {
        FCGX_Request request;
        if (FCGX_Init() || FCGX_InitRequest(&request, 0, 0)) {
            fprintf(stderr, "alertgw-fcgi: FastCGI initialisation failed\n");
            rc = 1;
        } else {
            io x = { &request };
            const bool unix_listener = is_unix_listener(0);
            /* request lines are written several at a time under load */
            logbuf = malloc(GW_LOG_BATCH_BUF);
            if (!gw_log_batch(logbuf))
                fprintf(stderr, "alertgw-fcgi: cannot buffer the log; lines go out one by one\n");
            int fl = fcntl(0, F_GETFL);
            if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0)
                fprintf(stderr, "alertgw-fcgi: cannot make the FastCGI socket non-blocking: %s\n",
                        strerror(errno));
            while (!stop_requested) {
                if (reload_requested) {
                    reload_requested = 0;
                    reload(&ctx, cfg_path, &body);
                }
                long wait;
                do /* 0: more syncs are due right away (a full batch was flushed) */
                    wait = gw_tick(ctx);
                while (wait == 0 && !stop_requested);
                if (stop_requested)
                    break;
                /* Accept first: under load a connection is already waiting
                 * and the poll() would be one more system call.  The socket
                 * is non-blocking, so "none waiting" is EAGAIN - also for
                 * the workers that lose a race on a shared socket
                 * (spawn-fcgi, mod_fcgid) - and the worker then sleeps in
                 * poll(), where signals reach it, until a connection comes
                 * or the next flush is due. */
                int a = accept_request(&request, unix_listener);
                if (a == -EAGAIN || a == -EWOULDBLOCK || a == -EINTR) {
                    gw_log_flush(); /* idle: the request lines held so far */
                    struct pollfd pfd = { .fd = 0, .events = POLLIN };
                    int ready = poll(&pfd, 1, wait > 0 && wait < 60000 ? (int)wait : 1000);
                    if (ready < 0 && errno != EINTR) {
                        fprintf(stderr, "alertgw-fcgi: poll on the FastCGI socket failed: %s; "
                                "exiting\n", strerror(errno));
                        rc = 1;
                        break;
                    }
                    continue;
                }
                if (a < 0) {
                    fprintf(stderr, "alertgw-fcgi: accept failed (%d); exiting\n", a);
                    rc = 1;
                    break;
                }
                serve(ctx, &x, &body, &resp);
                finish(&request, &x);
                gw_response_done(ctx, &resp);
                gw_buf_trim(&body, 256 * 1024);
            }
            if (stop_requested && rc == 0)
                drain_queue(ctx, &request, unix_listener, &x, &body, &resp);
            FCGX_Free(&request, 1);
        }
    }
    gw_response_free(&resp);
    gw_buf_free(&body);
    gw_ctx_free(ctx);
    curl_global_cleanup();
    gw_log_unbatch(); /* stdio lets go of logbuf */
    free(logbuf);
    return rc;
}
