#!/usr/bin/env bash
# Ban latency benchmark (the budget: a ban is visible in the kernel <= 20 ms (p99)
# after the rejection that crossed the threshold), run on demand (root; not a test).
#
# Postfix + smtpwall-milter + smtpwall-helper in network namespaces (lib.sh), nsd with
# test/data/mx-zones, escalation "ban at first spamtrap" (the default rules), netblock
# aggregation off (every client is its own ban). For each firewall backend, with a
# fresh helper, milter and state file:
#
#   seq     CLIENTS clients one after another (GAP_MS apart): each opens a session,
#           EHLO, MAIL, RCPT TO <trap@example.org> -> 550, QUIT
#   burst   CLIENTS other clients, BURST sessions at a time (many bans in flight)
#
# test/bench/smtp_load.py (client namespace) takes CLOCK_MONOTONIC right after it read
# each 550; ban_watch (mx namespace) polls the kernel every POLL_US µs (libiptc for the
# chain, libipset for the set, libnftables for the table) and takes CLOCK_MONOTONIC
# right after the read that first shows the client's entry. latency = kernel - 550, so
# it can be negative: the milter asks the helper for the ban before it hands the reject
# to the MTA. The watcher's poll period (printed) bounds how late it can notice.
#
#   usage: test/bench/ban_latency_bench.sh    (SMTPWALL_BUILD_DIR: the build tree,
#          BACKENDS="iptables ipset nftables"   default <repo>/build)
#          CLIENTS=200 BURST=20 GAP_MS=20 POLL_US=200
#
# Prints figures, asserts nothing. The machine's other load shows in the figures.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$REPO/build}
export SMTPWALL_SOURCE_DIR=$REPO
source "$REPO/test/integration/lib.sh"

BACKENDS=${BACKENDS:-iptables ipset nftables}
CLIENTS=${CLIENTS:-200}
BURST=${BURST:-20}
GAP_MS=${GAP_MS:-20}
POLL_US=${POLL_US:-200}
WATCH=$BUILD_DIR/test/ban_watch
LOAD=$REPO/test/bench/smtp_load.py

itest_init ban-latency
need_built "$WATCH"
need_package ipset ipset
need_package nftables nft
need_package python3 python3
need ip6tables-legacy awk

# Sources: 192.0.2.100-254 (no PTR: "baddns", weight 5) then 203.0.113.1-254 (PTRs for
# 1-100); SPF passes for both, so the spamtrap is each client's first rejection.
sources=()
for i in $(seq 100 254); do sources+=("192.0.2.$i"); done
for i in $(seq 1 254); do sources+=("203.0.113.$i"); done
[ $((2 * CLIENTS)) -le ${#sources[@]} ] || fail "CLIENTS=$CLIENTS: at most $((${#sources[@]} / 2))"
sources=("${sources[@]:0:$((2 * CLIENTS))}")

netns_pair
log "adding ${#sources[@]} client addresses"
for a in "${sources[@]}"; do client_addr "$a"; done

CHAIN=SMTPWALL
TABLE=swbench
first=${BACKENDS%% *}
SMTPWALL_EXTRA_HELPER_CONF="backend = \"$first\"
table = \"$TABLE\""
# Lands in the helper's [limits] table: 2 x CLIENTS bans per backend within a minute.
SMTPWALL_HELPER_CORE='max_adds_per_minute = 1000000'
SMTPWALL_EXTRA_MILTER_CONF='[aggregation]
enabled = false'
smtpwall_start
postfix_start 192.0.2.1

remove_backend_state() {
    local cmd
    for cmd in iptables-legacy ip6tables-legacy; do
        in_mx $cmd -D INPUT -p tcp --dport 25 --tcp-flags FIN,SYN,RST,ACK SYN -j "$CHAIN" 2>/dev/null || true
        in_mx $cmd -F "$CHAIN" 2>/dev/null || true
        in_mx $cmd -X "$CHAIN" 2>/dev/null || true
    done
    in_mx ipset destroy "${CHAIN}4" 2>/dev/null || true
    in_mx ipset destroy "${CHAIN}6" 2>/dev/null || true
    in_mx nft delete table inet "$TABLE" 2>/dev/null || true
}

# restart_stack BACKEND: a fresh helper (BACKEND) and milter with an empty state file.
restart_stack() {
    local backend=$1
    stop milter
    stop helper
    remove_backend_state
    rm -f "$RUN"/state.db*
    sed -i "s/^backend = .*/backend = \"$backend\"/" "$WORK/helper.conf"
    spawn helper ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
    wait_for 10 "the $backend helper" grep -q 'ready socket=' "$WORK/log/helper.log"
    milter_start milter
}

# stats FILE: p50 p90 p99 max min of the numbers in FILE (one per line), ms.
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 }
        function p(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1; return v[i] }
        END { if (NR == 0) { print "- - - - -"; exit }
              printf "%.2f %.2f %.2f %.2f %.2f\n", p(0.5), p(0.9), p(0.99), v[NR], v[1] }'
}

