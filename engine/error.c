/* error.c: sets and prints df_error, and the small civil-date helpers every stage shares.
 * Every error goes through df_error_set_at(), which also files a failure the system gave as
 * ENOMEM (opening a file, making a folder) under out of memory, whatever stage raised it.
 * Dates are days since 1970-01-01 in the proleptic Gregorian calendar (int32). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

df_status df_error_set_at(df_error *err, df_status st, const char *src_file, int src_line,
                          const char *where, const char *fmt, ...)
{
    if (!err) return st;
    err->status = st;
    err->src_file = src_file;
    err->src_line = src_line;
    snprintf(err->where, sizeof err->where, "%s", where ? where : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* A file that could not be opened or created because the system had no memory for it
     * (the message carries strerror(ENOMEM)) is out of memory, not a bad input or output. */
    if ((st == DF_ERR_IO || st == DF_ERR_OUTPUT) && strstr(err->message, strerror(ENOMEM))) err->status = st = DF_ERR_NOMEM;
    return st;
}

void df_error_print(const df_error *err, FILE *f)
{
    if (err->where[0])
        fprintf(f, "defector: error: %s: %s\n", err->where, err->message);
    else
        fprintf(f, "defector: error: %s\n", err->message);
}

const char *df_status_name(df_status s)
{
    switch (s) {
    case DF_OK: return "ok";
    case DF_ERR_INTERNAL: return "internal error";
    case DF_ERR_USAGE: return "usage error";
    case DF_ERR_IO: return "input error";
    case DF_ERR_DATA: return "data error";
    case DF_ERR_RULES: return "rule error";
    case DF_ERR_OUTPUT: return "output error";
    case DF_ERR_NOMEM: return "out of memory";
    case DF_ERR_TESTS: return "rule tests failed";
    case DF_ERR_DELIVERY: return "delivery failed";
    }
    return "unknown";
}

/* days_from_civil / civil_from_days: the era-based algorithm (400-year cycles of 146097 days). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int df_parse_date(const char *s, size_t n, int32_t *days)
{
    if (n != 10 || s[4] != '-' || s[7] != '-') return -1;
    int v[8], k = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == 4 || i == 7) continue;
        if (s[i] < '0' || s[i] > '9') return -1;
        v[k++] = s[i] - '0';
    }
    int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    int m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return -1;
    if (d > mdays[m - 1] + (m == 2 && is_leap(y))) return -1;
    *days = (int32_t)days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

void df_format_date(int32_t days, char *buf)
{
    int64_t z = (int64_t)days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) { /* outside what YYYY-MM-DD can show */
        memcpy(buf, y < 0 ? "0000-01-01" : "9999-12-31", 11);
        return;
    }
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02u", (int)y, m % 100, d % 100);
    memcpy(buf, tmp, 11);
}
