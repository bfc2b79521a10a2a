/* test_core_dialect.c: the input dialects' parsers (engine/dialect.c): numbers with a decimal
 * comma and thousands separators, dates in declared formats (a time of day checked, then
 * dropped), UTF-8 validation, the Windows-1252 / Latin-1 conversion, the delimiter sniffed from a
 * header, and the hints a refusal gives. Values are checked against df_parse_date of the same
 * day written in ISO (an independent parser). */
#include "column.h"
#include "defector.h"
#include "dialect.h"
#include "test.h"

static dialect numbers(char decimal, char thousands)
{
    dialect d;
    dialect_default(&d);
    d.decimal = decimal, d.thousands = thousands, d.numbers = 1;
    return d;
}

static int64_t dec(const dialect *d, const char *s)
{
    int64_t v;
    return dialect_number(d, 1, s, strlen(s), &v) ? INT64_MIN : v;
}

static void test_numbers(void)
{
    dialect de = numbers(',', '.'), us = numbers('.', ','), fr = numbers(',', ' '), ch = numbers('.', '\''), dc = numbers(',', 0);
    CHECK_INT(dec(&de, "19,95"), 19950000);
    CHECK_INT(dec(&de, "1.200,99"), 1200990000);
    CHECK_INT(dec(&de, "-1.234.567,5"), -1234567500000);
    CHECK_INT(dec(&de, "+0,000001"), 1);
    CHECK_INT(dec(&de, "12"), 12000000);
    CHECK_INT(dec(&de, ",5"), 500000);
    CHECK_INT(dec(&us, "1,234.50"), 1234500000);
    CHECK_INT(dec(&fr, "1 234,50"), 1234500000);
    CHECK_INT(dec(&ch, "1'234.50"), 1234500000);
    CHECK_INT(dec(&dc, "1234,5"), 1234500000);
    /* groups of three only, one mark, no separator in the fraction, the other mark refused */
    CHECK_INT(dec(&de, "1.20,99"), INT64_MIN);
    CHECK_INT(dec(&de, "12.3456"), INT64_MIN);
    CHECK_INT(dec(&de, ".123,4"), INT64_MIN);
    CHECK_INT(dec(&de, "1,2,3"), INT64_MIN);
    CHECK_INT(dec(&de, "1,234.5"), INT64_MIN);
    CHECK_INT(dec(&de, "19.95"), INT64_MIN); /* 19.95 is not 1995 with thousands = "." */
    CHECK_INT(dec(&dc, "1.234,5"), INT64_MIN);
    CHECK_INT(dec(&de, "1,1234567"), INT64_MIN); /* 7 places: refused, never rounded */
    CHECK_INT(dec(&de, ""), INT64_MIN);
    CHECK_INT(dec(&de, "-"), INT64_MIN);
    int64_t v = 0;
    CHECK(dialect_number(&de, 0, "1.234", 5, &v) == NULL && v == 1234);
    CHECK(dialect_number(&de, 0, "1,5", 3, &v) != NULL); /* an int has no decimal mark */
    CHECK(dialect_number(&de, 0, "9.223.372.036.854.775.808", 25, &v) != NULL);
    CHECK_CONTAINS(dialect_number(&de, 0, "9.223.372.036.854.775.808", 25, &v), "out of range");
    /* through a column: the declared dialect, or the default's refusal with the hint */
    column c;
    cell out;
    column_init(&c, "fee", COL_DECIMAL);
    CHECK(column_parse(&c, "1.200,99", 8, &out, &de) == NULL && out.i == 1200990000);
    CHECK_CONTAINS(column_parse(&c, "19,95", 5, &out, NULL), "declare decimal = \",\"");
    CHECK_CONTAINS(column_parse(&c, "1.200,99", 8, &out, &dc), "declare thousands = \".\" too");
    CHECK_CONTAINS(column_parse(&c, " ", 1, &out, NULL), "blank_is_empty = true");
    CHECK(column_parse(&c, "", 0, &out, &de) == NULL && out.i == DF_NA_I64);
    column_free(&c);
}

