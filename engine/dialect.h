/* dialect.h: how one input file writes its CSV, as its entity{}/history{} declaration says
 * (delimiter, decimal comma and thousands separator, date format, blank cells, encoding), and
 * the parsers that read cells in that dialect. The default dialect (',' '.' YYYY-MM-DD UTF-8)
 * is all zeros but the delimiter: the loader's fast path checks one flag, never a byte more.
 * Nothing here guesses: what does not match the declared form is an error that says what to
 * declare instead (dialect_hint_*). */
#ifndef DF_DIALECT_H
#define DF_DIALECT_H

#include <stddef.h>
#include <stdint.h>

enum { ENC_UTF8 = 0, ENC_CP1252 = 1, ENC_LATIN1 = 2 };

typedef struct dialect {
    char delim;        /* ',' (default) ';' '\t' '|', ' ' with spaces */
    int spaces;        /* delimiter = "spaces": fields between runs of spaces and tabs, no quoting */
    char decimal;      /* '.' (default) or ',' */
    char thousands;    /* 0: none, else '.' ',' ' ' '\'' */
    int numbers;       /* decimal or thousands differ from the default: numbers go through dialect_number */
    char *date_format; /* NULL: YYYY-MM-DD; else strftime-like: %d %m %Y %H %M %S and literal bytes */
    int blank_empty;   /* a cell of only spaces and tabs is empty */
    int encoding;      /* ENC_*: anything but UTF-8 is converted to UTF-8 as it is read */
} dialect;

void dialect_default(dialect *d);
/* dst = a copy of src (its date format duplicated); -1 on out of memory. */
int dialect_copy(dialect *dst, const dialect *src);
void dialect_free(dialect *d);
/* "utf-8", "windows-1252", "latin-1" (and spellings: cp1252, iso-8859-1, ...) -> ENC_*; -1 unknown. */
int dialect_encoding(const char *name);

/* An integer (is_decimal 0) or decimal (1) written with d's decimal mark and thousands
 * separator: NULL and *out (an int64, or micro-units), else why not. */
const char *dialect_number(const dialect *d, int is_decimal, const char *s, size_t n, int64_t *out);
/* A date in d's format (a time of day in it is checked, then dropped): NULL and *out (days
 * since 1970-01-01), else why not. */
const char *dialect_date(const dialect *d, const char *s, size_t n, int32_t *out);

/* The reason for a value the default (or declared) form refused, with what to declare when the
 * value has a recognisable other form (19,95 -> decimal = ","; 23/12/2025 -> a date format). */
const char *dialect_hint_number(const dialect *d, int is_decimal, const char *s, size_t n, const char *why);
const char *dialect_hint_date(const dialect *d, const char *s, size_t n, const char *why);

/* The offset of the first byte of s[0, n) that is not valid UTF-8 (overlong forms, surrogates
 * and code points past U+10FFFF are invalid), or n when it all is. */
size_t utf8_invalid_at(const char *s, size_t n);
/* One byte of encoding enc (ENC_CP1252, ENC_LATIN1) as UTF-8 into out (1 to 3 bytes): the count. */
int dialect_byte_utf8(int enc, unsigned char b, char out[3]);

/* The delimiter a header line seems to use when it is not d's: ';' '\t' '|' ',', ' ' (columns
 * aligned with spaces) or 0. For the
 * "missing columns" message: "this file is separated by ';': declare delimiter = ';'". */
char dialect_sniff(const dialect *d, char *const *names, int n);

#endif
