/* SPDX-License-Identifier: Apache-2.0 */
/* clock.c - see clock.h. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

long long gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long gw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n in exactly w digits at p (leading zeros); returns the end */
static char *put_digits(char *p, long long n, int w)
{
    for (int i = w - 1; i >= 0; i--, n /= 10)
        p[i] = (char)('0' + n % 10);
    return p + w;
}

void gw_rfc3339(long long ms, char *out)
{
    /* written digit by digit: every log line carries one, and strftime
     * plus snprintf cost ~2.5k instructions (docs/performance.md) */
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&s, &tm) || tm.tm_year + 1900 > 9999) {
        strcpy(out, "0000-00-00T00:00:00.000Z"); /* never: the clock is after 1970 */
        return;
    }
    char *p = put_digits(out, tm.tm_year + 1900, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, ms % 1000, 3);
    *p++ = 'Z';
    *p = '\0';
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse(const char *s, int min_year, long long *ms)
{
    int Y, M, D, h, m, sec;
    if (strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    if (Y < min_year || M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 60)
        return false;
    /* timegm() would roll "02-30" over into March: reject it instead */
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] + (M == 2 && leap))
        return false;
    const char *p = s + 19;
    long long frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return false;
        for (int i = nd; i < 3; i++)
            frac_ms *= 10;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    struct tm tm = { 0 };
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((long long)t - off) * 1000 + frac_ms;
    return true;
}

bool gw_parse_rfc3339(const char *s, long long *ms)
{
    return parse(s, 1970, ms);
}

bool gw_is_rfc3339(const char *s, long long *ms)
{
    long long v;
    if (!parse(s, 0, &v))
        return false;
    *ms = v;
    return true;
}
