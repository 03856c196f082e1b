#!/usr/bin/env bash
# Every accepted ban survives a reboot, and the rate cap still holds afterwards.
#
# The milter holds N active bans (seeded into its state file) and syncs them to a
# helper whose cap is lifted for the occasion. Then the "reboot": both stop, the
# network namespace is destroyed (the kernel forgets every rule) and made anew, and
# both start again with the shipped default limits (600 new entries per minute).
# The helper alone puts all N back from its journal before the milter connects; the
# milter's full SYNC then finds nothing to add (refused=0 deferred=0). Then the
# milter gains 2000 bans the helper has never accepted: its next sync still meets
# the cap (about 600 added, the rest deferred, counted in status and retried). Last,
# a burst of LIST and update requests on one connection stays bounded.
#
#   RESTORE_N      bans to restore (default 2000; test/bench/restore_bench.sh: 100000)
#   RESTORE_BACKEND  iptables (default), ipset or nftables
#   RESTORE_RSS_LIMIT_KB  the helper's peak RSS allowed (default 65536: 64 MiB)
#
# Prints "restored N entries in S s" (helper start to ready, journal to kernel).
source "$(dirname "$0")/lib.sh"
itest_init restore
need sqlite3 awk
N=${RESTORE_N:-2000}
BACKEND=${RESTORE_BACKEND:-iptables}
[ "$N" -ge 1 ] && [ "$N" -le 100000 ] || fail "RESTORE_N must be 1..100000"
netns_pair

# kernel_count: the dynamic entries the kernel holds for our backend.
kernel_count() {
    case $BACKEND in
        iptables) in_mx iptables-legacy -S "$CHAIN" | grep -c -- "smtpwall dyn" ;;
        ipset) in_mx ipset list "${CHAIN}4" | grep -c "smtpwall dyn" ;;
        nftables) in_mx nft -a list table inet "$(tr 'A-Z' 'a-z' <<<"$CHAIN")" | grep -o 'smtpwall dyn' | wc -l ;;
    esac
}

# address I: the I-th seeded ban, in 198.18.0.0/15 (benchmarking space; the entries
# never see a packet).
seed_sql() {
    local now expires
    now=$(date +%s)
    expires=$((now + 86400))
    echo "BEGIN;"
    awk -v n="$N" -v now="$now" -v until="$expires" 'BEGIN {
        for (i = 1; i <= n; i++)
            printf "INSERT INTO bans (key, tags, since, expires, rule, origin, observed) VALUES (\"198.%d.%d.%d\", \"restore-test\", %d, %d, \"seed\", \"manual\", 0);\n",
                18 + int(i / 65536), int(i / 256) % 256, i % 256, now, until
    }'
    echo "COMMIT;"
}

CHAIN="SWR$$"
CHAIN=${CHAIN:0:28}
SMTPWALL_EXTRA_HELPER_CONF="backend = \"$BACKEND\""
SMTPWALL_HELPER_LIMITS='max_adds_per_minute = 1000000'
# The shipped max_entries (100000) is what the benchmark's N fills; room for the rest.
[ "$N" -le 90000 ] || SMTPWALL_HELPER_LIMITS+=$'\n'"max_entries = $((N + 10000))"
WAIT=$((120 + N / 200))  # seconds for a full sync or restore of N entries
log "first boot: $N bans in the milter's state, synced to a helper without a cap"
smtpwall_start
stop milter
seed_sql | sqlite3 "$RUN/state.db" || fail "cannot seed $RUN/state.db"
chown smtpwall "$RUN/state.db"
milter_start milter_seeded
wait_for "$WAIT" "the first sync" grep -q "firewall synced bans=$N .*refused=0 deferred=0" "$WORK/log/milter_seeded.log"
[ "$(kernel_count)" = "$N" ] || fail "the kernel holds $(kernel_count) entries after the first sync, want $N"
stop milter_seeded
stop helper

log "reboot: the namespace and everything in its kernel is gone"
for ns in "$NS_MX" "$NS_CL"; do ip netns del "$ns"; done
netns_pair

