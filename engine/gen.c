/* gen.c: defector-gen, synthetic customer histories in the reference job's schema.
 *
 * Writes DIR/customers.csv.gz and DIR/events.csv.gz (temporary names, renamed at the end).
 * Deterministic for a seed (splitmix64, no libc rand). Histories are skewed to recent dates so
 * that every rule of rules/retention.lua fires for a fair share of customers; events are
 * written in shuffled blocks, not grouped by customer. --quirks adds what real exports do to
 * a loader: BOM, CRLF, reordered and extra columns, quotes and line breaks in fields, orphan
 * and future-dated events, empty fields, formula-like names. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "defector.h"

static uint64_t rng_state;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t below(uint32_t n) { return (uint32_t)((next_u64() >> 32) * n >> 32); }
static int chance(double p) { return (double)(next_u64() >> 11) * 0x1.0p-53 < p; }

/* ---- output: a gzip stream with its own buffer ---- */
static const char *line_end; /* --crlf: "\r\n" */
typedef struct out {
    gzFile gz;
    char *buf;
    size_t n, cap;
    const char *eol;
    char tmp[4096], final[4096];
} out;

static void flush_out(out *o)
{
    if (o->n && gzwrite(o->gz, o->buf, (unsigned)o->n) != (int)o->n) {
        fprintf(stderr, "defector-gen: write failed: %s\n", o->tmp);
        exit(1);
    }
    o->n = 0;
}
static void put(out *o, const char *s, size_t n)
{
    if (o->n + n > o->cap) flush_out(o);
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}
static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }
static void putc_(out *o, char c)
{
    if (o->n == o->cap) flush_out(o);
    o->buf[o->n++] = c;
}
static void put_uint(out *o, uint64_t v, int width)
{
    char b[24];
    int i = 24;
    do b[--i] = (char)('0' + v % 10), v /= 10;
    while (v || 24 - i < width);
    put(o, b + i, (size_t)(24 - i));
}
static void put_date(out *o, int32_t d)
{
    char b[11];
    df_format_date(d, b);
    put(o, b, 10);
}
/* a decimal with `dec` digits after the point, value = units / 10^dec */
static void put_dec(out *o, int64_t units, int dec, int plus)
{
    if (units < 0) putc_(o, '-'), units = -units;
    else if (plus) putc_(o, '+');
    uint64_t p = 1;
    for (int i = 0; i < dec; i++) p *= 10;
    put_uint(o, (uint64_t)units / p, 1);
    if (dec) putc_(o, '.'), put_uint(o, (uint64_t)units % p, dec);
}
/* a text field, quoted when needed */
static void put_text(out *o, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        puts_(o, s);
        return;
    }
    putc_(o, '"');
    for (; *s; s++) {
        if (*s == '"') putc_(o, '"');
        putc_(o, *s);
    }
    putc_(o, '"');
}

static void open_out(out *o, const char *dir, const char *name, int level, int quirks)
{
    snprintf(o->final, sizeof o->final, "%s/%s", dir, name);
    snprintf(o->tmp, sizeof o->tmp, "%s/.%s.tmp", dir, name);
    char mode[8];
    snprintf(mode, sizeof mode, "wb%d", level);
    o->gz = gzopen(o->tmp, mode);
    if (!o->gz) {
        fprintf(stderr, "defector-gen: cannot create %s: %s\n", o->tmp, strerror(errno));
        exit(1);
    }
    gzbuffer(o->gz, 1 << 20);
    o->cap = 1 << 20;
    o->buf = malloc(o->cap);
    o->n = 0;
    o->eol = quirks ? "\r\n" : line_end ? line_end : "\n";
    if (!o->buf) exit(1);
    if (quirks) puts_(o, "\xEF\xBB\xBF");
}

static void close_out(out *o)
{
    flush_out(o);
    if (gzclose(o->gz) != Z_OK || rename(o->tmp, o->final) != 0) {
        fprintf(stderr, "defector-gen: cannot finish %s\n", o->final);
        exit(1);
    }
    free(o->buf);
}

