#!/usr/bin/env bash
# End to end through a real Postfix in a network namespace: clients on TEST-NET
# addresses in another namespace; smtpwall-milter classifies, tallies and bans;
# smtpwall-helper puts the ban into the kernel (libiptc, legacy x_tables), and
# the banned client's next connection is really dropped.
source "$(dirname "$0")/lib.sh"
itest_init postfix
netns_pair
CLEAN=192.0.2.20 BADHELO=192.0.2.21 TRAPPER=192.0.2.22 OTHER=192.0.2.23 ALLOWED=192.0.2.24
for a in $CLEAN $BADHELO $TRAPPER $OTHER $ALLOWED; do client_addr $a; done
SMTPWALL_CHECKS_OPTIONS="allowlist = [\"$ALLOWED\"]"

SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]'
smtpwall_start
postfix_start 192.0.2.1

log "a clean client is delivered"
out=$(send_mail $CLEAN client.example.net user@example.org) || fail "clean mail was not accepted:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "clean client's transcript"

log "a bad HELO is rejected at RCPT with 5xx, postmaster still reachable"
out=$(send_mail $BADHELO localhost user@example.org) && fail "bad HELO was accepted:
$out"
assert_contains "$out" "<** 550 5.7.1" "bad-HELO transcript"
assert_contains "$out" "Helo command rejected" "bad-HELO transcript"
out=$(send_mail $BADHELO localhost postmaster@example.org) || fail "postmaster was refused to a bad HELO:
$out"
wait_for 5 "Postfix logging the milter reject" grep -q "milter-reject: RCPT from unknown\[$BADHELO\]" "$WORK/log/maillog"

log "two messages in one session (CONTINUE at DATA, end of message): both taken and counted"
expect_two_messages $CLEAN

log "an allowlisted client is let through at CONNECT (SMFIS_ACCEPT), even with a bad HELO"
expect_allowlisted_passes $ALLOWED

log "a spamtrap hit is rejected without naming the trap, and bans the client"
out=$(send_mail $TRAPPER client.example.net trap@example.org) && fail "spamtrap mail was accepted:
$out"
assert_contains "$out" "<** 550 5.1.1" "spamtrap transcript"
assert_not_contains "$out" "trap@example.org>: Recipient address rejected: spam" "spamtrap transcript"
assert_not_contains "$(grep -i '<\*\*' <<<"$out")" "spamtrap" "spamtrap reply text"
wait_for 5 "the ban reaching the kernel" bash -c "ip netns exec $NS_MX iptables-legacy -L $CHAIN -n | grep -q $TRAPPER"

log "the banned client's next connection times out"
if tcp_connects 192.0.2.1 25 $TRAPPER 3; then fail "banned client $TRAPPER could still connect"; fi
rules=$(mx_chain "$CHAIN")
log "kernel chain:
$rules"
row=$(grep -F " $TRAPPER " <<<"$rules") || fail "no rule for $TRAPPER in $CHAIN"
assert_contains "$row" "DROP" "rule for $TRAPPER"
assert_contains "$row" "[spamtrap]" "rule comment for $TRAPPER"
pkts=$(awk '{print $1}' <<<"$row")
[ "$pkts" -gt 0 ] || fail "the rule for $TRAPPER counted no packets: $row"

log "another client still gets through"
out=$(send_mail $OTHER other.example.net user@example.org) || fail "unbanned client was refused:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "other client's transcript"

log "three bad-HELO rejections within the window ban by threshold"
for _ in 2 3; do
    send_mail $BADHELO localhost other@example.org >/dev/null && fail "bad HELO accepted"
done
wait_for 5 "threshold ban of $BADHELO" bash -c "ip netns exec $NS_MX iptables-legacy -L $CHAIN -n | grep -q $BADHELO"
assert_contains "$(mx_chain "$CHAIN" | grep -F " $BADHELO ")" "[bad-helo]" "threshold ban comment"

log "smtpwallctl shows the same facts"
tallies=$(ctl tallies) || fail "smtpwallctl tallies failed"
log "tallies:
$tallies"
assert_contains "$(grep -F "$TRAPPER" <<<"$tallies")" "spamtrap:1" "tallies row of $TRAPPER"
assert_contains "$(grep -F "$BADHELO" <<<"$tallies")" "bad-helo:3" "tallies row of $BADHELO"
assert_not_contains "$tallies" "$CLEAN" "tallies (clean client has no rejections)"
ctl tallies --json | python3 -c "
import json, sys
rows = {r['address']: r for r in json.load(sys.stdin)}
assert rows['$TRAPPER']['tags'] == {'spamtrap': 1}, rows
assert rows['$BADHELO']['rejections'] == 3, rows
" || fail "tallies --json does not match"

bans=$(ctl bans) || fail "smtpwallctl bans failed"
log "bans:
$bans"
head -1 <<<"$bans" | grep -q '^Host/Mask *Packets *Bytes' || fail "bans header is wrong: $bans"
row=$(grep -F "$TRAPPER " <<<"$bans") || fail "bans does not list $TRAPPER"
assert_contains "$row" "[a] [spamtrap]" "bans row of $TRAPPER"
kernel_pkts=$(mx_chain "$CHAIN" | grep -F " $TRAPPER " | awk '{print $1}')
ctl bans --json | python3 -c "
import json, sys
doc = json.load(sys.stdin)
assert doc['kernel_known'], doc
by_host = {b['host']: b for b in doc['bans']}
b = by_host['$TRAPPER']
assert b['tags'] == ['spamtrap'] and b['dynamic'], b
assert b['packets'] == $kernel_pkts and b['packets'] > 0, (b, $kernel_pkts)
assert by_host['$BADHELO']['tags'][0] == 'bad-helo', by_host
" || fail "bans --json does not match the kernel's counters"

log "the milter logged one key=value line per session"
grep -q "session client=$TRAPPER .*tags=spamtrap .*verdict=reject stage=rcpt" "$WORK/log/milter.log" ||
    fail "no session line for $TRAPPER in the milter log"
log "PASS"
