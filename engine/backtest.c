/* backtest.c: `defector backtest RULES --data DIR --as-of D [--as-of D2 ...] --horizon DAYS`
 * (docs/history.md, Backtest). The tables are loaded and grouped once, with every row up to the
 * last outcome date; then the rule file is scored at each date needed (each as-of date D and
 * each D + horizon, once each), in a fresh Lua state declared as of that date, its aggregates
 * reading only the rows dated on or before it (scan.lua's bound_dates), writing the snapshot
 * alone, in memory (no scratch file): parsed at once into what the figures need. The figures compare the scores at D with the outcome the rule
 * file declares (backtest { outcome, eligible }) read at D + horizon: per date and over all
 * dates, per band and score decile, precision and recall at K, ROC AUC, per rule. Entity
 * columns are today's values: a caveat written into the summary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfile.h"
#include "watchdog.h"

#define MAX_DATES 64

static const char *CAVEAT = "entity columns (e.g. renewal_date) are today's values, not those of the as-of date: "
                            "features read from them may know the future; history rows are replayed as of each date";

/* One customer of a date's population: its score and outcome, for the decile, AUC and pooled figures. */
typedef struct obs {
    double score;
    uint32_t seq; /* the order of the population (dates, then entity order): ties */
    uint8_t y;
} obs;

typedef struct tally {
    uint64_t n, pos;
} tally;

/* A date's (or all dates') counts. */
typedef struct figures {
    tally all, list, bands[DF_MAX_NAMES + 1], rules[DF_MAX_RULES], topk[DF_MAX_NAMES + 1];
    int64_t kval[DF_MAX_NAMES + 1];
    obs *o;
    uint64_t no, cap;
} figures;

typedef struct backtest {
    const df_config *cfg;
    int horizon;
    history_info h;
    int nrules;
    char (*codes)[64];
    outset *o;
    csvw *sum, *bands, *dec, *topk, *rules;
} backtest;

static double rate(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }

static void put_ratio(csvw *w, double x)
{
    if (isnan(x)) return csvw_empty(w);
    csvw_number(w, round(x * 10000) / 10000);
}

static void put_text(csvw *w, const char *s) { csvw_text(w, s, strlen(s)); }

/* ---- scoring at one date ---- */

/* Scores the loaded tables at date d into an outset in memory and hands over its snapshot's
 * bytes (*snap_buf, *snap_len); reads the rule codes and what the rule file declares. */
static df_status score_at(const backtest *bt, const char *src, size_t len, watchdog *wd, table *tables, int nt,
                          int32_t d, int outcome_only, char **snap_buf, size_t *snap_len, score_stats *stats, df_error *err)
{
    char date[16];
    df_format_date(d, date);
    outset *od = NULL;
    df_status st = outset_new_memory(date, &od, err);
    lbridge *lb = NULL;
    table plan[DF_MAX_TABLES];
    int np = 0;
    if (st == DF_OK) st = lb_new(&lb, err);
    if (st == DF_OK) lb_budget(lb, wd, 0);
    if (st == DF_OK) st = lb_declare(lb, bt->cfg->rules_path, src, len, d, plan, &np, err);
    for (int i = 0; i < np; i++) table_free(&plan[i]);
    score_opts so = {.rules_path = bt->cfg->rules_path, .skip_rule_errors = bt->cfg->skip_rule_errors, .threads = bt->cfg->threads,
                     .source = src, .source_len = len, .wd = wd, .history = od, .snapshot_only = 1, .bound_dates = 1,
                     .outcome_only = outcome_only, .history_plain = 1};
    if (st == DF_OK) st = lb_run(lb, tables, nt, d, od, NULL, &so, stats, err);
    lb_free(lb);
    if (st == DF_OK) st = outset_finish_file(od, "customers.csv.gz", err);
    if (st == DF_OK) st = outset_take_memory(od, "customers.csv.gz", snap_buf, snap_len, err);
    outset_abort(od);
    return st;
}

/* ---- what a date's snapshot says, kept compact ---- */

