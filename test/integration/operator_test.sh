#!/usr/bin/env bash
# The operator interface end to end: every smtpwallctl verb in text (golden files,
# times masked) and JSON, the permission split (a non-admin uid reads but cannot
# ban), `top` equal to the kernel's own counters, manual ban/unban/allow reaching
# the kernel, metrics over the control socket and HTTP, and reload: a bad file is
# refused and the old config stays, a good one takes effect without dropping an
# SMTP session that is in progress.
source "$(dirname "$0")/lib.sh"
itest_init operator
netns_pair
need setpriv python3
CLEAN=192.0.2.20 BADHELO=192.0.2.21 TRAPPER=192.0.2.22 MANUAL=192.0.2.30 LONGSESSION=192.0.2.31
for a in $CLEAN $BADHELO $TRAPPER $MANUAL $LONGSESSION; do client_addr $a; done

SMTPWALL_MILTER_OPTIONS=''
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]'
METRICS_PORT=$(free_port)
smtpwall_start
# the control table needs the metrics listener: rewrite it and restart the milter
sed -i "s|^\[control\]$|[control]\nmetrics_listen = \"127.0.0.1:$METRICS_PORT\"|" "$WORK/smtpwall.conf"
stop milter
milter_start milter2
postfix_start 192.0.2.1
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

log "traffic: a clean client, a bad HELO, a spamtrap hit, then the banned client retries"
send_mail $CLEAN client.example.net user@example.org >/dev/null || fail "clean mail refused"
send_mail $BADHELO localhost user@example.org >/dev/null && fail "bad HELO accepted"
send_mail $TRAPPER client.example.net trap@example.org >/dev/null && fail "spamtrap accepted"
wait_for 5 "the ban in the kernel" kernel_has $TRAPPER
for _ in 1 2; do tcp_connects 192.0.2.1 25 $TRAPPER 2 && fail "banned client connected"; done

log "status, tallies, bans, show: text against golden files, JSON by field"
ctl status | golden operator/status.txt
ctl status --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
assert s['mode'] == 'enforce' and s['helper']['connected'], s
assert s['sessions']['reject'] == 2 and s['sessions']['accept'] >= 1, s
assert s['bans']['active'] == 1 and s['tracked_addresses'] >= 3, s
assert [z['state'] for z in s['dns']['zones']] == ['ok', 'ok'], s
" || fail "status --json"
ctl tallies | golden operator/tallies.txt
ctl show $TRAPPER | golden operator/show.txt
ctl show $TRAPPER --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
assert s['tally']['tags'] == {'spamtrap': 1}, s
assert s['ban']['rule'] == 'ban at first spamtrap' and s['ban']['origin'] == 'policy', s
assert s['kernel'][0]['host'] == '$TRAPPER' and s['kernel'][0]['packets'] > 0, s
assert s['last_session']['dns']['ptr']['confirmed'] == 'client22.example.net', s
" || fail "show --json"
ctl show 198.51.100.99 | golden operator/show-unknown.txt

log "top: the seed's report, equal to the kernel's own counters"
top=$(ctl top)
head -1 <<<"$top" | grep -qE '^Host/Mask +Packets +Bytes$' || fail "top header: $top"
assert_contains "$(grep -F "$TRAPPER" <<<"$top")" "[a] [spamtrap]" "top row"
kernel=$(mx_chain "$CHAIN")
ctl top --exact --json | python3 -c "
import json, sys
kernel = {}
for line in sys.argv[1].splitlines()[2:]:
    f = line.split()
    kernel[f[7]] = (int(f[0]), int(f[1]))
rows = json.load(sys.stdin)
assert rows, rows
for r in rows:
    assert kernel[r['host']] == (r['packets'], r['bytes']), (r, kernel)
    assert r['dynamic'] and r['tags'] == ['spamtrap'], r
" "$kernel" || fail "top does not match the kernel:
$kernel"

