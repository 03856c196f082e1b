#!/usr/bin/env bash
# MTA throughput benchmark (the budget: Postfix + smtpwall, all checks on and a warm
# DNS cache, keeps >= 95% of the throughput of Postfix + a no-op milter, measured in the
# same run). Run on demand (root; not a test).
#
# One private Postfix in the mx namespace (lib.sh) listens on four addresses, one
# smtpd service each, sharing one queue (every transport discard:):
#
#   smtpwall   192.0.2.1  smtpd_milters = smtpwall-milter: DNS through nsd with
#              test/data/mx-zones (PTR/FCrDNS, HELO, a DNSBL and a DNSWL zone), SPF,
#              dialup, spamtraps, tallies, the state file, the helper connected
#   noop       192.0.2.2  test/bench/noop_milter: every callback registered, nothing
#              negotiated, so Postfix sends every stage (headers and body too)
#   noop-lean  192.0.2.3  noop_milter lean: the same protocol steps as smtpwall (no
#              headers, body or unknown commands): all smtpwall does, minus its work
#   none       192.0.2.4  no milter at all
#
# test/bench/smtp_load.py drives them from the client namespace: COUNT sessions of one
# message each, CONCURRENCY at a time, round-robin over the 50 clean clients
# 192.0.2.10-59 (PTR clientN.example.net confirmed, HELO client.example.net resolves,
# sender@example.net passes SPF, user@example.org is accepted and discarded). First an
# untimed warm-up round (5 x WARMUP sessions per variant: smtpwall's DNS cache, every
# smtpd pool); then each variant runs ROUNDS times, in alternating order (forward, then
# backward) against drift, each run after WARMUP untimed sessions. DNS queries smtpwall
# sends during its timed runs are counted and printed (0: the cache was warm). Prints
# messages/s per variant, the ratios, each milter's CPU time per message, and client-side
# times: a session (connect -> 250 after the message) and RCPT -> its reply (where
# smtpwall decides; under concurrency both include queueing for the CPU).
# Then LATENCY_COUNT sessions per variant one at a time (2 rounds, alternating): the
# time a milter adds to a session without queueing behind other sessions.
#
#   usage: test/bench/mta_bench.sh       (SMTPWALL_BUILD_DIR: the build tree,
#          COUNT=2000 CONCURRENCY=20       default <repo>/build)
#          ROUNDS=4 WARMUP=200 LATENCY_COUNT=400 VARIANTS="noop smtpwall noop-lean none"
#          QUEUE=tmpfs|disk   (Postfix's queue on a tmpfs, the default, or under /tmp:
#                              with disk, every message costs fsyncs for all variants
#                              alike and the milters' share of the cost looks smaller)
#
# Prints figures, asserts nothing. The client, Postfix and the milters share the
# machine's cores: compare ratios within one run, not absolute rates across runs.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$REPO/build}
export SMTPWALL_SOURCE_DIR=$REPO
source "$REPO/test/integration/lib.sh"

COUNT=${COUNT:-2000}
CONCURRENCY=${CONCURRENCY:-20}
ROUNDS=${ROUNDS:-4}
WARMUP=${WARMUP:-200}
LATENCY_COUNT=${LATENCY_COUNT:-400}
VARIANTS=${VARIANTS:-noop smtpwall noop-lean none}
QUEUE=${QUEUE:-tmpfs}
NOOP=$BUILD_DIR/test/noop_milter
LOAD=$REPO/test/bench/smtp_load.py

itest_init mta-bench
need_built "$NOOP"
need_package python3 python3
need awk

declare -A server=([smtpwall]=192.0.2.1 [noop]=192.0.2.2 [noop-lean]=192.0.2.3 [none]=192.0.2.4)
for v in $VARIANTS; do [ -n "${server[$v]:-}" ] || fail "unknown variant $v"; done

netns_pair
sources=()
for i in $(seq 10 59); do
    sources+=("192.0.2.$i")
    [ "$i" = 10 ] || client_addr "192.0.2.$i"
done
for a in 192.0.2.2 192.0.2.3 192.0.2.4; do ip -n "$NS_MX" addr add "$a/24" dev mx0; done

if [ "$QUEUE" = tmpfs ]; then
    mkdir -p "$WORK/postfix"
    mount -t tmpfs -o size=1g,mode=755 smtpwall-bench "$WORK/postfix"
    # Before postfix_start's own cleanup, which then has nothing left to do.
    on_cleanup "postfix_stop; umount '$WORK/postfix' || umount -l '$WORK/postfix'"
fi

