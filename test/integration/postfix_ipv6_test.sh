#!/usr/bin/env bash
# IPv6 clients through a real Postfix listening on [2001:db8:1::1]:25 in a
# network namespace (2001:db8::/32, no default route). What postfix_state_test.sh
# does not already show (it covers a /64 tally of bad HELOs and the ip6tables
# ban): a clean IPv6 client with a forward-confirmed PTR is delivered; a client
# listed in the DNSBL by its nibble-format name is rejected at RCPT without
# the zone's name; a bad HELO is rejected and logged by Postfix; a spamtrap
# hit bans the whole /64 at once, with its [spamtrap] comment and packet
# counters in the ip6tables chain, and any host of that /64 is dropped on its
# next connection, while other /64s and IPv4 clients still get through.
# Clients behind NAT64 (64:ff9b::/96) are judged and tallied as the IPv4 they
# carry and banned as exactly their one IPv6 address: a neighbour in the same
# /64 (every other IPv4 client of the translator) still gets through, and the
# NAT64 form of a protected address is never banned.
source "$(dirname "$0")/lib.sh"
itest_init postfix-ipv6
netns_pair
CLEAN6=2001:db8:4::20 LISTED6=2001:db8:4::62 BADHELO6=2001:db8:5::21
TRAP6=2001:db8:9::22 TRAP6_NEIGHBOUR=2001:db8:9::99 TRAP6_NET=2001:db8:9::/64
OTHER6=2001:db8:a::23 CLEAN4=192.0.2.20
for a in $CLEAN6 $LISTED6 $BADHELO6 $TRAP6 $TRAP6_NEIGHBOUR $OTHER6 $CLEAN4; do client_addr "$a"; done
# NAT64 forms (RFC 6052, 64:ff9b::/96) of 192.0.2.62 (listed in bl.example),
# 203.0.113.7 and .8 (ordinary), 198.51.100.7 (protected in the helper's config).
NAT64_LISTED=64:ff9b::c000:23e NAT64_TRAP=64:ff9b::cb00:7107 NAT64_NEIGHBOUR=64:ff9b::cb00:7108
NAT64_PROTECTED=64:ff9b::c633:6407
for a in $NAT64_LISTED $NAT64_TRAP $NAT64_NEIGHBOUR $NAT64_PROTECTED; do
    ip -n "$NS_CL" addr add "$a/96" dev cl0 nodad
done
ip -n "$NS_MX" -6 route replace 64:ff9b::/96 dev mx0

# DNSBL zones are asked for IPv4 clients only unless told (most lists are
# IPv4-only): the same test zone once more, for IPv6 clients.
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]
[[zone]]
tag = "testbl6"
zone = "bl.example"
codes = "127.0.0.[2..11]"
weight = 10
ipv4 = false
ipv6 = true'
smtpwall_start
postfix_start '[2001:db8:1::1]' 192.0.2.1

log "a clean IPv6 client with a confirmed PTR is delivered"
out=$(send_mail $CLEAN6 client.example.net user@example.org) || fail "clean IPv6 mail was not accepted:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "clean IPv6 client's transcript"
wait_for 5 "the clean IPv6 session line" \
    grep -q "session client=$CLEAN6 .*ptr=client-v6.example.net .*score=0 verdict=accept" "$WORK/log/milter.log"

log "an IPv6 client listed in the DNSBL (nibble format) is rejected at RCPT, the zone not named"
out=$(send_mail $LISTED6 client.example.net user@example.org) && fail "listed IPv6 client accepted:
$out"
reply=$(grep '<\*\* ' <<<"$out" | head -1)
assert_contains "$reply" "550 5.7.1" "listed IPv6 client's RCPT reply"
assert_contains "$reply" "[$LISTED6]" "listed IPv6 client's RCPT reply"
assert_not_contains "$reply" "bl.example" "listed IPv6 client's RCPT reply"
wait_for 5 "the listed IPv6 session line" \
    grep -q "session client=$LISTED6 .*listed=testbl6 .*verdict=reject stage=rcpt" "$WORK/log/milter.log"
assert_contains "$(ctl tallies | grep -F 2001:db8:4::/64)" "testbl6:1" "tally of the listed client's /64"

log "an IPv6 bad HELO is rejected at RCPT with 5xx and logged by Postfix"
out=$(send_mail $BADHELO6 localhost user@example.org) && fail "IPv6 bad HELO accepted:
$out"
assert_contains "$out" "<** 550 5.7.1" "IPv6 bad-HELO transcript"
assert_contains "$out" "Helo command rejected" "IPv6 bad-HELO transcript"
wait_for 5 "Postfix logging the milter reject" grep -qF "milter-reject: RCPT from unknown[$BADHELO6]" "$WORK/log/maillog"
out=$(send_mail $BADHELO6 localhost postmaster@example.org) || fail "postmaster refused to an IPv6 client:
$out"

log "an IPv6 spamtrap hit bans the whole /64 at once"
out=$(send_mail $TRAP6 client.example.net trap@example.org) && fail "IPv6 spamtrap mail accepted:
$out"
assert_contains "$out" "<** 550 5.1.1" "IPv6 spamtrap transcript"
wait_for 5 "the /64 in the ip6tables chain" kernel_has $TRAP6_NET 6
kernel_lacks $TRAP6 6 || fail "the single host $TRAP6 was banned instead of its /64"
row=$(mx_chain "$CHAIN" 6 | grep -F " $TRAP6_NET ") || fail "no rule for $TRAP6_NET"
assert_contains "$row" "DROP" "rule for $TRAP6_NET"
assert_contains "$row" "[spamtrap]" "rule comment for $TRAP6_NET"
kernel_lacks $TRAP6_NET || fail "an IPv6 net in the IPv4 chain"