enum { F_ELIGIBLE = 1, F_OUTCOME = 2, F_LIST = 4 };

/* A date's snapshot, parsed once right after the date is scored (its text is dropped then): per
 * entity row the key's hash (the rows of two dates must be the same customers), eligible,
 * outcome, on the list and, for an as-of date, the band, the score and the rules that fired. */
typedef struct dated {
    uint64_t n;
    uint32_t *key;
    uint8_t *flags, *band;
    double *score;
    uint64_t *code_at; /* n + 1: row i's rules are codes[code_at[i] .. code_at[i + 1]) */
    uint8_t *codes;    /* rule indexes (DF_MAX_RULES <= 256) */
    uint64_t ncodes, codes_cap;
} dated;

static void dated_free(dated *d)
{
    free(d->key), free(d->flags), free(d->band), free(d->score), free(d->code_at), free(d->codes);
    memset(d, 0, sizeof *d);
}

/* ---- the figures of one date ---- */

static int obs_add(figures *f, double score, uint8_t y)
{
    if (f->no == f->cap) {
        uint64_t cap = f->cap ? f->cap * 2 : 4096;
        obs *n = realloc(f->o, cap * sizeof *n);
        if (!n) return -1;
        f->o = n, f->cap = cap;
    }
    f->o[f->no] = (obs){score, (uint32_t)f->no, y};
    f->no++;
    return 0;
}

/* A key whose ascending order is the score's descending order (-0 and 0 the same key). */
static uint64_t desc_key(double x)
{
    if (x == 0) x = 0;
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    u = u >> 63 ? ~u : u | (1ull << 63);
    return ~u;
}

/* o (in seq order) sorted by score, highest first, ties in seq order: a stable radix sort, a
 * byte at a time from the lowest, skipping the bytes every score shares; -1 on out of memory. */
static int sort_obs(obs *o, uint64_t n)
{
    uint64_t count[8][256] = {{0}};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = desc_key(o[i].score);
        for (int b = 0; b < 8; b++) count[b][(k >> (8 * b)) & 255]++;
    }
    obs *t = NULL;
    for (int b = 0; b < 8; b++) {
        uint64_t at = 0, skip = 0;
        for (int v = 0; v < 256; v++) skip |= count[b][v] == n, at += count[b][v], count[b][v] = at - count[b][v];
        if (skip) continue;
        if (!t && !(t = malloc(n * sizeof *t))) return -1;
        for (uint64_t i = 0; i < n; i++) t[count[b][(desc_key(o[i].score) >> (8 * b)) & 255]++] = o[i];
        memcpy(o, t, n * sizeof *o);
    }
    free(t);
    return 0;
}

/* The rule whose code is s (n bytes), -1 when none (an override). */
static int rule_of(const backtest *bt, const char *s, size_t n)
{
    for (int r = 0; r < bt->nrules; r++)
        if (strlen(bt->codes[r]) == n && memcmp(bt->codes[r], s, n) == 0) return r;
    return -1;
}

/* The rules of one snapshot row (codes "a;b", n bytes) appended to d's; -1 on out of memory. */
static int add_codes(const backtest *bt, dated *d, const char *codes, size_t n)
{
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && codes[b] != ';') b++;
        int r = rule_of(bt, codes + a, b - a);
        a = b + 1;
        if (r < 0) continue; /* an override's code */
        if (d->ncodes == d->codes_cap) {
            uint64_t cap = d->codes_cap ? d->codes_cap * 2 : 1 << 16;
            uint8_t *c = realloc(d->codes, cap);
            if (!c) return -1;
            d->codes = c, d->codes_cap = cap;
        }
        d->codes[d->ncodes++] = (uint8_t)r;
    }
    return 0;
}

