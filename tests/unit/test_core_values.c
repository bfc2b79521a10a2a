/* test_core_values.c: typed parsing (int, exact decimal, date), the string map, SHA-256. */
#include "column.h"
#include "defector.h"
#include "sha256.h"
#include "strmap.h"
#include "test.h"

static int64_t dec(const char *s, const char **why)
{
    int64_t v = 12345;
    *why = NULL;
    if (parse_decimal(s, strlen(s), &v, why) != 0) return INT64_MIN + 1;
    return v;
}

static void test_decimal(void)
{
    const char *why;
    CHECK_INT(dec("49.90", &why), 49900000);
    CHECK_INT(dec("9.9", &why), 9900000);
    CHECK_INT(dec("99", &why), 99000000);
    CHECK_INT(dec("49.905", &why), 49905000);
    CHECK_INT(dec("+2.00", &why), 2000000);
    CHECK_INT(dec("-1.50", &why), -1500000);
    CHECK_INT(dec(".5", &why), 500000);
    CHECK_INT(dec("7.", &why), 7000000);
    CHECK_INT(dec("0.000001", &why), 1);
    CHECK_INT(dec("-0.000001", &why), -1);
    CHECK_INT(dec("1234567.123456", &why), 1234567123456);
    CHECK_INT(dec("0.0000001", &why), INT64_MIN + 1);
    CHECK_CONTAINS(why, "6 decimal places");
    CHECK_INT(dec(" 1", &why), INT64_MIN + 1);
    CHECK_INT(dec("1 ", &why), INT64_MIN + 1);
    CHECK_INT(dec("1e3", &why), INT64_MIN + 1);
    CHECK_INT(dec("12,5", &why), INT64_MIN + 1);
    CHECK_CONTAINS(why, "not a decimal number");
    CHECK_INT(dec("-", &why), INT64_MIN + 1);
    CHECK_INT(dec(".", &why), INT64_MIN + 1);
    CHECK_INT(dec("99999999999999", &why), INT64_MIN + 1);
    CHECK_CONTAINS(why, "out of range");
}

/* ---- issue 8 point 2: every value an int64 of micro-units holds, and nothing past it (no wrap
 * around, no value landing on the empty marker INT64_MIN) ---- */
static const char *parsed(col_type type, const char *s, int64_t *v)
{
    column c;
    cell out = {.i = 12345};
    column_init(&c, "x", type);
    const char *why = column_parse(&c, s, strlen(s), &out, NULL);
    column_free(&c);
    *v = out.i;
    return why;
}

#define CHECK_VALUE(type, text, want)                                                              \
    do {                                                                                           \
        int64_t v_;                                                                                \
        const char *why_ = parsed(type, text, &v_);                                                \
        if (why_) fprintf(stderr, "%s: %s\n", text, why_);                                         \
        CHECK(why_ == NULL);                                                                       \
        CHECK_INT(v_, want);                                                                       \
    } while (0)

#define CHECK_REFUSED(type, text, reason)                                                          \
    do {                                                                                           \
        int64_t v_;                                                                                \
        CHECK_CONTAINS(parsed(type, text, &v_), reason);                                           \
    } while (0)

