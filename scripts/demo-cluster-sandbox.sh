#!/usr/bin/env bash
# smtpwall's cluster mode in a sandbox (scripts/demo.sh --cluster): two MX hosts,
# each its own network namespace with its own Postfix, smtpwall-milter and
# smtpwall-helper (so its own kernel firewall), sharing one Redis; nsd with the demo
# zones and Redis in a third namespace; scripted TEST-NET clients in a fourth. The
# crowd spreads its attempts over both MX hosts: rejections counted at either host
# count at both, a ban made at one is in both kernels at once. It ends with both
# hosts' `smtpwallctl top 20` showing the same bans, and their status. Needs root and
# a build (scripts/demo.sh does both).
source "$(dirname "$0")/../test/integration/lib.sh"
source "$(dirname "$0")/../test/integration/cluster.sh"
say() { printf '\n== %s\n' "$*"; }

itest_init demo-cluster
cluster_netns 2
SPREAD=(192.0.2.40 192.0.2.41)  # bad HELOs, alternating between mx1 and mx2
TRAPPER=192.0.2.50              # writes to a spamtrap at mx2 only
LISTS=(192.0.2.30 192.0.2.31)   # mailing-list servers: delivered at both
for a in "${SPREAD[@]}" $TRAPPER "${LISTS[@]}"; do ip -n "$NS_CL" addr add "$a/24" dev cl0; done

say "starting nsd and Redis, then two MX hosts (Postfix, smtpwall-helper, smtpwall-milter)"
cluster_services
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 4 rejections in 1h"]'
for i in 1 2; do mx_start $i; done

attempt() {  # attempt MX SOURCE HELO RCPT
    local reply
    reply=$(send_to "$1" "$2" "$3" "$4" | grep -m1 -E '<\*\* [45]|queued as' || true)
    printf '  mx%s <- %-12s HELO %-20s -> %s\n' "$1" "$2" "$3" "${reply:-no answer (dropped?)}"
}

for round in 1 2; do
    say "round $round: the crowd spreads its attempts over both MX hosts"
    for a in "${LISTS[@]}"; do attempt 1 "$a" lists1.example.net user@example.org; done
    for a in "${SPREAD[@]}"; do
        attempt 1 "$a" localhost user@example.org
        attempt 2 "$a" localhost user@example.org
    done
    [ $round = 1 ] && attempt 2 $TRAPPER spam.example.net trap@example.org
done
say "after 2 rejections at each host (4 in all) the spreaders are banned at both"
for a in "${SPREAD[@]}"; do attempt 1 "$a" localhost user@example.org; done

say "the banned keep retrying both hosts for 10 s: both kernels drop and count"
retry() {
    local end=$((SECONDS + 10))
    while [ $SECONDS -lt $end ]; do
        if tcp_connects "192.0.2.$2" 25 "$1" 1; then sleep 1; fi
    done
}
pids=()
for a in "${SPREAD[@]}" $TRAPPER; do
    for i in 1 2; do retry "$a" $i & pids+=($!); done
done
wait "${pids[@]}"

for i in 1 2; do
    on_mx $i
    say "mx$i: smtpwallctl top 20"
    ctl top 20
done
for i in 1 2; do
    on_mx $i
    say "mx$i: smtpwallctl status"
    ctl status
done
tops_agree() {
    local one two
    one=$(on_mx 1 && ctl bans --json | python3 -c 'import json,sys; print(sorted(b["host"] for b in json.load(sys.stdin)["bans"]))')
    two=$(on_mx 2 && ctl bans --json | python3 -c 'import json,sys; print(sorted(b["host"] for b in json.load(sys.stdin)["bans"]))')
    [ -n "$one" ] && [ "$one" = "$two" ] && [ "$one" != "[]" ]
}
tops_agree || fail "the two hosts do not hold the same bans"
say "done: both hosts hold the same bans; tearing the sandbox down"
