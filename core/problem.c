/* SPDX-License-Identifier: Apache-2.0 */
/* problem.c - see problem.h. */
#include "problem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmem.h"
#include "text.h"

static const struct {
    int status;
    const char *slug, *title;
} problems[] = {
    { 400, "validation-error", "Bad Request" },
    { 401, "unauthorized", "Unauthorized" },
    { 403, "forbidden", "Forbidden" },
    { 404, "not-found", "Not Found" },
    { 405, "method-not-allowed", "Method Not Allowed" },
    { 413, "payload-too-large", "Payload Too Large" },
    { 415, "unsupported-media-type", "Unsupported Media Type" },
    { 429, "too-many-requests", "Too Many Requests" },
    { 500, "internal-error", "Internal Server Error" },
    { 503, "service-unavailable", "Service Unavailable" },
    { 504, "gateway-timeout", "Gateway Timeout" },
};

static int find(int status)
{
    for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++)
        if (problems[i].status == status)
            return (int)i;
    return 8; /* internal-error */
}


gw_err gw_problem_write(gw_buf *out, int status, const char *detail, const char *instance,
                        const char *request_id)
{
    /* detail and instance carry client bytes: clean them so the body is
     * always valid JSON and never splits a UTF-8 sequence */
    char type[96], d[512], inst[256], rid[80];
    snprintf(type, sizeof type, "https://kubernaut.ai/problems/%s", problems[find(status)].slug);
    gw_text_clean(detail ? detail : "", detail ? strlen(detail) : 0, d, sizeof d);
    gw_text_clean(instance ? instance : "", instance ? strlen(instance) : 0, inst, sizeof inst);
    gw_text_clean(request_id ? request_id : "", request_id ? strlen(request_id) : 0, rid,
                  sizeof rid);
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "type", type, "title",
                          problems[find(status)].title, "status", status, "detail", d, "instance",
                          inst, "request_id", rid);
    if (!j)
        return GW_ENOMEM;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return GW_ENOMEM;
    gw_err rc = gw_buf_appends(out, s);
    gw_json_free(s);
    return rc;
}
