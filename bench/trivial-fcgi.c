/* SPDX-License-Identifier: Apache-2.0 */
/* trivial-fcgi.c - the benchmark's ceiling: a FastCGI responder that reads
 * the body and answers 202 with a small JSON body, nothing else.  Measured
 * in the same run as alertgw so the ratio between them is the figure. */
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    FCGX_Request req;
    if (FCGX_Init() || FCGX_InitRequest(&req, 0, 0))
        return 1;
    static const char resp[] =
        "Status: 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n"
        "{\"status\":\"accepted\"}\n";
    /* GET (the harness' /healthz probe) gets a 200 */
    static const char ok[] =
        "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n"
        "{\"status\":\"ok\"}\n";
    char buf[65536];
    while (FCGX_Accept_r(&req) >= 0) {
        while (FCGX_GetStr(buf, sizeof buf, req.in) > 0)
            ;
        const char *m = FCGX_GetParam("REQUEST_METHOD", req.envp);
        const char *r = m && !strcmp(m, "GET") ? ok : resp;
        FCGX_PutStr(r, (int)strlen(r), req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
