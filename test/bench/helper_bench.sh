#!/usr/bin/env bash
# Benchmark of smtpwall-helper per firewall backend, run on demand (root; not a test).
# In a network namespace pair, for each backend and list size N:
#
#   sync s     time to add N entries as one SYNC (one commit per family)
#   pipe s     time to add N entries as plain ADDs written without waiting (the helper
#              commits whatever arrived together, about 2000 requests at a time)
#   clear s    time of an empty SYNC that removes the N entries again
#   add ms     one more ADD in the full table: request -> reply (the helper replies
#              after the commit), median and max of LATENCY_COUNT
#   drop ms    the same ADD: request -> first SYN from that address that goes
#              unanswered (probed every ~0.1 ms from the client namespace)
#   kpps       SYNs per second that get through the hook while a client NOT in the list
#              floods the SMTP port from the other namespace, and the ratio to the same
#              flood with an empty list (1.00 = no slowdown)
#
#   usage: test/bench/helper_bench.sh            (SMTPWALL_BUILD_DIR: the build tree,
#          BACKENDS="iptables ipset nftables"     default <repo>/build)
#          SIZES="1000 10000 100000" FLOOD_SECONDS=3 LATENCY_COUNT=10
#
# The machine's other load shows in the figures: compare ratios, not absolute rates.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$REPO/build}
export SMTPWALL_SOURCE_DIR=$REPO
source "$REPO/test/integration/lib.sh"

BACKENDS=${BACKENDS:-iptables ipset nftables}
SIZES=${SIZES:-1000 10000 100000}
FLOOD_SECONDS=${FLOOD_SECONDS:-3}
LATENCY_COUNT=${LATENCY_COUNT:-10}
BENCH=$BUILD_DIR/test/helper_bench

itest_init bench
need_built "$HELPER_BIN" "$BENCH"
need_package ipset ipset
need_package nftables nft
need_package python3 python3
need ip6tables-legacy awk
netns_pair

CHAIN=SWBENCH
TABLE=swbench
PORT=2525
helper_dirs
SOCK=$HELPER_RUN/helper.sock
FIRST=10.0.0.1       # the N entries: 10.0.0.1 onwards
PROBE=192.0.2.200    # latency probes: 192.0.2.200 onwards, on the client's interface
for i in $(seq 0 $((LATENCY_COUNT - 1))); do client_addr "192.0.2.$((200 + i))"; done

hook_packets() {
    case $1 in
        iptables | ipset)
            in_mx iptables-legacy -L INPUT -v -x -n |
                awk -v c="$CHAIN" -v p="dpt:$PORT" '$3 == c && index($0, p) { s += $1 } END { print s + 0 }'
            ;;
        nftables)
            in_mx nft -j list chain inet "$TABLE" input | python3 -c '
import json, sys
n = 0
for item in json.load(sys.stdin)["nftables"]:
    for e in item.get("rule", {}).get("expr", []):
        if "counter" in e:
            n += e["counter"]["packets"]
print(n)'
            ;;
    esac
}

# kpps BACKEND: thousands of flood SYNs per second that pass the hook.
kpps() {
    local before after
    before=$(hook_packets "$1")
    in_cl "$BENCH" flood 192.0.2.10 192.0.2.1 "$PORT" "$FLOOD_SECONDS" >/dev/null
    after=$(hook_packets "$1")
    awk -v d=$((after - before)) -v s="$FLOOD_SECONDS" 'BEGIN { printf "%.1f", d / s / 1000 }'
}

remove_backend_state() {
    in_mx iptables-legacy -D INPUT -p tcp --dport $PORT --tcp-flags FIN,SYN,RST,ACK SYN -j "$CHAIN" 2>/dev/null || true
    in_mx ip6tables-legacy -D INPUT -p tcp --dport $PORT --tcp-flags FIN,SYN,RST,ACK SYN -j "$CHAIN" 2>/dev/null || true
    for cmd in iptables-legacy ip6tables-legacy; do
        in_mx $cmd -F "$CHAIN" 2>/dev/null || true
        in_mx $cmd -X "$CHAIN" 2>/dev/null || true
    done
    in_mx ipset destroy "${CHAIN}4" 2>/dev/null || true
    in_mx ipset destroy "${CHAIN}6" 2>/dev/null || true
    in_mx nft delete table inet "$TABLE" 2>/dev/null || true
}

results=()
for backend in $BACKENDS; do
    remove_backend_state
    cat >"$WORK/helper.conf" <<EOF
[helper]
socket = "$SOCK"
peer_user = "daemon"
user = "smtpwall-helper"
state_file = ""
[firewall]
backend = "$backend"
chain = "$CHAIN"
table = "$TABLE"
ports = [$PORT]
repair_interval = "1h"
[limits]
max_entries = 300000
max_adds_per_minute = 1000000
EOF
    spawn "helper-$backend" ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
    wait_for 10 "the $backend helper" grep -q 'ready socket=' "$WORK/log/helper-$backend.log"
    base=$(kpps "$backend")
    log "$backend: empty list: $base kpps through the hook"
    for n in $SIZES; do
        t_sync=$("$BENCH" load "$SOCK" sync "$n" "$FIRST")
        t_clear=$("$BENCH" clear "$SOCK" | awk '{ print $1 }')
        t_pipe=$("$BENCH" load "$SOCK" pipe "$n" "$FIRST")
        spawn serve ip netns exec "$NS_MX" "$BENCH" serve "$PORT"
        wait_for 5 "the probe listener" tcp_connects 192.0.2.1 $PORT 192.0.2.10
        read -r add_med add_max drop_med drop_max < <(in_cl "$BENCH" latency "$SOCK" \
            "$LATENCY_COUNT" "$PROBE" 192.0.2.1 "$PORT")
        stop serve
        full=$(kpps "$backend")
        "$BENCH" clear "$SOCK" >/dev/null
        ratio=$(awk -v a="$full" -v b="$base" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
        line=$(printf '%-9s %7s %8s %8s %8s %8s/%-8s %8s/%-8s %7s %7s %6s' "$backend" "$n" \
            "$t_sync" "$t_pipe" "$t_clear" "$add_med" "$add_max" "$drop_med" "$drop_max" \
            "$base" "$full" "$ratio")
        log "$line"
        results+=("$line")
    done
    stop "helper-$backend"
done

printf '\n%-9s %7s %8s %8s %8s %17s %17s %7s %7s %6s\n' backend N "sync s" "pipe s" "clear s" \
    "add ms med/max" "drop ms med/max" "kpps 0" "kpps N" ratio
printf '%s\n' "${results[@]}"
