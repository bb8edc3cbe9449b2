/* SPDX-License-Identifier: Apache-2.0 */
/* secretfile.h - secret files (Redis passwords, HMAC keys) read whole or
 * not at all.
 *
 * A secret is never cut short: a file over GW_SECRET_MAX bytes, an empty
 * one, or a password with a NUL byte (which would end it early) is a
 * configuration error naming the key and the file.  One table here lists
 * the keys that name secret files, so the start-up readers (redis.c,
 * auth.c) and `--check-config` (gw_secret_files_check) read the same files
 * with the same rules.
 *
 * Ownership: gw_secret_file_read hands the caller a buffer it releases with
 * gw_secret_free, which wipes it first. */
#ifndef GW_SECRETFILE_H
#define GW_SECRETFILE_H

#include <stddef.h>

#include "config.h"
#include "err.h"

/* The longest secret, trailing newline not counted. */
#define GW_SECRET_MAX 4096

typedef enum {
    GW_SECRET_BINARY, /* HMAC keys: any bytes; trailing CR/LF stripped */
    GW_SECRET_TEXT,   /* passwords: no NUL; trailing CR/LF and blanks stripped */
} gw_secret_kind;

/* Reads the secret in path, named by the config key `key` in messages.
 * GW_OK: *out is a NUL-terminated copy of *len bytes (the caller frees it
 * with gw_secret_free).  GW_ECONFIG, with err naming key and path, when the
 * file cannot be read, is not a regular file, is empty, holds more than
 * GW_SECRET_MAX bytes or (GW_SECRET_TEXT) a NUL byte; *out is then NULL. */
gw_err gw_secret_file_read(const char *key, const char *path, gw_secret_kind kind, char **out,
                           size_t *len, char *err, size_t errlen);

/* Wipes and frees what gw_secret_file_read returned (NULL: nothing). */
void gw_secret_free(char *data, size_t len);

/* For --check-config: reads every secret file the configuration names,
 * with the start-up rules.  A file that is too long, empty or holds a NUL
 * is an error line in errs (the count is returned); one that cannot be
 * opened or read is a line in notes instead, because the check may run as
 * another user or on another host than the workers (they refuse to start
 * without it).  Nothing read is kept. */
int gw_secret_files_check(const gw_config *c, char *errs, size_t errlen, char *notes,
                          size_t noteslen);

#endif