static void test_numeric_ranges(void)
{
    const char *dec_range = "out of range: a decimal goes from -9223372036854.775807 to 9223372036854.775807";
    CHECK_VALUE(COL_DECIMAL, "9000000000000", 9000000000000000000LL);
    CHECK_VALUE(COL_DECIMAL, "9223372036854", 9223372036854000000LL);
    CHECK_VALUE(COL_DECIMAL, "9223372036854.775807", INT64_MAX);
    CHECK_VALUE(COL_DECIMAL, "-9223372036854.775807", -INT64_MAX);
    CHECK_VALUE(COL_DECIMAL, "+9223372036854.7758", 9223372036854775800LL);
    CHECK_VALUE(COL_DECIMAL, "0000000000000000000000000000001.5", 1500000);
    CHECK_VALUE(COL_DECIMAL, "-0.000000", 0);
    CHECK_REFUSED(COL_DECIMAL, "10000000000000", dec_range); /* was -8446744073709.6 */
    CHECK_REFUSED(COL_DECIMAL, "9223372036855", dec_range);
    CHECK_REFUSED(COL_DECIMAL, "9223372036854.775808", dec_range); /* was the empty marker */
    CHECK_REFUSED(COL_DECIMAL, "-9223372036854.775808", dec_range);
    CHECK_REFUSED(COL_DECIMAL, "-10000000000000", dec_range);
    CHECK_REFUSED(COL_DECIMAL, "89999999999999.5", dec_range);
    CHECK_REFUSED(COL_DECIMAL, "184467440737095516160000", dec_range); /* 2^64 * 10^4: no wrap either */
    CHECK_REFUSED(COL_DECIMAL, "99999999999999999999999999999999999999.9", dec_range);
    CHECK_REFUSED(COL_DECIMAL, "1.0000000", "more than 6 decimal places");
    CHECK_REFUSED(COL_DECIMAL, "1e5", "not a decimal number");

    const char *int_range = "out of range: an integer goes from -9223372036854775807 to 9223372036854775807";
    CHECK_VALUE(COL_INT, "9223372036854775807", INT64_MAX);
    CHECK_VALUE(COL_INT, "-9223372036854775807", -INT64_MAX);
    CHECK_VALUE(COL_INT, "000000000000000000000000042", 42);
    CHECK_VALUE(COL_INT, "-0", 0);
    CHECK_REFUSED(COL_INT, "-9223372036854775808", int_range); /* the empty marker: not "not an integer" */
    CHECK_REFUSED(COL_INT, "9223372036854775808", int_range);
    CHECK_REFUSED(COL_INT, "18446744073709551616", int_range); /* 2^64 */
    CHECK_REFUSED(COL_INT, "-99999999999999999999999", int_range);
    CHECK_REFUSED(COL_INT, "12a", "not an integer");
    CHECK_REFUSED(COL_INT, "-", "not an integer");
    CHECK_REFUSED(COL_INT, "99999999999999999999x", "not an integer");

    /* dates: four-digit years only, so no overflow and never the empty marker */
    CHECK_VALUE(COL_DATE, "0000-01-01", -719528);
    CHECK_VALUE(COL_DATE, "0000-02-29", -719528 + 59); /* year 0 is a leap year */
    CHECK_VALUE(COL_DATE, "9999-12-31", 2932896);
    CHECK_REFUSED(COL_DATE, "10000-01-01", "not a date");
    CHECK_REFUSED(COL_DATE, "-001-01-01", "not a date");
}

static void test_int(void)
{
    int64_t v = 0;
    CHECK_INT(parse_int64("42", 2, &v), 0);
    CHECK_INT(v, 42);
    CHECK_INT(parse_int64("-9223372036854775807", 20, &v), 0);
    CHECK_INT(v, -9223372036854775807LL);
    CHECK(parse_int64("9223372036854775808", 19, &v) != 0);
    CHECK_INT(parse_int64("+7", 2, &v), 0);
    CHECK_INT(v, 7);
    CHECK_INT(parse_int64("", 0, &v), -1);
    CHECK_INT(parse_int64("1.0", 3, &v), -1);
    CHECK_INT(parse_int64(" 1", 2, &v), -1);
}

static int32_t day(const char *s)
{
    int32_t d = -1;
    if (df_parse_date(s, strlen(s), &d) != 0) return INT32_MIN;
    return d;
}

