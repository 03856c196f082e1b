#!/usr/bin/env bash
# Three MX hosts acting as one through a real Redis (test/integration/cluster.sh): each
# its own namespace, kernel firewall, Postfix, helper and milter; clients in another
# namespace. Shown: rejections split over two hosts add up to a ban in all three
# kernels (the next SYN to the third is dropped and counted); a spamtrap hit bans
# everywhere; two hosts banning one client at once make one ban on the same terms; unban and allow made at one host hold everywhere; `status` shows the
# link and the peers. Then the failures: Redis killed while mail flows (every host
# keeps delivering and rejecting, a local threshold bans locally at once) and
# restarted empty (every active ban back in Redis and in every kernel, the counts of
# the outage merged); Redis stopped with SIGSTOP (no session waits on it); one host
# cut off from Redis and healed (it converges, nothing counted twice, and a ban whose
# log entry was trimmed meanwhile reaches it through a snapshot); a host reloaded with
# other rules is reported and its counts kept apart, while bans still reach it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
itest_init cluster
cluster_netns 3
SPLIT=192.0.2.101 TRAPPER=192.0.2.102 ALLOWED=192.0.2.103 OUTAGE=192.0.2.104
LOCAL=192.0.2.105 PARTITIONED=192.0.2.106 STOPPED=192.0.2.107 TRIMMED=192.0.2.108
TWICE=192.0.2.109 DIVERGED=192.0.2.110 CLEAN=192.0.2.20
for a in $SPLIT $TRAPPER $ALLOWED $OUTAGE $LOCAL $PARTITIONED $STOPPED $TRIMMED $TWICE $DIVERGED \
    $CLEAN; do
    ip -n "$NS_CL" addr add "$a/24" dev cl0
done
cluster_services
CLUSTER_EXTRA='connect_timeout = "300ms"
command_timeout = "300ms"'
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap", "ban after 5 rejections in 1h"]'
for i in 1 2 3; do mx_start $i; done

in_all_kernels() {
    local net=$1 i
    for i in 1 2 3; do (on_mx $i && kernel_has "$net") || return 1; done
}
in_no_kernel() {
    local net=$1 i
    for i in 1 2 3; do (on_mx $i && kernel_lacks "$net") || return 1; done
}
# reject I SOURCE N: N sessions from SOURCE to MX I, each rejected (bad HELO) once.
reject() {
    local i=$1 source=$2 n=$3 out
    for _ in $(seq "$n"); do
        out=$(send_to "$i" "$source" localhost user@example.org) && fail "bad HELO accepted by mx$i:
$out"
        assert_contains "$out" "550 5.7.1" "mx$i's reply to $source"
    done
}

log "2 rejections at mx1 and 3 at mx2: banned in all three kernels"
reject 1 $SPLIT 2
reject 2 $SPLIT 2
in_no_kernel $SPLIT || fail "banned after 4 rejections"
reject 2 $SPLIT 1
wait_for 5 "$SPLIT in all three kernels" in_all_kernels $SPLIT
on_mx 3
tcp_connects 192.0.2.3 25 $SPLIT 1 && fail "mx3 still accepts a connection from $SPLIT"
packets=$(mx_chain "$CHAIN" | awk -v net=$SPLIT '$0 ~ net {print $1; exit}')
[ "${packets:-0}" -gt 0 ] || fail "mx3 counted no dropped packet from $SPLIT: $(mx_chain "$CHAIN")"
grep -q "cluster: applied op=ban net=$SPLIT host=mx2" "$WORK/log/milter3.log" ||
    fail "mx3 did not log the ban it applied"
show=$(ctl show $SPLIT)
assert_contains "$show" "decided by mx2" "show at mx3"
assert_contains "$show" "cluster: mx1 counted 2 rejections" "show at mx3"
assert_contains "$show" "cluster: mx2 counted 3 rejections" "show at mx3"
assert_contains "$(ctl bans)" "(by mx2)" "bans at mx3"

log "a spamtrap hit at mx3 bans on all three"
out=$(send_to 3 $TRAPPER client.example.net trap@example.org) && fail "spamtrap accepted: $out"
wait_for 5 "$TRAPPER in all three kernels" in_all_kernels $TRAPPER

