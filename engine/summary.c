/* summary.c: run_summary.json (inputs, rule file and its SHA-256, as-of date, output counts,
 * rule fire counts, timings per phase, peak memory), written through a csvw like the other
 * outputs, and the short report on stderr (with the files of earlier runs the commit removed). */
#include <stdio.h>
#include <string.h>

#include "inflate.h"
#include "run.h"

static void json_str(csvw *f, const char *s)
{
    csvw_raw(f, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') csvw_printf(f, "\\%c", c);
        else if (c < 0x20) csvw_printf(f, "\\u%04x", c);
        else csvw_raw(f, s, 1);
    }
    csvw_raw(f, "\"", 1);
}

static void puts_json(csvw *f, const char *s) { csvw_raw(f, s, strlen(s)); }

static void examples(csvw *f, const char ex[DF_EXAMPLES][64], uint64_t n)
{
    puts_json(f, "[");
    for (uint64_t i = 0; i < n && i < DF_EXAMPLES; i++) {
        if (i) puts_json(f, ", ");
        json_str(f, ex[i]);
    }
    puts_json(f, "]");
}

df_status summary_write(outset *o, const run_info *r, df_error *err)
{
    csvw *w = outset_open(o, "run_summary.json", err);
    if (!w) return err->status;
    csvw *f = w;
    char date[16];
    df_format_date(r->cfg->as_of, date);
    csvw_printf(f, "{\n  \"engine\": \"defector %s\",\n  \"as_of\": \"%s\",\n  \"rules\": {\"path\": ", DF_VERSION, date);
    json_str(f, r->cfg->rules_path);
    csvw_printf(f, ", \"sha256\": \"%s\"},\n  \"threads\": %d,\n  \"inflate\": \"%s\",\n  \"max_rejects\": %ld,\n  \"inputs\": [",
                r->rules_sha256, r->cfg->threads, inflate_impl_name(inflate_default()), r->cfg->max_rejects);
    for (int i = 0; i < r->ntables; i++) {
        const table *t = &r->tables[i];
        const table_stats *s = &t->st;
        csvw_printf(f, "%s\n    {\"table\": ", i ? "," : "");
        json_str(f, t->name);
        puts_json(f, ", \"path\": ");
        json_str(f, t->path);
        csvw_printf(f, ", \"kind\": \"%s\", \"bytes\": %llu, \"bytes_uncompressed\": %llu, \"rows_read\": %llu, "
                   "\"rows_loaded\": %llu, \"rows_rejected\": %llu, \"duplicate_keys\": %llu, \"orphans\": %llu, "
                   "\"future_dated\": %llu, \"empty_keys\": %llu, \"blank_lines\": %llu, \"empty_rows\": %llu, \"empty_header_cells\": %llu, \"columns_in_file\": %llu, \"columns_ignored\": %llu, "
                   "\"duplicate_examples\": ",
                t->is_history ? "history" : "entity", (unsigned long long)s->bytes, (unsigned long long)s->bytes_text,
                (unsigned long long)s->rows_read, (unsigned long long)s->rows_loaded, (unsigned long long)s->rejected,
                (unsigned long long)s->duplicates, (unsigned long long)s->orphans, (unsigned long long)s->future,
                (unsigned long long)s->empty_keys, (unsigned long long)s->blank_lines, (unsigned long long)s->empty_rows,
                (unsigned long long)s->empty_header_cells, (unsigned long long)s->header_columns,
                (unsigned long long)s->ignored_columns);
        examples(f, s->dup_examples, s->duplicates);
        puts_json(f, ", \"orphan_examples\": ");
        examples(f, s->orphan_examples, s->orphans);
        if (t->parts) csvw_printf(f, ", \"parts\": %d", t->parts);
        csvw_printf(f, ", \"cpu_seconds\": {\"decompress\": %.3f, \"parse\": %.3f}", s->decompress_cpu, s->parse_cpu);
        csvw_printf(f, ", \"load_seconds\": %.3f, \"memory_bytes\": %llu}", r->t_load[i],
                (unsigned long long)table_bytes(t, r->tables[0].nrows));
    }
    csvw_printf(f, "\n  ],\n  \"customers_scored\": %llu,\n  \"scoring_states\": %d,\n  \"rows_rejected\": %llu,\n  \"outputs\": {",
            (unsigned long long)r->score.entities, r->score.states, (unsigned long long)r->rejects);
    int first = 1;
    for (int i = 0; i < outset_count(o); i++) {
        const csvw *x = outset_file(o, i);
        if (x == w) continue;
        csvw_printf(f, "%s\n    ", first ? "" : ",");
        json_str(f, x->name);
        csvw_printf(f, ": {\"rows\": %llu}", (unsigned long long)x->rows);
        first = 0;
    }
    puts_json(f, "\n  },\n  \"rules_fired\": {");
    for (int i = 0; i < r->score.nrules; i++) {
        csvw_printf(f, "%s\n    ", i ? "," : "");
        json_str(f, r->score.rule_code[i]);
        csvw_printf(f, ": %llu", (unsigned long long)r->score.rule_fired[i]);
    }
    puts_json(f, "\n  },\n  \"rule_errors\": {");
    for (int i = 0, k = 0; i < r->score.nrules; i++) {
        if (!r->score.rule_errors[i]) continue;
        csvw_printf(f, "%s\n    ", k++ ? "," : "");
        json_str(f, r->score.rule_code[i]);
        csvw_printf(f, ": %llu", (unsigned long long)r->score.rule_errors[i]);
    }
    puts_json(f, "\n  },\n  \"warnings\": [");
    for (int i = 0; i < r->score.nwarnings; i++) {
        csvw_printf(f, "%s\n    ", i ? "," : "");
        json_str(f, r->score.warnings[i]);
    }
    puts_json(f, r->score.nwarnings ? "\n  ],\n" : "],\n");
    if (r->score.has_overrides) {
        puts_json(f, "  \"overrides\": {\"file\": ");
        json_str(f, r->score.overrides_file);
        csvw_printf(f, ", \"active\": %llu, \"applied\": %llu, \"expired\": %llu, \"expired_list\": ",
                (unsigned long long)r->score.overrides_active, (unsigned long long)r->score.overrides_applied,
                (unsigned long long)r->score.overrides_expired);
        json_str(f, r->score.overrides_expired_list);
        puts_json(f, "},\n");
    }
    puts_json(f, "  \"timings_seconds\": {");
    for (int i = 0; i < r->ntables; i++) {
        puts_json(f, "\n    ");
        char key[128];
        snprintf(key, sizeof key, "load_%s", r->tables[i].name);
        json_str(f, key);
        csvw_printf(f, ": %.3f,", r->t_load[i]);
    }
    csvw_printf(f, "\n    \"group\": %.3f,\n    \"score\": %.3f,\n    \"sort_and_write\": %.3f,\n    \"total\": %.3f\n  },\n",
            r->t_group, r->score.score_seconds, r->score.write_seconds, r->t_total);
    csvw_printf(f, "  \"peak_memory_bytes\": %llu\n}\n", (unsigned long long)r->peak_rss);
    return DF_OK;
}

