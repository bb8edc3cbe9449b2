/* SPDX-License-Identifier: Apache-2.0 */
/* text.h - byte-level text helpers.
 *
 * Everything a client sends is hostile: these make any byte sequence safe to
 * put in a Kubernetes label, a JSON string or a log line. */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Kubernetes label-value syntax: <= 63 chars of [A-Za-z0-9._-], alphanumeric
 * at both ends.  Other bytes become '_'; ends are trimmed.  out >= 64 bytes;
 * returns false when nothing is left. */
bool gw_label_value(const char *in, char *out);

/* Whether s[0..n) already is a valid label value (what gw_label_value
 * would leave unchanged): 1-63 chars, alphanumeric at both ends. */
bool gw_is_label_value(const char *s, size_t n);

/* Copies at most max bytes of s into out (>= max+1) without splitting a
 * UTF-8 sequence; returns the length copied. */
size_t gw_utf8_cut(const char *s, size_t len, size_t max, char *out);

/* Copies valid UTF-8 from in to out (NUL-terminated, at most outlen-1
 * bytes, never a split sequence); invalid bytes and control characters
 * become '?'.  Returns the length written. */
size_t gw_text_clean(const char *in, size_t len, char *out, size_t outlen);

/* v in decimal into out (NUL-terminated; 21 bytes hold any long long).
 * Returns the length.  What snprintf("%lld") does at a tenth of its cost,
 * for the per-request Redis arguments. */
size_t gw_dec(long long v, char out[21]);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void gw_hex_encode(const unsigned char *in, size_t n, char *out);
/* The first 2n characters of in (hex, either case) into n bytes of out;
 * false on a non-hex character (out is then partly written).  The caller
 * checks that in is long enough. */
bool gw_hex_decode(const char *in, unsigned char *out, size_t n);

/* Appends s as a JSON string literal (quotes included) to b: '"', '\\' and
 * control characters are escaped; s must be valid UTF-8 (clean client text
 * with gw_text_clean first).  For response bodies and log lines on the hot
 * path; JSON for the apiserver is always built with jansson. */
gw_err gw_json_str(gw_buf *b, const char *s);

/* Walks a "key=value,key2=value2" list (the config's map-valued keys).
 * *p is the cursor (start it at the list); returns false at the end, else
 * points key/val into the list with their lengths (spaces around either
 * are skipped; val is NULL when the entry has no '=').  Empty entries are
 * skipped. */
bool gw_pairs_next(const char **p, const char **key, size_t *klen, const char **val,
                   size_t *vlen);

/* Walks a comma-separated list ("a, b,c"): *p is the cursor (start it at
 * the list); returns false at the end, else points item into the list with
 * its length, blanks around it trimmed.  Empty items are skipped. */
bool gw_list_next(const char **p, const char **item, size_t *len);

/* Whether the comma-separated list holds item exactly (case-sensitive). */
bool gw_list_has(const char *list, const char *item);

/* Looks key up in such a list; copies its value to out (NUL-terminated)
 * and returns true when found and it fits. */
bool gw_pairs_get(const char *list, const char *key, char *out, size_t outlen);

/* Whether host[0..len) is loopback: exactly a literal IPv4 address in
 * 127.0.0.0/8 (dotted quad), the IPv6 address ::1 (bare or in brackets), or
 * the name localhost (any case).  Nothing else: not 127.evil.example, not
 * ::ffff:127.0.0.1, not a name that resolves to 127.0.0.1. */
bool gw_is_loopback_host(const char *host, size_t len);

#endif
