#!/bin/bash
# diff.sh: `defector diff OLD.lua NEW.lua` on a hand-made case: the edit raises the points of a
# complaint, lets one complaint fire the "complaints" rule and puts cancelled customers on the
# list; every table row by row, the lines on stdout, and errors.
source "$TESTS_DIR/fixtures/lib.sh"
OLD="$REPO_DIR/tests/rules/history.lua"
mkdir -p "$T/d"
printf 'id,fee\nA,10\nB,25\nC,30\nD,40\nF,60\n' > "$T/d/customers.csv"
printf 'id,date,type\nB,2026-01-05,complaint\nC,2026-01-02,complaint\nC,2026-01-08,complaint\nD,2026-01-09,complaint\nA,2026-01-15,complaint\nB,2026-01-18,complaint\nD,2026-01-19,cancel\nF,2026-01-19,complaint\n' > "$T/d/events.csv"
sed -e 's/"complaint", points = 40/"complaint", points = 50/' -e 's/c.complaints >= 2 end, reason = "complained again"/c.complaints >= 1 end, reason = "complained again"/' \
  -e 's/where = function(c) return not c.cancelled and c.score >= 30 end/where = function(c) return c.score >= 30 end/' "$OLD" > "$T/new.lua"
check setup "the edit applies" [ "$(diff "$OLD" "$T/new.lua" | grep -c '^>')" = 3 ]

run_cli diff diff "$OLD" "$T/new.lua" --data "$T/d" -o "$T/out" --as-of 2026-01-20 -q
assert_rc diff 0
assert_out diff "band high: 2 -> 5 (+3)"
assert_out diff "on the list: 4 -> 5 (+1)"
want=$'id,change,from,to,score_before,score_after,score_change
D,new_on_list,false,true,40,80,40
A,band_up,medium,high,40,80,40
D,band_up,medium,high,40,80,40
F,band_up,medium,high,40,80,40
A,score_up,40,80,40,80,40
D,score_up,40,80,40,80,40
F,score_up,40,80,40,80,40'
check changes "diff_changes.csv: $(cat "$T/out/diff_changes.csv")" [ "$(cat "$T/out/diff_changes.csv")" = "$want" ]
want=$'kind,name,before,after,change\nband,high,2,5,3\nband,medium,3,0,-3\nband,low,0,0,0\nstage,defected,1,1,0\nstage,unhappy,4,4,0\nstage,ok,0,0,0\nlist,on_list,4,5,1'
check counts "diff_counts.csv: $(cat "$T/out/diff_counts.csv")" [ "$(cat "$T/out/diff_counts.csv")" = "$want" ]
want=$'rule,fired_before,fired_after,change\ncomplaints,2,5,3\ncomplaint,5,5,0'
check rules "diff_rules.csv: $(cat "$T/out/diff_rules.csv")" [ "$(cat "$T/out/diff_rules.csv")" = "$want" ]
want=$'kind,from,to,customers\nstage,defected,defected,1\nstage,unhappy,unhappy,4\nband,high,high,2\nband,medium,high,3'
check flows "diff_flows.csv: $(cat "$T/out/diff_flows.csv")" [ "$(cat "$T/out/diff_flows.csv")" = "$want" ]
check out "only the diff tables are written" [ "$(ls "$T/out" | tr '\n' ' ')" = "diff_changes.csv diff_counts.csv diff_flows.csv diff_rules.csv " ]

run_cli same diff "$OLD" "$OLD" --data "$T/d" -o "$T/same" --as-of 2026-01-20 -q
assert_rc same 0
check same "a file against itself moves nobody" [ "$(wc -l < "$T/same/diff_changes.csv")" = 1 ]
run_cli one diff "$OLD" --data "$T/d" -o "$T/o1"
assert_rc one 2
assert_err one "diff needs two rule files"
printf 'entity { file = "customers.csv", key = "fee", columns = { fee = "text" } }\noutput { file = "x.csv", columns = { "fee" } }\n' > "$T/other.lua"
run_cli otherkey diff "$OLD" "$T/other.lua" --data "$T/d" -o "$T/o2" --as-of 2026-01-20
assert_rc otherkey 5
assert_err otherkey "key their entities differently"
finish
