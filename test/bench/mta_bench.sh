#!/usr/bin/env bash
# MTA benchmark: what a milter costs Postfix, as throughput and as CPU per message.
# Run on demand (root; not a test). Prints figures, asserts nothing.
#
# One private Postfix in the mx namespace (lib.sh), every transport discard:, one
# smtpd service per variant on its own address, sharing one queue:
#
#   smtpwall   192.0.2.1  smtpd_milters = smtpwall-milter: DNS through nsd with
#              test/data/mx-zones (PTR/FCrDNS, HELO, a DNSBL and a DNSWL zone), SPF,
#              dialup, spamtraps, tallies, the state file, the helper connected;
#              the 50 clean clients are in its DNS cache (warm)
#   noop       192.0.2.2  test/bench/noop_milter all: every callback registered,
#              nothing negotiated, so Postfix sends every stage
#   noop-lean  192.0.2.3  noop_milter lean: the conversation smtpwall had before it
#              negotiated its own (no headers, body or unknown commands, a reply to
#              every other stage): a milter that does nothing, cheaply
#   noop-same  192.0.2.6  noop_milter same: smtpwall's conversation now, default
#              settings (no reply at HELO and MAIL): smtpwall minus its own work
#   none       192.0.2.4  no milter at all
#   opendkim   192.0.2.5  OpenDKIM in verify-only mode (Mode v), configured here: a
#              well-known milter an operator already runs (the messages are unsigned)
#   cold       [2001:db8:1::1]  smtpwall again, but every session comes from an
#              address it has never seen (its own /64, PTR coldN.example.net confirmed),
#              so PTR, FCrDNS, DNSBL and DNSWL are all asked anew (LOAD=python only)
#
# Every DNS answer smtpwall gets passes test/bench/delay_proxy.cpp, which holds it for
# DNS_DELAY_MS (default 10): the warm variant sends (almost) no queries, the cold one
# waits for every one of its lookups.
#
# Load (LOAD=python, the default): test/bench/smtp_load.py from the client namespace,
# COUNT sessions of one message each, CONCURRENCY at a time, round-robin over the 50
# clean clients 192.0.2.10-59 (PTR clientN.example.net confirmed, HELO
# client.example.net resolves, sender@example.net passes SPF, user@example.org is
# accepted and discarded), with client-side session and RCPT times.
# LOAD=smtp-source: Postfix's own load generator (smtp-source -s CONCURRENCY -m COUNT,
# one message per session, all from 192.0.2.10), throughput and CPU only.
#
# First an untimed warm-up round (5 x WARMUP sessions per variant: smtpwall's DNS
# cache, every smtpd pool); then each variant runs ROUNDS times, in alternating order
# (forward, then backward) against drift, each run after WARMUP untimed sessions.
# For each timed run: messages/s, and CPU per message from /proc (utime + stime, all
# threads) of the milter process and of the variant's smtpd processes (max_use and
# max_idle are raised so that none exits during the run; one that did would be
# reported). Per variant: the rate over all runs, and the median and min-max over
# runs of each CPU figure. Then LATENCY_COUNT sessions per variant one at a time
# (2 rounds, alternating; LOAD=python): the time a milter adds to a session without
# queueing behind other sessions.
#
#   usage: test/bench/mta_bench.sh       (SMTPWALL_BUILD_DIR: the build tree,
#          COUNT=2000 CONCURRENCY=20       default <repo>/build)
#          ROUNDS=4 WARMUP=200 LATENCY_COUNT=400 LOAD=python|smtp-source DNS_DELAY_MS=10
#          VARIANTS="noop smtpwall noop-lean noop-same opendkim none cold"
#          PROFILE=perf       (perf record of smtpwall's milter during the first timed
#                              throughput run of PROFILE_VARIANT (smtpwall or cold; default
#                              smtpwall), the top symbols printed at the end; that run's
#                              figures then include perf's own cost; PERF_DATA=FILE keeps
#                              the recording for perf report)
#          QUEUE=tmpfs|disk   (Postfix's queue on a tmpfs, the default, or under /tmp:
#                              with disk, every message costs fsyncs for all variants
#                              alike and the milters' share of the cost looks smaller)
#
# The client, Postfix and the milters share the machine's cores: compare ratios and
# CPU per message within one run, not absolute rates across runs.
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
LOAD=${LOAD:-python}
DNS_DELAY_MS=${DNS_DELAY_MS:-10}
VARIANTS=${VARIANTS:-noop smtpwall noop-lean noop-same opendkim none cold}
QUEUE=${QUEUE:-tmpfs}
PROFILE=${PROFILE:-}
PROFILE_VARIANT=${PROFILE_VARIANT:-smtpwall}
NOOP=$BUILD_DIR/test/noop_milter
SMTP_LOAD=$REPO/test/bench/smtp_load.py

