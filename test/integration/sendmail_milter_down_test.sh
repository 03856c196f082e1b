#!/usr/bin/env bash
# smtpwall itself down, behind a real Sendmail: the F= flag of INPUT_MAIL_FILTER
# decides. One Sendmail, three listeners, each with its own filter entry for the
# same socket (DAEMON_OPTIONS InputMailFilters=):
#   port 25   F=T   temporary failure: mail waits, 4xx, nothing lost
#   port 2526 F=R   reject: 5xx for everybody (what not to choose)
#   port 2527 none  continue as if there were no filter: mail flows unfiltered
# When smtpwall comes back (a new milter process on the same socket) filtering
# resumes on the next SMTP session on all three, without restarting Sendmail.
source "$(dirname "$0")/lib.sh"
itest_init sendmail-milter-down
netns_pair
CLEAN=192.0.2.20 BADHELO=192.0.2.21
for a in $CLEAN $BADHELO; do client_addr $a; done

# Delivered mail earns no credit here, so DATA settles an accepted message
# (SMFIS_ACCEPT, no end of message): that conversation with a real Sendmail.
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = []
good_mail_ratio = 0
[shared_relays]
good_mail = 0'
smtpwall_start
TIMEOUTS='T=C:5s;S:10s;R:10s;E:30s'
SENDMAIL_DAEMON_OPTS=", InputMailFilters=smtpwall"
SENDMAIL_EXTRA_MC="INPUT_MAIL_FILTER(\`smtpwall_reject', \`S=local:$MILTER_SOCK, F=R, $TIMEOUTS')dnl
INPUT_MAIL_FILTER(\`smtpwall_continue', \`S=local:$MILTER_SOCK, $TIMEOUTS')dnl
DAEMON_OPTIONS(\`Family=inet, Port=2526, Addr=192.0.2.1, Name=MTA-R, InputMailFilters=smtpwall_reject')dnl
DAEMON_OPTIONS(\`Family=inet, Port=2527, Addr=192.0.2.1, Name=MTA-none, InputMailFilters=smtpwall_continue')dnl"
sendmail_start 192.0.2.1
grep -q "^Xsmtpwall, S=local:$MILTER_SOCK, F=T, T=C:5s;S:10s;R:10s;E:30s" "$SM/etc/sendmail.cf" ||
    fail "sendmail.cf does not carry the F=T filter: $(grep '^X' "$SM/etc/sendmail.cf")"
wait_for 5 "port 2527" in_mx bash -c "exec 3<>/dev/tcp/192.0.2.1/2527"
sm_pid=$PID_sendmail_daemon

mail_to() { send_mail "$2" "$3" user@example.org --port "$1"; }
expect_filtering() {
    local port out
    for port in 25 2526 2527; do
        out=$(mail_to $port $CLEAN client.example.net) || fail "$1, port $port: clean mail refused:
$out"
        assert_contains "$out" "Message accepted for delivery" "$1, port $port: clean transcript"
        out=$(mail_to $port $BADHELO localhost) && fail "$1, port $port: bad HELO accepted (not filtered):
$out"
        assert_contains "$out" "<** 550 5.7.1" "$1, port $port: bad-HELO transcript"
    done
}

log "smtpwall up: filtering on all three listeners"
expect_filtering "milter up"

log "smtpwall down"
stop milter
kill -0 "$PID_milter" 2>/dev/null && fail "the milter is still running"

log "  F=T: temporary failure, nothing accepted"
out=$(mail_to 25 $CLEAN client.example.net) && fail "F=T accepted mail while smtpwall was down:
$out"
reply=$(grep '<\*\*' <<<"$out" | head -1)
assert_contains "$reply" "<** 4" "F=T transcript"
assert_not_contains "$out" "Message accepted for delivery" "F=T transcript"
log "    $(grep -B1 '<\*\*' <<<"$out" | head -2 | tr '\n' ' ')"

log "  F=R: rejected"
out=$(mail_to 2526 $CLEAN client.example.net) && fail "F=R accepted mail while smtpwall was down:
$out"
reply=$(grep '<\*\*' <<<"$out" | head -1)
assert_contains "$reply" "<** 5" "F=R transcript"
log "    $(grep -B1 '<\*\*' <<<"$out" | head -2 | tr '\n' ' ')"

log "  no flag: mail flows, unfiltered"
out=$(mail_to 2527 $CLEAN client.example.net) || fail "no-flag listener refused mail while smtpwall was down:
$out"
assert_contains "$out" "Message accepted for delivery" "no-flag transcript"
out=$(mail_to 2527 $BADHELO localhost) || fail "no-flag listener refused a bad HELO although nothing filters:
$out"
assert_contains "$out" "Message accepted for delivery" "no-flag bad-HELO transcript"
wait_for 5 "Sendmail logging the unreachable filter" grep -q "Milter (smtpwall.*): to error state" "$WORK/log/sendmail.log"

log "smtpwall back: filtering resumes, Sendmail untouched"
milter_start milter2
expect_filtering "milter back"
[ "$(readlink "/proc/$sm_pid/ns/mnt")" = "$SM_MNTNS" ] || fail "the Sendmail daemon was restarted"
log "PASS"
