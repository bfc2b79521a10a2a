/* dialect.c: the input dialects of dialect.h: numbers with a decimal comma and thousands
 * separators, dates in a declared format, UTF-8 validation and the conversion of Windows-1252
 * and Latin-1 bytes, and the hints an error gives when a value has another recognisable form.
 * Invariant: a value is read in exactly the form declared; a hint only names a declaration
 * to make, the value is still refused (an ambiguous 01/02/2025 is never read one way silently). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "column.h"
#include "dialect.h"
#include "error.h"

void dialect_default(dialect *d)
{
    memset(d, 0, sizeof *d);
    d->delim = ',', d->decimal = '.';
}

int dialect_copy(dialect *dst, const dialect *src)
{
    *dst = *src;
    dst->date_format = NULL;
    if (src->date_format && !(dst->date_format = strdup(src->date_format))) return -1;
    return 0;
}

void dialect_free(dialect *d)
{
    if (!d) return;
    free(d->date_format);
    d->date_format = NULL;
}

int dialect_encoding(const char *name)
{
    static const struct { const char *name; int enc; } names[] = {
        {"utf-8", ENC_UTF8}, {"utf8", ENC_UTF8}, {"windows-1252", ENC_CP1252}, {"cp1252", ENC_CP1252},
        {"latin-1", ENC_LATIN1}, {"latin1", ENC_LATIN1}, {"iso-8859-1", ENC_LATIN1}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcasecmp(name, names[i].name) == 0) return names[i].enc;
    return -1;
}

/* ---- numbers ---- */

/* s in d's form rewritten in the default form (sign, digits, '.', digits) into buf: 0, or -1
 * when it is not in d's form (a thousands separator outside groups of three, a second mark). */
static int normalize(const dialect *d, const char *s, size_t n, char *buf, size_t cap, size_t *len)
{
    size_t i = 0, k = 0, group = 0;
    int seps = 0, mark = 0;
    if (n >= cap) return -1;
    if (i < n && (s[i] == '-' || s[i] == '+')) buf[k++] = s[i++];
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            buf[k++] = c, group++;
        } else if (!mark && d->thousands && c == d->thousands) {
            if ((seps == 0 && (group == 0 || group > 3)) || (seps > 0 && group != 3)) return -1;
            seps++, group = 0;
        } else if (!mark && c == d->decimal) {
            if (seps > 0 && group != 3) return -1;
            buf[k++] = '.', mark = 1, group = 0;
        } else if (mark && c >= '0' && c <= '9') {
            buf[k++] = c;
        } else {
            return -1;
        }
    }
    if (seps > 0 && !mark && group != 3) return -1;
    *len = k;
    return 0;
}

const char *dialect_number(const dialect *d, int is_decimal, const char *s, size_t n, int64_t *out)
{
    static const char not_int[] = "not an integer in the declared form (digits, an optional sign and the declared thousands separator)";
    static const char not_dec[] = "not a decimal number in the declared form (digits, an optional sign, the declared decimal mark and thousands separator)";
    char buf[96];
    size_t k;
    if (normalize(d, s, n, buf, sizeof buf, &k) != 0) return is_decimal ? not_dec : not_int;
    if (!is_decimal) {
        int rc = memchr(buf, '.', k) ? -1 : parse_int64(buf, k, out);
        if (rc == -2) return "out of range: an integer goes from -9223372036854775807 to 9223372036854775807 (64 bits)";
        return rc ? not_int : NULL;
    }
    const char *why;
    return parse_decimal(buf, k, out, &why) == 0 ? NULL : why;
}

/* ---- dates ---- */

/* Up to max digits (at least min) of s from *i: the value, or -1. */
static int take(const char *s, size_t n, size_t *i, int min, int max)
{
    int v = 0, k = 0;
    while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') v = v * 10 + (s[(*i)++] - '0'), k++;
    return k >= min ? v : -1;
}

const char *dialect_date(const dialect *d, const char *s, size_t n, int32_t *out)
{
    static const char not_date[] = "not a date in the declared date_format";
    const char *f = d->date_format;
    size_t i = 0;
    int y = -1, m = -1, day = -1, hh = 0, mm = 0, ss = 0, after_part = 0;
    for (; *f; f++) {
        if (*f != '%' || f[1] == '%') { /* a literal byte */
            if (*f == '%') f++;
            if (i >= n || s[i] != *f) return not_date;
            i++, after_part = 0;
            continue;
        }
        char c = *++f;
        /* parts written one after the other (%Y%m%d) have their full width; apart, 1 or 2 digits */
        int fixed = after_part || (f[1] == '%' && f[2] != '%');
        after_part = 1;
        int v = take(s, n, &i, c == 'Y' ? 4 : fixed ? 2 : 1, c == 'Y' ? 4 : 2);
        if (v < 0) return not_date;
        switch (c) {
        case 'Y': y = v; break;
        case 'm': m = v; break;
        case 'd': day = v; break;
        case 'H': hh = v; break;
        case 'M': mm = v; break;
        case 'S': ss = v; break;
        default: return not_date;
        }
    }
    if (i != n || y < 0 || m < 0 || day < 0) return not_date;
    if (hh > 23 || mm > 59 || ss > 60) return "not a date in the declared date_format (its time of day is out of range)";
    char iso[32];
    snprintf(iso, sizeof iso, "%04d-%02d-%02d", y % 10000, m % 100, day % 100);
    return df_parse_date(iso, 10, out) == 0 ? NULL : "not a date: no such day (a month from 1 to 12, a day that month has)";
}

