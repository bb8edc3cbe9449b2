/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.h - assertions the unit tests share (include after cmocka.h). */
#ifndef GW_TESTUTIL_H
#define GW_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

extern char **environ;

/* Fails unless hay contains needle (a NULL hay fails too). */
#define assert_contains(hay, needle)                                                    \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        if (!h_ || !strstr(h_, n_))                                                     \
            fail_msg("expected \"%s\" to contain \"%s\"", h_ ? h_ : "(null)", n_);      \
    } while (0)

/* Unsets every ALERTGW_* variable, so a test's configuration comes from
 * what the test sets and nothing the caller's environment holds. */
static inline void clear_alertgw_env(void)
{
    char names[64][128];
    size_t n = 0;
    for (char **e = environ; *e && n < 64; e++) {
        if (strncmp(*e, "ALERTGW_", 8))
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (len >= sizeof names[0])
            continue;
        memcpy(names[n], *e, len);
        names[n++][len] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        unsetenv(names[i]);
}

#endif
