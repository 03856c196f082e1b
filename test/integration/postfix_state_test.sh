#!/usr/bin/env bash
# Tallies that last and escalation that is safe, end to end through a real
# Postfix: Postfix's own recipient rejections (SMFIP_RCPT_REJ) earn a ban;
# IPv6 clients are tallied and banned per /64 in the ip6tables chain; K hosts
# of one /24 become one block entry; after kill -9 and a restart of the milter,
# tallies and bans are intact and still in the kernel; a chain flushed by hand
# is restored when the milter comes back (full-state sync).
source "$(dirname "$0")/lib.sh"
itest_init postfix-state
netns_pair
BADRCPT=192.0.2.30
V6A=2001:db8:2::5 V6B=2001:db8:2::6 V6C=2001:db8:2::7 V6NET=2001:db8:2::/64
BLOCK=(203.0.113.10 203.0.113.11 203.0.113.12) BLOCK_OTHER=203.0.113.50
for a in $BADRCPT $V6A $V6B $V6C "${BLOCK[@]}" $BLOCK_OTHER; do client_addr "$a"; done

# The helper repairs on its own only once an hour here, so a restored rule
# proves the milter's sync.
SMTPWALL_EXTRA_HELPER_CONF='repair_interval = "1h"'
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]
[aggregation]
min_banned = 3'
smtpwall_start
postfix_start 192.0.2.1 '[2001:db8:1::1]'

log "Postfix's own rejections of unknown recipients count (badrcpt) and earn a ban"
for i in 1 2 3; do
    out=$(send_mail $BADRCPT client.example.net "nobody$i@example.org") && fail "unknown recipient accepted:
$out"
    assert_contains "$out" "550 5.1.1" "Postfix's reply to an unknown recipient"
done
wait_for 5 "the badrcpt ban in the kernel" kernel_has $BADRCPT
assert_contains "$(mx_chain "$CHAIN" | grep -F "$BADRCPT")" "[badrcpt]" "rule comment"
grep -q "session client=$BADRCPT .*tags=badrcpt" "$WORK/log/milter.log" || fail "no badrcpt session line"

log "IPv6 clients are tallied and banned per /64"
for src in $V6A $V6B $V6A; do
    out=$(send_mail $src localhost user@example.org) && fail "IPv6 bad HELO accepted:
$out"
    assert_contains "$out" "550 5.7.1" "IPv6 bad-HELO transcript"
done
wait_for 5 "the /64 ban in the ip6tables chain" kernel_has $V6NET 6
if tcp_connects "[2001:db8:1::1]" 25 "[$V6C]" 3; then fail "$V6C (same /64) could still connect"; fi
tally=$(ctl tallies --json) || fail "ctl tallies failed"
python3 -c "
import json, sys
rows = {r['address']: r for r in json.loads(sys.argv[1])}
assert rows['$V6NET']['rejections'] == 3, rows
assert '$V6A' not in rows and '$V6B' not in rows, rows
" "$tally" || fail "IPv6 tally is not per /64: $tally"

log "three banned hosts in one /24 become one block entry"
for a in "${BLOCK[@]}"; do send_mail "$a" client.example.net trap@example.org >/dev/null && fail "spamtrap accepted"; done
wait_for 5 "the /24 block in the kernel" kernel_has 203.0.113.0/24
for a in "${BLOCK[@]}"; do wait_for 5 "the host entry $a retired" kernel_lacks "$a"; done
if tcp_connects 192.0.2.1 25 $BLOCK_OTHER 3; then fail "$BLOCK_OTHER inside the banned block could connect"; fi
bans=$(ctl bans) || fail "ctl bans failed"
assert_contains "$(grep -F 203.0.113.0/24 <<<"$bans")" "[a] [spamtrap]" "bans row of the block"

log "kill -9 of the milter loses nothing"
kernel_before=$(mx_chain "$CHAIN"; mx_chain "$CHAIN" 6)
sleep 1.5  # one flush interval: the state writer is behind the hot path by design
tallies_before=$(ctl tallies --json)
kill -KILL "$PID_milter"
wait "$PID_milter" 2>/dev/null || true
milter_start milter2
tallies_after=$(ctl tallies --json) || fail "ctl tallies failed after restart"
python3 -c "
import json, sys
before = {r['address']: (r['rejections'], r['tags']) for r in json.loads(sys.argv[1])}
after = {r['address']: (r['rejections'], r['tags']) for r in json.loads(sys.argv[2])}
assert before == after, (before, after)
assert after['$BADRCPT'] == (3, {'badrcpt': 3}), after
" "$tallies_before" "$tallies_after" || fail "tallies changed across kill -9:
before: $tallies_before
after:  $tallies_after"
bans=$(ctl bans --json)
python3 -c "
import json, sys
hosts = {b['host'] for b in json.loads(sys.argv[1])['bans']}
assert hosts == {'$BADRCPT', '$V6NET', '203.0.113.0/24'}, hosts
" "$bans" || fail "bans changed across kill -9: $bans"
for net in $BADRCPT 203.0.113.0/24; do kernel_has $net || fail "$net left the kernel"; done
kernel_has $V6NET 6 || fail "$V6NET left the kernel"
grep -q "state restored .*tallies=" "$WORK/log/milter2.log" || fail "the restarted milter did not restore its state"

log "a chain flushed by hand is restored when the milter comes back"
in_mx iptables-legacy -F "$CHAIN"
kernel_has $BADRCPT && fail "flush did not work"
stop milter2
milter_start milter3
wait_for 10 "the milter's sync restoring $BADRCPT" kernel_has $BADRCPT
wait_for 5 "the milter's sync restoring the block" kernel_has 203.0.113.0/24
if tcp_connects 192.0.2.1 25 $BADRCPT 3; then fail "$BADRCPT could connect after the restore"; fi
log "PASS"