log "second boot with the shipped limits: the helper restores every ban on its own"
sed -i '/^max_adds_per_minute = 1000000$/d' "$WORK/helper.conf"
grep -q max_adds_per_minute "$WORK/helper.conf" && fail "helper.conf still overrides the cap"
start=$(date +%s.%N)
spawn helper2 ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
wait_for "$WAIT" "the helper ready" grep -q "ready socket=" "$WORK/log/helper2.log"
ready=$(date +%s.%N)
count=$(kernel_count)
[ "$count" = "$N" ] || fail "the kernel holds $count of $N bans before the milter connects"
grep -q "started entries=$N adopted=0 restored=$N " "$WORK/log/helper2.log" ||
    fail "the helper did not say it restored $N: $(grep started "$WORK/log/helper2.log")"
awk -v n="$N" -v a="$start" -v b="$ready" 'BEGIN { printf "restored %d entries in %.2f s\n", n, b - a }'

log "the milter's full SYNC adds nothing and is refused nothing"
milter_start milter_after
wait_for "$WAIT" "the sync after the reboot" grep -q "firewall synced bans=$N " "$WORK/log/milter_after.log"
grep -qF "firewall synced bans=$N result=\"added\\x3d0 updated\\x3d0 removed\\x3d0\" refused=0 deferred=0" \
    "$WORK/log/milter_after.log" ||
    fail "the sync after the reboot: $(grep 'firewall synced' "$WORK/log/milter_after.log")"
ctl status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["helper"]["connected"], s["helper"]
assert s["helper"]["deferred"] == 0, s["helper"]
' || fail "status after the reboot: $(ctl status --json)"
[ "$(kernel_count)" = "$N" ] || fail "the kernel holds $(kernel_count) after the sync, want $N"

log "the cap still holds: the milter asks for 2000 addresses the helper never accepted"
stop milter_after
# seed_sql's addresses i = N+1 .. N+2000: the milter's own bans, added while it was down.
awk -v from="$((N + 1))" -v to="$((N + 2000))" -v now="$(date +%s)" 'BEGIN {
    print "BEGIN;"
    for (i = from; i <= to; i++)
        printf "INSERT INTO bans (key, tags, since, expires, rule, origin, observed) VALUES (\"198.%d.%d.%d\", \"restore-test\", %d, %d, \"seed\", \"manual\", 0);\n",
            18 + int(i / 65536), int(i / 256) % 256, i % 256, now, now + 86400
    print "COMMIT;"
}' | sqlite3 "$RUN/state.db" || fail "cannot add 2000 bans to $RUN/state.db"
milter_start milter_more
wait_for "$WAIT" "the sync of $((N + 2000)) bans" grep -q "firewall synced bans=$((N + 2000)) " "$WORK/log/milter_more.log"
synced=$(grep "firewall synced bans=$((N + 2000)) " "$WORK/log/milter_more.log" | head -n1)
deferred=$(sed -n 's/.* deferred=\([0-9]*\).*/\1/p' <<<"$synced")
added=$((2000 - deferred))
log "the milter's sync: $synced"
[ "$added" -ge 600 ] && [ "$added" -le 620 ] || fail "$added of 2000 new bans passed a cap of 600 per minute: $synced"
assert_contains "$synced" "refused=0" "the milter's sync"
grep -q "firewall helper deferred $deferred bans (its rate cap); sending them again in 60 s" \
    "$WORK/log/milter_more.log" || fail "the milter did not say it will send the deferred bans again"
[ "$(ctl status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["helper"]["deferred"])')" = "$deferred" ] ||
    fail "status does not show the $deferred deferred bans: $(ctl status --json)"