/* ---- the customers ---- */
static const char *FIRST[] = {"Ann", "Bob", "Chloé", "David", "Emma", "François", "Grace", "Hiro", "Ines", "José",
                              "Karl", "Lena", "Müller", "Nora", "Olu", "Priya", "Quinn", "Rosa", "Søren", "Tom",
                              "Uma", "Viktor", "Wei", "Xenia", "Yusuf", "Zoë"};
static const char *LAST[] = {"Smith", "O'Brien", "Nakamura", "García", "Kowalski", "Dubois", "Jensen", "Okafor",
                             "Rossi", "Schmidt", "Silva", "Nguyen", "Cohen", "Papadopoulos", "Ivanova", "Brown"};
static const char *COMPANY[] = {"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Hooli"};
static const char *SEGMENT[] = {"consumer", "consumer", "consumer", "smb", "smb", "enterprise"};
static const char *REGION[] = {"north", "south", "east", "west", "international"};
static const char *PLAN[] = {"basic", "plus", "pro", "premium"};
static const char *OWNER[] = {"alice", "bernard", "chen", "dana", "emeka", "fatima", "gustav", "hana"};
static const char *FIRST_KEY[] = {"ann", "bob", "chloe", "david", "emma", "francois", "grace", "hiro", "ines", "jose",
                                  "karl", "lena", "max", "nora", "olu", "priya", "quinn", "rosa", "soren", "tom",
                                  "uma", "viktor", "wei", "xenia", "yusuf", "zoe"};
static const char *LAST_KEY[] = {"smith", "obrien", "nakamura", "garcia", "kowalski", "dubois", "jensen", "okafor",
                                 "rossi", "schmidt", "silva", "nguyen", "cohen", "papadopoulos", "ivanova", "brown"};
static const char *FORMULA[] = {"=HYPERLINK(\"http://x\")", "@risk team", "-Smith", "+44 team", "=1+1"};

/* ---- keys: the same entity's key in both files, in one of the styles real exports use ---- */
enum { KEY_SHORT, KEY_PREFIXED, KEY_UUID, KEY_EMAIL };
static int key_style = KEY_SHORT;
static uint64_t key_seed;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The key of entity number k (1-based); orphan keys (orphan != 0) are of the same style, never
 * an entity's. No random draw: the data's other values do not depend on the style. */
static void key_of(char *b, size_t cap, uint32_t k, int orphan)
{
    static const char *PREFIX[] = {"K", "CUST-", "CRM-EU-", "ACCT-NA-26-"};
    switch (key_style) {
    case KEY_PREFIXED: /* 9 to 19 characters */
        snprintf(b, cap, "%s%s%08u", PREFIX[k % 4], orphan ? "X" : "", k);
        break;
    case KEY_UUID: { /* 36 characters, version 4 form; mix64 is a bijection: unique per k */
        uint64_t hi = mix64(((uint64_t)k << 1 | (orphan != 0)) ^ key_seed), lo = mix64(hi + 0x9E3779B97F4A7C15ull);
        snprintf(b, cap, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)(hi >> 16) & 0xffff,
                 (unsigned)hi & 0xfff, (unsigned)(0x8000 | (lo >> 48 & 0x3fff)), (unsigned long long)(lo & 0xffffffffffffull));
        break;
    }
    case KEY_EMAIL: /* 20 to 35 characters */
        snprintf(b, cap, "%s.%s.%u%s@example.com", FIRST_KEY[k % 26], LAST_KEY[(k / 26) % 16], k, orphan ? "x" : "");
        break;
    default: snprintf(b, cap, orphan ? "X%07u" : "C%07u", k);
    }
}

typedef struct cust {
    int32_t signup;
    uint8_t profile; /* bit 0 new, 1 complainer, 2 price hit, 3 unreturned, 4 promises, 5 detractor, 6 quiet, 7 cancelled */
} cust;

