/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-kubeconfig.c - a kubeconfig file through gw_kube_new (contexts,
 * clusters, users, inline *-data written to private temp files, the
 * insecure-skip-tls-verify refusal).  No request is sent.
 * Input: one kubeconfig.  Corpus: tests/fuzz/kubeconfig/. */
#include "fuzz.h"

#include <curl/curl.h>

#include "kube.h"

GW_FUZZ_TARGET(kubeconfig)
{
    static gw_fuzz_file file; /* harness state: see fuzz.h */
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    gw_kube_opts o = {
        .kubeconfig = gw_fuzz_file_set(&file, data, size),
        .connect_timeout_ms = 100,
        .timeout_ms = 100,
    };
    gw_kube *k = NULL;
    char err[512];
    if (gw_kube_new(&o, &k, err, sizeof err) == GW_OK)
        gw_kube_free(k);
    return 0;
}
