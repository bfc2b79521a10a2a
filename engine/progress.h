/* progress.h: a one-line progress report on stderr for long phases (only on a terminal). */
#ifndef DF_PROGRESS_H
#define DF_PROGRESS_H

#include <stdint.h>

typedef struct progress progress;

progress *progress_new(int enabled);
void progress_free(progress *p);
void progress_phase(progress *p, const char *label, uint64_t total_bytes);
/* A phase counted in items (e.g. entities) rather than bytes. */
void progress_phase_items(progress *p, const char *label, const char *unit, uint64_t total);
/* Cheap to call often: redraws at most 4 times a second. */
void progress_update(progress *p, uint64_t bytes_done, uint64_t rows);
void progress_end(progress *p);
double now_seconds(void);
/* CPU time used by the calling thread, in seconds. */
double thread_cpu_seconds(void);

#endif
