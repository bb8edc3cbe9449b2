/* SPDX-License-Identifier: Apache-2.0 */
/* fingerprint.h - the identity of a problem.
 *
 * SHA-256 (OpenSSL) of "<namespace>:<Kind>:<name>", or
 * "<cluster>:<namespace>:<Kind>:<name>" when a cluster is known, as 64
 * lowercase hex characters.  Cluster-scoped targets have an empty namespace
 * part (":Node:n1").  With include_signal_name the alert name is appended
 * (":<alertname>"), the older one-request-per-rule behaviour.  Must stay
 * byte-for-byte compatible with Kubernaut's gateway. */
#ifndef GW_FINGERPRINT_H
#define GW_FINGERPRINT_H

#include "err.h"
#include "target.h"

/* out receives 64 hex chars and a NUL. signal_name may be NULL. */
gw_err gw_fingerprint(const char *cluster, const gw_target *t, const char *signal_name,
                      char out[65]);

#endif
