/* runlog.h: --log FILE (runlog.c): every stderr line also in a log file, timestamped, levelled. */
#ifndef DF_RUNLOG_H
#define DF_RUNLOG_H

#include "error.h"

/* From here on stderr also goes to path (appended), as text or (json = 1) JSON lines; a first
 * line says the run started with argv. Output error when the file cannot be opened. */
df_status runlog_start(const char *path, int json, int argc, char **argv, df_error *err);
/* The last line (the exit code rc and its name), then waits for the log to be written. */
void runlog_end(int rc, const char *status);

#endif
