/* SPDX-License-Identifier: Apache-2.0 */
/* jsonmem.h - jansson's allocator, counted, with a byte budget for parsing.
 *
 * A request body's size says little about the memory its parse takes:
 * jansson spends about 230 bytes on an empty object "{}", so a 1 MiB body
 * of `[{},{},...]` costs some 80 MB.  gw_jsonmem_install() routes every
 * jansson allocation of the process through a counter (json_set_alloc_funcs),
 * and gw_jsonmem_arm() makes allocations fail once the live total would
 * grow by more than a budget: json_loadb then returns NULL and
 * gw_jsonmem_tripped() tells the caller that memory, not syntax, was the
 * reason (413, server.max_parse_bytes).
 *
 * This is the one piece of process-wide mutable state in libalertgw outside
 * gw_ctx, and it has to be: jansson's allocation hooks are process-wide and
 * take no context pointer.  The workers are single-threaded; the counter is
 * not atomic.  Install it once, before the process makes its first jansson
 * value (a value allocated by plain malloc must never reach the counted
 * free).  Without gw_jsonmem_install() everything below is a no-op: live
 * and peak stay 0 and nothing is ever refused. */
#ifndef GW_JSONMEM_H
#define GW_JSONMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Routes jansson's malloc/free through the counter.  Idempotent.  From
 * then on, memory jansson hands to the caller (the string json_dumps
 * returns) must be released with gw_json_free, never free(). */
void gw_jsonmem_install(void);

/* Frees what jansson allocated for the caller (json_dumps' string), with
 * jansson's own free function: plain free() would miss the counter's
 * header once the counter is installed. */
void gw_json_free(void *p);

/* Allows at most max more bytes than are live now (0: no limit), and
 * clears the tripped flag. */
void gw_jsonmem_arm(size_t max);
void gw_jsonmem_disarm(void);
/* Whether an allocation was refused since the last arm. */
bool gw_jsonmem_tripped(void);

/* Bytes jansson holds now, and the most it held since the last
 * gw_jsonmem_reset_peak(). */
size_t gw_jsonmem_live(void);
size_t gw_jsonmem_peak(void);
void   gw_jsonmem_reset_peak(void);

#endif
