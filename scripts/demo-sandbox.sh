#!/usr/bin/env bash
# smtpwall in a sandbox. A private Postfix in a network namespace ("mx",
# 192.0.2.1), nsd serving demo DNS zones (PTRs, a DNSBL, a DNSWL), smtpwall-milter
# and smtpwall-helper, and a scripted crowd of TEST-NET clients in a second
# namespace: mailing-list servers, clients with bad HELOs, dialups, listed hosts,
# a spamtrap hitter, a noisy /24, and a netblock on the helper's static core list.
# The bad ones get banned; they keep retrying, and their dropped packets pile up
# in the kernel's counters. It ends with the operator's weekly report
# (`smtpwallctl top 20`) and `smtpwallctl status`, then tears everything down.
# Needs root and a build (scripts/demo.sh does both).
source "$(dirname "$0")/../test/integration/lib.sh"
say() { printf '\n== %s\n' "$*"; }

itest_init demo
netns_pair
LISTS=(192.0.2.30 192.0.2.31)             # mailing-list servers: good names, real recipients
BADHELO=(192.0.2.40 192.0.2.41)           # greet as "localhost" and as a bare word
DIALUPS=(192.0.2.67 192.0.2.68)           # dsl-/ppp- PTRs; .67 is also in the blocklist
LISTED=(192.0.2.62 192.0.2.69)            # in the blocklist
TRAPPER=192.0.2.50                        # writes to the spamtrap
NOISY=(203.0.113.10 203.0.113.11 203.0.113.12 203.0.113.13)  # one /24, all bad
CORE=198.51.100.77                        # inside the helper's core list
for a in "${LISTS[@]}" "${BADHELO[@]}" "${DIALUPS[@]}" "${LISTED[@]}" $TRAPPER "${NOISY[@]}" $CORE; do
    client_addr "$a"
done

say "starting nsd (demo zones), smtpwall-helper (in the mx namespace), smtpwall-milter and Postfix"
SMTPWALL_BL_TAG=cbl  # the report shows why: [cbl] like the seed's operator
SMTPWALL_PROTECTED='"192.0.2.0/29"'
SMTPWALL_HELPER_CORE='[core]
networks = ["198.51.100.0/25"]
tags = ["core"]'
SMTPWALL_EXTRA_MILTER_CONF='[identity]
addresses = ["192.0.2.1", "2001:db8:1::1"]
[scoring.weights]
dialup = 10
[escalation]
rules = ["ban at first spamtrap", "ban after 2 rejections in 1h if cbl", "ban after 2 rejections in 1h if dialup", "ban after 3 rejections in 1h"]
[aggregation]
min_banned = 4'
smtpwall_start
postfix_start 192.0.2.1
echo "control socket: $CONTROL_SOCK (try: smtpwallctl --socket $CONTROL_SOCK status)"

attempt() {  # attempt SOURCE HELO RCPT: one SMTP transaction, prints the outcome
    local reply
    reply=$(send_mail "$1" "$2" "$3" | grep -m1 -E '<\*\* [45]|queued as' || true)
    printf '  %-14s HELO %-34s -> %s\n' "$1" "$2" "${reply:-no answer (dropped?)}"
}

for round in 1 2 3; do
    say "round $round: the crowd sends mail"
    for a in "${LISTS[@]}"; do attempt "$a" "lists1.example.net" user@example.org; done
    attempt "${BADHELO[0]}" localhost user@example.org
    attempt "${BADHELO[1]}" mailserver user@example.org
    attempt "${DIALUPS[0]}" dsl-192-0-2-67.dyn.isp.example.net user@example.org
    attempt "${DIALUPS[1]}" ppp-192-0-2-68.pool.isp.example.net user@example.org
    for a in "${LISTED[@]}"; do attempt "$a" "client${a##*.}.example.net" user@example.org; done
    for a in "${NOISY[@]}"; do attempt "$a" "[127.0.0.1]" user@example.org; done
    [ $round = 1 ] && attempt $TRAPPER spam.example.net trap@example.org
done

say "the banned keep retrying for 20 s: their SYNs are dropped and counted"
retry() {  # keeps opening connections for SECONDS; the kernel drops them
    local end=$((SECONDS + $2))
        while [ $SECONDS -lt $end ]; do
        if tcp_connects 192.0.2.1 25 "$1" 2; then sleep 1; fi
    done
}
pids=()
for a in "${BADHELO[@]}" "${DIALUPS[@]}" "${LISTED[@]}" $TRAPPER "${NOISY[@]}" 203.0.113.99 $CORE; do
    [ "$a" = 203.0.113.99 ] && client_addr 203.0.113.99  # a newcomer from the noisy /24
    retry "$a" 20 &
    pids+=($!)
done
for a in "${LISTS[@]}"; do attempt "$a" lists2.example.net user@example.org; done
wait "${pids[@]}"

say "smtpwallctl tallies --top 10"
ctl tallies --top 10
say "smtpwallctl top 20: the top sources of dropped SMTP packets, from the kernel's counters"
ctl top 20
say "smtpwallctl status"
ctl status
# CI runs this demo: the report must show what it is for.
ctl top 20 --json | python3 -c "
import json, sys
rows = json.load(sys.stdin)
dynamic = [r for r in rows if r['dynamic'] and r['tags'] and r['packets'] > 0]
core = [r for r in rows if not r['dynamic'] and r['packets'] > 0]
assert len(dynamic) >= 5, rows
assert any(r['host'].endswith('/24') for r in dynamic), 'no aggregated block: %s' % rows
assert core, 'the core netblock dropped nothing: %s' % rows
" || fail "the final report lacks dynamic entries with tags and counters, a block or the core entry"
say "done; tearing the sandbox down"
