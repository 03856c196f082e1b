#!/usr/bin/env bash
# DNS-based classification end to end: a real Postfix, the milter asking a real
# nsd (test/data/mx-zones) through dnsdist, which drops the lookups of one client
# to simulate a dead DNS. A listed client is rejected at RCPT with 5xx and tallied
# with the zone's tag; a DNSWL-listed client is accepted although also listed; a
# client without PTR is tagged baddns (not rejected on that alone); a dynamic-
# looking confirmed PTR is tagged dialup; a "query refused" answer suspends the
# zone; a client whose lookups time out gets a 4xx, never a 5xx.
source "$(dirname "$0")/lib.sh"
itest_init postfix-dns
netns_pair
LISTED=192.0.2.62 BOTH=192.0.2.63 NOPTR=192.0.2.60 DYNAMIC=192.0.2.61 DROPPED=192.0.2.65 REFUSING=192.0.2.66
CLEAN=192.0.2.20
for a in $LISTED $BOTH $NOPTR $DYNAMIC $DROPPED $REFUSING $CLEAN; do client_addr $a; done

nsd_start "$SOURCE_DIR/test/data/mx-zones"
# Everything about 192.0.2.65 vanishes: its PTR and its DNSBL query.
DNSDIST_CHECK_NAME=example.net. dnsdist_start "$NSD_PORT" '
addAction(RegexRule("^65\\.2\\.0\\.192\\."), DropAction())'
SMTPWALL_DNS_PORT=$DNSDIST_PORT
SMTPWALL_DNS_CONF=$(printf '[dns]\nservers = ["127.0.0.1:%s"]\ntimeout = "400ms"\nattempts = 2\ndeadline = "2s"\nzone_suspension = "1h"' "$DNSDIST_PORT")
SMTPWALL_EXTRA_MILTER_CONF='[[zone]]
tag = "deadbl"
zone = "dead.example"
weight = 10
[escalation]
rules = ["ban at first spamtrap"]
good_mail_ratio = 0
[shared_relays]
good_mail = 0'
# Delivered mail earns no credit here, so DATA settles an accepted message
# (SMFIS_ACCEPT, no end of message): that conversation with a real Postfix.
smtpwall_start
postfix_start 192.0.2.1

log "two messages in one session, each settled at DATA: both taken and counted"
expect_two_messages $CLEAN

log "a blocklist that lists everything fails its probe and is ignored"
dead_zone_reported() { ctl status | grep -q 'zone dead.example (deadbl, weight 10): dead'; }
wait_for 10 "the probe marking dead.example dead" dead_zone_reported
grep -q "zone dead.example marked dead: lists the 127.0.0.1 test point" "$WORK/log/milter.log" ||
    fail "no log line for the dead zone"

log "a clean client with a confirmed PTR is delivered"
out=$(send_mail $CLEAN client.example.net user@example.org) || fail "clean client refused:
$out"
grep -q "session client=$CLEAN .*ptr=client20.example.net .*score=0 verdict=accept" "$WORK/log/milter.log" ||
    wait_for 3 "the clean session line" grep -q "session client=$CLEAN .*ptr=client20.example.net .*score=0 verdict=accept" "$WORK/log/milter.log"

log "a client listed in the DNSBL is rejected at RCPT with 5xx, without the zone's name"
out=$(send_mail $LISTED client.example.net user@example.org) && fail "listed client accepted:
$out"
reply=$(grep '<\*\* ' <<<"$out" | head -1)
assert_contains "$reply" "550 5.7.1" "listed client's RCPT reply"
assert_not_contains "$reply" "bl.example" "listed client's RCPT reply"
assert_contains "$(ctl tallies | grep -F $LISTED)" "testbl:1" "tally of the listed client"
wait_for 3 "the listed session line" grep -q "session client=$LISTED .*listed=testbl listed_txt=\"listed: spam source, see https://bl.example/62\" .*verdict=reject" "$WORK/log/milter.log"

log "a client listed in the DNSBL and the DNSWL is accepted (the allowlist wins)"
out=$(send_mail $BOTH client.example.net user@example.org) || fail "DNSWL-listed client refused:
$out"

log "no PTR: tagged baddns, accepted on that alone (weight 5 < 10)"
send_mail $NOPTR client.example.net user@example.org >/dev/null || fail "client without PTR refused"
wait_for 3 "the baddns session line" grep -q "session client=$NOPTR .*tags=baddns score=5 verdict=accept" "$WORK/log/milter.log"

