#!/usr/bin/env bash
# The milter under attack, through a real Postfix, with nsd behind dnsdist (which logs
# every query and drops the ones for silent.example.net, so slowspf.example.net's SPF
# hangs on its include):
#   - four sessions from one client, each with 1,000 EHLOs of distinct names and 200
#     RSET + MAIL FROM with distinct slow-SPF senders, cost at most the budgeted DNS
#     queries (counted at dnsdist); past the budgets only the last name and sender are
#     checked, when the verdict asks, and the budgets never cause a 5xx;
#   - other clients' sessions meanwhile get their SPF results and verdicts, although
#     SPF has only 4 workers (one client may hold 2);
#   - 2,000 control connections of a read-only user that pipeline "bans" and never
#     read, plus 1,000 live checks from another: mail keeps flowing, the milter's
#     descriptors stay bounded, every flooding connection is refused or cut by the
#     timeout, and live checks are rationed;
#   - 40 silent connections to /metrics: 16 held until the timeout, the others refused;
#   - a HELO that carries "client=" text leaves a session line with one client= key.
source "$(dirname "$0")/lib.sh"
itest_init postfix-hostile
need_package python3 python3
netns_pair
ATTACKER=192.0.2.70 NOPTR=192.0.2.60
OTHERS=(192.0.2.80 192.0.2.81 192.0.2.82 192.0.2.83 192.0.2.84 192.0.2.85)
FORGER=192.0.2.86
for a in $ATTACKER $NOPTR "${OTHERS[@]}" $FORGER; do client_addr $a; done
HOSTILE=$SOURCE_DIR/test/integration/hostile.py
PY=/usr/bin/python3  # the system's: also for the unprivileged users below

source "$SOURCE_DIR/test/integration/hostile.sh"
hostile_dns
SMTPWALL_DNS_CONF+=$'\nhelo_lookups = 3'
METRICS_PORT=$(free_port)
SMTPWALL_CONTROL_OPTIONS="metrics_listen = \"127.0.0.1:$METRICS_PORT\"
max_connections = 16
max_connections_per_user = 8
idle_timeout = \"4s\"
write_timeout = \"4s\"
checks_per_minute = 20"
SMTPWALL_EXTRA_MILTER_CONF='[spf]
workers = 4
client_workers = 2
session_checks = 3'
smtpwall_start
postfix_start 192.0.2.1
wait_for 5 "dnsdist's query log" test -s "$QUERY_LOG"

log "four attacking sessions from $ATTACKER, and ordinary sessions from others meanwhile"
for s in 1 2 3 4; do
    in_cl $PY "$HOSTILE" smtp-attack $ATTACKER 192.0.2.1 "$s" 1000 200 \
        >"$WORK/attack-$s.out" 2>&1 &
    echo $! >"$WORK/attack-$s.pid"
done
sleep 1  # the attackers have queued their slow SPF checks by now
for round in 1 2; do
    for i in "${!OTHERS[@]}"; do
        a=${OTHERS[$i]}
        in_cl $PY "$HOSTILE" smtp-normal $a 192.0.2.1 "client${a##*.}.example.net" \
            "someone@example.net" >"$WORK/other-$round-$i.out" 2>&1 &
        echo $! >"$WORK/other-$round-$i.pid"
    done
    # SPF fail (5) plus no PTR (5) is a reject: only if SPF is answered, not starved.
    in_cl $PY "$HOSTILE" smtp-normal $NOPTR 192.0.2.1 client.example.net \
        "someone@fail.example.net" >"$WORK/noptr-$round.out" 2>&1 ||
        fail "the SPF-fail session failed: $(cat "$WORK/noptr-$round.out")"
    assert_contains "$(cat "$WORK/noptr-$round.out")" "rcpt 550" "SPF-fail session during the attack"
    for i in "${!OTHERS[@]}"; do
        while kill -0 "$(cat "$WORK/other-$round-$i.pid")" 2>/dev/null; do sleep 0.1; done
        assert_contains "$(cat "$WORK/other-$round-$i.out")" "rcpt 250" "${OTHERS[$i]}'s session during the attack"
    done
done
for s in 1 2 3 4; do
    while kill -0 "$(cat "$WORK/attack-$s.pid")" 2>/dev/null; do sleep 0.2; done
    # Judged with what it has: its HELO names past the budget are not looked up, its
    # senders past the budget not checked; no 5xx for either.
    assert_contains "$(cat "$WORK/attack-$s.out")" "rcpt 250" "attacking session $s"