static int32_t iso(const char *s)
{
    int32_t d;
    return df_parse_date(s, strlen(s), &d) ? INT32_MIN : d;
}

static int32_t date_in(const char *fmt, const char *s)
{
    dialect d;
    dialect_default(&d);
    d.date_format = (char *)fmt;
    int32_t v;
    return dialect_date(&d, s, strlen(s), &v) ? INT32_MIN : v;
}

static void test_dates(void)
{
    CHECK_INT(date_in("%d/%m/%Y", "23/12/2025"), iso("2025-12-23"));
    CHECK_INT(date_in("%d/%m/%Y", "1/2/2026"), iso("2026-02-01"));
    CHECK_INT(date_in("%m/%d/%Y", "1/2/2026"), iso("2026-01-02"));
    CHECK_INT(date_in("%m/%d/%Y %H:%M", "12/1/2010 8:26"), iso("2010-12-01"));
    CHECK_INT(date_in("%m/%d/%Y %H:%M", "12/9/2011 23:59"), iso("2011-12-09"));
    CHECK_INT(date_in("%Y-%m-%d %H:%M:%S", "2010-12-01 08:26:00"), iso("2010-12-01"));
    CHECK_INT(date_in("%Y-%m-%dT%H:%M:%S", "2024-02-29T00:00:60"), iso("2024-02-29"));
    CHECK_INT(date_in("%Y%m%d", "19970101"), iso("1997-01-01"));
    CHECK_INT(date_in("%Y%m%d", "19980630"), iso("1998-06-30"));
    CHECK_INT(date_in("%d.%m.%Y", "31.12.1999"), iso("1999-12-31"));
    CHECK_INT(date_in("%d%%%m%%%Y", "1%2%2026"), iso("2026-02-01"));
    /* refused: no such day, out-of-range times, other forms, trailing or missing text */
    CHECK_INT(date_in("%d/%m/%Y", "29/02/2025"), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "31/04/2026"), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "12/13/2026"), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "0/1/2026"), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "1/1/26"), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "123/1/2026"), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "1/1/2026 "), INT32_MIN);
    CHECK_INT(date_in("%d/%m/%Y", "2026-01-01"), INT32_MIN);
    CHECK_INT(date_in("%m/%d/%Y %H:%M", "12/1/2010"), INT32_MIN);
    CHECK_INT(date_in("%m/%d/%Y %H:%M", "12/1/2010 24:00"), INT32_MIN);
    CHECK_INT(date_in("%m/%d/%Y %H:%M", "12/1/2010 8:60"), INT32_MIN);
    CHECK_INT(date_in("%Y%m%d", "1997011"), INT32_MIN);
    CHECK_INT(date_in("%Y%m%d", "199701011"), INT32_MIN);
    /* the hints: 01/02/2026 fits both orders, both are named; 23/12/2025 only one */
    dialect d;
    dialect_default(&d);
    const char *h = dialect_hint_date(&d, "01/02/2026", 10, "not a date");
    CHECK_CONTAINS(h, "\"%d/%m/%Y\" or \"%m/%d/%Y\"");
    CHECK_CONTAINS(h, "never guesses");
    h = dialect_hint_date(&d, "23/12/2025", 10, "not a date");
    CHECK_CONTAINS(h, "date_format = \"%d/%m/%Y\"");
    CHECK(strstr(h, "%m/%d/%Y") == NULL);
    CHECK_CONTAINS(dialect_hint_date(&d, "19970101", 8, "not a date"), "\"%Y%m%d\"");
    CHECK_CONTAINS(dialect_hint_date(&d, "12/1/2010 8:26", 14, "not a date"), "\"%m/%d/%Y %H:%M\"");
    CHECK_STR(dialect_hint_date(&d, "soon", 4, "not a date"), "not a date");
}