/* What figures need of snapshot s (the rule codes, bands and score only for an as-of date). */
static df_status extract(const backtest *bt, dated *d, const snap *s, int as_of, df_error *err)
{
    const history_info *h = &bt->h;
    uint64_t n = d->n = s->n;
    d->key = malloc(n * sizeof *d->key + 1), d->flags = malloc(n + 1);
    if (as_of) {
        d->band = malloc(n + 1), d->score = malloc(n * sizeof *d->score + 1);
        d->code_at = malloc((n + 1) * sizeof *d->code_at);
        if (!d->band || !d->score || !d->code_at) d->n = 0;
    }
    if (!d->key || !d->flags) d->n = 0;
    for (uint64_t i = 0; i < d->n; i++) {
        size_t kn, cn;
        const char *key = snap_cell(s, i, C_KEY, &kn);
        d->key[i] = strmap_hash(key, kn);
        int out = snap_is(s, i, C_OUTCOME, "true");
        int eligible = h->eligible[0] ? snap_is(s, i, C_ELIGIBLE, "true") : !out;
        d->flags[i] = (uint8_t)((eligible ? F_ELIGIBLE : 0) | (out ? F_OUTCOME : 0) | (snap_is(s, i, C_ON_LIST, "true") ? F_LIST : 0));
        if (!as_of) continue;
        int b = snap_rank(s, i, C_BAND, h->bands, h->nbands);
        d->band[i] = (uint8_t)(b > h->nbands ? h->nbands : b);
        d->score[i] = snap_num(s, i, C_SCORE);
        d->code_at[i] = d->ncodes;
        const char *codes = snap_cell(s, i, C_CODES, &cn);
        if (add_codes(bt, d, codes, cn) != 0) d->n = 0;
    }
    if (as_of && d->code_at) d->code_at[d->n] = d->ncodes;
    if (d->n != n) return dated_free(d), DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    return DF_OK;
}

/* The population of an as-of date (a) with its outcome (o, the date + horizon). Both come from
 * the same loaded tables, every entity in entity order: row i of one is row i of the other
 * (checked by the key's hash: no lookup per customer). */
static df_status gather(figures *f, const dated *a, const dated *o, df_error *err)
{
    if (a->n != o->n)
        return DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error: the backtest's snapshots hold %llu and %llu customers",
                       (unsigned long long)a->n, (unsigned long long)o->n);
    for (uint64_t i = 0; i < a->n; i++) {
        if (!(a->flags[i] & F_ELIGIBLE)) continue;
        if (a->key[i] != o->key[i])
            return DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error: the backtest's snapshots list other customers in row %llu",
                           (unsigned long long)i + 1);
        int y = (o->flags[i] & F_OUTCOME) != 0;
        f->all.n++, f->all.pos += (uint64_t)y;
        if (a->flags[i] & F_LIST) f->list.n++, f->list.pos += (uint64_t)y;
        f->bands[a->band[i]].n++, f->bands[a->band[i]].pos += (uint64_t)y;
        for (uint64_t c = a->code_at[i]; c < a->code_at[i + 1]; c++) f->rules[a->codes[c]].n++, f->rules[a->codes[c]].pos += (uint64_t)y;
        if (obs_add(f, a->score[i], (uint8_t)y) != 0) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    return DF_OK;
}

/* The area under the ROC curve of the scores against the outcome (ties: half), from o sorted
 * by score, highest first; NaN without both outcomes. */
static double auc(const obs *o, uint64_t n, uint64_t pos)
{
    uint64_t neg = n - pos;
    if (!pos || !neg) return NAN;
    double sum = 0; /* the negatives ranked below each positive, ties counting a half */
    uint64_t neg_below = neg;
    for (uint64_t i = 0; i < n;) {
        uint64_t j = i, p = 0, q = 0;
        while (j < n && o[j].score == o[i].score) p += o[j].y, q += !o[j].y, j++;
        neg_below -= q;
        sum += (double)p * ((double)neg_below + 0.5 * (double)q);
        i = j;
    }
    return sum / ((double)pos * (double)neg);
}

/* ---- the tables ---- */

static void head(csvw *w, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) put_text(w, names[i]);
    csvw_end_row(w);
}

