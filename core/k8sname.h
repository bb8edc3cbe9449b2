/* SPDX-License-Identifier: Apache-2.0 */
/* k8sname.h - Kubernetes name syntax, and apiserver paths built from
 * untrusted text.
 *
 * Kinds, apiVersions, namespaces and names reach apiserver URLs from
 * webhook bodies (alert labels, an Event's involvedObject) and from cluster
 * data (ownerReferences).  Each is checked against its Kubernetes syntax
 * before it is used: a value that fails is refused where it came in (400
 * for a body, the end of the owner walk for cluster data), never mended.
 * gw_k8s_path() checks again and percent-encodes every segment, so that no
 * caller can build a path that leaves the object it names ("..", "?", "#",
 * "/" inside a segment), whatever it was handed.
 *
 * Pure functions over NUL-terminated strings; nothing is allocated. */
#ifndef GW_K8SNAME_H
#define GW_K8SNAME_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1123 label: 1-63 of [a-z0-9-], alphanumeric at both ends (namespace
 * names, and the plural of a resource). */
bool gw_is_dns_label(const char *s);
/* RFC 1123 subdomain: 1-253 of [a-z0-9.-], dot-separated labels (object
 * names of every built-in kind and of custom resources, API groups). */
bool gw_is_dns_subdomain(const char *s);
/* A kind: an identifier of 1-63 [A-Za-z0-9], starting with an upper-case
 * letter ("Pod", "HorizontalPodAutoscaler"). */
bool gw_is_kind(const char *s);
/* An apiVersion: "<version>" or "<group>/<version>", group an RFC 1123
 * subdomain, version "v" digits with an optional alphaN or betaN suffix
 * ("v1", "apps/v1", "autoscaling/v2beta2"). */
bool gw_is_api_version(const char *s);

/* Writes the REST path of an object, or of a collection when name is NULL:
 *   /api/<version>[/namespaces/<ns>]/<plural>[/<name>]          (core group)
 *   /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>]
 * ns NULL or "" means cluster-scoped.  Every part is checked (apiVersion,
 * ns a DNS label, plural a DNS label, name a DNS subdomain) and every
 * segment percent-encoded.  false, with out set to "", when a part is
 * invalid or the path does not fit outlen. */
bool gw_k8s_path(char *out, size_t outlen, const char *api_version, const char *ns,
                 const char *plural, const char *name);

#endif