static void test_utf8(void)
{
    CHECK_INT(utf8_invalid_at("plain ascii text, longer than a word", 36), 36);
    CHECK_INT(utf8_invalid_at("Søren Müller €", strlen("Søren Müller €")), strlen("Søren Müller €"));
    CHECK_INT(utf8_invalid_at("\xF0\x9F\x98\x80", 4), 4);       /* U+1F600 */
    CHECK_INT(utf8_invalid_at("S\xF8ren", 6), 1);               /* Latin-1 ø */
    CHECK_INT(utf8_invalid_at("abcdefgh\x80", 9), 8);           /* a lone continuation byte */
    CHECK_INT(utf8_invalid_at("\xC0\xAF", 2), 0);               /* overlong '/' */
    CHECK_INT(utf8_invalid_at("\xE0\x80\xAF", 3), 0);           /* overlong */
    CHECK_INT(utf8_invalid_at("\xED\xA0\x80", 3), 0);           /* a surrogate */
    CHECK_INT(utf8_invalid_at("\xF4\x90\x80\x80", 4), 0);       /* past U+10FFFF */
    CHECK_INT(utf8_invalid_at("ok\xE2\x82", 4), 2);             /* cut short */
    char out[3];
    CHECK_INT(dialect_byte_utf8(ENC_CP1252, 0x80, out), 3);
    CHECK(memcmp(out, "\xE2\x82\xAC", 3) == 0); /* € */
    CHECK_INT(dialect_byte_utf8(ENC_CP1252, 0x93, out), 3);
    CHECK(memcmp(out, "\xE2\x80\x9C", 3) == 0); /* “ */
    CHECK_INT(dialect_byte_utf8(ENC_CP1252, 0x81, out), 2);
    CHECK(memcmp(out, "\xC2\x81", 2) == 0); /* undefined in 1252: the C1 control, as WHATWG */
    CHECK_INT(dialect_byte_utf8(ENC_LATIN1, 0x80, out), 2);
    CHECK(memcmp(out, "\xC2\x80", 2) == 0);
    CHECK_INT(dialect_byte_utf8(ENC_LATIN1, 0xF8, out), 2);
    CHECK(memcmp(out, "\xC3\xB8", 2) == 0); /* ø */
    CHECK_INT(dialect_byte_utf8(ENC_CP1252, 'a', out), 1);
    /* every byte of both encodings converts to valid UTF-8 */
    for (int b = 0; b < 256; b++)
        for (int e = ENC_CP1252; e <= ENC_LATIN1; e++) {
            int n = dialect_byte_utf8(e, (unsigned char)b, out);
            CHECK_INT(utf8_invalid_at(out, (size_t)n), n);
        }
    CHECK_INT(dialect_encoding("Windows-1252"), ENC_CP1252);
    CHECK_INT(dialect_encoding("ISO-8859-1"), ENC_LATIN1);
    CHECK_INT(dialect_encoding("utf-8"), ENC_UTF8);
    CHECK_INT(dialect_encoding("ebcdic"), -1);
}

static void test_sniff(void)
{
    dialect d;
    dialect_default(&d);
    char *semi[] = {"customer_id;name;fee;"}, *comma[] = {"a", "b;c"}, *tab[] = {"a\tb\tc"}, *spaces[] = {" id  date  n"};
    CHECK_INT(dialect_sniff(&d, semi, 1), ';');
    CHECK_INT(dialect_sniff(&d, comma, 2), 0); /* one ';' in two names: no sign */
    CHECK_INT(dialect_sniff(&d, tab, 1), '\t');
    CHECK_INT(dialect_sniff(&d, spaces, 1), ' ');
    d.delim = ';';
    char *commas[] = {"a,b,c"};
    CHECK_INT(dialect_sniff(&d, commas, 1), ',');
}

int main(void)
{
    test_numbers();
    test_dates();
    test_utf8();
    test_sniff();
    TEST_END();
}
