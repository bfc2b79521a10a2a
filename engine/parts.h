/* parts.h: an input exported in several files (events-*.csv.gz). The parts of a history are
 * loaded in parallel, each into its own table, and appended in file-name order, so the result
 * does not depend on the thread count. */
#ifndef DF_PARTS_H
#define DF_PARTS_H

#include "csvload.h"

/* The files in dir matching pattern (* and ?), sorted byte for byte; *paths malloc'd. */
df_status parts_expand(const char *dir, const char *pattern, char ***paths, int *n, df_error *err);
void parts_free(char **paths, int n);
/* Loads t from the n files (t->path names the pattern, for messages). Histories are read by up
 * to `threads` workers when rows may not be set aside (o->max_rejects == 0); otherwise, and for
 * the entity table, one part after another. */
df_status parts_load(table *t, const table *entity, char **paths, int n, const load_opts *o, int threads, df_error *err);

#endif
