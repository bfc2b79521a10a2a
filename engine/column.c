/* column.c: typed columns (see column.h) and the parsers of their text forms.
 * Parsing is strict and never trims: " 12" is not an integer. Decimals are read exactly into
 * micro-units; more than 6 fractional digits is an error rather than a silent rounding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "column.h"
#include "defector.h"
#include "dialect.h"

static const char *type_names[] = {"int", "decimal", "date", "category", "text"};

const char *col_type_name(col_type t) { return type_names[t]; }

int col_type_from_name(const char *s, col_type *t)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, type_names[i]) == 0) return *t = (col_type)i, 0;
    return -1;
}

int column_init(column *c, const char *name, col_type type)
{
    memset(c, 0, sizeof *c);
    c->name = strdup(name);
    c->type = type;
    if (!c->name) return -1;
    if (type == COL_CATEGORY) {
        int added;
        if (strmap_init(&c->dict) != 0 || strmap_intern(&c->dict, "", 0, &added) != 0) return -1;
    }
    if (type == COL_TEXT) { /* the arena exists from the start: column_text() never offsets NULL */
        c->offs = malloc(sizeof *c->offs);
        c->arena = malloc(64);
        if (!c->offs || !c->arena) return -1;
        c->offs[0] = 0;
        c->arena_cap = 64;
    }
    return 0;
}

struct allowed {
    strmap values;
    char reason[640]; /* "not one of the values the rule file allows for this column (a, b, ...; ...)" */
};

int column_allow(column *c, const char *const *values, const size_t *lens, int n)
{
    struct allowed *a = calloc(1, sizeof *a);
    if (!a || strmap_init(&a->values) != 0) return free(a), -1;
    size_t w = (size_t)snprintf(a->reason, sizeof a->reason, "not one of the values the rule file allows for this column (");
    for (int i = 0; i < n; i++) {
        int added;
        if (strmap_intern(&a->values, values[i], lens[i], &added) < 0) return strmap_free(&a->values), free(a), -1;
        if (w < sizeof a->reason - 8)
            w += (size_t)snprintf(a->reason + w, sizeof a->reason - w, "%s%.*s", i ? ", " : "", (int)lens[i], values[i]);
    }
    if (w >= sizeof a->reason - 8) memcpy(a->reason + sizeof a->reason - 8, "...", 4), w = sizeof a->reason - 5;
    snprintf(a->reason + w, sizeof a->reason - w, "; if it is a new value, add it to category { ... } in the rule file)");
    c->allowed = a, c->allowed_owner = 1;
    return 0;
}

const char *column_refuses(const column *c, const char *s, size_t n)
{
    if (!c->allowed || n == 0 || strmap_find(&c->allowed->values, s, n) >= 0) return NULL;
    return c->allowed->reason;
}

void column_free(column *c)
{
    if (!c) return;
    if (c->allowed && c->allowed_owner) {
        strmap_free(&c->allowed->values);
        free(c->allowed);
    }
    free(c->name);
    free(c->i64);
    free(c->date);
    free(c->codes);
    free(c->offs);
    free(c->arena);
    if (c->type == COL_CATEGORY) strmap_free(&c->dict);
    memset(c, 0, sizeof *c);
}

