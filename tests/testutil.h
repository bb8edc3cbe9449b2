/* testutil.h - assertions the unit tests share (include after cmocka.h). */
#ifndef GW_TESTUTIL_H
#define GW_TESTUTIL_H

#include <string.h>

/* Fails unless hay contains needle (a NULL hay fails too). */
#define assert_contains(hay, needle)                                                    \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        if (!h_ || !strstr(h_, n_))                                                     \
            fail_msg("expected \"%s\" to contain \"%s\"", h_ ? h_ : "(null)", n_);      \
    } while (0)

#endif
