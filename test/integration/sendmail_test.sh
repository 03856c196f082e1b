#!/usr/bin/env bash
# End to end through a real Sendmail (unpacked from Debian's packages, private
# mount + UTS namespace inside the mx network namespace, unix milter socket,
# INPUT_MAIL_FILTER with F=T): the same scenarios as the Postfix tests. Clean
# mail is queued; a bad HELO is rejected at RCPT; a spamtrap hit is rejected
# and banned in the kernel, and the client's next connection is dropped; a
# DNSBL-listed client is rejected; unknown local users Sendmail itself rejects
# (550 5.1.1) reach the milter (SMFIP_RCPT_REJ, {rcpt_mailer}=error) as badrcpt
# and earn a ban, while relay-denied and virtusertable error: recipients are
# never passed to a milter; an IPv6 client is classified and banned per /64.
source "$(dirname "$0")/lib.sh"
itest_init sendmail
netns_pair
CLEAN=192.0.2.20 BADHELO=192.0.2.21 TRAPPER=192.0.2.22 OTHER=192.0.2.23 LISTED=192.0.2.62
BADRCPT=192.0.2.30 V6A=2001:db8:3::5 V6B=2001:db8:3::6 V6NET=2001:db8:3::/64 ALLOWED=192.0.2.24
for a in $CLEAN $BADHELO $TRAPPER $OTHER $LISTED $BADRCPT $V6A $V6B $ALLOWED; do client_addr $a; done
SMTPWALL_CHECKS_OPTIONS="allowlist = [\"$ALLOWED\"]"

SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]'
smtpwall_start
sendmail_start 192.0.2.1 2001:db8:1::1

log "a clean client is queued for delivery"
out=$(send_mail $CLEAN client.example.net user@example.org) || fail "clean mail was not accepted:
$out"
assert_contains "$out" "<-  250 2.0.0" "clean client's transcript"
assert_contains "$out" "Message accepted for delivery" "clean client's transcript"
wait_for 5 "the clean message in Sendmail's queue" sendmail_queued user@example.org
wait_for 5 "the clean session line" grep -q "session client=$CLEAN name=\[$CLEAN\] ptr=client20.example.net .*verdict=accept" "$WORK/log/milter.log"

log "a bad HELO is rejected at RCPT with 5xx, postmaster still reachable"
out=$(send_mail $BADHELO localhost user@example.org) && fail "bad HELO was accepted:
$out"
assert_contains "$out" "<** 550 5.7.1" "bad-HELO transcript"
assert_contains "$(grep -F 'RCPT TO' -A1 <<<"$out")" "<** 550 5.7.1" "bad-HELO transcript (reply to RCPT)"
assert_contains "$out" "Helo command rejected" "bad-HELO transcript"
out=$(send_mail $BADHELO localhost postmaster@example.org) || fail "postmaster was refused to a bad HELO:
$out"
wait_for 5 "Sendmail logging the milter reject" grep -q "Milter: to=<user@example.org>, reject=550 5.7.1" "$WORK/log/sendmail.log"

log "two messages in one session (CONTINUE at DATA, end of message): both taken and counted"
expect_two_messages $CLEAN

log "an allowlisted client is let through at CONNECT (SMFIS_ACCEPT), even with a bad HELO"
expect_allowlisted_passes $ALLOWED

log "a spamtrap hit is rejected without naming the trap, and bans the client"
out=$(send_mail $TRAPPER client.example.net trap@example.org) && fail "spamtrap mail was accepted:
$out"
assert_contains "$out" "<** 550 5.1.1" "spamtrap transcript"
assert_not_contains "$(grep -i '<\*\*' <<<"$out")" "spamtrap" "spamtrap reply text"
wait_for 5 "the spamtrap ban in the kernel" kernel_has $TRAPPER
assert_contains "$(mx_chain "$CHAIN" | grep -F " $TRAPPER ")" "[spamtrap]" "rule comment for $TRAPPER"
log "the banned client's next connection times out"
if tcp_connects 192.0.2.1 25 $TRAPPER 3; then fail "banned client $TRAPPER could still connect"; fi
pkts=$(mx_chain "$CHAIN" | grep -F " $TRAPPER " | awk '{print $1}')
[ "$pkts" -gt 0 ] || fail "the rule for $TRAPPER counted no packets"