# Throughput: no per-client limits, no anvil, no flow-control pauses.
POSTFIX_EXTRA_MAIN='default_process_limit = 200
in_flow_delay = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_event_limit_exceptions = static:all'
smtpwall_start
postfix_start 192.0.2.1

spawn noop "$NOOP" "unix:$RUN/noop.sock" all
spawn noop-lean "$NOOP" "unix:$RUN/noop-lean.sock" lean
wait_for 10 "the no-op milters" test -S "$RUN/noop.sock" -a -S "$RUN/noop-lean.sock"
cat >>"$PF/etc/master.cf" <<EOF
${server[noop]}:25 inet n - n - - smtpd -o smtpd_milters=unix:$RUN/noop.sock
${server[noop-lean]}:25 inet n - n - - smtpd -o smtpd_milters=unix:$RUN/noop-lean.sock
${server[none]}:25 inet n - n - - smtpd -o smtpd_milters=
EOF
in_mx postfix -c "$PF/etc" reload >/dev/null 2>&1 || fail "postfix reload failed"
for v in noop noop-lean none; do
    wait_for 15 "postfix on ${server[$v]}:25" in_mx bash -c "exec 3<>/dev/tcp/${server[$v]}/25"
done

declare -A milter_pid=([smtpwall]=$PID_milter [noop]=$PID_noop [noop-lean]=$PID_noop_lean)
# cpu_ticks VARIANT: user + system CPU time (clock ticks, all threads) of its milter so far.
cpu_ticks() {
    local pid=${milter_pid[$1]:-}
    if [ -n "$pid" ]; then awk '{ print $14 + $15 }' "/proc/$pid/stat"; else echo 0; fi
}

dns_counter() {
    ctl metrics | awk -v m="$1" '$1 == m { print $2 + 0; found = 1 } END { if (!found) print 0 }'
}

# run PHASE VARIANT ROUND COUNT CONCURRENCY: a warm-up, then one timed run; the line of
# smtp_load.py goes to $WORK/runs-PHASE, each session's times to $WORK/samples-PHASE-VARIANT.
dns_queries=0 dns_lookups=0 dns_hits=0
run() {
    local phase=$1 v=$2 round=$3 count=$4 conc=$5 before_q before_l before_h line cpu
    in_cl python3 "$LOAD" load "${server[$v]}" "$WARMUP" "$CONCURRENCY" "${sources[@]}" >/dev/null
    cpu=$(cpu_ticks "$v")
    if [ "$v" = smtpwall ]; then
        before_q=$(dns_counter smtpwall_dns_queries_total)
        before_l=$(dns_counter smtpwall_dns_lookups_total)
        before_h=$(dns_counter smtpwall_dns_cache_hits_total)
    fi
    line=$(SMTP_LOAD_SAMPLES=$WORK/samples-$phase-$v in_cl python3 "$LOAD" load "${server[$v]}" \
        "$count" "$conc" "${sources[@]}" 2>>"$WORK/log/load.log")
    cpu=$(($(cpu_ticks "$v") - cpu))
    if [ "$v" = smtpwall ]; then
        dns_queries=$((dns_queries + $(dns_counter smtpwall_dns_queries_total) - before_q))
        dns_lookups=$((dns_lookups + $(dns_counter smtpwall_dns_lookups_total) - before_l))
        dns_hits=$((dns_hits + $(dns_counter smtpwall_dns_cache_hits_total) - before_h))
    fi
    echo "$v $round $line $cpu" >>"$WORK/runs-$phase"
    log "$phase $round $(printf '%-9s' "$v") $(awk '{ printf "%s msgs/s (%s ok, %s failed), session p50 %s p99 %s ms", $4, $1, $2, $5, $6 }' <<<"$line")"
}