static df_status open_tables(backtest *bt, df_error *err)
{
    static const char *S[] = {"as_of", "outcome_date", "customers", "defected", "rate", "auc", "on_list",
                              "on_list_defected", "list_precision", "list_recall", "caveat"};
    static const char *B[] = {"as_of", "band", "customers", "defected", "rate", "lift"};
    static const char *D[] = {"as_of", "decile", "customers", "min_score", "max_score", "defected", "rate", "lift"};
    static const char *K[] = {"as_of", "k", "defected", "precision", "recall"};
    static const char *R[] = {"as_of", "rule", "fired", "fire_rate", "defected", "precision", "lift"};
    if (!(bt->sum = outset_open(bt->o, "backtest_summary.csv", err)) || !(bt->bands = outset_open(bt->o, "backtest_bands.csv", err)) ||
        !(bt->dec = outset_open(bt->o, "backtest_deciles.csv", err)) || !(bt->topk = outset_open(bt->o, "backtest_topk.csv", err)) ||
        !(bt->rules = outset_open(bt->o, "backtest_rules.csv", err)))
        return err->status;
    head(bt->sum, S, 11), head(bt->bands, B, 6), head(bt->dec, D, 8), head(bt->topk, K, 5), head(bt->rules, R, 7);
    return DF_OK;
}

static void write_deciles(const backtest *bt, const char *as_of, const figures *f, double base)
{
    for (int d = 0; d < 10; d++) {
        uint64_t lo = f->no * (uint64_t)d / 10, hi = f->no * (uint64_t)(d + 1) / 10, pos = 0;
        if (lo == hi) continue;
        for (uint64_t i = lo; i < hi; i++) pos += f->o[i].y;
        put_text(bt->dec, as_of), csvw_int(bt->dec, d + 1), csvw_int(bt->dec, (int64_t)(hi - lo));
        csvw_number(bt->dec, f->o[hi - 1].score), csvw_number(bt->dec, f->o[lo].score), csvw_int(bt->dec, (int64_t)pos);
        put_ratio(bt->dec, rate(pos, hi - lo)), put_ratio(bt->dec, rate(pos, hi - lo) / base);
        csvw_end_row(bt->dec);
    }
}

/* Top K by score (the list's size first, then backtest { k }): the defected among them. */
static void count_topk(const backtest *bt, figures *f)
{
    f->kval[0] = (int64_t)f->list.n;
    for (int i = 0; i < bt->h.nk; i++) f->kval[i + 1] = bt->h.k[i];
    for (int i = 0; i <= bt->h.nk; i++) {
        uint64_t k = (uint64_t)f->kval[i] < f->no ? (uint64_t)f->kval[i] : f->no, pos = 0;
        for (uint64_t j = 0; j < k; j++) pos += f->o[j].y;
        f->topk[i] = (tally){(uint64_t)f->kval[i], pos};
    }
}

static void write_topk(const backtest *bt, const char *as_of, const figures *f)
{
    for (int i = 0; i <= bt->h.nk; i++) {
        const tally *t = &f->topk[i];
        put_text(bt->topk, as_of), csvw_int(bt->topk, (int64_t)t->n), csvw_int(bt->topk, (int64_t)t->pos);
        put_ratio(bt->topk, rate(t->pos, t->n < f->all.n ? t->n : f->all.n)), put_ratio(bt->topk, rate(t->pos, f->all.pos));
        csvw_end_row(bt->topk);
    }
}

