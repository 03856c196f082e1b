#!/usr/bin/env bash
# smtpwall in a sandbox: a private Postfix in a network namespace ("mx",
# 192.0.2.1), smtpwall-milter and smtpwall-helper, and a handful of scripted
# SMTP clients on TEST-NET addresses in a second namespace. Some clients behave,
# some greet badly, one writes to a spamtrap; the bad ones get banned and their
# retries pile up as dropped packets in the kernel's counters. Everything is
# torn down at the end. Needs root and a build (scripts/demo.sh does both).
source "$(dirname "$0")/../test/integration/lib.sh"
say() { printf '\n== %s\n' "$*"; }

itest_init demo
netns_pair
LISTS=(192.0.2.30 192.0.2.31)   # mailing-list servers: good HELO, real recipients
BADHELO=(192.0.2.40 192.0.2.41) # greet as "localhost" / a bare word
TRAPPER=192.0.2.50              # writes to the spamtrap
for a in "${LISTS[@]}" "${BADHELO[@]}" $TRAPPER; do client_addr $a; done

say "starting smtpwall-helper (in the mx namespace), smtpwall-milter and Postfix"
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]'
smtpwall_start
postfix_start 192.0.2.1
echo "milter socket $MILTER_SOCK, control socket $CONTROL_SOCK, chain $CHAIN"

say "list servers deliver mail"
for a in "${LISTS[@]}"; do
    for i in 1 2; do
        send_mail "$a" "lists$i.example.net" user@example.org >/dev/null && echo "$a: message $i accepted" ||
            echo "$a: message $i refused (unexpected)"
    done
done

say "bad-HELO clients keep trying (3 rejections within the window earn a ban)"
helos=(localhost mailserver)
for round in 1 2 3; do
    for i in "${!BADHELO[@]}"; do
        a=${BADHELO[$i]}
        reply=$(send_mail "$a" "${helos[$i]}" user@example.org | grep -m1 '<\*\* 5' || true)
        echo "$a (HELO ${helos[$i]}), attempt $round: ${reply:-no 5xx}"
    done
done

say "a spammer hits the spamtrap (one hit earns a ban)"
reply=$(send_mail $TRAPPER spam.example.net trap@example.org | grep -m1 '<\*\* 5' || true)
echo "$TRAPPER: ${reply:-no 5xx}"
sleep 0.5

say "banned clients retry: their SYNs are now dropped by the kernel"
for a in "${BADHELO[@]}" $TRAPPER; do
    for _ in 1 2; do
        if tcp_connects 192.0.2.1 25 "$a" 2; then echo "$a: connected (not banned?)"; else echo "$a: connection timed out"; fi
    done
done
for a in "${LISTS[@]}"; do
    send_mail "$a" lists1.example.net user@example.org >/dev/null && echo "$a: still delivers"
done

say "smtpwallctl tallies"
ctl tallies
say "smtpwallctl bans (the kernel's packet and byte counters)"
ctl bans
say "the kernel's own view: iptables-legacy -L $CHAIN -v -x -n (in the mx namespace)"
mx_chain "$CHAIN"
say "done; tearing the sandbox down"