static void test_dates(void)
{
    CHECK_INT(day("1970-01-01"), 0);
    CHECK_INT(day("1970-01-02"), 1);
    CHECK_INT(day("1969-12-31"), -1);
    CHECK_INT(day("2000-03-01") - day("2000-02-28"), 2); /* 2000 is a leap year */
    CHECK_INT(day("1900-03-01") - day("1900-02-28"), 1); /* 1900 is not */
    CHECK_INT(day("2026-11-01"), 20758); /* python: (date(2026,11,1) - date(1970,1,1)).days */
    CHECK_INT(day("2024-02-29") != INT32_MIN, 1);
    CHECK_INT(day("2023-02-29"), INT32_MIN);
    CHECK_INT(day("1900-02-29"), INT32_MIN);
    CHECK_INT(day("2026-04-31"), INT32_MIN);
    CHECK_INT(day("2026-13-01"), INT32_MIN);
    CHECK_INT(day("2026-00-10"), INT32_MIN);
    CHECK_INT(day("2026-1-01"), INT32_MIN);
    CHECK_INT(day("2026/01/01"), INT32_MIN);
    CHECK_INT(day("20260101"), INT32_MIN);
    char buf[16];
    int bad = 0;
    for (int32_t d = -719162; d <= 2932896; d += 7) { /* round trip over 0001-01-01 .. 9999-12-31 */
        df_format_date(d, buf);
        if (day(buf) != d) bad++;
    }
    CHECK_INT(bad, 0);
    df_format_date(day("2024-02-29"), buf);
    CHECK_STR(buf, "2024-02-29");
}

static void test_columns(void)
{
    column c;
    cell v;
    CHECK_INT(column_init(&c, "seg", COL_CATEGORY), 0);
    const char *vals[] = {"smb", "consumer", "smb", "", "enterprise", "consumer"};
    for (int i = 0; i < 6; i++) {
        CHECK(column_parse(&c, vals[i], strlen(vals[i]), &v, NULL) == NULL);
        CHECK_INT(column_append(&c, &v), 0);
    }
    CHECK_INT(c.n, 6);
    CHECK_INT(c.codes[0], c.codes[2]);
    CHECK_INT(c.codes[3], 0); /* empty text is code 0 */
    CHECK_INT(c.dict.n, 4);
    uint32_t perm[] = {5, 4, 3, 2, 1, 0};
    CHECK_INT(column_permute(&c, perm, 6), 0);
    size_t n;
    const char *s = column_text(&c, 1, &n);
    CHECK_MEM(s, n, "enterprise");
    column_free(&c);

    CHECK_INT(column_init(&c, "name", COL_TEXT), 0);
    const char *names[] = {"Ann", "", "José \"J\", Jr.", "line\nbreak"};
    for (int i = 0; i < 4; i++) {
        column_parse(&c, names[i], strlen(names[i]), &v, NULL);
        CHECK_INT(column_append(&c, &v), 0);
    }
    uint32_t p2[] = {3, 2, 1, 0};
    CHECK_INT(column_permute(&c, p2, 4), 0);
    s = column_text(&c, 0, &n);
    CHECK_MEM(s, n, "line\nbreak");
    s = column_text(&c, 2, &n);
    CHECK_INT(n, 0);
    s = column_text(&c, 1, &n);
    CHECK_MEM(s, n, "José \"J\", Jr.");
    column_free(&c);

    CHECK_INT(column_init(&c, "d", COL_DATE), 0);
    CHECK(column_parse(&c, "", 0, &v, NULL) == NULL);
    CHECK_INT(v.i, DF_NA_DATE);
    CHECK_CONTAINS(column_parse(&c, "31/12/2026", 10, &v, NULL), "YYYY-MM-DD");
    column_free(&c);
    CHECK_INT(column_init(&c, "x", COL_DECIMAL), 0);
    CHECK(column_parse(&c, "", 0, &v, NULL) == NULL);
    CHECK_INT(v.i, DF_NA_I64);
    CHECK(column_parse(&c, "49.90", 5, &v, NULL) == NULL);
    CHECK_INT(v.i, 49900000);
    column_free(&c);
}