/* The tables' rows of one date (as_of the date; "all" over every date). */
static df_status write_figures(const backtest *bt, const char *as_of, const char *outcome_date, figures *f, df_error *err)
{
    if (sort_obs(f->o, f->no) != 0) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    double base = rate(f->all.pos, f->all.n);
    csvw *w = bt->sum;
    put_text(w, as_of), put_text(w, outcome_date), csvw_int(w, (int64_t)f->all.n), csvw_int(w, (int64_t)f->all.pos);
    put_ratio(w, base), put_ratio(w, auc(f->o, f->no, f->all.pos));
    csvw_int(w, (int64_t)f->list.n), csvw_int(w, (int64_t)f->list.pos);
    put_ratio(w, rate(f->list.pos, f->list.n)), put_ratio(w, rate(f->list.pos, f->all.pos));
    put_text(w, CAVEAT), csvw_end_row(w);
    for (int b = 0; b <= bt->h.nbands; b++) {
        const tally *t = &f->bands[b];
        if (b == bt->h.nbands && !t->n) continue;
        put_text(bt->bands, as_of), put_text(bt->bands, b < bt->h.nbands ? bt->h.bands[b] : "(other)");
        csvw_int(bt->bands, (int64_t)t->n), csvw_int(bt->bands, (int64_t)t->pos);
        put_ratio(bt->bands, rate(t->pos, t->n)), put_ratio(bt->bands, rate(t->pos, t->n) / base);
        csvw_end_row(bt->bands);
    }
    write_deciles(bt, as_of, f, base);
    if (strcmp(as_of, "all") != 0) count_topk(bt, f);
    write_topk(bt, as_of, f);
    for (int r = 0; r < bt->nrules; r++) {
        const tally *t = &f->rules[r];
        put_text(bt->rules, as_of), put_text(bt->rules, bt->codes[r]), csvw_int(bt->rules, (int64_t)t->n);
        put_ratio(bt->rules, rate(t->n, f->all.n)), csvw_int(bt->rules, (int64_t)t->pos);
        put_ratio(bt->rules, rate(t->pos, t->n)), put_ratio(bt->rules, rate(t->pos, t->n) / base);
        csvw_end_row(bt->rules);
    }
    return DF_OK;
}

/* Adds date figures f into the pooled ones. */
static df_status pool_into(figures *all, const figures *f, df_error *err)
{
    all->all.n += f->all.n, all->all.pos += f->all.pos;
    all->list.n += f->list.n, all->list.pos += f->list.pos;
    for (int b = 0; b <= DF_MAX_NAMES; b++) {
        all->bands[b].n += f->bands[b].n, all->bands[b].pos += f->bands[b].pos;
        all->topk[b].n += f->topk[b].n, all->topk[b].pos += f->topk[b].pos;
    }
    for (int r = 0; r < DF_MAX_RULES; r++) all->rules[r].n += f->rules[r].n, all->rules[r].pos += f->rules[r].pos;
    for (uint64_t i = 0; i < f->no; i++)
        if (obs_add(all, f->o[i].score, f->o[i].y) != 0) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    return DF_OK;
}

/* ---- the command ---- */

static int by_day(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* The dates to score: the as-of dates and their outcome dates, sorted, each once. */
static int score_dates(const int32_t *as_of, int n, int horizon, int32_t *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) out[m++] = as_of[i], out[m++] = as_of[i] + horizon;
    qsort(out, (size_t)m, sizeof *out, by_day);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (!u || out[u - 1] != out[i]) out[u++] = out[i];
    return u;
}

static int index_of(const int32_t *v, int n, int32_t d)
{
    for (int i = 0; i < n; i++)
        if (v[i] == d) return i;
    return -1;
}

