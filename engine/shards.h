/* shards.h: run --shard I/N and defector merge (docs/scale-out.md).
 *
 * A shard reads every input whole (each row is parsed, so the whole-base counts, rejects.csv
 * and the reject-share guard are those of one machine) but keeps only the history rows of its
 * entities: those whose key hashes to it (FNV-1a 64 of the key's text, modulo N). It scores
 * them and writes, instead of the outputs, its partial result (shard.partial: rendered rows with
 * their sort keys and entity, metric groups with exact accumulators, counts) into its --out.
 * The merge reads the N partials, checks that they are the N shards of one job, and writes the
 * outputs through the very stages of a run: every byte as one machine writes it. */
#ifndef DF_SHARDS_H
#define DF_SHARDS_H

#include "luascore.h"
#include "output.h"
#include "run.h"

#define SHARD_MAX DF_MAX_SHARDS /* (the merge marks each row's shard in 16 bits) */
#define SHARD_FILE "shard.partial"

typedef struct shard_part shard_part;

typedef struct shard_state {
    int index, count; /* I/N */
    int history;      /* the merge keeps a run history: the shard captures the snapshot */
    uint8_t *keep;    /* by row of the whole entity table: 1 for the shard's entities */
    uint32_t *perm;   /* the shard's entities: their rows in the whole entity table */
    uint64_t total, mine;
    int32_t newest[DF_MAX_TABLES]; /* each history's newest date in the shard (the merge's as-of guard) */
    /* after scoring (shard_take): the partial's Lua part and the captured rows of each output */
    char *blob;
    size_t blob_len;
    csvw **files;
    int nfiles;
    /* the merge: the partials read */
    shard_part *parts;
} shard_state;

/* ---- the shard (run.c calls these in df_run) ---- */

/* After the entity table is loaded: which of its rows are the shard's (s->keep). */
df_status shard_route(shard_state *s, const table *entity, df_error *err);
/* After the histories are grouped: the entity table cut to the shard's rows (in their order) and
 * each history's offsets to match (the other entities have no rows: they were not kept). */
df_status shard_compact(shard_state *s, table *tables, int ntables, df_error *err);
/* In lb_run, the result of the scoring on top of L's stack: its partial (field "partial") and
 * the writers that captured the rows (taken from files[0 .. *n), *n set to 0). */
df_status shard_take(shard_state *s, lua_State *L, csvw **files, int *n, df_error *err);
/* Writes shard.partial into o. */
df_status shard_write(shard_state *s, outset *o, const run_info *r, df_error *err);
void shard_free(shard_state *s);

/* ---- the merge ---- */

/* Reads the partials (a shard's --out folder or its shard.partial) before the rule file is
 * declared: checks that they are the N shards of one job and takes their as-of date and
 * --on-rule-error into c. */
df_status merge_open(shard_state *s, const char *const *paths, int n, df_config *c, df_error *err);
/* In place of run_load: the tables' counts of the whole base from the partials (checked against
 * the rule file's SHA-256 and tables), rejects.csv (shard 0's) into o. */
df_status merge_load(shard_state *s, run_info *r, outset *o, df_error *err);
/* In place of lb_run: the partials' rows and groups into the outputs, written as a run writes them. */
df_status merge_score(shard_state *s, lbridge *b, outset *o, const score_opts *so, score_stats *st, df_error *err);

#endif