static void customer_name(char *b, size_t cap, uint32_t i, const char *seg, int quirks)
{
    if (quirks && i % 97 == 5) snprintf(b, cap, "%s", FORMULA[i % 5]);
    else if (quirks && i % 89 == 7) snprintf(b, cap, "%s \"%s\"\nLtd", COMPANY[i % 8], LAST[i % 16]);
    else if (strcmp(seg, "consumer") != 0) snprintf(b, cap, "%s, %s", COMPANY[below(8)], REGION[below(5)]);
    else snprintf(b, cap, "%s %s", FIRST[below(26)], LAST[below(16)]);
}

static void write_customers(const char *dir, uint32_t n, int32_t as_of, int level, int quirks, cust *cs)
{
    out o;
    open_out(&o, dir, "customers.csv.gz", level, quirks);
    if (quirks) puts_(&o, "plan,customer_id,monthly_fee,segment,source_system,name,signup_date,owner,renewal_date,region");
    else puts_(&o, "customer_id,name,segment,region,plan,signup_date,renewal_date,monthly_fee,owner");
    puts_(&o, o.eol);
    char name[256];
    for (uint32_t i = 0; i < n; i++) {
        cust *c = &cs[i];
        c->profile = 0;
        int32_t tenure = chance(0.12) ? (int32_t)below(120) : (int32_t)(90 + below(1400));
        c->signup = as_of - tenure;
        if (tenure < 90) c->profile |= 1;
        if (chance(0.15)) c->profile |= 2;
        if (chance(0.12)) c->profile |= 4;
        if (chance(0.15)) c->profile |= 8;
        if (chance(0.10)) c->profile |= 16;
        if (chance(0.15)) c->profile |= 32;
        if (chance(0.18) || ((c->profile & 1) && chance(0.4))) c->profile |= 64;
        if (chance(0.06)) c->profile |= 128;
        const char *seg = SEGMENT[below(6)];
        customer_name(name, sizeof name, i, seg, quirks);
        int has_renewal = !chance(0.25);
        int32_t renewal = as_of - 60 + (int32_t)below(460);
        int64_t fee_units; /* in 1/1000 */
        int fee_dec = (int)below(4);
        static const int64_t base[] = {9900, 19900, 29900, 49900, 99000, 149500, 1200500};
        fee_units = base[below(7)] + (int64_t)below(50) * 10;
        if (fee_dec == 3) fee_units += 5;      /* 49.905 */
        else fee_units -= fee_units % 10;      /* 49.90 */
        const char *owner = chance(0.1) ? "" : (quirks && i % 101 == 3) ? FORMULA[i % 5] : OWNER[below(8)];
        char idb[64];
        key_of(idb, sizeof idb, i + 1, 0);
        if (quirks) {
            puts_(&o, PLAN[below(4)]), putc_(&o, ','), puts_(&o, idb), putc_(&o, ',');
            put_dec(&o, fee_units, 3, 0);
            putc_(&o, ','), puts_(&o, seg), puts_(&o, ",crm-"), put_uint(&o, i % 7, 1), putc_(&o, ',');
            put_text(&o, name), putc_(&o, ','), put_date(&o, c->signup), putc_(&o, ','), put_text(&o, owner), putc_(&o, ',');
            if (has_renewal) put_date(&o, renewal);
            putc_(&o, ','), puts_(&o, REGION[below(5)]);
        } else {
            puts_(&o, idb), putc_(&o, ','), put_text(&o, name), putc_(&o, ','), puts_(&o, seg), putc_(&o, ',');
            puts_(&o, REGION[below(5)]), putc_(&o, ','), puts_(&o, PLAN[below(4)]), putc_(&o, ',');
            put_date(&o, c->signup), putc_(&o, ',');
            if (has_renewal) put_date(&o, renewal);
            putc_(&o, ',');
            /* the same money written several ways: 49.9, 49.90, 49.905, 99 */
            if (fee_units % 1000 == 0) put_dec(&o, fee_units / 1000, 0, 0);
            else if (fee_units % 100 == 0 && chance(0.5)) put_dec(&o, fee_units / 100, 1, 0);
            else if (fee_units % 10 == 0) put_dec(&o, fee_units / 10, 2, 0);
            else put_dec(&o, fee_units, 3, 0);
            putc_(&o, ','), put_text(&o, owner);
        }
        puts_(&o, o.eol);
    }
    close_out(&o);
}