itest_init mta-bench
need_built "$NOOP"
need_built "$BUILD_DIR/test/delay_proxy"
need_package python3 python3
need awk
case $LOAD in
    python) ;;
    smtp-source)
        need_package postfix smtp-source
        [ "$LATENCY_COUNT" = 0 ] || log "LOAD=smtp-source: no latency phase"
        LATENCY_COUNT=0
        if [[ " $VARIANTS " == *" cold "* ]]; then
            log "LOAD=smtp-source: no cold variant (smtp-source cannot choose its source address)"
            VARIANTS=$(tr ' ' '\n' <<<"$VARIANTS" | grep -vx cold | tr '\n' ' ')
        fi
        ;;
    *) fail "LOAD must be python or smtp-source" ;;
esac

declare -A server=([smtpwall]=192.0.2.1 [noop]=192.0.2.2 [noop-lean]=192.0.2.3 [none]=192.0.2.4
    [opendkim]=192.0.2.5 [noop-same]=192.0.2.6 [cold]=2001:db8:1::1)
for v in $VARIANTS; do [ -n "${server[$v]:-}" ] || fail "unknown variant $v"; done
with() { [[ " $VARIANTS " == *" $1 "* ]]; }
with opendkim && need_package opendkim opendkim
case $PROFILE in
    '') ;;
    perf)
        need_package linux-perf perf
        case $PROFILE_VARIANT in smtpwall | cold) ;; *) fail "PROFILE_VARIANT must be smtpwall or cold" ;; esac
        ;;
    *) fail "PROFILE must be perf or empty" ;;
esac

netns_pair
sources=()
for i in $(seq 10 59); do
    sources+=("192.0.2.$i")
    [ "$i" = 10 ] || client_addr "192.0.2.$i"
done
for a in 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6; do ip -n "$NS_MX" addr add "$a/24" dev mx0; done

# The cold clients: each in its own /64 of 2001:db8:c::/48, with a confirmed PTR
# coldN.example.net, added to a copy of the test zones.
cold_total=0
if with cold; then
    cold_total=$((ROUNDS * (COUNT + WARMUP) + 5 * WARMUP + LATENCY_COUNT + 2 * WARMUP))
    [ "$cold_total" -le 65535 ] || fail "the cold variant needs $cold_total clients, at most 65535"