log "another client still gets through"
out=$(send_mail $OTHER other.example.net other@example.org) || fail "unbanned client was refused:
$out"
assert_contains "$out" "Message accepted for delivery" "other client's transcript"

log "a client listed in the DNSBL is rejected at RCPT with 5xx, without the zone's name"
out=$(send_mail $LISTED client.example.net user@example.org) && fail "listed client accepted:
$out"
reply=$(grep '<\*\* ' <<<"$out" | head -1)
assert_contains "$reply" "550 5.7.1" "listed client's RCPT reply"
assert_not_contains "$reply" "bl.example" "listed client's RCPT reply"
assert_contains "$(ctl tallies | grep -F $LISTED)" "testbl:1" "tally of the listed client"

log "a relay-denied recipient is Sendmail's alone: never passed to the milter, not tallied"
out=$(send_mail $BADRCPT client.example.net someone@elsewhere.example) && fail "relaying was allowed:
$out"
assert_contains "$out" "550 5.7.1 <someone@elsewhere.example>... Relaying denied" "relay-denied transcript"
sleep 0.3
assert_not_contains "$(ctl tallies)" "$BADRCPT" "tallies after a relay-denied recipient"

log "a recipient rejected by the virtusertable (error:nouser) is not passed either"
out=$(send_mail $BADRCPT client.example.net nobody-virtual@example.org) && fail "virtusertable error accepted:
$out"
assert_contains "$out" "<** 550 5.1.1 <nobody-virtual@example.org>... User unknown" "virtusertable transcript"
sleep 0.3
assert_not_contains "$(ctl tallies)" "$BADRCPT" "tallies after a virtusertable rejection"

log "Sendmail's own rejections of unknown local users count (badrcpt) and earn a ban"
for i in 1 2 3; do
    out=$(send_mail $BADRCPT client.example.net "nobody$i@example.org") && fail "unknown recipient accepted:
$out"
    assert_contains "$out" "<** 550 5.1.1 <nobody$i@example.org>... User unknown" "Sendmail's reply to an unknown recipient"
done
wait_for 5 "the badrcpt ban in the kernel" kernel_has $BADRCPT
assert_contains "$(mx_chain "$CHAIN" | grep -F " $BADRCPT ")" "[badrcpt]" "rule comment for $BADRCPT"
assert_contains "$(ctl tallies | grep -F "$BADRCPT")" "badrcpt:3" "tally of $BADRCPT"
wait_for 3 "the badrcpt session line" grep -q "session client=$BADRCPT .*tags=badrcpt" "$WORK/log/milter.log"
if tcp_connects 192.0.2.1 25 $BADRCPT 3; then fail "banned client $BADRCPT could still connect"; fi

log "an IPv6 client through Sendmail: bad HELO rejected, tallied and banned per /64"
for src in $V6A $V6B $V6A; do
    out=$(send_mail $src localhost user@example.org) && fail "IPv6 bad HELO accepted:
$out"
    assert_contains "$out" "<** 550 5.7.1" "IPv6 bad-HELO transcript"
done
wait_for 5 "the /64 ban in the ip6tables chain" kernel_has $V6NET 6
tcp_connects "[2001:db8:1::1]" 25 "[2001:db8:1::10]" 3 || fail "the connection probe fails for an unbanned IPv6 client"
if tcp_connects "[2001:db8:1::1]" 25 "[$V6B]" 3; then fail "$V6B (banned /64) could still connect"; fi
assert_contains "$(ctl tallies | grep -F $V6NET)" "bad-helo:3" "tally of $V6NET"

log "three bad-HELO rejections within the window ban by threshold"
for _ in 2 3; do
    send_mail $BADHELO localhost other@example.org >/dev/null && fail "bad HELO accepted"
done
wait_for 5 "threshold ban of $BADHELO" kernel_has $BADHELO
assert_contains "$(mx_chain "$CHAIN" | grep -F " $BADHELO ")" "[bad-helo]" "threshold ban comment"

log "the milter's session lines carry Sendmail's [a.b.c.d] client names"
grep -q "session client=$BADHELO name=\[$BADHELO\] .*tags=bad-helo .*verdict=reject stage=rcpt" "$WORK/log/milter.log" ||
    fail "no session line for $BADHELO"
assert_not_contains "$(cat "$WORK/log/milter.log")" "callback failed" "milter log"
log "PASS"
