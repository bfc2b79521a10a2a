/* models.c: customer models over a history of purchases (docs/rules.md, "Customer models").
 *   - the inputs: per customer, the repeat purchase days x (distinct purchase days - 1, as
 *     BTYD and lifetimes count them), the first and last purchase day, the purchase days after
 *     the calibration end (holdout) and the mean spend of the repeat days;
 *   - BG/NBD (Fader, Hardie & Lee 2005): log-likelihood, its maximum over the customers (BFGS
 *     with the analytic gradient on log-parameters; the customers compressed to distinct
 *     (x, t_x, T) with counts, the terms that depend on x alone computed once per x), P(alive),
 *     conditional and unconditional expected purchases (2F1 by its series after Euler's
 *     transformation, which keeps it finite for any x), P(X(t) = n);
 *   - Gamma-Gamma (Fader, Hardie & Lee 2005b): the fit on the repeat customers' mean spend, the
 *     expected mean spend, and the lifetime value as lifetimes' customer_lifetime_value sums it.
 * Every formula works on logarithms where a power could overflow: P(alive) of a customer with a
 * thousand purchases long ago is 0, never NaN. Results depend only on the customers' values in
 * their order (no threads here), so they are the same whatever --threads. */
#define _DEFAULT_SOURCE /* lgamma_r: lgamma sets the global signgam, a race between scoring threads */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"

#define NA_DATE INT32_MIN
#define NA_I64 INT64_MIN
#define LOG_MAX 18.0 /* log-parameters stay within +-18 (e^18 = 6.6e7: past it, a model parameter is infinite in effect) */
#define SAMPLE_FROM 50000 /* customers from which a fit starts on a sample of them */
#define SAMPLE_STRIDE 16  /* the sample: every 16th customer */

