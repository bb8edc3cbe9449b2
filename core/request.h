/* SPDX-License-Identifier: Apache-2.0 */
/* request.h - one HTTP request as the front end hands it to libalertgw.
 *
 * The front end (fcgi/main.c, or a test) fills a gw_request from the web
 * server's variables; the pipeline (gateway.h) and admission (auth.h) read
 * it.  Every pointer is borrowed from the front end for the duration of
 * one gw_handle() call; nothing in core/ keeps one. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <stddef.h>

typedef struct {
    const char *method;         /* "POST" */
    const char *path;           /* path without query string */
    const char *query;          /* the query string (after '?'); NULL when none */
    const char *content_type;   /* NULL when absent */
    const char *request_id;     /* client's X-Request-ID, NULL when absent */
    long long   content_length; /* -1 when unknown */
    const char *body;           /* NULL when not read (e.g. too large) */
    size_t      body_len;
    int         web_error;      /* != 0: the web server's own error status,
                                 * re-dispatched to us (GW_WEB_ERROR_PATH) */
    const char *remote_addr;    /* client address (REMOTE_ADDR); NULL when unknown */
    const char *tls_client_verify; /* SSL_CLIENT_VERIFY: "SUCCESS", "NONE",
                                    * "FAILED:..."; NULL: not over TLS */
    const char *tls_client_cn;  /* SSL_CLIENT_S_DN_CN; NULL when absent */
    const char *edge_refusals;  /* GATEWAY_EDGE_REFUSALS, set by the web server
                                 * on GET /metrics (gw_metrics_write_edge);
                                 * NULL when absent */
    /* A request header by its HTTP name ("X-Grafana-Alerting-Signature"),
     * NULL when absent; header may be NULL (no headers available). */
    const char *(*header)(void *hctx, const char *name);
    void       *hctx;
} gw_request;

/* The path lighttpd's server.error-handler sends its own errors to, so they
 * reach clients as problem+json too (see lighttpd.conf). */
#define GW_WEB_ERROR_PATH "/.alertgw/lighttpd-error"

#endif