fi
mkdir -p "$WORK/zones"
cp "$REPO"/test/data/mx-zones/* "$WORK/zones/"
python3 - "$WORK/zones" "$cold_total" "$WORK/cold-clients" <<'PY'
import ipaddress, sys
zones, n, listing = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{zones}/8.b.d.0.1.0.0.2.ip6.arpa.zone", "a") as rev, \
        open(f"{zones}/example.net.zone", "a") as fwd, open(listing, "w") as out:
    rev.write("$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.\n")
    fwd.write("$ORIGIN example.net.\n")
    for i in range(n):
        addr = ipaddress.IPv6Address(f"2001:db8:c:{i + 1:x}::1")
        nibbles = ".".join(reversed(addr.exploded.replace(":", "")))
        rev.write(f"{nibbles[:-len('.8.b.d.0.1.0.0.2')]} 300 IN PTR cold{i}.example.net.\n")
        fwd.write(f"cold{i} 300 IN AAAA {addr}\n")
        out.write(f"{addr}\n")
PY
if with cold; then
    awk '{ print "addr add " $1 "/128 dev cl0 nodad" }' "$WORK/cold-clients" | ip -n "$NS_CL" -batch -
    # Through the client as a router: on-link, each address would take a neighbour
    # entry, and thousands overflow the table (dropped SYNs, seconds of retries).
    ip -n "$NS_MX" -6 route replace 2001:db8:c::/48 via 2001:db8:1::10 dev mx0
fi
nsd_start "$WORK/zones"
proxy_port=$(free_port)
spawn delay-proxy "$BUILD_DIR/test/delay_proxy" "$proxy_port" "$NSD_PORT" "$DNS_DELAY_MS"
wait_for 5 "the delay proxy" grep -q "delay proxy on" "$WORK/log/delay-proxy.log"
export SMTPWALL_DNS_PORT=$proxy_port

if [ "$QUEUE" = tmpfs ]; then
    mkdir -p "$WORK/postfix"
    mount -t tmpfs -o size=1g,mode=755 smtpwall-bench "$WORK/postfix"
    # Before postfix_start's own cleanup, which then has nothing left to do.
    on_cleanup "postfix_stop; umount '$WORK/postfix' || umount -l '$WORK/postfix'"
fi

# Throughput: no per-client limits, no anvil, no flow-control pauses; smtpd
# processes live through the whole bench, so /proc holds all the CPU they used.
POSTFIX_EXTRA_MAIN='default_process_limit = 200
in_flow_delay = 0
max_use = 1000000
max_idle = 3600s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_event_limit_exceptions = static:all'
smtpwall_start
postfix_start 192.0.2.1

spawn noop "$NOOP" "unix:$RUN/noop.sock" all
spawn noop-lean "$NOOP" "unix:$RUN/noop-lean.sock" lean
spawn noop-same "$NOOP" "unix:$RUN/noop-same.sock" same
wait_for 10 "the no-op milters" test -S "$RUN/noop.sock" -a -S "$RUN/noop-lean.sock" -a -S "$RUN/noop-same.sock"
declare -A milter_socket=([smtpwall]=$MILTER_SOCK [cold]=$MILTER_SOCK
    [noop]=$RUN/noop.sock [noop-lean]=$RUN/noop-lean.sock [noop-same]=$RUN/noop-same.sock [none]=)
declare -A milter_pid=([smtpwall]=$PID_milter [cold]=$PID_milter [noop]=$PID_noop
    [noop-lean]=$PID_noop_lean [noop-same]=$PID_noop_same)
if with opendkim; then
    cat >"$WORK/opendkim.conf" <<EOC
Mode v
Socket local:$RUN/opendkim.sock
UMask 0000
Syslog no
PidFile $RUN/opendkim.pid
EOC
    spawn opendkim opendkim -f -x "$WORK/opendkim.conf"
    wait_for 10 "opendkim" test -S "$RUN/opendkim.sock"
    milter_socket[opendkim]=$RUN/opendkim.sock
    milter_pid[opendkim]=$PID_opendkim
fi
# service VARIANT: its smtpd service's name in master.cf (an IPv6 address in brackets).
service() { echo "${server[$1]/*:*/[${server[$1]}]}:25"; }
for v in $VARIANTS; do
    [ "$v" = smtpwall ] && continue
    echo "$(service "$v") inet n - n - - smtpd -o smtpd_milters=${milter_socket[$v]:+unix:${milter_socket[$v]}}"
done >>"$PF/etc/master.cf"
in_mx postfix -c "$PF/etc" reload >/dev/null 2>&1 || fail "postfix reload failed"
for v in $VARIANTS; do
    wait_for 15 "postfix on ${server[$v]}:25" in_mx bash -c "exec 3<>/dev/tcp/${server[$v]}/25"
done