log "metrics on the control socket and over HTTP"
m=$(ctl metrics)
assert_contains "$m" 'smtpwall_sessions_total{verdict="reject"} 2' "metrics"
assert_contains "$m" 'smtpwall_rejections_total{tag="spamtrap"} 1' "metrics"
assert_contains "$m" 'smtpwall_bans_active 1' "metrics"
assert_contains "$m" 'smtpwall_zone_answers_total{zone="testbl",outcome="not-listed"}' "metrics"
python3 -c "
import urllib.request
body = urllib.request.urlopen('http://127.0.0.1:$METRICS_PORT/metrics', timeout=5).read().decode()
assert 'smtpwall_bans_active 1' in body, body[:500]
try:
    urllib.request.urlopen('http://127.0.0.1:$METRICS_PORT/', timeout=5)
    raise SystemExit('/ should be 404')
except urllib.error.HTTPError as e:
    assert e.code == 404
" || fail "HTTP metrics endpoint"

log "permission split: nobody may read but not change anything"
as_nobody "$CTL_BIN" --socket "$CONTROL_SOCK" tallies >/dev/null || fail "nobody cannot read tallies"
for cmd in "ban $MANUAL" "unban $TRAPPER" "allow $MANUAL" "reload"; do
    set +e
    out=$(as_nobody "$CTL_BIN" --socket "$CONTROL_SOCK" $cmd 2>&1)
    rc=$?
    set -e
    [ $rc = 1 ] || fail "nobody's '$cmd' exited $rc: $out"
    assert_contains "$out" "permission denied" "nobody's $cmd"
done
kernel_lacks $MANUAL || fail "a refused ban reached the kernel"

log "manual ban and unban by root reach the kernel"
ctl ban $MANUAL --for 1h --reason abuse-report | grep -q "banned $MANUAL" || fail "ban reply"
wait_for 5 "the manual ban in the kernel" kernel_has $MANUAL
assert_contains "$(mx_chain "$CHAIN" | grep -F "$MANUAL")" "[abuse-report]" "manual ban comment"
tcp_connects 192.0.2.1 25 $MANUAL 2 && fail "manually banned client connected"
ctl ban $MANUAL --json | python3 -c "import json,sys; r=json.load(sys.stdin); assert r['ok'], r" || fail "ban --json"
ctl unban $MANUAL >/dev/null || fail "unban failed"
wait_for 5 "the unban in the kernel" kernel_lacks $MANUAL
tcp_connects 192.0.2.1 25 $MANUAL 3 || fail "unbanned client still dropped"
set +e; ctl unban $MANUAL >/dev/null 2>&1; rc=$?; set -e
[ $rc = 1 ] || fail "unbanning an address that is not banned exited $rc"

log "allow: lifts the ban, and the address is never rejected again"
ctl allow $TRAPPER | grep -q "allowed $TRAPPER" || fail "allow reply"
wait_for 5 "the allowed address leaving the kernel" kernel_lacks $TRAPPER
out=$(send_mail $TRAPPER client.example.net trap@example.org) || fail "allowlisted client refused:
$out"
kernel_lacks $TRAPPER || fail "an allowlisted address was banned again"

log "reload: a broken file is refused, the old configuration stays"
cp "$WORK/smtpwall.conf" "$WORK/smtpwall.conf.good"
printf '[escalation]\nrules = ["ban whenever you like"]\n' >>"$WORK/smtpwall.conf"
set +e; out=$(ctl reload 2>&1); rc=$?; set -e
[ $rc = 1 ] || fail "a broken reload exited $rc: $out"
assert_contains "$out" "old configuration stays" "broken reload"
assert_contains "$out" "$WORK/smtpwall.conf:" "broken reload (file:line)"
send_mail $CLEAN client.example.net trap@example.org >/dev/null && fail "spamtrap no longer active after a refused reload"

