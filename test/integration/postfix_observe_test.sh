#!/usr/bin/env bash
# Observe mode and ban expiry through a real Postfix. In observe mode the same
# bad clients are judged, tallied and logged ("would-reject", "would-ban") but
# nothing is refused and nothing reaches the kernel. Then, enforcing with a
# short ban, a banned client is dropped and gets through again once it expires.
source "$(dirname "$0")/lib.sh"
itest_init postfix-observe
netns_pair
TRAPPER=192.0.2.22 BADHELO=192.0.2.21
for a in $TRAPPER $BADHELO; do client_addr $a; done

SMTPWALL_MILTER_OPTIONS='observe = true'
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap for 4s", "ban after 2 rejections in 1h"]'
smtpwall_start
postfix_start 192.0.2.1

log "observe mode: a spamtrap hit and bad HELOs are accepted and only logged"
out=$(send_mail $TRAPPER client.example.net trap@example.org) || fail "observe mode refused mail:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "observe-mode transcript"
for _ in 1 2; do send_mail $BADHELO localhost user@example.org >/dev/null || fail "observe mode refused a bad HELO"; done
wait_for 5 "would-ban lines" grep -q "would-ban client=$TRAPPER" "$WORK/log/milter.log"
grep -q "would-ban client=$BADHELO" "$WORK/log/milter.log" || fail "no would-ban for $BADHELO"
grep -q "session client=$TRAPPER .*verdict=would-reject" "$WORK/log/milter.log" || fail "no would-reject session line"
grep -q "milter-reject" "$WORK/log/maillog" && fail "Postfix logged a milter reject in observe mode"
rules=$(mx_chain "$CHAIN")
assert_not_contains "$rules" "DROP" "kernel chain in observe mode"
tcp_connects 192.0.2.1 25 $TRAPPER 3 || fail "observe mode dropped $TRAPPER"
tallies=$(ctl tallies)
assert_contains "$(grep -F $TRAPPER <<<"$tallies")" "spamtrap:1" "observe-mode tallies"

log "enforcing: a short ban drops the client, then expires"
stop milter
rm -f "$RUN/state.db"*  # observe-mode records are not carried into enforcement anyway
SMTPWALL_MILTER_OPTIONS=''
milter_config
milter_start enforcing
send_mail $TRAPPER client.example.net trap@example.org >/dev/null && fail "spamtrap accepted while enforcing"
wait_for 5 "the ban in the kernel" kernel_has $TRAPPER
if tcp_connects 192.0.2.1 25 $TRAPPER 2; then fail "banned $TRAPPER could connect"; fi
wait_for 15 "the ban to expire" kernel_lacks $TRAPPER
wait_for 5 "the milter's expiry line" grep -q "unban client=$TRAPPER reason=expired" "$WORK/log/enforcing.log"
tcp_connects 192.0.2.1 25 $TRAPPER 3 || fail "$TRAPPER still dropped after its ban expired"
out=$(send_mail $TRAPPER client.example.net user@example.org) || fail "$TRAPPER refused after expiry:
$out"
log "PASS"
