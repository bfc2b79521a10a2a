/* clock.c: "now" and "today" for a run that nobody watches. Today is the date in the user's
 * time zone (--tz, the rule file's operations { time_zone }, TZ, else UTC), not in UTC: a run at
 * 00:30 in Paris scores that day, not the day before. A zone the system does not know is an
 * error, never UTC in silence (glibc would take an unknown name for UTC). DEFECTOR_NOW fixes the
 * clock for tests (a run "at 23:30 UTC" near midnight somewhere). */
#define _GNU_SOURCE /* timegm */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

df_status clock_now(time_t *now, df_error *err)
{
    const char *fixed = getenv("DEFECTOR_NOW");
    if (!fixed || !*fixed) return *now = time(NULL), DF_OK;
    struct tm tm = {0};
    char *end = strptime(fixed, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return DF_FAIL(err, DF_ERR_USAGE, "DEFECTOR_NOW", "'%s' is not a UTC time like 2026-11-30T23:30:00Z (this variable is for tests; unset it)", fixed);
    *now = timegm(&tm);
    return DF_OK;
}

/* Whether zone names a zone of the system's database (TZDIR, else /usr/share/zoneinfo). */
static int known_zone(const char *zone)
{
    if (!strcmp(zone, "UTC") || !strcmp(zone, "GMT")) return 1;
    if (zone[0] == '/') return access(zone, R_OK) == 0;
    if (strstr(zone, "..")) return 0;
    const char *dir = getenv("TZDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A POSIX rule, "CET-1CEST,M3.5.0,M10.5.0/3": a name of 3 letters or more, then its offset
 * (glibc reads it without the database). */
static int posix_rule(const char *z)
{
    size_t n = 0;
    while ((z[n] >= 'A' && z[n] <= 'Z') || (z[n] >= 'a' && z[n] <= 'z')) n++;
    if (n < 3) return 0;
    if (z[n] == '+' || z[n] == '-') n++;
    return z[n] >= '0' && z[n] <= '9';
}

df_status clock_zone(const char *tz, const char **zone, df_error *err)
{
    const char *z = tz && *tz ? tz : getenv("TZ");
    if (!z || !*z) z = "UTC";
    if (z[0] == ':') z++;
    if (!known_zone(z) && !posix_rule(z))
        return DF_FAIL(err, DF_ERR_USAGE, tz && *tz ? "--tz" : "TZ",
                       "'%s' is not a time zone this system knows; give one like Europe/Paris or America/New_York "
                       "(the names in /usr/share/zoneinfo: install the tzdata package if it is empty)", z);
    *zone = z;
    return DF_OK;
}

df_status clock_local(time_t t, const char *tz, struct tm *out, df_error *err)
{
    const char *zone;
    df_status st = clock_zone(tz, &zone, err);
    if (st != DF_OK) return st;
    if (!strcmp(zone, "UTC")) return gmtime_r(&t, out) ? DF_OK : DF_FAIL(err, DF_ERR_USAGE, zone, "cannot convert the time");
    /* TZ itself: no change to the environment (setenv allocates, and may fail) */
    const char *env = getenv("TZ");
    if (env && (!strcmp(env, zone) || (env[0] == ':' && !strcmp(env + 1, zone)))) {
        tzset();
        return localtime_r(&t, out) ? DF_OK : DF_FAIL(err, DF_ERR_USAGE, zone, "cannot convert the time to this time zone");
    }
    char *saved = env ? strdup(env) : NULL;
    if ((env && !saved) || setenv("TZ", zone, 1) != 0) {
        free(saved);
        return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    tzset();
    int ok = localtime_r(&t, out) != NULL;
    if (saved) setenv("TZ", saved, 1); /* on failure TZ stays the zone: nothing later reads local time */
    else unsetenv("TZ");
    tzset();
    free(saved);
    return ok ? DF_OK : DF_FAIL(err, DF_ERR_USAGE, zone, "cannot convert the time to this time zone");
}

df_status df_today(const char *tz, int32_t *days, df_error *err)
{
    time_t now;
    struct tm tm;
    char date[48];
    df_status st = clock_now(&now, err);
    if (st == DF_OK) st = clock_local(now, tz, &tm, err);
    if (st != DF_OK) return st;
    snprintf(date, sizeof date, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return df_parse_date(date, 10, days) == 0 ? DF_OK : DF_FAIL(err, DF_ERR_INTERNAL, "", "today is not a date: %s", date);
}

void clock_iso(time_t t, char buf[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