log "any host of the banned /64 is dropped on its next connection"
# (socat needs IPv6 literals in brackets; the unbanned client proves the probe.)
tcp_connects "[2001:db8:1::1]" 25 "[$OTHER6]" 3 || fail "the connection probe fails for an unbanned IPv6 client"
if tcp_connects "[2001:db8:1::1]" 25 "[$TRAP6]" 3; then fail "banned $TRAP6 could still connect"; fi
if tcp_connects "[2001:db8:1::1]" 25 "[$TRAP6_NEIGHBOUR]" 3; then fail "$TRAP6_NEIGHBOUR (same /64) could still connect"; fi
pkts=$(mx_chain "$CHAIN" 6 | grep -F " $TRAP6_NET " | awk '{print $1}')
[ "$pkts" -gt 0 ] || fail "the rule for $TRAP6_NET counted no packets"
log "  $pkts packets dropped"

log "other /64s and IPv4 clients still get through"
out=$(send_mail $OTHER6 other.example.net user@example.org) || fail "IPv6 client of another /64 refused:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "other IPv6 client's transcript"
out=$(send_mail $CLEAN4 client.example.net user@example.org) || fail "IPv4 client refused:
$out"
assert_contains "$out" "250 2.0.0 Ok: queued as" "IPv4 client's transcript"

log "a NAT64 client is judged as the IPv4 it carries"
out=$(send_mail $NAT64_LISTED client.example.net user@example.org) && fail "NAT64 form of a listed IPv4 accepted:
$out"
assert_contains "$(grep '<\*\* ' <<<"$out" | head -1)" "550 5.7.1" "NAT64 listed client's RCPT reply"
wait_for 5 "the NAT64 listed session line" \
    grep -q "session client=192.0.2.62 .*listed=testbl .*verdict=reject .*peer=$NAT64_LISTED" "$WORK/log/milter.log"

log "a NAT64 spamtrap hit bans that one IPv6 address, tallied as its IPv4 /32"
out=$(send_mail $NAT64_TRAP client.example.net trap@example.org) && fail "NAT64 spamtrap mail accepted:
$out"
wait_for 5 "the NAT64 address in the ip6tables chain" kernel_has $NAT64_TRAP 6
for wide in 64:ff9b::/64 64:ff9b::/96 64:ff9b::cb00:7100/120; do
    kernel_lacks $wide 6 || fail "the ban of one NAT64 client covers $wide"
done
if tcp_connects "[2001:db8:1::1]" 25 "[$NAT64_TRAP]" 3; then fail "banned $NAT64_TRAP could still connect"; fi
tcp_connects "[2001:db8:1::1]" 25 "[$NAT64_NEIGHBOUR]" 3 ||
    fail "$NAT64_NEIGHBOUR (another IPv4 client of the same translator) was cut off"
out=$(send_mail $NAT64_NEIGHBOUR client.example.net user@example.org) ||
    fail "the NAT64 neighbour's mail was refused:
$out"
ctl tallies --json | python3 -c "
import json, sys
rows = {r['address']: r for r in json.load(sys.stdin)}
assert rows['203.0.113.7']['tags'].get('spamtrap') == 1, rows
assert not any(a.startswith('64:ff9b') for a in rows), rows
" || fail "the NAT64 client is not tallied as 203.0.113.7: $(ctl tallies)"
ctl bans --json | python3 -c "
import json, sys
hosts = {b['host'] for b in json.load(sys.stdin)['bans']}
assert '$NAT64_TRAP' in hosts, hosts
" || fail "ctl bans does not show $NAT64_TRAP: $(ctl bans)"

log "the NAT64 form of a protected address is rejected, never banned"
out=$(send_mail $NAT64_PROTECTED client.example.net trap@example.org) && fail "NAT64 protected trap mail accepted:
$out"
wait_for 5 "the helper refusing the ban" \
    grep -q "ban refused by the helper client=$NAT64_PROTECTED" "$WORK/log/milter.log"
kernel_lacks $NAT64_PROTECTED 6 || fail "the NAT64 form of protected 198.51.100.7 is in the kernel"
tcp_connects "[2001:db8:1::1]" 25 "[$NAT64_PROTECTED]" 3 || fail "$NAT64_PROTECTED was cut off"

log "smtpwallctl agrees: tallies and bans per /64"
ctl tallies --json | python3 -c "
import json, sys
rows = {r['address']: r for r in json.load(sys.stdin)}
assert rows['$TRAP6_NET']['tags'].get('spamtrap') == 1, rows
assert rows['2001:db8:5::/64']['tags'].get('bad-helo') == 1, rows
assert not any(':' in a and not a.endswith('/64') for a in rows), rows
" || fail "IPv6 tallies are not per /64: $(ctl tallies)"
ctl bans --json | python3 -c "
import json, sys
hosts = {b['host']: b for b in json.load(sys.stdin)['bans']}
b = hosts['$TRAP6_NET']
assert b['tags'] == ['spamtrap'] and b['packets'] > 0, b
" || fail "ctl bans does not show $TRAP6_NET with its counters: $(ctl bans)"
log "PASS"