# cpu_ticks VARIANT: user + system CPU time (clock ticks, all threads) of its milter so far.
cpu_ticks() {
    local pid=${milter_pid[$1]:-}
    if [ -n "$pid" ]; then awk '{ print $14 + $15 }' "/proc/$pid/stat"; else echo 0; fi
}
# dns_ticks: user + system CPU time of the DNS side the bench itself runs (the delay
# proxy and nsd, all their processes): on a real site those are other machines.
dns_ticks() {
    local pid total=0
    for pid in $PID_delay_proxy $(pgrep -f -- "-c $WORK/nsd/nsd.conf"); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
# machine_ticks: CPU time the whole machine has been busy (all cores; user, nice,
# system, irq, softirq, steal): the client, Postfix, the milter, DNS and all else.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# smtpd_ticks VARIANT: "PID TICKS" per smtpd process of the variant's service (master
# starts each with "-n SERVICE"; its comm is smtpd).
smtpd_ticks() {
    local name pid
    name=$(service "$1")
    for pid in $(pgrep -x smtpd); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-n $name " || continue
        # Gone since pgrep: smtpd_used reports a process that exited during a run.
        awk -v p="$pid" '{ print p, $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || continue
    done
}
# smtpd_used BEFORE AFTER: the ticks used in between by processes alive at the end
# (new ones from 0); a process gone by then is counted on stderr.
smtpd_used() {
    awk 'NR == FNR { before[$1] = $2; next }
         { used += $2 - before[$1]; seen[$1] = 1 }
         END { for (p in before) if (!(p in seen)) gone++
               if (gone) print gone " smtpd process(es) exited during a run: CPU undercounted" > "/dev/stderr"
               print used + 0 }' "$1" "$2"
}

dns_counter() {
    ctl metrics | awk -v m="$1" '$1 == m { print $2 + 0; found = 1 } END { if (!found) print 0 }'
}

# next_sources VARIANT N: the source addresses of its next N sessions, in $batch.
cold_next=0
next_sources() {
    if [ "$1" = cold ]; then
        mapfile -t batch < <(tail -n +$((cold_next + 1)) "$WORK/cold-clients" | head -n "$2")
        cold_next=$((cold_next + $2))
        [ "${#batch[@]}" = "$2" ] || fail "out of cold clients"
    else
        batch=("${sources[@]}")
    fi
}

# load VARIANT COUNT CONCURRENCY: one run of the load generator from the sources
# next_sources chose; prints "ok failed seconds rate session_p50 session_p99 rcpt_p50
# rcpt_p99" (- where unknown).
load() {
    local v=$1 count=$2 conc=$3 start end
    if [ "$LOAD" = python ]; then
        in_cl python3 "$SMTP_LOAD" load "${server[$v]}" "$count" "$conc" "${batch[@]}"
        return
    fi
    start=$(date +%s%N)
    if in_cl smtp-source -s "$conc" -m "$count" -M client.example.net -f sender@example.net \
        -t user@example.org "${server[$v]}:25" >>"$WORK/log/load.log" 2>&1; then
        end=$(date +%s%N)
        awk -v n="$count" -v ns=$((end - start)) 'BEGIN { printf "%d 0 %.3f %.1f - - - -\n", n, ns / 1e9, n / (ns / 1e9) }'
    else
        echo "0 $count 1 0 - - - -"
    fi
}

# run PHASE VARIANT ROUND COUNT CONCURRENCY: a warm-up, then one timed run; its line
# goes to $WORK/runs-PHASE: "VARIANT ROUND <load line> MILTER_TICKS SMTPD_TICKS", each
# session's times (LOAD=python) to $WORK/samples-PHASE-VARIANT.
dns_queries=0 dns_lookups=0 dns_hits=0
declare -A cold_queries=([throughput]=0 [latency]=0)
run() {
    local phase=$1 v=$2 round=$3 count=$4 conc=$5 before_q before_l before_h line cpu q
    next_sources "$v" "$WARMUP"
    load "$v" "$WARMUP" "$CONCURRENCY" >/dev/null
    next_sources "$v" "$count"
    smtpd_ticks "$v" >"$WORK/smtpd-before"
    cpu=$(cpu_ticks "$v")
    local dns_before machine_before
    dns_before=$(dns_ticks)
    machine_before=$(machine_ticks)
    before_q=$(dns_counter smtpwall_dns_queries_total)
    before_l=$(dns_counter smtpwall_dns_lookups_total)
    before_h=$(dns_counter smtpwall_dns_cache_hits_total)
    local perf_pid=
    if [ "$PROFILE" = perf ] && [ "$v" = "$PROFILE_VARIANT" ] && [ "$phase" = throughput ] &&
        [ ! -e "$WORK/perf.data" ]; then
        perf record -F ${PERF_FREQ:-1999} ${PERF_CALLGRAPH:--g} -p "$PID_milter" -o "$WORK/perf.data" >"$WORK/log/perf.log" 2>&1 &
        perf_pid=$!
        sleep 0.5  # attached before the first session
    fi
    rm -f "$WORK/client-cpu"
    line=$(SMTP_LOAD_SAMPLES=$WORK/samples-$phase-$v SMTP_LOAD_CPU=$WORK/client-cpu \
        load "$v" "$count" "$conc" 2>>"$WORK/log/load.log")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        # perf reports the interrupt in its exit status; what counts is its recording.
        wait "$perf_pid" || [ -s "$WORK/perf.data" ] ||
            fail "perf record failed: $(tail -n 3 "$WORK/log/perf.log")"
    fi
    cpu="$(($(cpu_ticks "$v") - cpu)) $(smtpd_used "$WORK/smtpd-before" <(smtpd_ticks "$v")) $(($(dns_ticks) - dns_before)) $(($(machine_ticks) - machine_before))"
    # The load generator's own CPU, in clock ticks like the rest (LOAD=python only).
    cpu="$cpu $(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", $1 * hz }' "$WORK/client-cpu" 2>/dev/null || echo 0)"
    q=$(($(dns_counter smtpwall_dns_queries_total) - before_q))
    if [ "$v" = smtpwall ]; then
        dns_queries=$((dns_queries + q))
        dns_lookups=$((dns_lookups + $(dns_counter smtpwall_dns_lookups_total) - before_l))
        dns_hits=$((dns_hits + $(dns_counter smtpwall_dns_cache_hits_total) - before_h))
    elif [ "$v" = cold ]; then
        cold_queries[$phase]=$((cold_queries[$phase] + q))
    fi
    echo "$v $round $line $cpu" >>"$WORK/runs-$phase"
    log "$phase $round $(printf '%-9s' "$v") $(awk -v hz="$(getconf CLK_TCK)" '{
        printf "%s msgs/s (%s ok, %s failed), session p50 %s p99 %s ms, CPU/msg milter %.0f smtpd %.0f us",
            $4, $1, $2, $5, $6, $9 / hz / ($1 ? $1 : 1) * 1e6, $10 / hz / ($1 ? $1 : 1) * 1e6 }' <<<"$line $cpu")"
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
    next_sources "$v" $((5 * WARMUP))
    load "$v" $((5 * WARMUP)) "$CONCURRENCY" >/dev/null
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
    [ -s "$WORK/samples-$1-$2" ] || { echo -; return; }
    awk -v c="$3" '{ print $c }' "$WORK/samples-$1-$2" | sort -g |
        awk -v p="$4" '{ v[NR] = $1 } END { i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; printf "%.2f", v[i] }'
}
# cpu PHASE VARIANT WHAT: CPU us per message over its runs, "median (min-max)"; WHAT is
# milter, smtpd, total (the two), dns (the bench's delay proxy and nsd), client (the
# load generator, LOAD=python) or machine (every process, the load generator included).
cpu() {
    awk -v v="$2" -v what="$3" -v hz="$(getconf CLK_TCK)" '$1 == v && $3 > 0 {
            t = (what == "milter" ? $11 : what == "smtpd" ? $12 : what == "dns" ? $13 : what == "machine" ? $14 : what == "client" ? $15 : $11 + $12)
            x[++n] = t / hz / $3 * 1e6 }
        END {
            if (n == 0) { print "-"; exit }
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
            m = (n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2)
            printf "%.0f (%.0f-%.0f)", m, x[1], x[n] }' "$WORK/runs-$1"
}

