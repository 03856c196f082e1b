#!/usr/bin/env bash
# Cluster mode behind Redis Sentinel (test/integration/cluster.sh): a master, a replica
# and three sentinels in the infrastructure namespace, two MX hosts that know only the
# sentinels. A ban made before a failover (SENTINEL FAILOVER) survives it in Redis and
# in both kernels, and the hosts follow the new master: a ban made after it reaches
# the other host too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
itest_init cluster-sentinel
need_pkg redis-sentinel redis-sentinel
cluster_netns 2
BEFORE=192.0.2.101 AFTER=192.0.2.102
for a in $BEFORE $AFTER; do ip -n "$NS_CL" addr add "$a/24" dev cl0; done
cluster_services
MASTER_SOCK=$REDIS_SOCK

log "a replica on 192.0.2.5:6380 and three sentinels on 26379-26381"
mkdir -p "$WORK/replica"
spawn replica ip netns exec "$NS_RDS" redis-server --port 6380 --bind 192.0.2.5 127.0.0.1 \
    --unixsocket "$WORK/replica/redis.sock" --unixsocketperm 777 --dir "$WORK/replica" --save '' \
    --appendonly no --protected-mode no --replicaof 192.0.2.5 6379 --daemonize no
wait_for 10 "the replica" _redis_pong "$WORK/replica/redis.sock"
# ACL users are not replicated: the replica must know ours before it is promoted.
redis-cli -s "$WORK/replica/redis.sock" ACL SETUSER smtpwall on ">$REDIS_PASSWORD" '~sw:*' '+@all' \
    '-@dangerous' '+script|load' '+info' '+role' >/dev/null
for port in 26379 26380 26381; do
    cat >"$WORK/sentinel$port.conf" <<EOC
port $port
bind 192.0.2.5 127.0.0.1
protected-mode no
dir $WORK
sentinel monitor smtpwall 192.0.2.5 6379 2
sentinel down-after-milliseconds smtpwall 1000
sentinel failover-timeout smtpwall 5000
EOC
    spawn "sentinel$port" ip netns exec "$NS_RDS" redis-sentinel "$WORK/sentinel$port.conf"
done
sentinels_agree() {
    local port
    for port in 26379 26380 26381; do
        [ "$(ip netns exec "$NS_RDS" redis-cli -p $port SENTINEL get-master-addr-by-name smtpwall | head -1)" = "$1" ] || return 1
    done
}
wait_for 15 "the sentinels knowing the master" sentinels_agree 192.0.2.5

CLUSTER_REDIS_LINE='sentinels = ["192.0.2.5:26379", "192.0.2.5:26380", "192.0.2.5:26381"]'
CLUSTER_EXTRA='master_name = "smtpwall"
connect_timeout = "300ms"
command_timeout = "300ms"'
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap"]'
for i in 1 2; do mx_start $i; done
in_both_kernels() { (on_mx 1 && kernel_has "$1") && (on_mx 2 && kernel_has "$1"); }

log "a ban before the failover"
send_to 1 $BEFORE client.example.net trap@example.org >/dev/null && fail "spamtrap accepted"
wait_for 5 "$BEFORE in both kernels" in_both_kernels $BEFORE
wait_for 5 "the replica holding the ban" bash -c "[ \"\$(redis-cli -s $WORK/replica/redis.sock EXISTS sw:ban:$BEFORE)\" = 1 ]"

log "SENTINEL FAILOVER: the replica becomes the master"
ip netns exec "$NS_RDS" redis-cli -p 26379 SENTINEL FAILOVER smtpwall >/dev/null
promoted() { [ "$(redis-cli -s "$WORK/replica/redis.sock" ROLE | head -1)" = master ]; }
wait_for 20 "the replica promoted" promoted

log "the hosts follow the new master; no ban lost"
send_to 2 $AFTER client.example.net trap@example.org >/dev/null && fail "spamtrap accepted"
wait_for 20 "$AFTER in both kernels (through the new master)" in_both_kernels $AFTER
in_new_master() { [ "$(redis-cli -s "$WORK/replica/redis.sock" EXISTS "sw:ban:$1")" = 1 ]; }
in_new_master $BEFORE || fail "the ban before the failover is gone from Redis"
# Written to the old master in the moment it was being demoted, it may have to be
# published again (no replica confirmed it): it gets there.
wait_for 20 "the ban after the failover in the new master" in_new_master $AFTER
in_both_kernels $BEFORE || fail "the ban before the failover left a kernel"
on_mx 1
assert_contains "$(ctl status)" "cluster: connected as mx1 via 192.0.2.5:6380" "mx1 status after the failover"
log "passed"