static void test_strmap(void)
{
    strmap m;
    CHECK_INT(strmap_init(&m), 0);
    int added;
    char key[32];
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, i % 3 ? "C%07d" : "customer-number-%d", i);
        if (strmap_intern(&m, key, (size_t)n, &added) != i || !added) bad++;
    }
    CHECK_INT(bad, 0);
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, i % 3 ? "C%07d" : "customer-number-%d", i);
        if (strmap_find(&m, key, (size_t)n) != i || strmap_intern(&m, key, (size_t)n, &added) != i || added) bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(strmap_find(&m, "C0000001x", 9), -1);
    CHECK_INT(strmap_find(&m, "C000000", 7), -1);
    CHECK_INT(strmap_find(&m, "", 0), -1);
    int64_t e = strmap_intern(&m, "", 0, &added);
    CHECK_INT(added, 1);
    CHECK_INT(strmap_find(&m, "", 0), e);
    int64_t z1 = strmap_intern(&m, "a\0b", 3, &added), z2 = strmap_intern(&m, "a\0c", 3, &added);
    CHECK(z1 != z2);
    CHECK_INT(strmap_find(&m, "a\0b", 3), z1);
    CHECK_INT(strmap_find(&m, "a", 1), -1);
    size_t n;
    const char *s = strmap_str(&m, 2, &n);
    CHECK_MEM(s, n, "C0000002");
    strmap_free(&m);
}

/* Keys around the 16 bytes kept in a slot: every length from 0 to 40 over the same bytes, each
 * changed at one position (before, at and after the 16th byte), zero bytes at the end, and two
 * keys past the 2^24-byte length a slot holds, told apart by their last byte and by length. */
static void test_strmap_lengths(void)
{
    strmap m;
    CHECK_INT(strmap_init(&m), 0);
    char base[41], k[41];
    for (int i = 0; i < 40; i++) base[i] = (char)('A' + i % 26);
    int added, bad = 0;
    int64_t id[41][41]; /* [length][changed position + 1, 0 = none] */
    for (int n = 0; n <= 40; n++)
        for (int p = 0; p <= n; p++) {
            memcpy(k, base, 40);
            if (p) k[p - 1] = '\0';
            id[n][p] = strmap_intern(&m, k, (size_t)n, &added);
            if (id[n][p] < 0 || !added) bad++;
        }
    CHECK_INT(bad, 0);
    for (int n = 0; n <= 40; n++)
        for (int p = 0; p <= n; p++) {
            memcpy(k, base, 40);
            if (p) k[p - 1] = '\0';
            size_t len;
            const char *s = strmap_str(&m, (uint32_t)id[n][p], &len);
            if (strmap_find(&m, k, (size_t)n) != id[n][p] || len != (size_t)n || memcmp(s, k, len) != 0) bad++;
        }
    CHECK_INT(bad, 0);
    size_t big = ((size_t)1 << 24) + 5;
    char *h = malloc(big + 1);
    CHECK(h != NULL);
    if (h) {
        memset(h, 'x', big + 1);
        int64_t a = strmap_intern(&m, h, big, &added);
        h[big - 1] = 'y';
        int64_t b = strmap_intern(&m, h, big, &added);
        int64_t c = strmap_intern(&m, h, big + 1, &added);
        CHECK(a >= 0 && b >= 0 && c >= 0 && a != b && b != c && a != c);
        CHECK_INT(strmap_find(&m, h, big), b);
        CHECK_INT(strmap_find(&m, h, big + 1), c);
        h[big - 1] = 'x';
        CHECK_INT(strmap_find(&m, h, big), a);
        CHECK_INT(strmap_find(&m, h, big - 1), -1);
        size_t len;
        strmap_str(&m, (uint32_t)c, &len);
        CHECK_INT(len, big + 1);
        free(h);
    }
    strmap_free(&m);
}

static void test_sha256(void)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m448, strlen(m448), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    sha256_hex(m896, strlen(m896), hex);
    CHECK_STR(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    sha256_hex(a, 1000000, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

int main(void)
{
    test_decimal();
    test_int();
    test_numeric_ranges();
    test_dates();
    test_columns();
    test_strmap();
    test_strmap_lengths();
    test_sha256();
    TEST_END();
}
