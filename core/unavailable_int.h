/* SPDX-License-Identifier: Apache-2.0 */
/* unavailable_int.h - the list of every GW_503_* of unavailable.h, for
 * the unit test that checks it against docs/api.md's table of 503
 * reasons (tests/test_err.c), both ways.  Only unavailable.c and that test
 * include it: nothing in the gateway needs the list, and no answer it
 * sends can show a test every reason, so the test reads the list itself.
 *
 * Ownership: the array and its strings are static; nothing to free. */
#ifndef GW_UNAVAILABLE_INT_H
#define GW_UNAVAILABLE_INT_H

#include <stddef.h>

/* Every GW_503_* of unavailable.h, in its order; *n receives the count. */
const char *const *gw_unavailable_causes(size_t *n);

#endif
