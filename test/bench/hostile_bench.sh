#!/usr/bin/env bash
# The others' verdict latency with and without an attacker, run on demand (root; not a
# test). Same set-up as test/integration/hostile_test.sh: a real Postfix, the milter
# with its default SPF pool (32 workers, 2 per client), nsd behind dnsdist, which drops
# every query for *.silent.example.net (slowspf.example.net's SPF includes one name per
# sender there, so no cache helps and each check waits out its DNS timeouts).
#
#   baseline  SESSIONS ordinary sessions (SPF pass), CONCURRENCY at a time, from 14
#             clients (4 of them borderline: their verdict needs SPF); latency = RCPT
#             sent -> its reply (the verdict), in ms; and the replies that were not 250
#   attacked  the same while ATTACKERS sessions at a time from one client each send
#             1,000 EHLOs with distinct names and 200 RSET + MAIL FROM with distinct
#             slow-SPF senders, over and over
#
#   usage: test/bench/hostile_bench.sh   SESSIONS=1000 CONCURRENCY=10 ATTACKERS=8
#
# Prints figures, asserts nothing; also the attack's DNS queries per attacking session.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$REPO/build}
export SMTPWALL_SOURCE_DIR=$REPO
source "$REPO/test/integration/lib.sh"

SESSIONS=${SESSIONS:-1000}
CONCURRENCY=${CONCURRENCY:-10}
ATTACKERS=${ATTACKERS:-8}
HOSTILE=$REPO/test/integration/hostile.py
PY=/usr/bin/python3

itest_init hostile-bench
need_package python3 python3
netns_pair
ATTACKER=192.0.2.70
# Ten clean clients, and four borderline ones (no PTR, an unconfirmed PTR, two dynamic
# PTRs: weight 5 each) whose verdict depends on SPF: pass is a 250, an SPF that could
# not be had (temperror) a 451.
OTHERS=()
for i in $(seq 80 89) 60 61 64 68; do OTHERS+=("192.0.2.$i"); done
for a in $ATTACKER "${OTHERS[@]}"; do client_addr $a; done

source "$REPO/test/integration/hostile.sh"
POSTFIX_EXTRA_MAIN='default_process_limit = 200'
hostile_dns
smtpwall_start
postfix_start 192.0.2.1

stats() {
    local replies
    replies=$(awk '{ print $1 }' "$1" | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
    awk '$1 != "error" { print $2 }' "$1" | sort -g | awk -v replies="$replies" '{ v[NR] = $1 }
        function p(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1; return v[i] }
        END { if (NR == 0) { print "no sessions"; exit }
              printf "p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d sessions; replies %s)\n", p(0.5), p(0.99), v[NR], NR, replies }'
}
others() {
    in_cl $PY "$HOSTILE" smtp-others 192.0.2.1 "$SESSIONS" "$CONCURRENCY" "${OTHERS[@]}" >"$1"
}

log "warming the caches"
in_cl $PY "$HOSTILE" smtp-others 192.0.2.1 20 5 "${OTHERS[@]}" >/dev/null
log "baseline: $SESSIONS sessions, $CONCURRENCY at a time, no attacker"
others "$WORK/baseline.txt"

log "attacked: the same with $ATTACKERS attacking sessions at a time from $ATTACKER"
touch "$WORK/attacking"
for s in $(seq "$ATTACKERS"); do
    (
        n=0
        while [ -e "$WORK/attacking" ]; do
            n=$((n + 1))
            # An attacking session may be cut short (a timeout, the bench ending): it
            # only has to keep coming; its figures are counted below.
            in_cl $PY "$HOSTILE" smtp-attack $ATTACKER 192.0.2.1 "$s-$n" 1000 200 >>"$WORK/attack-$s.out" 2>&1 || true
        done
    ) &
done
sleep 2
others "$WORK/attacked.txt"
rm -f "$WORK/attacking"
log "waiting for the attacking sessions to end"
while pgrep -f "smtp-attack $ATTACKER" >/dev/null; do sleep 0.5; done
attack_sessions=$(cat "$WORK"/attack-*.out | awk '/^rcpt/ { n++ } END { print n + 0 }')
helo_q=$(queries attack.example.net)
silent_q=$(queries silent.example.net)

echo
echo "others' verdict latency (RCPT -> reply), $SESSIONS sessions, $CONCURRENCY at a time"
echo "  without attacker: $(stats "$WORK/baseline.txt")"
echo "  with attacker:    $(stats "$WORK/attacked.txt")"
echo "attack: $attack_sessions sessions ($ATTACKERS at a time), each 1,000 EHLOs + 200 MAIL FROMs"
echo "  DNS queries for their HELO names: $helo_q ($(awk -v q="$helo_q" -v s="$attack_sessions" 'BEGIN { printf "%.1f", s ? q / s : 0 }') per session; budget 3 names x 3 types = 9)"
echo "  DNS queries for the silent SPF includes: $silent_q"
echo "  $(ctl metrics | grep -E '^smtpwall_session_budget_exceeded_total' | tr '\n' ' ')"