static double lgam(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

double df_digamma(double x)
{
    double r = 0;
    while (x < 10) r -= 1 / x, x += 1;
    double f = 1 / (x * x);
    return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

/* ---------------------------------------------------------------------------------------- */
/* The inputs per customer. */

typedef struct day_amt {
    int32_t d;
    double amt;
} day_amt;

static int cmp_day(const void *a, const void *b)
{
    const day_amt *x = a, *y = b;
    return (x->d > y->d) - (x->d < y->d);
}

static void sort_days(day_amt *v, int64_t n)
{
    if (n > 24) return qsort(v, (size_t)n, sizeof *v, cmp_day);
    for (int64_t i = 1; i < n; i++) /* stable and fast for the few rows of most customers */
        for (int64_t j = i; j > 0 && v[j - 1].d > v[j].d; j--) {
            day_amt t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
}

/* One customer's sorted purchase rows into its out[i]. */
static void summarise(const df_rfm_spec *s, const day_amt *v, int64_t n, const df_rfm_out *out, uint64_t i)
{
    int32_t days = 0, hold = 0, first = NA_DATE, last = NA_DATE, prev = NA_DATE;
    double repeat_sum = 0;
    for (int64_t k = 0; k < n; k++) {
        int32_t d = v[k].d;
        int new_day = d != prev;
        prev = d;
        if (d > s->cal_end) {
            hold += new_day;
            continue;
        }
        if (new_day) days++, last = d;
        if (first == NA_DATE) first = d;
        if (d != first) repeat_sum += v[k].amt;
    }
    out->x[i] = days - 1;
    out->first[i] = first, out->last[i] = last, out->holdout[i] = hold;
    if (out->spend) out->spend[i] = days > 1 ? repeat_sum / (days - 1) : NAN;
}

int64_t df_rfm_run(const df_rfm_spec *s, uint64_t lo, uint64_t hi, const uint32_t *rows, int64_t nrows, df_rfm_out *out)
{
    const uint64_t *off = s->offsets;
    uint64_t most = 1;
    for (uint64_t e = lo; e < hi; e++)
        if (off[e + 1] - off[e] > most) most = off[e + 1] - off[e];
    day_amt *v = malloc(most * sizeof *v);
    if (!v) return -1;
    int64_t j = 0;
    for (uint64_t e = lo; e < hi; e++) {
        uint64_t end = off[e + 1] - off[lo];
        int64_t n = 0;
        for (; j < nrows && rows[j] < end; j++) {
            uint64_t row = off[lo] + rows[j];
            int32_t d = s->dates[row];
            if (d == NA_DATE || d > s->as_of) continue;
            double amt = 0;
            if (s->amounts) {
                if (s->amounts[row] == NA_I64) return free(v), (int64_t)(e - lo) + 1;
                amt = (double)s->amounts[row] / s->amount_scale;
            }
            v[n].d = d, v[n].amt = amt, n++;
        }
        sort_days(v, n);
        summarise(s, v, n, out, e - lo);
    }
    free(v);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* BG/NBD: predictions. */

/* log of a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x): P(alive) = 1 / (1 + e^this) for x > 0. */
static double log_dead_odds(const df_bgnbd *p, double x, double tx, double T)
{
    return log(p->a) - log(p->b + x - 1) + (p->r + x) * (log(p->alpha + T) - log(p->alpha + tx));
}

double df_bgnbd_p_alive(const df_bgnbd *p, double x, double tx, double T)
{
    if (x <= 0) return 1.0;
    double l = log_dead_odds(p, x, tx, T);
    if (l > 0) return exp(-l) / (1 + exp(-l)); /* exp(-l) underflows to 0: never inf / inf */
    return 1 / (1 + exp(l));
}

double df_hyp2f1(double a, double b, double c, double z)
{
    double term = 1, sum = 1;
    for (int n = 0; n < 10000000; n++) {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
        sum += term;
        if (term == 0 || (n > 4 && fabs(term) <= 1e-17 * fabs(sum))) break;
    }
    return sum;
}

/* a = 1 makes (a+b+x-1)/(a-1) 0/0 in the expectations; their limit is met just beside it. */
static double a_of(const df_bgnbd *p) { return fabs(p->a - 1) < 1e-9 ? 1 + 1e-9 : p->a; }

/* 1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), through Euler's transformation
 * 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z): (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
 * whose terms stay small for any x (the plain series' grow like ((b+x)z)^n / n!). */
static double one_minus_h(const df_bgnbd *p, double a, double x, double z)
{
    return 1 - pow(1 - z, a - 1) * df_hyp2f1(a + p->b - 1 - p->r, a - 1, a + p->b + x - 1, z);
}

double df_bgnbd_expected(const df_bgnbd *p, double x, double tx, double T, double t)
{
    if (t <= 0) return 0;
    double a = a_of(p), z = t / (p->alpha + T + t);
    return (a + p->b + x - 1) / (a - 1) * one_minus_h(p, a, x, z) * df_bgnbd_p_alive(p, x, tx, T);
}

double df_bgnbd_expected_new(const df_bgnbd *p, double t)
{
    if (t <= 0) return 0;
    double a = a_of(p), z = t / (p->alpha + t);
    return (a + p->b - 1) / (a - 1) * one_minus_h(p, a, 0, z);
}

static double lbeta(double a, double b) { return lgam(a) + lgam(b) - lgam(a + b); }

double df_bgnbd_prob_n(const df_bgnbd *p, double t, int32_t n)
{
    if (n < 0) return 0;
    if (t <= 0) return n == 0 ? 1.0 : 0.0;
    double r = p->r, lq = log(p->alpha / (p->alpha + t)), lz = log(t / (p->alpha + t)), lb = lbeta(p->a, p->b);
    double first = exp(lbeta(p->a, p->b + n) - lb + lgam(r + n) - lgam(r) - lgam(n + 1.0) + r * lq + n * lz);
    if (n == 0) return first;
    double sum = 0;
    for (int32_t j = 0; j < n; j++) sum += exp(lgam(r + j) - lgam(r) - lgam(j + 1.0) + j * lz + r * lq);
    return first + exp(lbeta(p->a + 1, p->b + n - 1) - lb) * (1 - sum);
}

double df_bgnbd_ll(const df_bgnbd *p, double x, double tx, double T)
{
    double r = p->r, al = p->alpha, a = p->a, b = p->b;
    double base = lgam(r + x) - lgam(r) + r * log(al) + lgam(b + x) - lgam(a + b + x) - lgam(b) + lgam(a + b);
    double c1 = -(r + x) * log(al + T);
    if (x <= 0) return base + c1;
    double d = log(a) - log(b + x - 1) - (r + x) * log(al + tx), m = c1 > d ? c1 : d;
    return base + m + log1p(exp(-fabs(c1 - d)));
}

/* ---------------------------------------------------------------------------------------- */
/* A minimiser: BFGS on at most 4 log-parameters with a backtracking line search. f returns
 * the objective and its gradient; a point where it is not finite is refused by the search. */

#define NP 4
typedef double (*objective)(void *ctx, const double *th, double *g);

static double maxabs(const double *g, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(g[i]) > m ? fabs(g[i]) : m;
    return m;
}

static void reset(double H[NP][NP], int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) H[i][j] = i == j;
}

/* H <- (I - rho s y') H (I - rho y s') + rho s s' */
static void bfgs_update(double H[NP][NP], const double *s, const double *y, int n)
{
    double sy = 0, Hy[NP] = {0}, yHy = 0;
    for (int i = 0; i < n; i++) sy += s[i] * y[i];
    if (!(sy > 1e-300)) return;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) Hy[i] += H[i][j] * y[j];
    for (int i = 0; i < n; i++) yHy += y[i] * Hy[i];
    double rho = 1 / sy;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            H[i][j] += rho * ((1 + rho * yHy) * s[i] * s[j] - Hy[i] * s[j] - s[i] * Hy[j]);
}

/* One line search along d from th (value f0, gradient g); the accepted point in tn, fn, gn. */
static int line_search(objective f, void *ctx, const double *th, double f0, const double *g, const double *d, int n,
                       double *tn, double *fn, double *gn)
{
    double slope = 0, step = 1, big = maxabs(d, n);
    for (int i = 0; i < n; i++) slope += g[i] * d[i];
    if (big > 4) step = 4 / big; /* at most a factor e^4 per parameter per step */
    for (int tries = 0; tries < 16; tries++, step *= 0.5) {
        for (int i = 0; i < n; i++) {
            tn[i] = th[i] + step * d[i];
            tn[i] = tn[i] > LOG_MAX ? LOG_MAX : tn[i] < -LOG_MAX ? -LOG_MAX : tn[i];
        }
        *fn = f(ctx, tn, gn);
        if (isfinite(*fn) && *fn <= f0 + 1e-4 * step * slope) return 1;
    }
    return 0;
}

/* Minimises f from th; 1 when the gradient vanished, 0 when it stopped otherwise: no descent
 * left, a plateau (three steps that gain nothing: a parameter running off to a bound, such as
 * a and b of a BG/NBD growing together when every customer has the same drop-out
 * probability), or the iterations spent. */
/* The gradient without the parameters held at a bound that it pushes outwards (they stay
 * there: the search goes on in the others). */
static void free_gradient(const double *th, const double *g, int n, double *gf)
{
    for (int i = 0; i < n; i++)
        gf[i] = (th[i] >= LOG_MAX && g[i] < 0) || (th[i] <= -LOG_MAX && g[i] > 0) ? 0 : g[i];
}

static int minimise(objective f, void *ctx, double *th, int n, double *fx, int *iters, double H[NP][NP], int warm)
{
    double g[NP], gf[NP], gn[NP], tn[NP], d[NP], s[NP], y[NP], fn;
    int fresh = !warm, it, flat = 0;
    if (!warm) reset(H, n);
    *fx = f(ctx, th, g);
    if (!isfinite(*fx)) return 0;
    for (it = 0; it < 200; it++) {
        free_gradient(th, g, n, gf);
        if (maxabs(gf, n) < 1e-10) break;
        for (int i = 0; i < n; i++) {
            d[i] = 0;
            for (int j = 0; j < n; j++) d[i] -= H[i][j] * gf[j];
        }
        for (int i = 0; i < n; i++) /* at a bound: no step out of it */
            if ((th[i] >= LOG_MAX && d[i] > 0) || (th[i] <= -LOG_MAX && d[i] < 0)) d[i] = 0;
        if (!line_search(f, ctx, th, *fx, g, d, n, tn, &fn, gn)) {
            if (fresh) break; /* no descent even along -g: at the minimum to working precision */
            reset(H, n), fresh = 1;
            continue;
        }
        for (int i = 0; i < n; i++) s[i] = tn[i] - th[i], y[i] = gn[i] - g[i], th[i] = tn[i], g[i] = gn[i];
        double before = *fx;
        *fx = fn, fresh = 0;
        bfgs_update(H, s, y, n);
        flat = before - fn <= 1e-10 * fabs(fn) ? flat + 1 : 0;
        if (flat >= 3) break;
    }
    *iters += it;
    for (int i = 0; i < n; i++)
        if (fabs(th[i]) >= LOG_MAX - 1) return 0; /* a parameter ran off: not a maximum of the likelihood */
    return maxabs(g, n) < 1e-6;
}

/* The fit: on a sample of the customers first when there are many (sub, else NULL), whose
 * optimum and curvature start the fit on all of them: a few steps instead of dozens over the
 * whole base. Without a sample, once more from a fresh curvature (a check that costs little on
 * a small base). */
static int fit_staged(objective f, void *full, void *sub, double *th, int n, double *fx, int *iters)
{
    double H[NP][NP];
    if (sub) {
        minimise(f, sub, th, n, fx, iters, H, 0);
        return minimise(f, full, th, n, fx, iters, H, 1);
    }
    minimise(f, full, th, n, fx, iters, H, 0);
    return minimise(f, full, th, n, fx, iters, H, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* BG/NBD: the fit over distinct (x, t_x, T). */

typedef struct triple {
    int32_t x, itx, iT; /* x, and t_x and T as indexes into the table of distinct times */
    double w;           /* customers */
} triple;

typedef struct bgdata {
    triple *t;
    int64_t nt;
    double *times, *ltab, *itab; /* distinct times; per evaluation log(alpha + t), 1/(alpha + t) */
    int64_t ntimes;
    double *wx, *lbx, *ibx; /* customers per x; per evaluation log(b + x - 1), 1/(b + x - 1) */
    int32_t maxx;
    double total;
} bgdata;

/* A hash of doubles or of (x, i, j) to a dense index: open addressing, keys kept by the caller. */
typedef struct hashmap {
    int64_t *slot; /* index + 1, 0 empty */
    uint64_t mask;
} hashmap;

static int hm_init(hashmap *h, int64_t n)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    h->slot = calloc(cap, sizeof *h->slot);
    h->mask = cap - 1;
    return h->slot ? 0 : -1;
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33, k *= 0xff51afd7ed558ccdULL, k ^= k >> 33, k *= 0xc4ceb9fe1a85ec53ULL;
    return k ^ (k >> 33);
}

static uint64_t bits_of(double v)
{
    uint64_t u;
    v = v == 0 ? 0 : v; /* -0 and 0 alike */
    memcpy(&u, &v, sizeof u);
    return u;
}

static int64_t time_index(hashmap *h, bgdata *D, double v)
{
    uint64_t i = mix(bits_of(v)) & h->mask;
    for (; h->slot[i]; i = (i + 1) & h->mask)
        if (D->times[h->slot[i] - 1] == v) return h->slot[i] - 1;
    D->times[D->ntimes] = v;
    h->slot[i] = ++D->ntimes;
    return D->ntimes - 1;
}

static void add_triple(hashmap *h, bgdata *D, int32_t x, int32_t itx, int32_t iT)
{
    uint64_t i = mix(((uint64_t)(uint32_t)x << 40) ^ ((uint64_t)(uint32_t)itx << 20) ^ (uint64_t)(uint32_t)iT * 0x9e3779b97f4a7c15ULL) & h->mask;
    for (; h->slot[i]; i = (i + 1) & h->mask) {
        triple *t = &D->t[h->slot[i] - 1];
        if (t->x == x && t->itx == itx && t->iT == iT) return (void)(t->w += 1);
    }
    D->t[D->nt] = (triple){x, itx, iT, 1};
    h->slot[i] = ++D->nt;
}

static void bgdata_free(bgdata *D)
{
    free(D->t), free(D->times), free(D->ltab), free(D->itab), free(D->wx), free(D->lbx), free(D->ibx);
}

static int compress(const int32_t *x, const double *tx, const double *T, int64_t n, int64_t stride, bgdata *D)
{
    hashmap ht = {0}, hx = {0};
    memset(D, 0, sizeof *D);
    for (int64_t i = 0; i < n; i++) D->maxx = x[i] > D->maxx ? x[i] : D->maxx;
    D->t = malloc((size_t)(n + 1) * sizeof *D->t);
    D->times = malloc((size_t)(2 * n + 1) * sizeof *D->times);
    D->wx = calloc((size_t)D->maxx + 1, sizeof *D->wx);
    D->lbx = malloc(((size_t)D->maxx + 1) * sizeof *D->lbx);
    D->ibx = malloc(((size_t)D->maxx + 1) * sizeof *D->ibx);
    int ok = D->t && D->times && D->wx && D->lbx && D->ibx && hm_init(&ht, 2 * n) == 0 && hm_init(&hx, n) == 0;
    for (int64_t i = 0; ok && i < n; i += stride) {
        if (x[i] < 0) continue; /* no purchase in the calibration: not in the model */
        int64_t a = time_index(&ht, D, tx[i]), b = time_index(&ht, D, T[i]);
        add_triple(&hx, D, x[i], (int32_t)a, (int32_t)b);
        D->wx[x[i]] += 1, D->total += 1;
    }
    free(ht.slot), free(hx.slot);
    if (ok) D->ltab = malloc((size_t)(D->ntimes + 1) * sizeof *D->ltab), D->itab = malloc((size_t)(D->ntimes + 1) * sizeof *D->itab);
    if (!ok || !D->ltab || !D->itab) return bgdata_free(D), -1;
    return 0;
}

/* The terms of x alone: sum over x of w_x (A + B) and their gradient. */
static double bg_x_terms(bgdata *D, double r, double al, double a, double b, double *g)
{
    double ll = 0, la = log(al), pr = df_digamma(r), pab = df_digamma(a + b), pb = df_digamma(b);
    double lr = lgam(r), lab = lgam(a + b), lb = lgam(b);
    for (int32_t x = 0; x <= D->maxx; x++) {
        D->lbx[x] = x > 0 ? log(b + x - 1) : 0, D->ibx[x] = x > 0 ? 1 / (b + x - 1) : 0;
        double w = D->wx[x];
        if (w == 0) continue;
        double pabx = df_digamma(a + b + x);
        ll += w * (lgam(r + x) - lr + r * la + lgam(b + x) - lgam(a + b + x) - lb + lab);
        g[0] += w * (df_digamma(r + x) - pr + la);
        g[1] += w * r / al;
        g[2] += w * (pab - pabx);
        g[3] += w * (df_digamma(b + x) - pabx - pb + pab);
    }
    return ll;
}

/* The optimiser's coordinates: log r, log alpha, logit a/(a+b), log(a+b). When every customer
 * has the same drop-out probability the likelihood grows as a and b grow together: along the
 * last coordinate alone, which runs to its bound in a few steps while the others converge. */
static df_bgnbd bg_params(const double *th)
{
    double m = 1 / (1 + exp(-th[2])), s = exp(th[3]);
    return (df_bgnbd){exp(th[0]), exp(th[1]), s * m, s * (1 - m)};
}

/* Minus the mean log-likelihood at th, and its gradient in th. */
static double bg_objective(void *ctx, const double *th, double *grad)
{
    bgdata *D = ctx;
    df_bgnbd P = bg_params(th);
    double r = P.r, al = P.alpha, a = P.a, b = P.b, la = log(a);
    double g[NP] = {0}, sa = 0, sb = 0;
    double ll = bg_x_terms(D, r, al, a, b, g);
    for (int64_t k = 0; k < D->ntimes; k++) D->ltab[k] = log(al + D->times[k]), D->itab[k] = 1 / (al + D->times[k]);
    for (int64_t k = 0; k < D->nt; k++) {
        const triple *t = &D->t[k];
        double rx = r + t->x, lT = D->ltab[t->iT], c1 = -rx * lT, w = t->w;
        if (t->x == 0) {
            ll += w * c1, g[0] -= w * lT, g[1] -= w * rx * D->itab[t->iT];
            continue;
        }
        double lt = D->ltab[t->itx], d = la - D->lbx[t->x] - rx * lt, diff = d - c1, e, lse, wd;
        if (diff > 0) e = exp(-diff), lse = d + log1p(e), wd = 1 / (1 + e);
        else e = exp(diff), lse = c1 + log1p(e), wd = e / (1 + e);
        double wc = 1 - wd;
        ll += w * lse;
        g[0] -= w * (wc * lT + wd * lt);
        g[1] -= w * rx * (wc * D->itab[t->iT] + wd * D->itab[t->itx]);
        sa += w * wd, sb += w * wd * D->ibx[t->x];
    }
    g[2] += sa / a, g[3] -= sb;
    double m = a / (a + b);
    grad[0] = -g[0] * r / D->total, grad[1] = -g[1] * al / D->total;
    grad[2] = -(a + b) * m * (1 - m) * (g[2] - g[3]) / D->total, grad[3] = -(a * g[2] + b * g[3]) / D->total;
    return -ll / D->total;
}

int df_bgnbd_fit(const int32_t *x, const double *tx, const double *T, int64_t n, df_bgnbd *p, df_fit *f)
{
    bgdata D, sub;
    memset(f, 0, sizeof *f);
    if (compress(x, tx, T, n, 1, &D) != 0) return -1;
    int sampled = n >= SAMPLE_FROM;
    if (sampled && compress(x, tx, T, n, SAMPLE_STRIDE, &sub) != 0) return bgdata_free(&D), -1;
    f->customers = (int64_t)D.total, f->distinct = D.nt;
    double meanT = 0;
    for (int64_t k = 0; k < D.nt; k++) meanT += D.t[k].w * D.times[D.t[k].iT];
    meanT = D.total > 0 && meanT > 0 ? meanT / D.total : 1;
    double th[NP] = {0, log(meanT), 0, log(2.0)}, fx = NAN; /* r = 1, alpha = mean T, a = b = 1 */
    if (D.total > 0) f->converged = fit_staged(bg_objective, &D, sampled && sub.total > 0 ? &sub : NULL, th, NP, &fx, &f->iterations);
    *p = bg_params(th);
    f->ll = -fx * D.total;
    bgdata_free(&D);
    if (sampled) bgdata_free(&sub);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Gamma-Gamma. */

typedef struct ggdata {
    const int32_t *x;
    const double *m;
    int64_t *idx, n; /* the customers with x > 0 and m > 0 */
    double *nx, *slm; /* per x: customers, sum of log m */
    int32_t maxx;
} ggdata;

/* The optimiser's coordinates: log p, log q, log v/q (q and v growing together, v/q fixed, is
 * the direction in which the likelihood grows when every customer has the same spend scale). */
static df_gg gg_params(const double *th) { return (df_gg){exp(th[0]), exp(th[1]), exp(th[1] + th[2])}; }

static double gg_objective(void *ctx, const double *th, double *grad)
{
    ggdata *G = ctx;
    df_gg P = gg_params(th);
    double p = P.p, q = P.q, v = P.v, lv = log(v), lq = lgam(q), pq = df_digamma(q);
    double ll = 0, g[3] = {0};
    for (int32_t x = 1; x <= G->maxx; x++) {
        double N = G->nx[x];
        if (N == 0) continue;
        double px = p * x, lx = log((double)x), ppq = df_digamma(px + q);
        ll += N * (lgam(px + q) - lgam(px) - lq + q * lv + px * lx) + (px - 1) * G->slm[x];
        g[0] += N * x * (ppq - df_digamma(px) + lx) + x * G->slm[x];
        g[1] += N * (ppq - pq + lv);
        g[2] += N * q / v;
    }
    for (int64_t k = 0; k < G->n; k++) {
        int64_t i = G->idx[k];
        double x = G->x[i], s = x * G->m[i] + v, ls = log(s);
        ll -= (p * x + q) * ls;
        g[0] -= x * ls, g[1] -= ls, g[2] -= (p * x + q) / s;
    }
    grad[0] = -g[0] * p / (double)G->n, grad[1] = -(q * g[1] + v * g[2]) / (double)G->n, grad[2] = -g[2] * v / (double)G->n;
    return -ll / (double)G->n;
}

static void gg_free(ggdata *G) { free(G->idx), free(G->nx), free(G->slm); }

/* The repeat customers with a positive mean spend, every stride-th; their mean in *mean. */
static int gg_prepare(ggdata *G, const int32_t *x, const double *m, int64_t n, int64_t stride, double *mean)
{
    *G = (ggdata){.x = x, .m = m};
    for (int64_t i = 0; i < n; i++) G->maxx = x[i] > G->maxx ? x[i] : G->maxx;
    G->idx = malloc((size_t)(n / stride + 1) * sizeof *G->idx);
    G->nx = calloc((size_t)G->maxx + 1, sizeof *G->nx);
    G->slm = calloc((size_t)G->maxx + 1, sizeof *G->slm);
    if (!G->idx || !G->nx || !G->slm) return gg_free(G), -1;
    *mean = 0;
    for (int64_t i = 0, k = 0; i < n; i++)
        if (x[i] > 0 && m[i] > 0 && isfinite(m[i]) && k++ % stride == 0)
            G->idx[G->n++] = i, G->nx[x[i]] += 1, G->slm[x[i]] += log(m[i]), *mean += m[i];
    return 0;
}

int df_gg_fit(const int32_t *x, const double *m, int64_t n, df_gg *p, df_fit *f)
{
    ggdata G, sub;
    double mean, ignore;
    memset(f, 0, sizeof *f);
    if (gg_prepare(&G, x, m, n, 1, &mean) != 0) return -1;
    int sampled = G.n >= SAMPLE_FROM;
    if (sampled && gg_prepare(&sub, x, m, n, SAMPLE_STRIDE, &ignore) != 0) return gg_free(&G), -1;
    f->customers = G.n;
    double th[3] = {0, 0, log(G.n ? mean / (double)G.n : 1)}, fx = NAN; /* p = q = 1, v = the mean spend */
    if (G.n > 0) f->converged = fit_staged(gg_objective, &G, sampled ? &sub : NULL, th, 3, &fx, &f->iterations);
    *p = gg_params(th);
    /* the log-likelihood of the mean spends themselves (lifetimes' form, with the Jacobian) */
    f->ll = -fx * (double)G.n;
    gg_free(&G);
    if (sampled) gg_free(&sub);
    return 0;
}

double df_gg_spend(const df_gg *p, double x, double m)
{
    double pop = p->v * p->p / (p->q - 1);
    if (!(x > 0) || !isfinite(m)) return pop;
    double w = p->p * x / (p->p * x + p->q - 1);
    return (1 - w) * pop + w * m;
}

double df_clv(const df_bgnbd *p, double x, double tx, double T, double spend, int32_t months, double per_month,
              double discount)
{
    double total = 0, prev = 0, disc = 1;
    for (int32_t k = 1; k <= months; k++) {
        double cur = df_bgnbd_expected(p, x, tx, T, k * per_month);
        disc /= 1 + discount;
        total += spend * (cur - prev) * disc;
        prev = cur;
    }
    return total;
}

const df_models_api df_models = {
    .rfm = df_rfm_run,
    .bgnbd_fit = df_bgnbd_fit,
    .bgnbd_ll = df_bgnbd_ll,
    .p_alive = df_bgnbd_p_alive,
    .expected = df_bgnbd_expected,
    .expected_new = df_bgnbd_expected_new,
    .prob_n = df_bgnbd_prob_n,
    .gg_fit = df_gg_fit,
    .gg_spend = df_gg_spend,
    .clv = df_clv,
};