static int grow(void **p, uint64_t cap, size_t elem)
{
    void *q = realloc(*p, (size_t)cap * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

int column_reserve(column *c, uint64_t n)
{
    if (n <= c->cap) return 0;
    uint64_t cap = c->cap ? c->cap : 1024;
    while (cap < n) cap *= 2;
    int rc = 0;
    switch (c->type) {
    case COL_INT:
    case COL_DECIMAL: rc = grow((void **)&c->i64, cap, sizeof *c->i64); break;
    case COL_DATE: rc = grow((void **)&c->date, cap, sizeof *c->date); break;
    case COL_CATEGORY: rc = grow((void **)&c->codes, cap, sizeof *c->codes); break;
    case COL_TEXT: rc = grow((void **)&c->offs, cap + 1, sizeof *c->offs); break;
    }
    if (rc == 0) c->cap = cap;
    return rc;
}

/* Digits [i, n) of s as an unsigned magnitude: 0, -1 when a byte is not a digit (or there is
 * none), -2 when the value passes `max` (the digits are all read first, so "99...9x" is "not a
 * number", not "out of range"). */
static int digits(const char *s, size_t i, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    int over = 0;
    if (i == n) return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (over || v > (max - d) / 10) over = 1;
        else v = v * 10 + d;
    }
    *out = v;
    return over ? -2 : 0;
}

/* INT64_MIN is the empty marker: values are within +-INT64_MAX. */
int parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    uint64_t v;
    int rc = digits(s, i, n, (uint64_t)INT64_MAX, &v);
    if (rc != 0) return rc;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

#define DECIMAL_RANGE "out of range: a decimal goes from -9223372036854.775807 to 9223372036854.775807 (6 places in a 64-bit integer)"

/* [sign] digits [. up to 6 digits], at least one digit: micro-units within +-INT64_MAX (the
 * integer part is checked against INT64_MAX / 10^6, the scaled sum against INT64_MAX). */
int parse_decimal(const char *s, size_t n, int64_t *out, const char **why)
{
    static const char not_decimal[] = "not a decimal number (expected digits with an optional sign and '.', e.g. -12.50)";
    size_t i = 0, dot;
    int neg = 0;
    *why = not_decimal;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    for (dot = i; dot < n && s[dot] != '.'; dot++) {}
    uint64_t ip = 0, fp = 0;
    int irc = dot > i ? digits(s, i, dot, (uint64_t)INT64_MAX / DF_DECIMAL_SCALE, &ip) : 0;
    int fdig = dot < n ? (int)(n - dot - 1) : 0;
    if (irc == -1 || (dot == i && fdig == 0)) return -1;
    if (fdig > 0 && digits(s, dot + 1, n, UINT64_MAX, &fp) == -1) return -1;
    if (fdig > DF_DECIMAL_DIGITS)
        return *why = "more than 6 decimal places (the engine keeps decimals exact to 6 places)", -1;
    if (irc == -2) return *why = DECIMAL_RANGE, -1;
    for (int k = fdig; k < DF_DECIMAL_DIGITS; k++) fp *= 10;
    uint64_t v = ip * DF_DECIMAL_SCALE + fp; /* ip <= 9223372036854: no overflow */
    if (v > (uint64_t)INT64_MAX) return *why = DECIMAL_RANGE, -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* A number or date in a declared dialect, or the default form's refusal with a hint of what to
 * declare: off the default path, which stays the plain parsers above. */
static const char *parse_dialect(column *c, const dialect *d, const char *s, size_t n, cell *out, const char *why)
{
    if (c->type == COL_DATE) {
        int32_t day = 0;
        const char *w = d && d->date_format ? dialect_date(d, s, n, &day) : why;
        out->i = day;
        return w ? dialect_hint_date(d, s, n, w) : NULL;
    }
    const char *w = d && d->numbers ? dialect_number(d, c->type == COL_DECIMAL, s, n, &out->i) : why;
    return w ? dialect_hint_number(d, c->type == COL_DECIMAL, s, n, w) : NULL;
}

const char *column_parse(column *c, const char *s, size_t n, cell *out, const dialect *d)
{
    static const dialect plain = {.delim = ',', .decimal = '.'};
    const char *why = NULL;
    int rc;
    out->s = s, out->n = n;
    if (!d) d = &plain;
    switch (c->type) {
    case COL_INT:
        if (n == 0) out->i = DF_NA_I64;
        else if (d->numbers) return parse_dialect(c, d, s, n, out, NULL);
        else if ((rc = parse_int64(s, n, &out->i)) != 0)
            why = rc == -2 ? "out of range: an integer goes from -9223372036854775807 to 9223372036854775807 (64 bits)"
                           : parse_dialect(c, d, s, n, out, "not an integer (expected digits with an optional sign)");
        break;
    case COL_DECIMAL:
        if (n == 0) out->i = DF_NA_I64;
        else if (d->numbers) return parse_dialect(c, d, s, n, out, NULL);
        else if (parse_decimal(s, n, &out->i, &why) != 0) return strncmp(why, "not a decimal", 13) == 0 ? parse_dialect(c, d, s, n, out, why) : why;
        why = NULL;
        break;
    case COL_DATE:
        if (n == 0) out->i = DF_NA_DATE;
        else if (d->date_format) return parse_dialect(c, d, s, n, out, NULL);
        else {
            int32_t day = 0;
            if (df_parse_date(s, n, &day) != 0) why = parse_dialect(c, d, s, n, out, "not a date (expected YYYY-MM-DD, e.g. 2026-03-31)");
            out->i = day;
        }
        break;
    case COL_CATEGORY:
    case COL_TEXT: break;
    }
    return why;
}

int column_append(column *c, const cell *v)
{
    if (c->n == c->cap && column_reserve(c, c->n + 1) != 0) return -1;
    switch (c->type) {
    case COL_INT:
    case COL_DECIMAL: c->i64[c->n] = v->i; break;
    case COL_DATE: c->date[c->n] = (int32_t)v->i; break;
    case COL_CATEGORY: {
        int added;
        int64_t code = strmap_intern(&c->dict, v->s, v->n, &added);
        if (code < 0) return -1;
        c->codes[c->n] = (uint32_t)code;
        break;
    }
    case COL_TEXT:
        if (c->arena_len + v->n > c->arena_cap) {
            uint64_t cap = c->arena_cap < 65536 ? 65536 : c->arena_cap * 2;
            while (cap < c->arena_len + v->n) cap *= 2;
            if (grow((void **)&c->arena, cap, 1) != 0) return -1;
            c->arena_cap = cap;
        }
        if (v->n) memcpy(c->arena + c->arena_len, v->s, v->n);
        c->arena_len += v->n;
        c->offs[c->n + 1] = c->arena_len;
        break;
    }
    c->n++;
    return 0;
}

static int permute_text(column *c, const uint32_t *perm, uint64_t n)
{
    uint64_t *offs = malloc((size_t)(n + 1) * sizeof *offs);
    char *arena = malloc(c->arena_len ? (size_t)c->arena_len : 1);
    if (!offs || !arena) {
        free(offs);
        free(arena);
        return -1;
    }
    uint64_t len = 0;
    offs[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t k;
        const char *s = column_text(c, perm[i], &k);
        memcpy(arena + len, s, k);
        len += k;
        offs[i + 1] = len;
    }
    free(c->offs);
    free(c->arena);
    c->offs = offs, c->arena = arena, c->arena_len = c->arena_cap = len, c->cap = n;
    return 0;
}

#define PERMUTE(field)                                                                             \
    do {                                                                                           \
        __typeof__(c->field) a = malloc((size_t)(n ? n : 1) * sizeof *a);                          \
        if (!a) return -1;                                                                         \
        for (uint64_t i = 0; i < n; i++) a[i] = c->field[perm[i]];                                 \
        free(c->field);                                                                            \
        c->field = a;                                                                              \
    } while (0)

int column_permute(column *c, const uint32_t *perm, uint64_t n)
{
    switch (c->type) {
    case COL_INT:
    case COL_DECIMAL: PERMUTE(i64); break;
    case COL_DATE: PERMUTE(date); break;
    case COL_CATEGORY: PERMUTE(codes); break;
    case COL_TEXT:
        if (permute_text(c, perm, n) != 0) return -1;
        break;
    }
    c->n = c->cap = n;
    return 0;
}

uint64_t column_bytes(const column *c)
{
    switch (c->type) {
    case COL_INT:
    case COL_DECIMAL: return c->cap * 8;
    case COL_DATE:
    case COL_CATEGORY: return c->cap * 4 + (c->type == COL_CATEGORY ? c->dict.arena_cap + c->dict.nslots * (uint64_t)sizeof(struct strmap_slot) : 0);
    case COL_TEXT: return (c->cap + 1) * 8 + c->arena_cap;
    }
    return 0;
}
