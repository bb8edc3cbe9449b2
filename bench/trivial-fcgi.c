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
    char buf[65536];
    while (FCGX_Accept_r(&req) >= 0) {
        while (FCGX_GetStr(buf, sizeof buf, req.in) > 0)
            ;
        FCGX_PutStr(resp, (int)strlen(resp), req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