/* ---- the events ---- */
enum { PURCHASE, RENEWAL, LOGIN, TICKET, COMPLAINT, PRICE, VOICEMAIL, CALLBACK, NPS, PMADE, PKEPT, CANCEL, OTHER, NPS_LOW };
static const char *TYPE[] = {"purchase", "renewal", "login", "support_ticket", "complaint", "price_change",
                             "voicemail", "callback", "nps", "promise_made", "promise_kept", "cancel", "webinar", "nps"};
static const char *CHANNEL[] = {"phone", "email", "web", "chat", ""};
static const char *NOTE[] = {"", "", "", "called about invoice", "wants a discount, \"urgent\"",
                             "line one\nline two", "see ticket #42, #43", "follow up next week"};

typedef struct ev {
    uint32_t cust; /* 0-based; UINT32_MAX - k: orphan */
    int32_t date;
    uint8_t type;
    uint32_t seq; /* by date: the order planned in, for ties */
} ev;

/* A date in the customer's life, skewed to recent. */
static int32_t when(const cust *c, int32_t as_of, int32_t recent)
{
    int32_t span = as_of - c->signup;
    if (span <= 0) return as_of;
    if (recent && chance(0.7)) {
        int32_t r = recent < span ? recent : span;
        return as_of - (int32_t)below((uint32_t)r + 1);
    }
    return c->signup + (int32_t)below((uint32_t)span + 1);
}

/* --plant DAYS: planted truth for the backtest. The history ends at --as-of (P); each customer
 * cancels on a day in (P, P + DAYS] with a probability that is the sum of a base and a known
 * propensity per condition of rules/retention.lua that holds at P (PLANTED below, in falling
 * order: the backtest must find the rules' lifts in that order). No cancel before P; every
 * price change is an increase. */
static int32_t plant_days;
static const double PLANT_BASE = 0.02;
static const double PLANTED[] = {0.40 /* complaints */, 0.25 /* price_increase */, 0.12 /* calls_unreturned */,
                                 0.06 /* inactive */};

static int is_activity(uint8_t t)
{
    return t == PURCHASE || t == RENEWAL || t == LOGIN || t == TICKET || t == CALLBACK || t == NPS || t == NPS_LOW;
}

/* The planted conditions at as_of over the customer's events e[0..k), as the rules read them
 * (a window of D days: dated after as_of - D). */
static double planted_probability(const cust *c, int32_t as_of, const ev *e, size_t k)
{
    int complaints = 0, price = 0, voicemails = 0, callbacks = 0;
    int32_t last = c->signup;
    for (size_t j = 0; j < k; j++) {
        int32_t d = e[j].date;
        if (e[j].type == COMPLAINT && d > as_of - 90) complaints++;
        if (e[j].type == PRICE && d > as_of - 90) price = 1;
        if (e[j].type == VOICEMAIL && d > as_of - 60) voicemails++;
        if (e[j].type == CALLBACK && d > as_of - 60) callbacks++;
        if (is_activity(e[j].type) && d > last) last = d;
    }
    int holds[] = {complaints >= 2, price, voicemails > callbacks, as_of - last > 60};
    double p = PLANT_BASE;
    for (int r = 0; r < 4; r++) p += holds[r] ? PLANTED[r] : 0;
    return p;
}