/* The figures of every as-of date (in the order given) and over all of them. */
static df_status evaluate(backtest *bt, const dated *ds, const int32_t *days, int nd, const int32_t *as_of, int n, df_error *err)
{
    figures *all = calloc(1, sizeof *all), *f = calloc(1, sizeof *f);
    df_status st = all && f ? open_tables(bt, err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (int i = 0; st == DF_OK && i < n; i++) {
        int a = index_of(days, nd, as_of[i]), b = index_of(days, nd, as_of[i] + bt->horizon);
        free(f->o);
        memset(f, 0, sizeof *f);
        st = gather(f, &ds[a], &ds[b], err);
        char d1[16], d2[16];
        df_format_date(as_of[i], d1), df_format_date(as_of[i] + bt->horizon, d2);
        if (st == DF_OK) st = write_figures(bt, d1, d2, f, err);
        if (st == DF_OK) st = pool_into(all, f, err);
    }
    if (st == DF_OK) st = write_figures(bt, "all", "", all, err);
    if (f) free(f->o);
    if (all) free(all->o);
    free(f), free(all);
    return st;
}

/* Scores every date (sorted, each once) and keeps what its snapshot says. The rule codes and
 * bands an as-of date's snapshot is read with are the rule file's, known after the first date. */
static df_status score_dates_all(backtest *bt, const char *src, size_t len, watchdog *wd, table *tables, int nt,
                                 const int32_t *days, int nd, const int32_t *as_of, int n, dated *ds, score_stats *stats,
                                 df_error *err)
{
    snap s = {0};
    df_status st = DF_OK;
    for (int i = 0; st == DF_OK && i < nd; i++) {
        char *buf = NULL, what[64];
        size_t blen = 0;
        int is_as_of = index_of(as_of, n, days[i]) >= 0;
        /* a date that is only an outcome date: the outcome and eligible fields alone */
        st = score_at(bt, src, len, wd, tables, nt, days[i], !is_as_of, &buf, &blen, stats, err);
        if (st == DF_OK && !stats->hist.outcome[0])
            st = DF_FAIL(err, DF_ERR_RULES, bt->cfg->rules_path, "the rule file declares no outcome to compare with: add backtest { outcome = \"defected\" } "
                         "(a true/false field; docs/history.md, Backtest)");
        if (st != DF_OK) {
            free(buf);
            break;
        }
        bt->h = stats->hist, bt->nrules = stats->nrules, bt->codes = stats->rule_code;
        df_format_date(days[i], what);
        strcat(what, " (the backtest's snapshot)");
        st = snap_take(&s, buf, blen, what, &bt->h, err);
        if (st == DF_OK) st = extract(bt, &ds[i], &s, is_as_of, err);
    }
    snap_free(&s);
    return st;
}

df_status df_backtest(const df_config *config, const int32_t *as_of, int n, int horizon, df_error *err)
{
    if (n < 1 || n > MAX_DATES) return DF_FAIL(err, DF_ERR_USAGE, "", "backtest takes 1 to %d --as-of dates", MAX_DATES);
    if (horizon < 1) return DF_FAIL(err, DF_ERR_USAGE, "", "backtest needs --horizon DAYS (1 or more)");
    df_config c = run_config(config);
    int32_t days[2 * MAX_DATES];
    int nd = score_dates(as_of, n, horizon, days);
    c.as_of = days[nd - 1]; /* every row up to the last outcome date is loaded */
    backtest bt = {.cfg = &c, .horizon = horizon};
    table tables[DF_MAX_TABLES];
    run_info r = {.cfg = &c, .tables = tables};
    char *src = NULL;
    size_t len = 0;
    lbridge *lb = NULL;
    watchdog *wd = NULL;
    score_stats *stats = calloc(1, sizeof *stats);
    df_status st = stats ? outset_new(c.out_dir, &bt.o, err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    /* rejects.csv and its share guard as in a run; each date declares the rule file again */
    if (st == DF_OK) st = run_declare_load(&r, bt.o, &lb, &wd, &src, &len, err);
    lb_free(lb);
    dated *ds = calloc((size_t)nd, sizeof *ds);
    if (st == DF_OK && !ds) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (st == DF_OK) st = score_dates_all(&bt, src, len, wd, tables, r.ntables, days, nd, as_of, n, ds, stats, err);
    watchdog_stop(wd);
    if (st == DF_OK) st = evaluate(&bt, ds, days, nd, as_of, n, err);
    for (int i = 0; ds && i < nd; i++) dated_free(&ds[i]);
    free(ds);
    if (st == DF_OK) st = outset_commit(bt.o, err);
    if (st != DF_OK) outset_abort(bt.o);
    else outset_free(bt.o);
    for (int i = 0; i < r.ntables; i++) table_free(&tables[i]);
    free(src), free(stats);
    return st;
}
