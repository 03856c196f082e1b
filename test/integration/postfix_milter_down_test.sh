#!/usr/bin/env bash
# smtpwall itself down, behind a real Postfix: milter_default_action decides.
#   tempfail (what README.md recommends): mail waits, 451 4.7.1, nothing lost;
#   accept: mail flows, unfiltered (a bad HELO gets through);
#   reject: the connection itself refused, 554 (what not to choose).
# Each time smtpwall comes back (a new milter process on the same socket),
# filtering resumes on the very next SMTP session, without restarting or
# reloading Postfix: Postfix opens a new milter connection per session.
source "$(dirname "$0")/lib.sh"
itest_init postfix-milter-down
netns_pair
CLEAN=192.0.2.20 BADHELO=192.0.2.21
for a in $CLEAN $BADHELO; do client_addr $a; done

# The same escalation as production but no bans: this test is about availability.
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = []'
smtpwall_start
postfix_start 192.0.2.1
assert_contains "$(in_mx postconf -c "$PF/etc" -h milter_default_action)" "tempfail" "Postfix's milter_default_action"

# milter_down NAME: stops the running milter ($running) and checks it is gone.
running=milter
milter_down() {
    stop "$running"
    kill -0 "${!1}" 2>/dev/null && fail "the milter is still running"
    return 0
}
# milter_up NAME: starts a new milter process on the same socket.
milter_up() {
    milter_start "$1"
    running=$1
}
clean_mail() { send_mail $CLEAN client.example.net user@example.org; }
bad_helo_mail() { send_mail $BADHELO localhost user@example.org; }
expect_filtering() {
    local out
    out=$(clean_mail) || fail "$1: clean mail refused:
$out"
    assert_contains "$out" "250 2.0.0 Ok: queued as" "$1: clean transcript"
    out=$(bad_helo_mail) && fail "$1: bad HELO accepted (not filtered):
$out"
    assert_contains "$out" "<** 550 5.7.1" "$1: bad-HELO transcript"
}

log "smtpwall up: filtering"
expect_filtering "milter up"

log "smtpwall down, milter_default_action = tempfail: 451 4.7.1, nothing accepted"
milter_down PID_milter
out=$(clean_mail) && fail "mail accepted while smtpwall was down under tempfail:
$out"
assert_contains "$out" "451 4.7.1 Service unavailable - try again later" "tempfail transcript"
assert_not_contains "$out" "queued as" "tempfail transcript"
log "  $(grep -B1 '<\*\*' <<<"$out" | head -2 | tr '\n' ' ')"
wait_for 5 "Postfix logging the unreachable milter" grep -q "warning: connect to Milter service unix:$MILTER_SOCK" "$WORK/log/maillog"

log "smtpwall back: filtering resumes on the next session, Postfix untouched"
pf_master=$(cat "$PF/spool/pid/master.pid" | tr -d ' ')
milter_up milter2
expect_filtering "milter back (tempfail)"

log "milter_default_action = accept (postfix reload), smtpwall down: mail flows unfiltered"
in_mx postconf -c "$PF/etc" -e milter_default_action=accept
in_mx postfix -c "$PF/etc" reload >/dev/null 2>&1 || fail "postfix reload failed"
milter_down PID_milter2
out=$(clean_mail) || fail "clean mail refused while smtpwall was down under accept:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "accept transcript"
out=$(bad_helo_mail) || fail "bad HELO refused although nothing filters:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "unfiltered bad-HELO transcript"

log "smtpwall back: filtering resumes, no reload"
milter_up milter3
expect_filtering "milter back (accept)"

log "milter_default_action = reject, smtpwall down: every connection refused with 554"
in_mx postconf -c "$PF/etc" -e milter_default_action=reject
in_mx postfix -c "$PF/etc" reload >/dev/null 2>&1 || fail "postfix reload failed"
milter_down PID_milter3
out=$(clean_mail) && fail "mail accepted while smtpwall was down under reject:
$out"
assert_contains "$out" "<** 554 mx.smtpwall.test ESMTP not accepting connections" "reject transcript"
log "  $(grep '<\*\*' <<<"$out" | head -1)"
milter_up milter4
expect_filtering "milter back (reject)"

[ "$(cat "$PF/spool/pid/master.pid" | tr -d ' ')" = "$pf_master" ] || fail "the Postfix master was restarted"
log "PASS"