# table PHASE: one line per variant.
table() {
    local phase=$1 v lo hi failed
    printf '%-10s %8s %15s %6s %17s %17s %17s %15s %17s %17s %8s %8s %8s %8s\n' variant \
        "msgs/s" "runs min-max" failed "milter us/msg" "smtpd us/msg" "total us/msg" "dns us/msg" \
        "client us/msg" "machine us/msg" "sess p50" "sess p99" "rcpt p50" "rcpt p99"
    for v in $VARIANTS; do
        read -r lo hi failed < <(awk -v v="$v" '$1 == v {
            r = $6; f += $4
            if (lo == "" || r < lo) lo = r; if (r > hi) hi = r }
            END { printf "%s %s %d\n", lo, hi, f }' "$WORK/runs-$phase")
        printf '%-10s %8s %15s %6s %17s %17s %17s %15s %17s %17s %8s %8s %8s %8s\n' "$v" \
            "$(rate "$phase" "$v")" "$lo-$hi" "$failed" "$(cpu "$phase" "$v" milter)" \
            "$(cpu "$phase" "$v" smtpd)" "$(cpu "$phase" "$v" total)" "$(cpu "$phase" "$v" dns)" \
            "$(if [ "$LOAD" = python ]; then cpu "$phase" "$v" client; else echo -; fi)" \
            "$(cpu "$phase" "$v" machine)" "$(pct "$phase" "$v" 1 50)" "$(pct "$phase" "$v" 1 99)" \
            "$(pct "$phase" "$v" 2 50)" "$(pct "$phase" "$v" 2 99)"
    done
}

