/* test_models.c: the customer models' C functions (engine/models.c) against the published
 * numbers of tests/data/cdnow/EXPECTED.md: the BG/NBD and Gamma-Gamma fits on lifetimes' CDNOW
 * summary (weeks, 2 decimals), every BG/NBD prediction listed there at the parameters its
 * source used, to that source's tolerance, and the extreme customer that must give 0, not NaN.
 * The same numbers through the engine on the transaction log: tests/scripts/models.sh. */
#include <math.h>

#include "models.h"
#include "test.h"

static int near(double got, double want, double tol, const char *what)
{
    test_checks++;
    if (fabs(got - want) <= tol) return 1;
    test_failures++;
    fprintf(stderr, "%s = %.10g, expected %.10g (tolerance %g)\n", what, got, want, tol);
    return 0;
}

static int rel(double got, double want, double tol, const char *what) { return near(got, want, fabs(want) * tol, what); }

typedef struct summary {
    int32_t x[3000];
    double tx[3000], T[3000], zbar[3000];
    int64_t n;
} summary;

static summary S;

static void load_summary(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/cdnow/cdnow_customers_summary_with_transactions.csv", getenv("TESTS_DIR"));
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[256];
    CHECK(fgets(line, sizeof line, f) != NULL); /* ID,x,t_x,T,zbar */
    int id;
    while (S.n < 3000 && fscanf(f, "%d,%d,%lf,%lf,%lf", &id, &S.x[S.n], &S.tx[S.n], &S.T[S.n], &S.zbar[S.n]) == 5) S.n++;
    fclose(f);
    CHECK_INT(S.n, 2357);
}

/* [CLVTools]/[BTYD]: r, alpha, a, b = 0.2426, 4.4137, 0.7929, 2.4259 within 0.1%, LL -9582.43. */
static void bgnbd_fit(void)
{
    df_bgnbd p;
    df_fit f;
    CHECK_INT(df_bgnbd_fit(S.x, S.tx, S.T, S.n, &p, &f), 0);
    rel(p.r, 0.2426, 1e-3, "r");
    rel(p.alpha, 4.4137, 1e-3, "alpha");
    rel(p.a, 0.7929, 1e-3, "a");
    rel(p.b, 2.4259, 1e-3, "b");
    near(f.ll, -9582.43, 0.01, "log-likelihood"); /* -9582.4256 with the file's 2-dp times (EXPECTED.md) */
    CHECK_INT(f.customers, 2357);
    CHECK(f.converged);
    CHECK(f.distinct < f.customers); /* compressed: the one-time buyers share (0, 0, T) */
    /* [L-test] l.623-646: times x 10 (another unit), refitted: the same P(alive) at scaled inputs (1e-4) */
    static double tx10[3000], T10[3000];
    for (int64_t i = 0; i < S.n; i++) tx10[i] = S.tx[i] * 10, T10[i] = S.T[i] * 10;
    df_bgnbd p10;
    CHECK_INT(df_bgnbd_fit(S.x, tx10, T10, S.n, &p10, &f), 0);
    rel(p10.alpha, p.alpha * 10, 1e-3, "alpha in the unit / 10");
    for (int64_t i = 0; i < S.n; i += 7)
        near(df_bgnbd_p_alive(&p10, S.x[i], tx10[i], T10[i]), df_bgnbd_p_alive(&p, S.x[i], S.tx[i], S.T[i]), 1e-4, "P(alive), times x 10");
}

/* [L-test] l.169-179: p, q, v = 6.25, 3.74, 15.44 to 2 decimals on the 946 repeat customers
 * (numpy's decimal=2: |difference| < 1.5e-2; lifetimes' Quickstart prints v = 15.45). */
static void gg_fit(void)
{
    df_gg p;
    df_fit f;
    CHECK_INT(df_gg_fit(S.x, S.zbar, S.n, &p, &f), 0);
    CHECK_INT(f.customers, 946);
    near(p.p, 6.25, 0.015, "p");
    near(p.q, 3.74, 0.015, "q");
    near(p.v, 15.44, 0.015, "v");
    /* [L-test] l.181-192: conditional expected average profit of the first 10 customers (atol 0.1) */
    static const double want[10] = {24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17};
    for (int i = 0; i < 10; i++) near(df_gg_spend(&p, S.x[i], S.x[i] > 0 ? S.zbar[i] : NAN), want[i], 0.1, "expected spend");
}