# rounds PHASE ROUNDS COUNT CONCURRENCY: every variant ROUNDS times, in alternating order.
rounds() {
    local phase=$1 n=$2 count=$3 conc=$4 round i
    local order
    read -r -a order <<<"$VARIANTS"
    for round in $(seq 1 "$n"); do
        if [ $((round % 2)) = 1 ]; then
            for ((i = 0; i < ${#order[@]}; i++)); do run "$phase" "${order[$i]}" "$round" "$count" "$conc"; done
        else
            for ((i = ${#order[@]} - 1; i >= 0; i--)); do run "$phase" "${order[$i]}" "$round" "$count" "$conc"; done
        fi
    done
}

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
# The warm-up round: smtpwall's DNS cache, every smtpd pool and milter thread stack.
for v in $VARIANTS; do
    in_cl python3 "$LOAD" load "${server[$v]}" $((5 * WARMUP)) "$CONCURRENCY" "${sources[@]}" >/dev/null
done
rounds throughput "$ROUNDS" "$COUNT" "$CONCURRENCY"
[ "$LATENCY_COUNT" -gt 0 ] && rounds latency 2 $((LATENCY_COUNT / 2)) 1

# rate PHASE VARIANT: messages / seconds over all its timed runs.
rate() {
    awk -v v="$2" '$1 == v { ok += $3; s += $5 } END { printf "%.1f", (s > 0 ? ok / s : 0) }' \
        "$WORK/runs-$1"
}
# pct PHASE VARIANT COLUMN P: percentile P of column 1 (session) or 2 (RCPT) of the samples.
pct() {
    awk -v c="$3" '{ print $c }' "$WORK/samples-$1-$2" | sort -g |
        awk -v p="$4" '{ v[NR] = $1 } END { i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; printf "%.2f", v[i] }'
}

# table PHASE: one line per variant.
table() {
    local phase=$1 v lo hi failed cpu
    printf '%-10s %8s %8s %8s %6s %8s %8s %8s %8s %8s\n' variant "msgs/s" "min run" "max run" \
        failed "sess p50" "sess p99" "rcpt p50" "rcpt p99" "CPU us"
    for v in $VARIANTS; do
        read -r lo hi failed cpu < <(awk -v v="$v" -v hz="$(getconf CLK_TCK)" '$1 == v {
            r = $6; f += $4; ok += $3; t += $11
            if (lo == "" || r < lo) lo = r; if (r > hi) hi = r }
            END { printf "%s %s %d %.0f\n", lo, hi, f, (ok > 0 ? t / hz / ok * 1e6 : 0) }' "$WORK/runs-$phase")
        [ "$v" = none ] && cpu=-
        printf '%-10s %8s %8s %8s %6s %8s %8s %8s %8s %8s\n' "$v" "$(rate "$phase" "$v")" "$lo" \
            "$hi" "$failed" "$(pct "$phase" "$v" 1 50)" "$(pct "$phase" "$v" 1 99)" \
            "$(pct "$phase" "$v" 2 50)" "$(pct "$phase" "$v" 2 99)" "$cpu"
    done
}

# versus PHASE: smtpwall against each baseline that ran.
versus() {
    local phase=$1 base
    for base in noop noop-lean none; do
        [[ " $VARIANTS " == *" $base "* ]] || continue
        awk -v a="$(rate "$phase" smtpwall)" -v b="$(rate "$phase" "$base")" -v n="$base" \
            -v sa="$(pct "$phase" smtpwall 1 50)" -v sb="$(pct "$phase" "$base" 1 50)" \
            -v qa="$(pct "$phase" smtpwall 1 99)" -v qb="$(pct "$phase" "$base" 1 99)" \
            -v ra="$(pct "$phase" smtpwall 2 50)" -v rb="$(pct "$phase" "$base" 2 50)" \
            'BEGIN { printf "smtpwall / %-9s throughput %.3f   added per session: p50 %+.2f ms, p99 %+.2f ms (RCPT p50 %+.2f ms)\n",
                     n, (b > 0 ? a / b : 0), sa - sb, qa - qb, ra - rb }'
    done
}

with_smtpwall=0
[[ " $VARIANTS " == *" smtpwall "* ]] && with_smtpwall=1

echo
echo "Throughput: $ROUNDS x $COUNT sessions (1 message each) per variant, concurrency $CONCURRENCY,"
echo "a $WARMUP-session warm-up before each run, Postfix queue on $QUEUE"
table throughput
echo "(msgs/s over all runs of a variant; times in ms, client side, over all its sessions;"
echo " CPU us: the milter process's user + system CPU per message)"
if [ $with_smtpwall = 1 ]; then
    versus throughput
    echo "budget: smtpwall / noop throughput >= 0.95 (smtpwall / noop-lean is the stricter reading:"
    echo "        the same milter conversation as smtpwall's, with none of its work)"
fi
if [ "$LATENCY_COUNT" -gt 0 ]; then
    echo
    echo "Latency: $LATENCY_COUNT sessions per variant one at a time (2 rounds, alternating): no queueing"
    table latency
    [ $with_smtpwall = 1 ] && versus latency
fi
if [ $with_smtpwall = 1 ]; then
    echo
    echo "smtpwall DNS during its timed runs: $dns_lookups lookups, $dns_hits cache hits, $dns_queries queries sent"
    echo "smtpwall's last session: $(grep ' session client=' "$WORK/log/milter.log" | tail -n 1 | sed 's/.* session /session /')"
fi
echo "load: $load_at_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (1/5/15 min) on $(nproc) cores"
