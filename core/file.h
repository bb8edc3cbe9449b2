/* SPDX-License-Identifier: Apache-2.0 */
/* file.h - the one way libalertgw reads a file whole: bounded, regular
 * files only, never cut short.
 *
 * Start-up reads (kubeconfig, token files, secret files, the bearer-token
 * list) and the token re-reads after a rotation all come here, so each
 * gets the same guarantees: a FIFO or device in place of a file cannot
 * hang or flood the reader (O_NONBLOCK, S_ISREG), a file over its maximum
 * is an error rather than a truncated value, and every buffer that held
 * file content is wiped before it is freed (the content may be a secret),
 * also the ones left behind when the buffer grows.
 *
 * Ownership: gw_read_file hands the caller a buffer that it releases with
 * gw_file_free, which wipes it first. */
#ifndef GW_FILE_H
#define GW_FILE_H

#include <stddef.h>
#include <sys/stat.h>

#include "err.h"

/* Reads the regular file path, of at most max bytes, whole.  GW_OK: *out
 * is a NUL-terminated copy of its *len bytes (the caller frees it with
 * gw_file_free).  Errors, with err saying which and naming path, and *out
 * NULL:
 *   GW_ECONFIG  it cannot be opened or read ("cannot read PATH: reason");
 *   GW_EINVAL   it is not a regular file ("PATH is not a regular file");
 *   GW_ETOOBIG  it holds more than max bytes ("PATH is larger than MAX
 *               bytes");
 *   GW_ENOMEM.
 * st (may be NULL) receives the file's identity whenever it could be
 * opened, also on the errors after that. */
gw_err gw_read_file(const char *path, size_t max, char **out, size_t *len, struct stat *st,
                    char *err, size_t errlen);

/* Wipes and frees what gw_read_file returned (NULL: nothing). */
void gw_file_free(char *data, size_t len);

#endif