static size_t plan_events(const cust *c, uint32_t i, int32_t as_of, double avg, ev *e)
{
    size_t k = 0;
    uint32_t n = (uint32_t)(avg * 0.5) + below((uint32_t)(avg + 1));
    int quiet = c->profile & 64;
    for (uint32_t j = 0; j < n && k < 200; j++) {
        static const uint8_t mix[] = {PURCHASE, PURCHASE, LOGIN, LOGIN, LOGIN, LOGIN, TICKET, RENEWAL, NPS, CALLBACK, OTHER};
        uint8_t t = mix[below(sizeof mix)];
        int32_t d = when(c, as_of, quiet ? 0 : 120);
        if (quiet) d = c->signup + (int32_t)below((uint32_t)((as_of - 61 - c->signup) > 0 ? as_of - 61 - c->signup : 1));
        if (d < c->signup) d = c->signup;
        e[k++] = (ev){i, d, t, 0};
    }
    if (c->profile & 2) for (int j = 0; j < 2 + (int)below(3); j++) e[k++] = (ev){i, when(c, as_of, 100), COMPLAINT, 0};
    if (c->profile & 4) e[k++] = (ev){i, when(c, as_of, 120), PRICE, 0};
    if (c->profile & 8) {
        for (int j = 0; j < 1 + (int)below(3); j++) e[k++] = (ev){i, when(c, as_of, 70), VOICEMAIL, 0};
        if (chance(0.3)) e[k++] = (ev){i, when(c, as_of, 70), CALLBACK, 0};
    }
    if (c->profile & 16) {
        for (int j = 0; j < 1 + (int)below(3); j++) e[k++] = (ev){i, when(c, as_of, 200), PMADE, 0};
        if (chance(0.5)) e[k++] = (ev){i, when(c, as_of, 200), PKEPT, 0};
    }
    if (c->profile & 32) e[k++] = (ev){i, when(c, as_of, 150), NPS_LOW, 0};
    if ((c->profile & 128) && !plant_days) e[k++] = (ev){i, when(c, as_of, 300), CANCEL, 0};
    if (plant_days && chance(planted_probability(c, as_of, e, k)))
        e[k++] = (ev){i, as_of + 1 + (int32_t)below((uint32_t)plant_days), CANCEL, 0};
    return k;
}

static void write_event(out *o, const ev *e, int quirks, uint32_t n_cust)
{
    char idb[64];
    if (e->cust >= n_cust) key_of(idb, sizeof idb, UINT32_MAX - e->cust, 1);
    else key_of(idb, sizeof idb, e->cust + 1, 0);
    const char *ch = CHANNEL[below(5)];
    const char *note = NOTE[below(8)];
    /* amount */
    char amt[32] = "";
    out a = {.buf = amt, .cap = sizeof amt};
    if (e->type == PURCHASE) put_dec(&a, 500 + (int64_t)below(50000), 2, 0);
    else if (e->type == PRICE) put_dec(&a, plant_days || chance(0.75) ? 100 + (int64_t)below(1000) : -(int64_t)(50 + below(300)), 2, 1);
    else if (e->type == NPS && !chance(0.05)) put_dec(&a, 6 + (int64_t)below(5), 0, 0); /* mostly promoters */
    else if (e->type == NPS_LOW && !chance(0.05)) put_dec(&a, (int64_t)below(7), 0, 0);
    amt[a.n] = 0;
    if (quirks) { /* event_type,amount,customer_id,extra_note,event_date,channel,note */
        puts_(o, TYPE[e->type]), putc_(o, ','), puts_(o, amt), putc_(o, ','), puts_(o, idb);
        puts_(o, ",x,"), put_date(o, e->date), putc_(o, ','), puts_(o, ch), putc_(o, ','), put_text(o, note);
    } else {
        puts_(o, idb), putc_(o, ','), put_date(o, e->date), putc_(o, ','), puts_(o, TYPE[e->type]), putc_(o, ',');
        puts_(o, amt), putc_(o, ','), puts_(o, ch), putc_(o, ','), put_text(o, note);
    }
    puts_(o, o->eol);
}

/* The order of the history rows: shuffled within blocks of 4096 customers (the default), by
 * date over the whole file (as exports usually are: no two rows of a customer near each other),
 * or grouped by customer. */
enum { ORDER_SHUFFLED, ORDER_DATE, ORDER_CUSTOMER };

static int cmp_date(const void *a, const void *b)
{
    const ev *x = a, *y = b;
    if (x->date != y->date) return x->date < y->date ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq); /* the order they were planned in: deterministic */
}

