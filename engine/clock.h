/* clock.h: now (the clock, or DEFECTOR_NOW for tests), today in a time zone (df_today, in
 * defector.h), times as ISO 8601 UTC text. */
#ifndef DF_CLOCK_H
#define DF_CLOCK_H

#include <time.h>

#include "error.h"

/* The clock, or DEFECTOR_NOW=YYYY-MM-DDTHH:MM:SSZ when set (tests only). */
df_status clock_now(time_t *now, df_error *err);
/* The zone to use: tz, else TZ, else UTC (a leading ':' dropped); an unknown zone is an error. */
df_status clock_zone(const char *tz, const char **zone, df_error *err);
/* t as local time in tz (see clock_zone). */
df_status clock_local(time_t t, const char *tz, struct tm *out, df_error *err);
/* t as "2026-11-30T23:30:00Z". */
void clock_iso(time_t t, char buf[32]);

#endif
