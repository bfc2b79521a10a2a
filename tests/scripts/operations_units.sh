#!/usr/bin/env bash
# docs/operations.md's scheduling examples, as they are printed there: the systemd service and
# timer pass `systemd-analyze verify` (Debian's systemd package; the binary path replaced by the
# built one), a broken copy does not (the check can fail); the crontab line's five time fields
# are valid (Debian has no cron syntax checker: a small check here), and its command runs the
# night on test data with a fixed clock; the delivery scripts are shell (sh -n) and the file
# share's copies the list under its date.
source "$TESTS_DIR/fixtures/lib.sh"
DOC="$REPO_DIR/docs/operations.md"
# block NAME: the fenced block after "<!-- file: NAME -->"
block() { awk -v want="<!-- file: $1 -->" '$0 == want {f = 1; next} f == 1 && /^```/ {f = 2; next} f == 2 && /^```/ {exit} f == 2 {print}' "$DOC"; }
for f in defector-nightly.service defector-nightly.timer crontab; do
  block "$f" > "$T/$f"
  check "$f" "docs/operations.md has no block for $f" [ -s "$T/$f" ]
done
sed -i "s|/usr/bin/defector|$DEFECTOR|; s|^WorkingDirectory=.*|WorkingDirectory=$T|" "$T/defector-nightly.service"
check units "systemd-analyze verify: $(cd "$T" && systemd-analyze verify ./defector-nightly.service ./defector-nightly.timer 2>&1)" \
  bash -c "cd '$T' && systemd-analyze verify ./defector-nightly.service ./defector-nightly.timer"
check units "the timer fires at 02:00 Paris time" bash -c "systemd-analyze calendar '$(sed -n 's/^OnCalendar=//p' "$T/defector-nightly.timer")' | grep -q 'Normalized form: \*-\*-\* 02:00:00 Europe/Paris'"
mkdir -p "$T/broken" && sed 's/^OnCalendar=.*/OnCalendar=*-*-* 25:00:00/' "$T/defector-nightly.timer" > "$T/broken/defector-nightly.timer"
cp "$T/defector-nightly.service" "$T/broken/"
refute units "a broken timer passes systemd-analyze verify" bash -c "cd '$T/broken' && systemd-analyze verify ./defector-nightly.service ./defector-nightly.timer 2>/dev/null"

# the delivery examples: shell syntax (sh -n); the file share's run as --on-success on test data
for f in deliver-share.sh deliver-mail.sh; do
  block "$f" > "$T/$f"
  check "$f" "docs/operations.md has no block for $f" [ -s "$T/$f" ]
  check "$f" "sh -n: $(sh -n "$T/$f" 2>&1)" sh -n "$T/$f"
done
mkdir -p "$T/share"
sed -i "s|^share=.*|share=$T/share|" "$T/deliver-share.sh" && chmod +x "$T/deliver-share.sh"
make_data "$T/data"
run_engine share "$T/out-share" --on-success "$T/deliver-share.sh"
assert_rc share 0
check share "the list on the share under its date" cmp -s "$T/out-share/risk_list.csv" "$T/share/risk_list-2026-11-01.csv"
check share "no partial file left" [ "$(ls -A "$T/share")" = risk_list-2026-11-01.csv ]

# the crontab: VAR=value lines, comments, and one job line whose time fields are valid
line=$(grep -vE '^(#|[A-Z_]+=|$)' "$T/crontab")
check cron "one job line" [ "$(wc -l <<<"$line")" = 1 ]
check cron "its time fields: $line" /usr/bin/python3 - "$line" <<'PY'
import re, sys
fields = sys.argv[1].split(None, 5)
ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
def ok(f, lo, hi):
    for part in f.split(","):
        m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not m: return False
        for g in (m.group(2), m.group(3)):
            if g is not None and not lo <= int(g) <= hi: return False
    return True
assert len(fields) == 6 and all(ok(f, *r) for f, r in zip(fields, ranges)), fields
PY
cmd=${line#* * * * * }
cmd=${cmd//\/usr\/bin\/defector/$DEFECTOR}
cmd=${cmd//\/srv\/defector\/rules/$REPO_DIR/rules}
cmd=${cmd//\/srv\/exports/$T/data}
cmd=${cmd//\/srv\/defector\/out/$T/out}
cmd=${cmd//\/var\/log\/defector\/run.log/$T/run.log}
printf '#!/bin/sh\ntouch "%s/delivered"\n' "$T" > "$T/deliver.sh" && chmod +x "$T/deliver.sh"
cmd=${cmd//\/srv\/defector\/deliver.sh/$T/deliver.sh}
DEFECTOR_NOW=2026-11-01T01:00:00Z sh -c "$cmd" > "$T/cron.out" 2>&1
RC=$?
ERR=$(cat "$T/cron.out")
assert_rc cron_run 0
check cron_run "the night's outputs" [ -f "$T/out/risk_list.csv" ] && [ -f "$T/out/status.json" ]
check cron_run "as of 2026-11-01 (02:00 in Paris)" grep -q '"as_of": "2026-11-01"' "$T/out/status.json"
check cron_run "delivered" [ -f "$T/delivered" ]
check cron_run "logged" grep -q 'run finished: exit code 0 (ok)' "$T/run.log"
finish
