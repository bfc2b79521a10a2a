/* deliver.h: --on-success, the post-run command (deliver.c). */
#ifndef DF_DELIVER_H
#define DF_DELIVER_H

#include "error.h"

/* Runs cmd with /bin/sh, the output folder as $1 and DEFECTOR_OUT, DEFECTOR_AS_OF, DEFECTOR_RULES
 * set; *rc gets its exit status (128 + N when killed by signal N). Not 0: DF_ERR_DELIVERY. */
df_status deliver_run(const char *cmd, const char *out_dir, const char *as_of, const char *rules, int *rc, df_error *err);

#endif