/* One block's events planned into buf (which has room); returns how many. */
static size_t plan_block(const cust *cs, uint32_t b, uint32_t n, int32_t as_of, double avg, int quirks, ev *buf)
{
    size_t k = 0;
    for (uint32_t i = b; i < n && i < b + 4096; i++) {
        k += plan_events(&cs[i], i, as_of, avg, buf + k);
        if (quirks && chance(0.01)) buf[k++] = (ev){UINT32_MAX - i, as_of - (int32_t)below(100), LOGIN, 0}; /* orphan */
        if (quirks && chance(0.01)) buf[k++] = (ev){i, as_of + 1 + (int32_t)below(30), COMPLAINT, 0};    /* future */
    }
    return k;
}

static void shuffle(ev *buf, size_t k)
{
    for (size_t j = k; j > 1; j--) { /* Fisher-Yates */
        size_t r = below((uint32_t)j);
        ev t = buf[j - 1];
        buf[j - 1] = buf[r], buf[r] = t;
    }
}

static uint64_t write_events(const char *dir, const cust *cs, uint32_t n, int32_t as_of, double avg, int level, int quirks,
                             int order)
{
    out o;
    open_out(&o, dir, "events.csv.gz", level, quirks);
    puts_(&o, quirks ? "event_type,amount,customer_id,extra_note,event_date,channel,note" : "customer_id,event_date,event_type,amount,channel,note");
    puts_(&o, o.eol);
    /* customers are taken in blocks of 4096; by date, every block's events are kept and sorted */
    size_t per_block = (size_t)(4096 * (avg * 2 + 220)), cap = per_block, k = 0;
    ev *buf = malloc(sizeof *buf * cap);
    if (!buf) exit(1);
    uint64_t total = 0;
    for (uint32_t b = 0; b < n; b += 4096) {
        if (order == ORDER_DATE && cap - k < per_block) {
            ev *nb = realloc(buf, sizeof *buf * (cap *= 2));
            if (!nb) fputs("defector-gen: out of memory\n", stderr), exit(1);
            buf = nb;
        }
        size_t first = order == ORDER_DATE ? k : 0;
        k = first + plan_block(cs, b, n, as_of, avg, quirks, buf + first);
        if (order == ORDER_DATE) continue;
        if (order == ORDER_SHUFFLED) shuffle(buf, k);
        for (size_t j = 0; j < k; j++) {
            write_event(&o, &buf[j], quirks, n);
            if (quirks && j == k / 2 && b == 0) puts_(&o, o.eol); /* a blank line */
        }
        total += k;
    }
    if (order == ORDER_DATE) {
        for (size_t j = 0; j < k; j++) buf[j].seq = (uint32_t)j;
        qsort(buf, k, sizeof *buf, cmp_date);
        for (size_t j = 0; j < k; j++) write_event(&o, &buf[j], quirks, n);
        total = k;
    }
    free(buf);
    close_out(&o);
    return total;
}

static const char *USAGE =
    "usage: defector-gen --customers N --out DIR [--seed S] [--as-of YYYY-MM-DD]\n"
    "                    [--events-per-customer AVG] [--quirks] [--level 0-9]\n"
    "                    [--keys short|prefixed|uuid|email] [--order shuffled|date|customer] [--crlf]\n"
    "                    [--plant DAYS]\n"
    "\n"
    "Writes DIR/customers.csv.gz and DIR/events.csv.gz in the reference job's schema:\n"
    "deterministic for a seed, histories skewed so that every rule fires for some customers.\n"
    "  --quirks  BOM, CRLF, reordered and extra columns, quotes and line breaks in fields,\n"
    "            orphan and future-dated events, empty fields, formula-like names\n"
    "  --level   gzip level (default 1: fast; exports usually come at 6)\n"
    "  --keys    customer keys: short (C0000001, the default), prefixed (9 to 19 characters:\n"
    "            K00000001, CUST-00000002, CRM-EU-00000003, ACCT-NA-26-00000004), uuid (36),\n"
    "            email (ann.smith.1@example.com)\n"
    "  --order   events shuffled within blocks of 4096 customers (the default), in date\n"
    "            order over the whole file (as exports usually are), or grouped by customer\n"
    "  --crlf    CRLF line ends (without the other quirks)\n"
    "  --plant   planted truth for `defector backtest`: the history ends at --as-of, and each\n"
    "            customer cancels within DAYS days after it with probability 2% plus 40% when\n"
    "            complaints (2+ in 90 days), 25% price increase (90 days), 12% calls unreturned\n"
    "            (voicemails > callbacks, 60 days), 6% inactive (no activity in 60 days) hold\n"
    "            at --as-of (rules/retention.lua's conditions)\n";