# all_seen TRAP_OUTPUT: every client that got a 5xx has its entry in the watch log.
all_seen() {
    awk 'NR == FNR { if (NF == 2) seen[$1] = 1; next }
         $2 ~ /^5/ && !(($1 "/32") in seen) { missing = 1 } END { exit missing }' \
        "$WORK/log/watch.log" "$1"
}

# pass BACKEND NAME CONCURRENCY SOURCE...: one pass; appends a line to $results.
results=()
pass() {
    local backend=$1 name=$2 concurrency=$3
    shift 3
    local out=$WORK/trap-$backend-$name.txt
    in_cl python3 "$LOAD" trap 192.0.2.1 "$concurrency" "$GAP_MS" "$@" >"$out"
    wait_for_quietly 5 all_seen "$out" || log "$backend $name: some bans never showed up"
    # latency per client: kernel time (watch log) - time of the 550 (trap output)
    awk 'NR == FNR { if (NF == 2 && $1 ~ /\/32$/) seen[substr($1, 1, length($1) - 3)] = $2; next }
         $2 ~ /^5/ && ($1 in seen) { printf "%.3f\n", (seen[$1] - $3) / 1e6 }' \
        "$WORK/log/watch.log" "$out" >"$out.ms"
    local n rejected early
    n=$(wc -l <"$out.ms")
    rejected=$(awk '$2 ~ /^5/' "$out" | wc -l)
    early=$(awk '$1 < 0' "$out.ms" | wc -l)
    read -r p50 p90 p99 max min < <(stats "$out.ms")
    local line
    line=$(printf '%-9s %-6s %4s %7s %7s %7s %7s %7s %7s %6s' "$backend" "$name" "$concurrency" \
        "$n/$rejected" "$p50" "$p90" "$p99" "$max" "$min" "$early")
    log "$line"
    results+=("$line")
}

watch_stats=()
for backend in $BACKENDS; do
    [ "$backend" = "$first" ] || restart_stack "$backend"
    case $backend in
        iptables) watched=$CHAIN ;;
        ipset) watched=${CHAIN}4 ;;
        nftables) watched=$TABLE ;;
        *) fail "unknown backend $backend" ;;
    esac
    spawn watch ip netns exec "$NS_MX" "$WATCH" "$backend" "$watched" "$POLL_US"
    wait_for 10 "the kernel watcher" grep -q '^ready' "$WORK/log/watch.log"
    pass "$backend" seq 1 "${sources[@]:0:$CLIENTS}"
    [ "$BURST" -gt 0 ] && pass "$backend" burst "$BURST" "${sources[@]:$CLIENTS:$CLIENTS}"
    stop watch
    watch_stats+=("$(grep '^ban_watch' "$WORK/log/watch.log")")
    mv "$WORK/log/watch.log" "$WORK/log/watch-$backend.log"
done

echo
echo "Ban latency: client read the 550 (spamtrap, 'ban at first spamtrap') -> entry in the kernel"
echo "(ms; negative = the entry was there before the 550 reached the client)"
printf '%-9s %-6s %4s %7s %7s %7s %7s %7s %7s %6s\n' backend pass conc "seen" p50 p90 p99 max min "<0"
printf '%s\n' "${results[@]}"
echo "fail2ban (for comparison: Postfix log -> iptables, same kind of machine): p50 ~350-400,"
echo "          p90 ~650-700, max ~1400.   Budget: p99 <= 20 ms."
echo
printf 'watcher: %s\n' "${watch_stats[@]}"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores"