static void predictions(void)
{
    df_bgnbd L = {0.242593, 4.413532, 0.792886, 2.425752};     /* [L-doc] */
    df_bgnbd B = {0.2425982, 4.4136842, 0.7929899, 2.4261667}; /* [BTYD] */
    df_bgnbd M = {0.243, 4.414, 0.793, 2.426};                 /* [L-test] l.591-621 */
    near(df_bgnbd_expected(&L, 2, 30.43, 38.86, 39), 1.226, 0.001, "E[Y(39)] Hardie sheet");
    static const double t[6] = {0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00};
    static const double ex[6] = {0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576};
    for (int i = 0; i < 6; i++) near(df_bgnbd_expected_new(&L, t[i]), ex[i], 0.0015, "E[X(t)]"); /* decimal=3 */
    CHECK(df_bgnbd_p_alive(&L, 0, 1, 1) == 1.0);
    for (int x = 0; x <= 90; x += 10)
        for (int tx = 0; tx <= 90; tx += 10)
            for (int T = tx; T <= 90; T += 10) {
                double pa = df_bgnbd_p_alive(&L, x, tx, T);
                CHECK(pa >= 0 && pa <= 1);
            }
    double extreme = df_bgnbd_p_alive(&L, 1000, 10, 100);
    CHECK(extreme == 0.0);
    double e = df_bgnbd_expected(&L, 1000, 10, 100, 52);
    CHECK(isfinite(e) && e >= 0 && e < 1e-100);
    near(df_bgnbd_prob_n(&M, 2, 10), 1.07869e-07, 1e-4, "P(X(2)=10)");
    near(df_bgnbd_prob_n(&M, 39, 0), 0.5737864, 1e-4, "P(X(39)=0)");
    static const double pn[10] = {0.0019995214, 0.0015170236, 0.0011633150, 0.0009003148, 0.0007023638,
                                  0.0005517902, 0.0004361913, 0.0003467171, 0.0002769613, 0.0002222260};
    for (int n = 11; n <= 20; n++) near(df_bgnbd_prob_n(&M, 30, n), pn[n - 11], 1.5e-5, "P(X(30)=n)");
    /* [L-doc] top 5 by t=1 (printed to 6 decimals) */
    static const double q[5][4] = {{18, 35.14, 35.86, 0.424877}, {19, 34.00, 34.14, 0.474738}, {17, 28.43, 28.86, 0.486526},
                                   {29, 37.71, 38.00, 0.662396}, {26, 30.86, 31.00, 0.710623}};
    for (int i = 0; i < 5; i++) near(df_bgnbd_expected(&L, q[i][0], q[i][1], q[i][2], 1), q[i][3], 1e-6, "Quickstart t=1");
    /* [BTYD] walkthrough (7 significant digits printed) */
    rel(df_bgnbd_expected_new(&B, 52), 1.444004, 1e-6, "Expectation(52)");
    rel(df_bgnbd_expected(&B, 26, 30.85714, 31, 52), 25.75659, 5e-6, "1516 E(52)");
    rel(df_bgnbd_p_alive(&B, 26, 30.85714, 31), 0.9688523, 5e-7, "1516 P(alive)");
    static const double px[4][2] = {{10, 0.3474606}, {15, 0.04283391}, {20, 0.004158973}, {25, 0.0003583685}};
    /* the printed values are those of BTYD's own 2F1, 5.4e-6 from the series summed in long
     * double for x = 25 (0.0003583704401): 1e-5 relative */
    for (int i = 0; i < 4; i++) rel(df_bgnbd_expected(&B, px[i][0], 20, 39, 52), px[i][1], 1e-5, "paradox");
    /* [pymc-m] per-customer log-likelihood (decimal=5), x = 200 included */
    df_bgnbd P = {0.25, 4.00, 0.80, 2.50};
    near(df_bgnbd_ll(&P, 0, 0, 40), -0.59947382, 1e-5, "logp x=0");
    near(df_bgnbd_ll(&P, 200, 38, 40), 100.7957, 1e-5, "logp x=200");
}

/* [L-doc]: CLV for IDs 1..10 with lifetimes' defaults (time=12 months, discount 0.01, freq "D":
 * 30 units a month) at the BG/NBD and Gamma-Gamma refit on this file. */
static void clv(void)
{
    df_bgnbd b;
    df_gg g;
    df_fit f;
    CHECK_INT(df_bgnbd_fit(S.x, S.tx, S.T, S.n, &b, &f), 0);
    CHECK_INT(df_gg_fit(S.x, S.zbar, S.n, &g, &f), 0);
    static const double want[10] = {140.096211, 18.943467, 38.180574, 38.180574, 38.180574, 1003.868107, 28.109683, 38.180574,
                                    167.418216, 38.180574};
    for (int i = 0; i < 10; i++) {
        double s = df_gg_spend(&g, S.x[i], S.x[i] > 0 ? S.zbar[i] : NAN);
        rel(df_clv(&b, S.x[i], S.tx[i], S.T[i], s, 12, 30, 0.01), want[i], 2e-3, "CLV");
    }
}

static void hypergeometric(void)
{
    near(df_hyp2f1(1, 1, 2, 0.5), -log(0.5) / 0.5, 1e-14, "2F1(1,1;2;.5)");
    near(df_hyp2f1(0.5, 1, 1.5, 0.25), atanh(0.5) / 0.5, 1e-14, "2F1(.5,1;1.5;.25)");
    near(df_digamma(1), -0.5772156649015329, 1e-13, "digamma(1)");
}

int main(void)
{
    load_summary();
    hypergeometric();
    predictions();
    if (S.n == 2357) bgnbd_fit(), gg_fit(), clv();
    TEST_END();
}
