#!/usr/bin/env python3
"""Transactions drawn from the BG/NBD model itself, for bench/models (a fit that converges, not
one that runs to a bound as on defector-gen's data, which do not follow the model).
Each customer: lambda ~ Gamma(r, 1/alpha) purchases a day, p ~ Beta(a, b) the chance to drop out
after each purchase; a first purchase on a day uniform over the two years before the as-of
date, then purchases at exponential gaps until the drop-out or the as-of date. Spend per
purchase ~ Gamma(p', nu) with nu ~ Gamma(q, 1/v) per customer (Gamma-Gamma).
    gen-bgnbd.py CUSTOMERS OUT_DIR   (seed fixed: the same files every time)"""
import datetime, gzip, os, random, sys

R, ALPHA, A, B = 0.25, 20.0, 0.8, 2.5          # days
P, Q, V = 6.0, 3.5, 15.0
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
as_of = datetime.date(2026, 11, 1)
span = 730
os.makedirs(out, exist_ok=True)
with gzip.open(os.path.join(out, "customers.csv.gz"), "wt", compresslevel=1, newline="") as cf, \
     gzip.open(os.path.join(out, "events.csv.gz"), "wt", compresslevel=1, newline="") as ef:
    cf.write("customer_id,segment,monthly_fee\n")
    ef.write("customer_id,event_date,event_type,amount\n")
    for i in range(n):
        cid = "C%07d" % i
        cf.write("%s,%s,%d.00\n" % (cid, ("smb", "mid", "enterprise")[i % 3], 20 + i % 80))
        lam = rng.gammavariate(R, 1 / ALPHA)
        p = rng.betavariate(A, B)
        nu = rng.gammavariate(Q, 1 / V)
        t = rng.uniform(0, span)
        day = span - t
        while True:
            d = as_of - datetime.timedelta(days=int(day))
            ef.write("%s,%s,purchase,%.2f\n" % (cid, d.isoformat(), rng.gammavariate(P, 1 / nu)))
            if rng.random() < p:
                break
            gap = rng.expovariate(lam) if lam > 0 else span
            day -= gap
            if day < 0:
                break