static int option_index(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

int main(int argc, char **argv)
{
    long n = -1, level = 1;
    uint64_t seed = 1;
    double avg = 20;
    const char *dir = NULL;
    int quirks = 0, crlf = 0, order = ORDER_SHUFFLED;
    static const char *const KEYS[] = {"short", "prefixed", "uuid", "email"}, *const ORDERS[] = {"shuffled", "date", "customer"};
    int32_t as_of;
    df_parse_date("2026-11-01", 10, &as_of);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) return fputs(USAGE, stdout), 0;
        if (!strcmp(a, "--version")) return printf("defector-gen %s\n", DF_VERSION), 0;
        if (!strcmp(a, "--quirks")) { quirks = 1; continue; }
        if (!strcmp(a, "--crlf")) { crlf = 1; continue; }
        if (!v) return fprintf(stderr, "defector-gen: %s needs a value\n%s", a, USAGE), 2;
        i++;
        if (!strcmp(a, "--customers")) n = strtol(v, NULL, 10);
        else if (!strcmp(a, "--out")) dir = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--level")) level = strtol(v, NULL, 10);
        else if (!strcmp(a, "--events-per-customer")) avg = strtod(v, NULL);
        else if (!strcmp(a, "--plant")) {
            plant_days = (int32_t)strtol(v, NULL, 10);
            if (plant_days < 1 || plant_days > 3660) return fprintf(stderr, "defector-gen: --plant %s: a number of days from 1 to 3660\n", v), 2;
        }
        else if (!strcmp(a, "--keys")) {
            if ((key_style = option_index(v, KEYS, 4)) < 0) return fprintf(stderr, "defector-gen: --keys %s: use short, prefixed, uuid or email\n", v), 2;
        } else if (!strcmp(a, "--order")) {
            if ((order = option_index(v, ORDERS, 3)) < 0) return fprintf(stderr, "defector-gen: --order %s: use shuffled, date or customer\n", v), 2;
        }
        else if (!strcmp(a, "--as-of")) {
            if (df_parse_date(v, strlen(v), &as_of) != 0) return fprintf(stderr, "defector-gen: bad --as-of %s\n", v), 2;
        } else return fprintf(stderr, "defector-gen: unknown option %s\n%s", a, USAGE), 2;
    }
    if (n < 1 || n > 100000000 || !dir || level < 0 || level > 9 || avg < 0 || avg > 500)
        return fputs(USAGE, stderr), 2;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) { /* mkdir -p */
        if (*p != '/') continue;
        *p = 0;
        mkdir(tmp, 0777);
        *p = '/';
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fprintf(stderr, "defector-gen: cannot create %s: %s\n", dir, strerror(errno)), 1;
    rng_state = seed;
    key_seed = mix64(seed ^ 0x6b65797300000000ull);
    line_end = crlf ? "\r\n" : NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cust *cs = malloc(sizeof *cs * (size_t)n);
    if (!cs) return fputs("defector-gen: out of memory\n", stderr), 1;
    write_customers(dir, (uint32_t)n, as_of, (int)level, quirks, cs);
    uint64_t ne = write_events(dir, cs, (uint32_t)n, as_of, avg, (int)level, quirks, order);
    free(cs);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "defector-gen: %ld customers, %llu events in %s (%.1f s)\n", n, (unsigned long long)ne, dir,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return 0;
}