done
helo_queries=$(queries "attack.example.net")
spf_queries=$(queries "slowspf.example.net")
silent_queries=$(queries "silent.example.net")
log "  DNS queries of the attack: $helo_queries for its HELO names (4 x 1,000 sent), $spf_queries for slowspf, $silent_queries for silent"
[ "$helo_queries" -ge 9 ] || fail "the query log misses the HELO lookups ($helo_queries)"
[ "$helo_queries" -le $((4 * 3 * 3)) ] || fail "$helo_queries queries for the attack's HELO names: over 4 sessions x 3 names x A/AAAA/MX"
# SPF: 3 checks at MAIL FROM, and the last sender's when the verdict asks.
[ "$spf_queries" -le $((4 * 4)) ] || fail "$spf_queries queries for slowspf.example.net: over 4 sessions x 4 checks"
[ "$silent_queries" -ge 1 ] || fail "SPF never reached the silent include"
[ "$silent_queries" -le $((4 * 4 * 3)) ] || fail "$silent_queries queries for silent.example.net: over 4 x 4 checks x 3 attempts"
metrics=$(ctl metrics)
assert_contains "$metrics" 'smtpwall_session_budget_exceeded_total{budget="helo_names"} 4' "metrics"
assert_contains "$metrics" 'smtpwall_session_budget_exceeded_total{budget="spf_checks"} 4' "metrics"

log "a HELO carrying client= text: the session line has one client= key, the real one"
out=$(send_mail $FORGER 'x client=198.51.100.7 verdict=reject' user@example.org) && true
wait_for 5 "the forger's session line" grep -q "session client=$FORGER " "$WORK/log/milter.log"
$PY "$HOSTILE" logfmt $FORGER <"$WORK/log/milter.log" ||
    fail "the session line of $FORGER can be misread: $(grep "session client=$FORGER " "$WORK/log/milter.log")"

log "40 silent connections to /metrics: 16 held until the timeout, the rest refused"
$PY "$HOSTILE" metrics-flood "$METRICS_PORT" 40 6 >"$WORK/metrics-flood.out" 2>&1 ||
    fail "metrics flood: $(cat "$WORK/metrics-flood.out")"
read -r _ closed _ open _ fetched <"$WORK/metrics-flood.out"
[ "$closed" = 40 ] && [ "$open" = 0 ] || fail "metrics listener: $closed closed, $open open after the timeout"
[ "$fetched" -gt 0 ] || fail "GET /metrics failed after the flood"
assert_contains "$(ctl metrics)" 'smtpwall_control_refused_total{reason="metrics_connections"} 24' "metrics"

log "2,000 control connections that never read, 1,000 live checks: mail flows"
for i in $(seq 40); do ctl ban "203.0.113.$i" >/dev/null || fail "ban 203.0.113.$i"; done
milter_pid=$PID_milter
fds_before=$(ls /proc/$milter_pid/fd | wc -l)
(
    ulimit -n 4096
    exec setpriv --reuid=nobody --regid=nogroup --clear-groups $PY "$HOSTILE" \
        control-flood "$CONTROL_SOCK" 2000 5000 9
) >"$WORK/flood.out" 2>&1 &
flood=$!
sleep 1
setpriv --reuid=daemon --regid=daemon --clear-groups $PY "$HOSTILE" check-flood \
    "$CONTROL_SOCK" 1000 192.0.2.80 >"$WORK/checks.out" 2>&1 || fail "check flood: $(cat "$WORK/checks.out")"
fds_during=$(ls /proc/$milter_pid/fd | wc -l)
out=$(send_mail 192.0.2.80 client80.example.net user@example.org) ||
    fail "mail did not flow during the control flood: $out"
while kill -0 $flood 2>/dev/null; do sleep 0.2; done
read -r _ refused _ cut _ open <"$WORK/flood.out" || fail "control flood: $(cat "$WORK/flood.out")"
read -r _ ok _ limited _ other <"$WORK/checks.out"
log "  flood: $refused refused at once, $cut cut by a timeout, $open still open; checks: $ok answered, $limited rationed, $other other; milter descriptors $fds_before -> $fds_during"
[ "$open" = 0 ] || fail "$open flooding connections still open after the timeouts"
[ "$cut" -ge 1 ] && [ "$cut" -le 8 ] || fail "$cut connections served: the per-user cap is 8"
[ "$refused" = $((2000 - cut)) ] || fail "refused $refused of $((2000 - cut))"
[ "$other" = 0 ] || fail "$other live checks ended otherwise"
[ "$ok" -ge 20 ] && [ "$ok" -le 22 ] || fail "$ok live checks answered: 20 a minute for a read-only user"
[ "$fds_during" -le $((fds_before + 40)) ] || fail "the milter's descriptors grew from $fds_before to $fds_during"
metrics=$(ctl metrics)
grep -q 'smtpwall_control_refused_total{reason="timeout"} [1-8]$' <<<"$metrics" ||
    fail "no write timeout counted: $(grep control_refused <<<"$metrics")"
assert_contains "$metrics" "smtpwall_control_refused_total{reason=\"user_connections\"} $refused" "metrics"
assert_contains "$metrics" "smtpwall_control_refused_total{reason=\"check_rate\"} $limited" "metrics"
out=$(ctl status) || fail "the control socket does not answer after the flood: $out"
assert_not_contains "$(cat "$WORK/log/milter.log")" "callback failed" "milter log"
log "PASS"