log "two hosts banning the same client at once make one ban"
send_to 1 $TWICE client.example.net trap@example.org >/dev/null &
first=$!
send_to 2 $TWICE client.example.net trap@example.org >/dev/null &
wait $first $! || true  # (both refused: the spamtrap)
wait_for 5 "$TWICE in all three kernels" in_all_kernels $TWICE
sleep 0.5
[ "$(redis_cli HGET sw:t:$TWICE bans)" = 1 ] || fail "the cluster counted $(redis_cli HGET sw:t:$TWICE bans) bans of $TWICE"
[ "$(redis_cli XRANGE sw:log - + | grep -cx "$TWICE")" = 1 ] || fail "more than one ban of $TWICE in the log"
expiry_at() { (on_mx "$1" && ctl show $TWICE --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ban"]["expires"])'); }
[ "$(expiry_at 1)" = "$(expiry_at 2)" ] && [ "$(expiry_at 2)" = "$(expiry_at 3)" ] ||
    fail "the hosts hold different terms for one ban: $(expiry_at 1) $(expiry_at 2) $(expiry_at 3)"

log "unban at mx2 lifts it everywhere"
on_mx 2
ctl unban $TRAPPER >/dev/null || fail "unban refused"
wait_for 5 "$TRAPPER gone from all three kernels" in_no_kernel $TRAPPER

log "allow at mx1 protects everywhere"
on_mx 1
ctl allow $ALLOWED/32 >/dev/null || fail "allow refused"
wait_for 5 "the allow applied at mx3" grep -q "cluster: applied op=allow net=$ALLOWED" "$WORK/log/milter3.log"
out=$(send_to 3 $ALLOWED localhost trap@example.org) || fail "an allowed client was refused by mx3: $out"
in_no_kernel $ALLOWED || fail "an allowed client was banned"

log "status shows the link and the peers"
on_mx 2
sees_peers() {
    local status
    status=$(ctl status)
    grep -q "peer mx1: heartbeat" <<<"$status" && grep -q "peer mx2: heartbeat" <<<"$status" &&
        grep -q "peer mx3: heartbeat" <<<"$status"
}
wait_for 5 "mx2 seeing all three peers' heartbeats" sees_peers  # every 2 s
assert_contains "$(ctl status)" "cluster: connected as mx2 via 192.0.2.5:6379" "mx2 status"
assert_contains "$(ctl metrics)" "smtpwall_cluster_connected 1" "mx2 metrics"

log "Redis killed while mail flows: every host delivers, rejects and bans on its own"
kill -KILL "$PID_redis"
wait "$PID_redis" 2>/dev/null || true
for i in 1 2 3; do
    send_to $i $CLEAN client.example.net user@example.org >/dev/null || fail "mx$i refused clean mail without Redis"
done
reject 1 $OUTAGE 2
reject 2 $OUTAGE 3
in_no_kernel $OUTAGE || fail "split counts banned without Redis"
reject 1 $LOCAL 5
on_mx 1
wait_for 2 "the local ban at mx1 without Redis" kernel_has $LOCAL

log "Redis back empty: re-seeded, every active ban in every kernel, outage counts merged"
cluster_redis
wait_for 15 "the bans back in Redis" bash -c "[ \"\$(redis-cli -s $REDIS_SOCK ZCARD sw:bans)\" -ge 3 ]"
wait_for 10 "$LOCAL in all three kernels" in_all_kernels $LOCAL
wait_for 10 "$OUTAGE (2 + 3 across the outage) in all three kernels" in_all_kernels $OUTAGE
in_all_kernels $SPLIT || fail "$SPLIT lost from a kernel"
grep -q "Redis lost its data" "$WORK/log/milter1.log" || fail "mx1 did not notice the empty Redis"

# lost_and_back I SINCE: MX I lost its link and caught up again after log line SINCE.
lost_and_back() {
    tail -n "+$2" "$WORK/log/milter$1.log" | grep -q "cluster: connection lost" &&
        tail -n "+$2" "$WORK/log/milter$1.log" | grep -q "cluster: caught up"
}
log_lines() { wc -l <"$WORK/log/milter$1.log"; }

log "Redis stopped (SIGSTOP) longer than the timeouts: no session waits, nothing counted twice"
since=$(log_lines 2)
kill -STOP "$PID_redis"
sleep 0.5
start=$(date +%s%N)
send_to 1 $CLEAN client.example.net user@example.org >/dev/null || fail "mx1 refused clean mail while Redis hangs"
# These two are pushed into the stopped Redis: the pushes time out, yet Redis applies
# them once it runs again, and mx2 pushes them again after reconnecting.
reject 2 $STOPPED 2
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
sleep 0.5
kill -CONT "$PID_redis"
[ $elapsed_ms -lt 3000 ] || fail "three sessions took $elapsed_ms ms while Redis was stopped"
wait_for 15 "mx2 losing its link and catching up again" lost_and_back 2 "$since"
reject 1 $STOPPED 2
sleep 0.5
in_no_kernel $STOPPED || fail "4 rejections (2 timed out and retried + 2) counted as 5 or more"
reject 3 $STOPPED 1
wait_for 5 "$STOPPED (2 + 2 + 1) in all three kernels" in_all_kernels $STOPPED

log "mx2 cut off from Redis, then healed: it converges, nothing counted twice"
on_mx 2
since=$(log_lines 2)
in_mx iptables-legacy -I OUTPUT -d 192.0.2.5 -p tcp --dport 6379 -j DROP
in_mx iptables-legacy -I INPUT -s 192.0.2.5 -p tcp --sport 6379 -j DROP
reject 2 $PARTITIONED 2
reject 1 $PARTITIONED 2
# Meanwhile mx1 bans someone, and the log loses that entry: only a snapshot has it.
out=$(send_to 1 $TRIMMED client.example.net trap@example.org) && fail "spamtrap accepted: $out"
on_mx 1
wait_for 5 "$TRIMMED banned at mx1" kernel_has $TRIMMED
wait_for 5 "the ban in Redis" bash -c "[ \"\$(redis-cli -s $REDIS_SOCK EXISTS sw:ban:$TRIMMED)\" = 1 ]"
redis_cli XTRIM sw:log MAXLEN 0 >/dev/null
on_mx 2
sleep 1
in_no_kernel $PARTITIONED || fail "banned on 4 rejections during the partition"
on_mx 2
in_mx iptables-legacy -D OUTPUT -d 192.0.2.5 -p tcp --dport 6379 -j DROP
in_mx iptables-legacy -D INPUT -s 192.0.2.5 -p tcp --sport 6379 -j DROP
wait_for 40 "mx2 losing its link and catching up again" lost_and_back 2 "$since"
sleep 0.5
in_no_kernel $PARTITIONED || fail "4 rejections (2 + 2 across a partition) counted as 5 or more"
wait_for 5 "$TRIMMED (made during the partition, its log entry trimmed) at mx2" in_all_kernels $TRIMMED
grep -q "cluster: snapshot taken" <(tail -n "+$since" "$WORK/log/milter2.log") ||
    fail "mx2 did not take a snapshot although its cursor's entries were trimmed"
reject 3 $PARTITIONED 1
wait_for 5 "$PARTITIONED (2 + 2 + 1) in all three kernels" in_all_kernels $PARTITIONED

log "mx3 reloaded with other rules: reported, its counts kept apart, bans still shared"
on_mx 3
sed -i 's/^rules = .*/rules = ["ban at first spamtrap", "ban after 50 rejections in 1h"]/' "$MILTER_CONF"
ctl reload >/dev/null || fail "mx3 refused the reload"
wait_for 5 "mx3 reporting its policy differs" bash -c "$CTL_BIN --socket $CONTROL_SOCK status | grep -q 'POLICY DIFFERS'"
on_mx 1
wait_for 5 "mx1 seeing mx3's policy differ" bash -c "$CTL_BIN --socket $CONTROL_SOCK status | grep -q 'peer mx3: .*policy DIFFERENT'"
grep -q "tally policy differs from the cluster's" "$WORK/log/milter3.log" || fail "mx3 did not log the difference"
reject 1 $DIVERGED 4
reject 3 $DIVERGED 1
sleep 0.5
in_no_kernel $DIVERGED || fail "mx3's count merged although its policy differs"
reject 1 $DIVERGED 1
wait_for 5 "$DIVERGED (5 at mx1) in all three kernels, mx3's too" in_all_kernels $DIVERGED

log "passed"
