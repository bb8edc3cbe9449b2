/* SPDX-License-Identifier: Apache-2.0 */
/* clock.h - wall-clock milliseconds and RFC 3339 text, UTC only. */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdbool.h>

long long gw_now_ms(void);
/* CLOCK_MONOTONIC milliseconds: for intervals (never steps with the wall
 * clock). */
long long gw_mono_ms(void);
/* "2026-11-23T11:06:00.123Z" into out (>= 32 bytes). */
void gw_rfc3339(long long ms, char *out);
/* Parses RFC 3339 ("...Z" or "...+hh:mm", optional fraction).  false on
 * anything else, including years outside 1970..9999. */
bool gw_parse_rfc3339(const char *s, long long *ms);

#endif