/* ---- hints ---- */

static __thread char hint_buf[640];

const char *dialect_hint_number(const dialect *d, int is_decimal, const char *s, size_t n, const char *why)
{
    int comma = memchr(s, ',', n) != NULL, dot = memchr(s, '.', n) != NULL;
    if (d->numbers) {
        int w = snprintf(hint_buf, sizeof hint_buf, "%s; the rule file declares decimal = \"%c\"", why, d->decimal);
        if (d->thousands) snprintf(hint_buf + w, sizeof hint_buf - (size_t)w, ", thousands = \"%c\"", d->thousands);
        else if (memchr(s, d->decimal == ',' ? '.' : ',', n))
            snprintf(hint_buf + w, sizeof hint_buf - (size_t)w, " and no thousands separator: if the export writes "
                     "1%c234%c50, declare thousands = \"%c\" too", d->decimal == ',' ? '.' : ',', d->decimal, d->decimal == ',' ? '.' : ',');
        return hint_buf;
    }
    if (comma && !dot && is_decimal)
        snprintf(hint_buf, sizeof hint_buf, "%s. If the export writes a decimal comma (19,95), declare decimal = \",\" for this input", why);
    else if (comma && dot)
        snprintf(hint_buf, sizeof hint_buf, "%s. If the export writes thousands separators, declare them for this input: thousands = \",\" (1,234.50) or decimal = \",\", thousands = \".\" (1.234,50)", why);
    else if (dot && !is_decimal)
        snprintf(hint_buf, sizeof hint_buf, "%s. If the export writes thousands separators (1.234), declare thousands = \".\" for this input, or declare the column decimal", why);
    else if (n && memchr(" \t", s[0], 2) && strspn(s, " \t") >= n)
        snprintf(hint_buf, sizeof hint_buf, "%s: the cell holds only spaces; if blank cells mean empty, declare blank_is_empty = true for this input", why);
    else return why;
    return hint_buf;
}

const char *dialect_hint_date(const dialect *d, const char *s, size_t n, const char *why)
{
    static const char *const cands[] = {"%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y%m%d", "%Y/%m/%d",
                                        "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                                        "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
                                        "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"};
    char fits[320] = "";
    int k = 0;
    if (n && strspn(s, " \t") >= n) {
        snprintf(hint_buf, sizeof hint_buf, "%s: the cell holds only spaces; if blank cells mean empty, declare blank_is_empty = true for this input", why);
        return hint_buf;
    }
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        dialect t = *d;
        int32_t day;
        t.date_format = (char *)cands[i];
        if (d->date_format && strcmp(d->date_format, cands[i]) == 0) continue;
        if (dialect_date(&t, s, n, &day) != NULL) continue;
        size_t w = strlen(fits);
        snprintf(fits + w, sizeof fits - w, "%s\"%s\"", k++ ? " or " : "", cands[i]);
    }
    if (!k) return why;
    snprintf(hint_buf, sizeof hint_buf, "%s. Declare the form the export writes for this input: date_format = %s%s%s", why, fits,
             k > 1 ? " (the engine never guesses between them: check which one the export writes)" : "",
             strchr(fits, 'H') ? "; a time of day is checked and dropped, the date kept" : "");
    return hint_buf;
}

/* ---- encodings ---- */

size_t utf8_invalid_at(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) { /* ASCII a word at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (!len || c > 0xF4 || i + (size_t)len > n) return i;
        for (int k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        if (c == 0xE0 && s[i + 1] < 0xA0) return i;  /* overlong */
        if (c == 0xED && s[i + 1] >= 0xA0) return i; /* surrogates */
        if (c == 0xF0 && s[i + 1] < 0x90) return i;  /* overlong */
        if (c == 0xF4 && s[i + 1] >= 0x90) return i; /* past U+10FFFF */
        i += (size_t)len;
    }
    return n;
}

/* Windows-1252 0x80..0x9F (WHATWG: the five undefined bytes are the C1 controls, as in Latin-1). */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

int dialect_byte_utf8(int enc, unsigned char b, char out[3])
{
    unsigned cp = b;
    if (b < 0x80) return out[0] = (char)b, 1;
    if (enc == ENC_CP1252 && b < 0xA0) cp = cp1252_high[b - 0x80];
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* ---- sniffing ---- */
/* The delimiter the header seems written with: the candidate found in its names at least once
 * per name; a one-name header with runs of spaces: ' ' (delimiter = "spaces"). */

char dialect_sniff(const dialect *d, char *const *names, int n)
{
    static const char cands[] = {';', '\t', '|', ','};
    int best = 0;
    char pick = 0;
    for (size_t c = 0; c < sizeof cands; c++) {
        if (cands[c] == d->delim) continue;
        int k = 0;
        for (int i = 0; i < n; i++)
            for (const char *p = names[i]; *p; p++) k += *p == cands[c];
        if (k > best) best = k, pick = cands[c];
    }
    if (best > 0 && n <= best) return pick;
    if (!d->spaces && n == 1 && strstr(names[0], "  ")) return ' '; /* columns aligned with runs of spaces */
    return 0;
}
