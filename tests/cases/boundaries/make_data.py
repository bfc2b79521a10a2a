#!/usr/bin/env python3
"""Writes data/customers.csv.gz and data/events.csv.gz of the boundaries case (see README.md)."""
import gzip, datetime
A = datetime.date(2026, 11, 1)
def d(n): return (A + datetime.timedelta(days=n)).isoformat()
cust, ev = [], []
def C(i, name, seg, signup, renewal, fee, owner=''):
    cust.append((i, name, seg, d(signup), '' if renewal is None else d(renewal), fee, owner))
def E(i, off, t, amt=''):
    ev.append((i, d(off), t, amt))
C('R00', 'renewal today', 'smb', -400, 0, '10', 'ann');        E('R00', -1, 'login')
C('R60', 'renewal in 60', 'smb', -400, 60, '10', 'ann');       E('R60', -1, 'login')
C('R61', 'renewal in 61', 'smb', -400, 61, '10', 'ann');       E('R61', -1, 'login')
C('Rm1', 'renewal yesterday', 'smb', -400, -1, '10', 'ann');   E('Rm1', -1, 'login')
C('K89', 'complaints in window', 'consumer', -400, None, '20', 'bob'); E('K89', -89, 'complaint'); E('K89', -89, 'complaint'); E('K89', -1, 'login')
C('K90', 'complaints on the edge', 'consumer', -400, None, '20', 'bob'); E('K90', -90, 'complaint'); E('K90', -2, 'complaint'); E('K90', -1, 'login')
C('V59', 'voicemail in window', 'consumer', -400, None, '20', 'bob'); E('V59', -59, 'voicemail'); E('V59', -1, 'login')
C('V60', 'voicemail on the edge', 'consumer', -400, None, '20', 'bob'); E('V60', -60, 'voicemail'); E('V60', -1, 'login')
C('VCB', 'voicemail called back', 'consumer', -400, None, '20', 'bob'); E('VCB', -10, 'voicemail'); E('VCB', -5, 'callback')
C('P179', 'promise in window', 'enterprise', -400, None, '100', 'cy'); E('P179', -179, 'promise_made'); E('P179', -1, 'login')
C('P180', 'promise on the edge', 'enterprise', -400, None, '100', 'cy'); E('P180', -180, 'promise_made'); E('P180', -1, 'login')
C('PK', 'promise kept', 'enterprise', -400, None, '100', 'cy'); E('PK', -100, 'promise_made'); E('PK', -50, 'promise_kept'); E('PK', -1, 'login')
C('T89', 'new and quiet', 'consumer', -89, None, '9.9', ''); E('T89', -31, 'login')
C('T90', 'not new any more', 'consumer', -90, None, '9.9', ''); E('T90', -31, 'login')
C('Q30', 'new, quiet 30 days', 'consumer', -50, None, '9.9', ''); E('Q30', -30, 'login')
C('I60', 'inactive 60', 'smb', -400, None, '49.90', 'dee'); E('I60', -60, 'purchase', '10.00')
C('I61', 'inactive 61', 'smb', -400, None, '49.90', 'dee'); E('I61', -61, 'purchase', '10.00'); E('I61', -5, 'complaint')
C('NOEV', 'no events at all', 'smb', -120, None, '49.90', 'dee')
C('PUP', 'price up one cent', 'smb', -400, None, '30', 'ed'); E('PUP', -10, 'price_change', '+0.01'); E('PUP', -1, 'login')
C('PZ', 'price change zero', 'smb', -400, None, '30', 'ed'); E('PZ', -10, 'price_change', '+0.00'); E('PZ', -1, 'login')
C('PDN', 'price down', 'smb', -400, None, '30', 'ed'); E('PDN', -10, 'price_change', '-1.50'); E('PDN', -1, 'login')
C('N6', 'nps six', 'consumer', -400, None, '15', ''); E('N6', -3, 'nps', '6')
C('N7', 'nps seven', 'consumer', -400, None, '15', ''); E('N7', -3, 'nps', '7')
C('NT', 'nps tie', 'consumer', -400, None, '15', ''); E('NT', -3, 'nps', '9'); E('NT', -3, 'nps', '4'); E('NT', -20, 'nps', '10')
C('NE', 'nps empty latest', 'consumer', -400, None, '15', ''); E('NE', -3, 'nps', ''); E('NE', -20, 'nps', '2')
C('NL', 'nps later is fine', 'consumer', -400, None, '15', ''); E('NL', -30, 'nps', '1'); E('NL', -3, 'nps', '8')
C('CAP', 'everything at once', 'enterprise', -30, 5, '0.125', '=cmd()')
for o in (-20, -19, -18): E('CAP', o, 'complaint')
E('CAP', -20, 'price_change', '+5'); E('CAP', -10, 'voicemail'); E('CAP', -25, 'promise_made'); E('CAP', -29, 'nps', '0')
C('H1', 'half cent', 'smb', -400, 30, '0.625', 'ann'); E('H1', -10, 'complaint'); E('H1', -11, 'complaint'); E('H1', -1, 'login'); E('H1', -100, 'nps', '5')
for i in ('tie', 'Tie', 'Tié'):
    C(i, 'tie ' + i, 'consumer', -400, 10, '10', ''); E(i, -1, 'login'); E(i, -2, 'complaint'); E(i, -3, 'complaint')
C('DEF', 'cancelled', 'smb', -400, 10, '99', 'ann'); E('DEF', -40, 'cancel'); E('DEF', -2, 'complaint'); E('DEF', -3, 'complaint')
C('FUT', 'cancel in the future', 'smb', -400, 10, '99', 'ann'); E('FUT', 3, 'cancel'); E('FUT', -2, 'complaint'); E('FUT', -3, 'complaint'); E('FUT', -1, 'login')
C('Q1', 'old cohort', 'enterprise', -(A - datetime.date(2023, 3, 31)).days, None, '1', 'cy'); E('Q1', -1, 'login')
C('Q2', 'old cohort 2', 'enterprise', -(A - datetime.date(2023, 4, 1)).days, None, '1', 'cy'); E('Q2', -1, 'cancel')
def q(s):
    return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\r\n') else s
with gzip.GzipFile('data/customers.csv.gz', 'wb', mtime=0) as f:
    f.write(b'customer_id,name,segment,region,plan,signup_date,renewal_date,monthly_fee,owner\n')
    for c in cust:
        f.write((','.join([q(c[0]), q(c[1]), c[2], 'eu', 'basic', c[3], c[4], c[5], q(c[6])]) + '\n').encode())
with gzip.GzipFile('data/events.csv.gz', 'wb', mtime=0) as f:
    f.write(b'customer_id,event_date,event_type,amount,channel,note\n')
    for e in reversed(ev):
        f.write((','.join([q(e[0]), e[1], e[2], e[3], '', '']) + '\n').encode())