[ "$(kernel_count)" = $((N + added)) ] || fail "the kernel holds $(kernel_count), want $((N + added))"
log "a burst of LIST and update requests on one connection stays bounded"
# 12000 updates of restored entries (a new expiry each) with a LIST after every
# 20 of them, then 1400 more LISTs: 2000 LISTs of ~$((N + added)) entries each. (With
# the benchmark's N, as many LISTs as make the same 4 million entries in all.)
LISTS=$((N <= 2000 ? 2000 : 4000000 / N))
REQUESTS=$((1 + 12000 + LISTS))
PING_WAIT=$((2 + N / 5000))  # another connection waits for at most the LIST in progress
burst_start=$(date +%s.%N)
awk -v n="$N" -v lists="$LISTS" -v now="$(date +%s)" 'BEGIN {
    print "1 HELLO 1"; id = 2; every = int(12000 / int(lists * 3 / 10))
    for (i = 0; i < 12000; i++) {
        k = 1 + i % n
        printf "%d ADD 198.%d.%d.%d %d restore-test\n", id++, 18 + int(k / 65536), int(k / 256) % 256, k % 256, now + 90000 + i
        if (i % every == every - 1) { printf "%d LIST\n", id++; lists-- }
    }
    while (lists-- > 0) printf "%d LIST\n", id++
}' | timeout 900 socat -t60 - "UNIX-CONNECT:$HELPER_SOCK" |
    awk '$2 == "OK" && $3 == "updated" { u++ } $2 == "ERR" && $3 == "limit" { l++ }
         $1 != 1 && $2 == "OK" && $3 ~ /^[0-9]+$/ { lists++ } $2 == "ERR" && $3 != "limit" { other++ }
         END { printf "%d %d %d %d\n", u, l, lists, other }' >"$WORK/burst2.out" &
burst_pid=$!
sleep 2
ping_out=$(printf '1 HELLO 1\n2 PING\n' | timeout $((PING_WAIT + 3)) socat -t"$PING_WAIT" - "UNIX-CONNECT:$HELPER_SOCK") ||
    fail "the helper did not answer another connection during the burst"
grep -qx "2 OK pong" <<<"$ping_out" || fail "PING during the burst: $ping_out"
wait "$burst_pid" || fail "the burst connection failed"
burst_end=$(date +%s.%N)
read -r updated limited lists other <"$WORK/burst2.out"
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$PID_helper2/status")
wait_for 10 "the burst connection closed" grep -q "closed conn=.* requests=$REQUESTS " "$WORK/log/helper2.log"
commits=$(grep -o "closed conn=[0-9]* requests=$REQUESTS commits=[0-9]*" "$WORK/log/helper2.log" | tail -n1 | sed 's/.*commits=//')
awk -v u="$updated" -v l="$limited" -v n="$lists" -v c="$commits" -v h="$hwm" -v a="$burst_start" -v b="$burst_end" 'BEGIN {
    printf "burst: %.1f s, %d updated, %d over the change budget, %d LIST replies, %d commits (%.1f/s), peak RSS %.1f MiB\n",
        b - a, u, l, n, c, c / (b - a), h / 1024 }'
[ "$other" = 0 ] || fail "$other unexpected errors in the burst"
[ "$lists" = "$LISTS" ] || fail "$lists of $LISTS LISTs answered"
[ $((updated + limited)) = 12000 ] || fail "$updated updated + $limited limited of 12000"
[ "$limited" -gt 0 ] || fail "12000 updates in one burst all passed a budget of 6000 per minute"
RSS_LIMIT_KB=${RESTORE_RSS_LIMIT_KB:-65536}
[ "$hwm" -lt "$RSS_LIMIT_KB" ] || fail "the helper's peak RSS was $hwm kB ($RSS_LIMIT_KB kB at most)"
awk -v c="$commits" -v a="$burst_start" -v b="$burst_end" 'BEGIN { exit !(c <= 20 * (b - a) + 5) }' ||
    fail "$commits commits in $(awk -v a="$burst_start" -v b="$burst_end" 'BEGIN { print b - a }') s: over the budget of 20 per second"
printf '1 HELLO 1\n2 PING\n' | timeout 5 socat -t2 - "UNIX-CONNECT:$HELPER_SOCK" | grep -qx "2 OK pong" ||
    fail "the helper does not serve after the burst"
log "PASS"