log "SPF fail plus no PTR adds up to a reject (5 + 5)"
out=$(send_mail $NOPTR client.example.net user@example.org --from someone@fail.example.net) &&
    fail "SPF fail without PTR accepted:
$out"
assert_contains "$out" "<** 550 5.7.1" "SPF-fail transcript"
wait_for 3 "the spf-fail session line" grep -q "session client=$NOPTR .*tags=baddns,spf-fail score=10 verdict=reject" "$WORK/log/milter.log"
out=$(send_mail $CLEAN client.example.net user@example.org --from someone@fail.example.net) ||
    fail "SPF fail alone (weight 5) rejected:
$out"

log "a dynamic-looking confirmed PTR is tagged dialup"
send_mail $DYNAMIC client.example.net user@example.org >/dev/null || fail "dialup client refused (weight 5 < 10)"
wait_for 3 "the dialup session line" grep -q "session client=$DYNAMIC .*ptr=dsl-192-0-2-61.dyn.isp.example.net .*tags=dialup" "$WORK/log/milter.log"

log "an unresolvable HELO name is bad-helo"
out=$(send_mail $CLEAN nosuchhost.example.net user@example.org) && fail "unresolvable HELO accepted:
$out"
assert_contains "$out" "<** 550 5.7.1 Helo command rejected" "unresolvable-HELO transcript"

log "smtpwallctl check asks live DNS through the milter"
out=$(ctl check --ip $LISTED --helo client.example.net --from someone@example.net --json) || fail "ctl check failed"
python3 -c "
import json, sys
r = json.loads(sys.argv[1])
assert r['tags'] == ['testbl'] and r['score'] == 10 and r['verdict'] == 'reject', r
assert r['dns']['ptr']['outcome'] == 'confirmed' and r['dns']['ptr']['confirmed'] == 'client62.example.net', r
zones = {z['tag']: z for z in r['dns']['zones']}
assert zones['testbl']['outcome'] == 'listed' and zones['testbl']['codes'] == ['127.0.0.2'], zones
assert zones['testbl']['txt'].startswith('listed:') or zones['testbl']['txt'] == '', zones
assert r['dns']['spf']['result'] == 'pass', r
" "$out" || fail "live check of $LISTED: $out"
out=$(ctl check --ip $NOPTR --helo client.example.net) || fail "ctl check failed"
assert_contains "$out" "baddns" "live check of $NOPTR"
assert_contains "$out" "ptr: none" "live check of $NOPTR"
log "smtpwallctl check --offline judges given facts with the same weights, no daemon"
out=$("$CTL_BIN" --socket /nonexistent check --offline -c "$WORK/smtpwall.conf" --ip 192.0.2.99 \
    --ptr dsl-192-0-2-99.dyn.isp.example.net --helo client.example.net --listed testbl --json) ||
    fail "offline check failed: $out"
python3 -c "
import json, sys
r = json.loads(sys.argv[1])
assert sorted(r['tags']) == ['dialup', 'testbl'] and r['score'] == 15 and r['verdict'] == 'reject', r
" "$out" || fail "offline check: $out"

log "127.255.255.254 from the DNSBL is a refusal: no listing, zone suspended"
out=$(send_mail $REFUSING client.example.net user@example.org) || fail "client refused on a 'query refused' answer:
$out"
wait_for 3 "the suspension warning" grep -q "zone bl.example suspended" "$WORK/log/milter.log"
log "while suspended, a listed client is no longer rejected on that zone"
send_mail $LISTED client.example.net user@example.org >/dev/null || fail "suspended zone still used"

log "a client whose lookups time out gets 4xx, never 5xx"
start=$(date +%s%N)
out=$(send_mail $DROPPED client.example.net user@example.org) && fail "client with dead DNS accepted:
$out"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
assert_contains "$out" "<** 451 4.7.1" "dead-DNS transcript"
assert_not_contains "$out" "<** 5" "dead-DNS transcript"
[ "$elapsed_ms" -lt 8000 ] || fail "the session waited ${elapsed_ms} ms, past the 2 s DNS deadline"
assert_not_contains "$(ctl tallies)" "$DROPPED" "tallies (a tempfail is not a rejection)"
wait_for 3 "the tempfail session line" grep -q "session client=$DROPPED .*verdict=tempfail" "$WORK/log/milter.log"
log "PASS"