void summary_report(const run_info *r, const outset *o, FILE *f)
{
    int info = !r->cfg->quiet; /* --quiet: the warnings only */
    for (int i = 0; i < r->ntables; i++) {
        const table *t = &r->tables[i];
        const table_stats *s = &t->st;
        if (info) {
            fprintf(f, "defector: %s: %llu rows read, %llu loaded", t->file, (unsigned long long)s->rows_read,
                    (unsigned long long)s->rows_loaded);
            if (s->rejected) fprintf(f, ", %llu rejected (see rejects.csv)", (unsigned long long)s->rejected);
            if (s->empty_keys) fprintf(f, ", %llu without a %s set aside", (unsigned long long)s->empty_keys, t->key);
            if (t->from_history && !t->is_history) fprintf(f, ", %llu distinct %s", (unsigned long long)t->nrows, t->key);
            if (s->empty_rows)
                fprintf(f, ", %llu rows of empty fields only skipped (such as the \",,,,\" lines Excel writes)",
                        (unsigned long long)s->empty_rows);
            if (s->empty_header_cells)
                fprintf(f, ", %llu empty cells at the end of the header ignored", (unsigned long long)s->empty_header_cells);
            fputs("\n", f);
        }
        if (s->duplicates && !t->from_history) /* entity { from = h }: one row per key is the point */
            fprintf(f, "defector: warning: %s: %llu rows repeat a %s already seen (e.g. %s); the first row of each was kept\n",
                    t->file, (unsigned long long)s->duplicates, t->key, s->dup_examples[0]);
        if (s->orphans)
            fprintf(f, "defector: warning: %s: %llu rows name a %s that is not in %s (e.g. %s); they were ignored\n",
                    t->file, (unsigned long long)s->orphans, t->key, r->tables[0].file, s->orphan_examples[0]);
        if (s->future) {
            char date[16];
            df_format_date(r->cfg->as_of, date);
            fprintf(f, "defector: warning: %s: %llu rows are dated after the as-of date %s; they were ignored\n", t->file,
                    (unsigned long long)s->future, date);
        }
    }
    for (int i = 0; i < r->score.nwarnings; i++) fprintf(f, "defector: warning: %s\n", r->score.warnings[i]);
    for (int i = 0; i < r->score.nrules; i++)
        if (r->score.rule_errors[i])
            fprintf(f, "defector: warning: rule %s failed for %llu %s and was skipped for them (see rule_errors.csv)\n",
                    r->score.rule_code[i], (unsigned long long)r->score.rule_errors[i], r->tables[0].name);
    if (!info) return;
    if (r->score.has_overrides) {
        fprintf(f, "defector: %s: %llu overrides applied", r->score.overrides_file, (unsigned long long)r->score.overrides_applied);
        if (r->score.overrides_expired)
            fprintf(f, "; %llu expired and ignored: %s", (unsigned long long)r->score.overrides_expired,
                    r->score.overrides_expired_list);
        fputs("\n", f);
    }
    fprintf(f, "defector: scored %llu %s in %.2f s; wrote", (unsigned long long)r->score.entities, r->tables[0].name,
            r->t_total);
    for (int i = 0; i < outset_count(o); i++) {
        const csvw *x = outset_file(o, i);
        if (strcmp(x->name, "run_summary.json") == 0) continue;
        fprintf(f, " %s (%llu rows)%s", x->name, (unsigned long long)x->rows, i + 2 < outset_count(o) ? "," : "");
    }
    fprintf(f, " to %s\n", r->cfg->out_dir);
    if (outset_removed(o)[0])
        fprintf(f, "defector: removed %s: written by an earlier run in %s, not by this one\n", outset_removed(o), r->cfg->out_dir);
}
