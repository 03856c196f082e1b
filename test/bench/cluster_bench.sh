#!/usr/bin/env bash
# Cluster benchmark, run on demand (root; not a test). Three MX hosts sharing one Redis
# (test/integration/cluster.sh: namespaces, own Postfix, helper and milter each).
#
#   propagation  CLIENTS clients hit the spamtrap at mx1 one after another; ban_watch
#                (test/bench/ban_watch.cpp) in mx2's and mx3's namespaces notes when each
#                ban shows up in their kernels. latency = kernel (mx2, mx3) - the 550 at
#                mx1, both CLOCK_MONOTONIC.
#   throughput   smtp_load.py load against mx1, SESSIONS sessions, CONCURRENCY at a time,
#                with [cluster] on and off (mx1's milter restarted in between), ROUNDS
#                rounds each, alternating; the ratio is on/off in the same run.
#   commands     Redis commands per session (INFO commandstats) over the "on" rounds.
#
#   usage: test/bench/cluster_bench.sh   CLIENTS=200 GAP_MS=20 SESSIONS=2000 CONCURRENCY=20 ROUNDS=2
#
# Prints figures, asserts nothing. The machine's other load shows in the figures.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$REPO/build}
export SMTPWALL_SOURCE_DIR=$REPO
source "$REPO/test/integration/lib.sh"
source "$REPO/test/integration/cluster.sh"

CLIENTS=${CLIENTS:-200}
SESSIONS=${SESSIONS:-2000}
CONCURRENCY=${CONCURRENCY:-20}
ROUNDS=${ROUNDS:-2}
GAP_MS=${GAP_MS:-20}
WATCH=$BUILD_DIR/test/ban_watch
LOAD=$REPO/test/bench/smtp_load.py

itest_init cluster-bench
need_built "$WATCH"
need_package python3 python3
cluster_netns 3
# Trap clients: 192.0.2.100-254, then 203.0.113.1-254 (on-link for every MX).
sources=()
for i in $(seq 100 254); do sources+=("192.0.2.$i"); done
for i in $(seq 1 254); do sources+=("203.0.113.$i"); done
[ "$CLIENTS" -le ${#sources[@]} ] || fail "CLIENTS=$CLIENTS: at most ${#sources[@]}"
sources=("${sources[@]:0:$CLIENTS}")
log "adding $CLIENTS client addresses"
for a in "${sources[@]}"; do ip -n "$NS_CL" addr add "$a/32" dev cl0; done
for i in 1 2 3; do ip -n "${NS_MXS[$i]}" route add 203.0.113.0/24 dev mx0; done
LOAD_SOURCE=192.0.2.20
ip -n "$NS_CL" addr add $LOAD_SOURCE/24 dev cl0

cluster_services
SMTPWALL_HELPER_CORE='max_adds_per_minute = 1000000'
SMTPWALL_EXTRA_MILTER_CONF='[aggregation]
enabled = false'
for i in 1 2 3; do mx_start $i; done

stats() {
    sort -g "$1" | awk '{ v[NR] = $1 }
        function p(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1; return v[i] }
        END { if (NR == 0) { print "- - - - -"; exit }
              printf "%.2f %.2f %.2f %.2f %.2f\n", p(0.5), p(0.9), p(0.99), v[NR], v[1] }'
}

log "propagation: $CLIENTS spamtrap bans at mx1, watched in mx2's and mx3's kernels"
for i in 2 3; do
    spawn "watch$i" ip netns exec "${NS_MXS[$i]}" "$WATCH" iptables "$CHAIN" 200
    wait_for 10 "the kernel watcher of mx$i" grep -q '^ready' "$WORK/log/watch$i.log"
done
in_cl python3 "$LOAD" trap 192.0.2.1 1 "$GAP_MS" "${sources[@]}" >"$WORK/trap.txt"
sleep 2
lines=()
for i in 2 3; do
    awk 'NR == FNR { if (NF == 2 && $1 ~ /\/32$/) seen[substr($1, 1, length($1) - 3)] = $2; next }
         $2 ~ /^5/ && ($1 in seen) { printf "%.3f\n", (seen[$1] - $3) / 1e6 }' \
        "$WORK/log/watch$i.log" "$WORK/trap.txt" >"$WORK/prop$i.ms"
    read -r p50 p90 p99 max min < <(stats "$WORK/prop$i.ms")
    lines+=("$(printf 'mx%s     %4s/%-4s %7s %7s %7s %7s %7s' "$i" "$(wc -l <"$WORK/prop$i.ms")" \
        "$(awk '$2 ~ /^5/' "$WORK/trap.txt" | wc -l)" "$p50" "$p90" "$p99" "$max" "$min")")
done
stop watch2
stop watch3

commands_total() {
    redis_cli INFO commandstats | awk -F'[=,:]' '/^cmdstat_/ { n += $3 } END { print n + 0 }'
}
# mx1_cluster on|off: mx1's milter restarted with [cluster] or without it.
mx1_cluster() {
    on_mx 1
    stop milter1
    if [ "$1" = on ]; then
        cp "$WORK/smtpwall1.conf.on" "$MILTER_CONF"
    else
        sed '/^\[cluster\]/,$d' "$WORK/smtpwall1.conf.on" >"$MILTER_CONF"
    fi
    MILTER_NETNS=$NS_MX milter_start milter1
}
on_mx 1
cp "$MILTER_CONF" "$WORK/smtpwall1.conf.on"
throughput=()
on_rates=() off_rates=()
on_commands=0 on_sessions=0
for round in $(seq "$ROUNDS"); do
    for mode in on off; do
        mx1_cluster $mode
        [ $mode = off ] || wait_for 10 "mx1 caught up" bash -c "tail -n 20 $WORK/log/milter1.log | grep -q 'cluster: caught up'"
        before=$(commands_total)
        result=$(in_cl python3 "$LOAD" load 192.0.2.1 "$SESSIONS" "$CONCURRENCY" $LOAD_SOURCE)
        after=$(commands_total)
        read -r ok failed seconds rate _ <<<"$result"
        log "round $round, cluster $mode: $result"
        throughput+=("$(printf 'round %s  cluster %-3s  %6s ok %4s failed  %8s msg/s' "$round" "$mode" "$ok" "$failed" "$rate")")
        if [ $mode = on ]; then
            on_rates+=("$rate")
            on_commands=$((on_commands + after - before))
            on_sessions=$((on_sessions + ok + failed))
        else
            off_rates+=("$rate")
        fi
    done
done

echo
echo "Ban propagation: 550 at mx1 (spamtrap) -> the ban in another MX's kernel (ms)"
printf '%-6s %9s %7s %7s %7s %7s %7s\n' host seen p50 p90 p99 max min
printf '%s\n' "${lines[@]}"
echo
echo "Postfix throughput at mx1, $SESSIONS sessions, $CONCURRENCY at a time"
printf '%s\n' "${throughput[@]}"
awk -v on="${on_rates[*]}" -v off="${off_rates[*]}" 'BEGIN {
    n = split(on, a, " "); m = split(off, b, " ")
    for (i = 1; i <= n; i++) s += a[i]; for (i = 1; i <= m; i++) t += b[i]
    printf "ratio cluster on/off (mean rates): %.3f\n", (s / n) / (t / m) }'
awk -v c=$on_commands -v s=$on_sessions 'BEGIN {
    printf "Redis commands per session (cluster on, all three hosts): %.2f (%d commands, %d sessions)\n", c / s, c, s }'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores"
