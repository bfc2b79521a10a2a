#!/usr/bin/python3
"""make_twins.py: the twin exports of tests/scripts/dialects.sh, made once from sample-data/
(run from the repository root: /usr/bin/python3 tests/data/dialects/make_twins.py).

iso/    customers.csv.gz, events.csv.gz: the first 250 customers of sample-data and their events,
        UTF-8, ',' , '.' decimals, YYYY-MM-DD: the engine's default form. A few names are given
        letters outside ASCII (Søren, Müller, €, curly quotes) so that the encoding matters.
excel/  customers.csv, events.csv: the same rows as Excel on a German Windows saves them:
        Windows-1252, CRLF, ';' between fields, decimal comma and '.' between thousands
        (1.200,99), dates dd/mm/yyyy, an empty cell at the end of every customers line and two at
        the end of the events header, and three ';;;;' lines below the data.
"""
import csv, gzip, io, os

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"C0000001": "Søren Müller & Söhne", "C0000002": "Café “Zoë”", "C0000032": "Stark; Müller “Nord”",
         "C0000087": "Åsa Ødegård – €uro", "C0000005": "Françoise; Noël", "C0000008": "Jürgen's Bäckerei"}


def rows(path):
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def eu_number(s):
    if not s:
        return s
    neg = s.startswith("-")
    whole, _, frac = s.lstrip("-").partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return ("-" if neg else "") + ".".join(groups) + ("," + frac if frac else "")


def eu_date(s):
    return f"{s[8:10]}/{s[5:7]}/{s[0:4]}" if s else s


def write_csv(path, table, sep, newline, encoding, gz, tail=0):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    for r in table:
        w.writerow(r)
    text = buf.getvalue() + (sep * (len(table[1]) - 1) + newline) * tail
    data = text.encode(encoding)
    if gz:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


cust = rows("sample-data/customers.csv.gz")
keep = {r[0] for r in cust[1:251]}
cust = [cust[0]] + [r for r in cust[1:251]]
for r in cust[1:]:
    r[1] = NAMES.get(r[0], r[1])
ev = rows("sample-data/events.csv.gz")
ev = [ev[0]] + [r for r in ev[1:] if r[0] in keep]
os.makedirs(os.path.join(HERE, "iso"), exist_ok=True)
os.makedirs(os.path.join(HERE, "excel"), exist_ok=True)
write_csv(os.path.join(HERE, "iso/customers.csv.gz"), cust, ",", "\n", "utf-8", True)
write_csv(os.path.join(HERE, "iso/events.csv.gz"), ev, ",", "\n", "utf-8", True)

ch = cust[0]
ci = {n: i for i, n in enumerate(ch)}
eu_cust = [ch + [""]]
for r in cust[1:]:
    r = list(r)
    for c in ("signup_date", "renewal_date"):
        r[ci[c]] = eu_date(r[ci[c]])
    r[ci["monthly_fee"]] = eu_number(r[ci["monthly_fee"]])
    eu_cust.append(r + [""])
write_csv(os.path.join(HERE, "excel/customers.csv"), eu_cust, ";", "\r\n", "cp1252", False, tail=3)

eh = ev[0]
ei = {n: i for i, n in enumerate(eh)}
eu_ev = [eh + ["", ""]]
for r in ev[1:]:
    r = list(r)
    r[ei["event_date"]] = eu_date(r[ei["event_date"]])
    r[ei["amount"]] = eu_number(r[ei["amount"]])
    eu_ev.append(r)
write_csv(os.path.join(HERE, "excel/events.csv"), eu_ev, ";", "\r\n", "cp1252", False, tail=3)