# versus PHASE SUBJECT: a variant against each other that ran.
versus() {
    local phase=$1 subject=$2 base
    for base in noop noop-lean noop-same opendkim none smtpwall; do
        [ "$base" != "$subject" ] && with "$base" || continue
        awk -v a="$(rate "$phase" "$subject")" -v b="$(rate "$phase" "$base")" -v n="$base" -v s="$subject" \
            'BEGIN { printf "%-8s / %-9s throughput %.3f\n", s, n, (b > 0 ? a / b : 0) }'
    done
}

echo
echo "Throughput ($LOAD): $ROUNDS x $COUNT sessions (1 message each) per variant, concurrency"
echo "$CONCURRENCY, a $WARMUP-session warm-up before each run, Postfix queue on $QUEUE, DNS answers"
echo "delayed $DNS_DELAY_MS ms"
table throughput
echo "(msgs/s over all runs of a variant; CPU: user + system per message of the milter process"
echo " and of the variant's smtpd processes, median (min-max) over runs; dns: the bench's own"
echo " delay proxy and nsd, which a real site runs elsewhere; client: the load generator"
echo " (LOAD=python); machine: all CPU the machine used; times in ms, client side, over all"
echo " its sessions)"
for v in smtpwall cold opendkim; do with "$v" && versus throughput "$v"; done
if [ "$LATENCY_COUNT" -gt 0 ]; then
    echo
    echo "Latency: $LATENCY_COUNT sessions per variant one at a time (2 rounds, alternating): no queueing"
    table latency
    for v in smtpwall cold; do with "$v" && versus latency "$v"; done
fi
if with smtpwall; then
    echo
    echo "smtpwall (warm) DNS during its timed runs: $dns_lookups lookups, $dns_hits cache hits, $dns_queries queries sent"
    echo "smtpwall's last session: $(grep ' session client=' "$WORK/log/milter.log" | tail -n 1 | sed 's/.* session /session /')"
fi
if with cold; then
    echo "cold: DNS queries sent during its timed runs: ${cold_queries[throughput]} (throughput), ${cold_queries[latency]} (latency)"
fi
if [ -e "$WORK/perf.data" ]; then
    echo
    echo "Profile of smtpwall's milter (perf, the first timed throughput run of $PROFILE_VARIANT): top symbols, self time"
    perf report -i "$WORK/perf.data" --stdio --no-children -g none --sort dso,symbol \
        --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep '%' | sed 's/ *$//' | head -n 45
    [ -z "${PERF_DATA:-}" ] || cp "$WORK/perf.data" "$PERF_DATA"
fi
echo "load: $load_at_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (1/5/15 min) on $(nproc) cores"
