/* models.h: customer models (BG/NBD for purchases and P(alive), Gamma-Gamma for spend, the
 * lifetime value): the inputs per customer from a history's rows, the maximum-likelihood fits
 * and the predictions. The types are in scoreapi.h (the Lua side calls them through df_api's
 * models, engine/lua/models.lua). */
#ifndef DF_MODELS_H
#define DF_MODELS_H

#include "scoreapi.h"

extern const df_models_api df_models;

int64_t df_rfm_run(const df_rfm_spec *s, uint64_t lo, uint64_t hi, const uint32_t *rows, int64_t nrows, df_rfm_out *out);
int df_bgnbd_fit(const int32_t *x, const double *tx, const double *T, int64_t n, df_bgnbd *p, df_fit *f);
double df_bgnbd_ll(const df_bgnbd *p, double x, double tx, double T);
double df_bgnbd_p_alive(const df_bgnbd *p, double x, double tx, double T);
double df_bgnbd_expected(const df_bgnbd *p, double x, double tx, double T, double t);
double df_bgnbd_expected_new(const df_bgnbd *p, double t);
double df_bgnbd_prob_n(const df_bgnbd *p, double t, int32_t n);
int df_gg_fit(const int32_t *x, const double *m, int64_t n, df_gg *p, df_fit *f);
double df_gg_spend(const df_gg *p, double x, double m);
double df_clv(const df_bgnbd *p, double x, double tx, double T, double spend, int32_t months, double per_month,
              double discount);

/* Gauss's hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 by its series (exposed for the tests). */
double df_hyp2f1(double a, double b, double c, double z);
double df_digamma(double x);

#endif