log "reload: a good file takes effect, a session in progress is not dropped"
cp "$WORK/smtpwall.conf.good" "$WORK/smtpwall.conf"
sed -i 's|^spamtraps = \["trap@example.org"\]$|spamtraps = ["trap@example.org", "trap2@example.org"]|' "$WORK/smtpwall.conf"
# A client that says EHLO and MAIL, waits for the reload, then finishes.
in_cl python3 - "$LONGSESSION" "$WORK/reloaded" >"$WORK/log/longsession.log" 2>&1 <<'PY' &
import os, smtplib, sys, time
s = smtplib.SMTP("192.0.2.1", 25, source_address=(sys.argv[1], 0), timeout=30)
s.ehlo("client31.example.net")
s.mail("sender@example.net")
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
code, _ = s.rcpt("user@example.org")
assert code == 250, code
s.data("Subject: across a reload\r\n\r\nhello\r\n")
s.quit()
print("completed")
PY
long_pid=$!
sleep 0.5
ctl reload | grep -q "reloaded" || fail "good reload refused"
touch "$WORK/reloaded"
wait "$long_pid" || fail "the session open across the reload failed: $(cat "$WORK/log/longsession.log")"
grep -q completed "$WORK/log/longsession.log" || fail "the long session did not complete"
out=$(send_mail $CLEAN client.example.net trap2@example.org) && fail "the new spamtrap is not active after reload"

log "exit codes: unreachable 3, usage 2"
set +e
"$CTL_BIN" --socket "$WORK/nothing.sock" status >/dev/null 2>&1; [ $? = 3 ] || fail "unreachable milter: exit code"
"$CTL_BIN" --socket "$CONTROL_SOCK" ban >/dev/null 2>&1; [ $? = 2 ] || fail "usage error: exit code"
set -e

log "impostors: a control socket or a helper served by another user is refused"
install -d -o nobody -m 0755 "$WORK/impostor"
# A fake control socket that would collect the operator's commands.
spawn fake_control setpriv --reuid=nobody --regid=nogroup --clear-groups \
    socat "UNIX-LISTEN:$WORK/impostor/control.sock,fork" "OPEN:$WORK/impostor/heard-by-control,creat,append"
wait_for 5 "the fake control socket" test -S "$WORK/impostor/control.sock"
set +e
out=$("$CTL_BIN" --socket "$WORK/impostor/control.sock" ban 192.0.2.77 2>&1)
rc=$?
set -e
[ $rc = 3 ] || fail "smtpwallctl talked to a fake control socket (exit $rc): $out"
assert_contains "$out" "served by uid $(id -u nobody)" "smtpwallctl's refusal"
assert_contains "$out" "not by smtpwall or root" "smtpwallctl's refusal"
[ ! -s "$WORK/impostor/heard-by-control" ] || fail "the fake control socket heard: $(cat "$WORK/impostor/heard-by-control")"
ctl --server-user root ping >/dev/null 2>&1 && fail "--server-user root accepted a milter running as smtpwall"
ctl ping >/dev/null || fail "the real control socket is refused"
# A fake helper that greets like the real one and would swallow every ban.
spawn fake_helper setpriv --reuid=nobody --regid=nogroup --clear-groups \
    socat "UNIX-LISTEN:$WORK/impostor/helper.sock,fork,perm=0666" \
    "SYSTEM:'echo SMTPWALL-HELPER 1; cat >>$WORK/impostor/heard-by-helper'"
wait_for 5 "the fake helper" test -S "$WORK/impostor/helper.sock"
stop milter2
sed -i "/^\[helper\]$/,/^\[/ s|^socket = .*|socket = \"$WORK/impostor/helper.sock\"|" "$WORK/smtpwall.conf"
spawn milter3 "$MILTER_BIN" -f -c "$WORK/smtpwall.conf"
wait_for 10 "the milter to refuse the fake helper" \
    grep -q "refusing a helper served by uid $(id -u nobody)" "$WORK/log/milter3.log"
[ ! -s "$WORK/impostor/heard-by-helper" ] || fail "the fake helper heard: $(cat "$WORK/impostor/heard-by-helper")"
assert_not_contains "$(cat "$WORK/log/milter3.log")" "connected to firewall helper" "the milter's log"
log "PASS"
