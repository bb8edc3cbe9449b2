/* SPDX-License-Identifier: Apache-2.0 */
/* bearer.h - the bearer mode's tokens (auth.h): the SHA-256 hashes of
 * auth.bearer_tokens and auth.bearer_tokens_file, each optionally scoped to
 * namespaces, and the check of a presented token against them.
 *
 * An entry is "<64 hex digits>[=<scope>]": the hash of the token
 * (`printf %s TOKEN | sha256sum`) and, optionally, namespaces or globs
 * separated by '|'.  A presented token is hashed and compared with
 * CRYPTO_memcmp against every entry, no early exit.
 *
 * Ownership: a gw_bearer is created by gw_bearer_new and freed by
 * gw_bearer_free; it owns its entries and their scope strings.  A
 * gw_auth_result admitted by gw_bearer_check points (scope) into it and is
 * valid while the gw_bearer lives. */
#ifndef GW_BEARER_H
#define GW_BEARER_H

#include <stdbool.h>
#include <stddef.h>

#include "authresult.h"
#include "config.h"
#include "err.h"

typedef struct gw_bearer gw_bearer;

/* Reads the entries of auth.bearer_tokens, then of auth.bearer_tokens_file
 * (one per line, # starts a comment).  GW_ECONFIG with err naming the key,
 * and the file and line, on a bad entry or an unreadable file. */
gw_err gw_bearer_new(const gw_config *cfg, gw_bearer **out, char *err, size_t errlen);
void   gw_bearer_free(gw_bearer *b);

/* The number of entries read. */
size_t gw_bearer_count(const gw_bearer *b);

/* Validation of auth.bearer_tokens (the file is read at start-up only), for
 * gw_auth_config_errors: appends one "auth.bearer_tokens: what" line per bad
 * entry to errs (bounded by errlen) and returns how many there were. */
int gw_bearer_config_errors(const gw_config *cfg, char *errs, size_t errlen);

/* Checks the presented token tok[0..n) (NULL: none was sent) and fills r:
 * admitted as "bearer:<first 8 hex digits of the hash>", with r->scope set
 * when the entry is scoped; or refused with 401. */
void gw_bearer_check(const gw_bearer *b, const char *tok, size_t n, gw_auth_result *r);

/* Whether ns ("" for cluster-scoped targets) matches the scope r->scope
 * that gw_bearer_check set; true when it set none. */
bool gw_bearer_in_scope(const gw_auth_result *r, const char *ns);

#endif
