#!/usr/bin/env bash
# smtpwall-helper against real legacy iptables (libiptc) in a network namespace pair:
# bans drop real TCP connections (IPv4 and IPv6), counters rise, the protocol's error
# paths close only the offending connection, unsafe targets and foreign uids are
# refused, a flushed chain is repaired, expiry works without the milter, and bans
# survive a helper restart. Run by ctest as helper_iptables (needs root).
source "$(dirname "$0")/lib.sh"
itest_init helper
need_built "$HELPER_BIN"
need ip6tables-legacy setpriv timeout awk stat
netns_pair

CHAIN="SWT$$"
CHAIN=${CHAIN:0:28}
helper_dirs
SOCK=$HELPER_RUN/helper.sock
PORT=2525
PEER_USER=daemon  # the configured peer; root may always connect, nobody may not

cat >"$WORK/helper.conf" <<EOF
[helper]
socket = "$SOCK"
peer_user = "$PEER_USER"
user = "smtpwall-helper"
state_file = "$HELPER_STATE/entries"

[firewall]
chain = "$CHAIN"
ports = [$PORT]
ipv6 = true
repair_interval = "1s"

[limits]
protected = ["198.51.100.0/24"]
max_adds_per_minute = 10

[core]
networks = ["203.0.113.0/24"]
tags = ["core-test"]
EOF

# start_helper NAME: runs the helper in the mx namespace, waits until it serves.
start_helper() {
    local name=$1
    spawn "$name" ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
    wait_for 10 "$name to report ready" grep -q 'ready socket=' "$WORK/log/$name.log"
}

# talk LINE...: sends the lines on one connection and prints everything the helper says.
talk() {
    printf '%s\n' "$@" | timeout 10 socat -t5 - "UNIX-CONNECT:$SOCK"
}

# expect REPLIES LINE...: each LINE must be one whole line of REPLIES.
expect() {
    local replies=$1 line
    shift
    for line in "$@"; do
        grep -qxF -- "$line" <<<"$replies" || fail "expected the line '$line' in the helper's replies:
$replies"
    done
}

# packets_of CHAIN_OUTPUT SOURCE: the packet counter of the rule for SOURCE.
packets_of() { awk -v src="$2" '$8 == src || $7 == src { print $1; exit }' <<<"$1"; }

chain_has() { mx_chain "$CHAIN" "${2:-4}" | grep -qF -- "$1"; }

blocked() { ! tcp_connects "$@"; }

log "config --check-config"
"$HELPER_BIN" -c "$WORK/helper.conf" --check-config >"$WORK/check.out" 2>&1 ||
    fail "--check-config rejected a good config: $(cat "$WORK/check.out")"
printf '[firewall]\nchian = "X"\n' >"$WORK/bad.conf"
rc=0
"$HELPER_BIN" -c "$WORK/bad.conf" --check-config >"$WORK/bad.out" 2>&1 || rc=$?
[ $rc = 78 ] || fail "a bad config should exit 78, got $rc"
assert_contains "$(cat "$WORK/bad.out")" "bad.conf:2" "the bad-config message"

log "start: chain, hooks and core entry before any request"
start_helper helper
chain4=$(mx_chain "$CHAIN")
assert_contains "$chain4" "203.0.113.0/24" "the IPv4 chain"
assert_contains "$chain4" "smtpwall core [core-test]" "the IPv4 chain"
input4=$(in_mx iptables-legacy -L INPUT -n)
assert_contains "$input4" "$CHAIN" "INPUT (IPv4)"
assert_contains "$input4" "tcp dpt:$PORT flags:0x17/0x02" "INPUT (IPv4)"
assert_contains "$(in_mx ip6tables-legacy -L INPUT -n)" "tcp dpt:$PORT flags:0x17/0x02" "INPUT (IPv6)"

log "privileges: user smtpwall-helper with CAP_NET_ADMIN and CAP_NET_RAW only, no_new_privs"
status=$(cat "/proc/$PID_helper/status")
helper_uid=$(id -u smtpwall-helper)
helper_gid=$(id -g smtpwall-helper)
assert_contains "$status" "$(printf 'Uid:\t%s\t%s\t%s\t%s\n' "$helper_uid" "$helper_uid" "$helper_uid" "$helper_uid")" "the helper's uids"
assert_contains "$status" "$(printf 'Gid:\t%s\t%s\t%s\t%s\n' "$helper_gid" "$helper_gid" "$helper_gid" "$helper_gid")" "the helper's gids"
for cap in CapPrm CapEff CapBnd; do
    assert_contains "$status" "$(printf '%s:\t0000000000003000' "$cap")" "the helper's $cap"
done
assert_contains "$status" "$(printf 'CapInh:\t0000000000000000')" "the helper's CapInh"
assert_contains "$status" "$(printf 'CapAmb:\t0000000000000000')" "the helper's CapAmb"
assert_contains "$status" "$(printf 'NoNewPrivs:\t1')" "the helper's status"
assert_contains "$status" "$(printf 'Groups:\t\n')" "the helper's supplementary groups"
[ "$(stat -c '%a %U' "$SOCK")" = "600 $PEER_USER" ] ||
    fail "socket should be mode 600 owned by $PEER_USER: $(stat -c '%a %U' "$SOCK")"
# What these credentials can do is what the serving helper can do: a process with
# exactly its uid, gid, groups, capabilities and securebits cannot open a root-only
# file, signal a root process or become root again.
secret=$WORK/root-secret
echo secret >"$secret"
chmod 600 "$secret"
as_helper() {
    setpriv --reuid "$helper_uid" --regid "$helper_gid" --clear-groups \
        --inh-caps -all,+net_admin,+net_raw --ambient-caps -all,+net_admin,+net_raw \
        --bounding-set -all,+net_admin,+net_raw --securebits +noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked \
        --no-new-privs -- "$@"
}
[ "$(as_helper cat /proc/self/status | awk '$1 == "CapEff:" { print $2 }')" = 0000000000003000 ] ||
    fail "setpriv did not reproduce the helper's capabilities"
if out=$(as_helper cat "$secret" 2>&1); then fail "the helper's credentials read a root-owned 0600 file"; fi
assert_contains "$out" "Permission denied" "opening a root-owned 0600 file with the helper's credentials"
if as_helper kill -0 1 2>/dev/null; then fail "the helper's credentials may signal pid 1"; fi
# And the helper itself: its journal, written after the drop, belongs to its user.
[ "$(stat -c %U "$HELPER_STATE/entries")" = smtpwall-helper ] ||
    fail "the journal was not written as smtpwall-helper: $(stat -c %U "$HELPER_STATE/entries")"

log "privileges: a helper that cannot drop uid 0 does not serve"
rc=0
ip netns exec "$NS_MX" setpriv --bounding-set -setuid -- "$HELPER_BIN" -c "$WORK/helper.conf" \
    >"$WORK/nodrop.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a helper without CAP_SETUID exited $rc, want 1: $(cat "$WORK/nodrop.out")"
assert_contains "$(cat "$WORK/nodrop.out")" "fatal: dropping privileges: setresuid: Operation not permitted" "the failed drop"
assert_not_contains "$(cat "$WORK/nodrop.out")" "ready socket=" "the failed drop"

log "a symlink planted at the socket path is neither followed nor replaced"
ln -s "$secret" "$HELPER_RUN/planted.sock"
sed "s|^socket = .*|socket = \"$HELPER_RUN/planted.sock\"|" "$WORK/helper.conf" >"$WORK/planted.conf"
rc=0
ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/planted.conf" >"$WORK/planted.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the helper served on a planted symlink (exit $rc): $(cat "$WORK/planted.out")"
assert_contains "$(cat "$WORK/planted.out")" "exists and is not a socket; not touching it" "the planted symlink"
[ -L "$HELPER_RUN/planted.sock" ] || fail "the planted symlink was removed"
[ "$(stat -c '%a %U:%G' "$secret")" = "600 root:root" ] ||
    fail "the symlink's target changed: $(stat -c '%a %U:%G' "$secret")"

log "greeting and HELLO"
out=$(talk "1 HELLO 1" "2 PING")
[ "$(head -n1 <<<"$out")" = "SMTPWALL-HELPER 1" ] || fail "no greeting: $out"
expect "$out" "1 OK 1" "2 OK pong"
expect "$(talk "7 HELLO 2" "8 PING")" "7 ERR version version 2 not supported, this helper speaks 1"
assert_not_contains "$(talk "7 HELLO 2" "8 PING")" "8 OK" "replies after a wrong version"
expect "$(talk "1 PING")" "1 ERR syntax HELLO must come first"

log "SMTP listener in the mx namespace"
spawn listener ip netns exec "$NS_MX" socat "TCP6-LISTEN:$PORT,ipv6only=0,fork,reuseaddr" EXEC:/bin/true
client_addr 192.0.2.50
client_addr 192.0.2.51
client_addr 2001:db8:1::50
wait_for 10 "the listener" tcp_connects 192.0.2.1 $PORT 192.0.2.10
tcp_connects 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 cannot connect before any ban"

log "ADD drops new connections from 192.0.2.50 only"
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.50 0 test-ban,a")" "2 OK added"
blocked 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 still connects after ADD"
tcp_connects 192.0.2.1 $PORT 192.0.2.51 || fail "192.0.2.51 was dropped too"
chain4=$(mx_chain "$CHAIN")
assert_contains "$chain4" "/* smtpwall dyn [test-ban] [a] */" "the IPv4 chain"
pkts=$(packets_of "$chain4" 192.0.2.50)
[ -n "$pkts" ] && [ "$pkts" -gt 0 ] || fail "no packets counted for 192.0.2.50:
$chain4"
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.50 0 test-ban,a")" "2 OK updated"

log "LIST: counters, origin, tags"
out=$(talk "1 HELLO 1" "2 LIST")
grep -qE '^2 ENTRY 192\.0\.2\.50 [1-9][0-9]* [1-9][0-9]* dyn 0 test-ban,a$' <<<"$out" ||
    fail "LIST lacks 192.0.2.50 with packets > 0:
$out"
grep -qE '^2 ENTRY 203\.0\.113\.0/24 [0-9]+ [0-9]+ core 0 core-test$' <<<"$out" ||
    fail "LIST lacks the core entry:
$out"
expect "$out" "2 OK 2"

log "DEL lets 192.0.2.50 in again"
expect "$(talk "1 HELLO 1" "2 DEL 192.0.2.50" "3 DEL 192.0.2.50")" "2 OK deleted" "3 OK absent"
tcp_connects 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 still dropped after DEL"
chain_has 192.0.2.50 && fail "192.0.2.50 still in the chain after DEL"

log "refusals: loopback, protected, own addresses, short prefix, core entry"
out=$(talk "1 HELLO 1" "2 ADD 127.0.0.1 0 -" "3 ADD ::1 0 -" "4 ADD 198.51.100.7 0 -" \
    "5 ADD 192.0.2.1 0 -" "6 ADD 2001:db8:1::1 0 -" "7 ADD 10.0.0.0/8 0 -" \
    "8 DEL 203.0.113.0/24" "9 ADD 203.0.113.0/24 0 -" "10 ADD 192.0.2.0/24 0 -" "11 PING")
for id in 2 3 4 5 6 7 8 9 10; do
    grep -q "^$id ERR refused " <<<"$out" || fail "request $id was not refused:
$out"
done
expect "$out" "11 OK pong"
chain4=$(mx_chain "$CHAIN")
for net in 127.0.0.1 198.51.100.7 192.0.2.1 10.0.0.0/8 192.0.2.0/24; do
    assert_not_contains "$chain4" " $net " "the IPv4 chain"
done
assert_contains "$chain4" "203.0.113.0/24" "the IPv4 chain after a refused DEL of the core entry"
grep -q 'refused ADD net=198.51.100.7 code=refused reason="overlaps protected network' \
    "$WORK/log/helper.log" || fail "the protected-network refusal was not logged"

log "refusals: IPv4 inside IPv6 (NAT64, 6to4, mapped) meets the IPv4 rules; Teredo only as /128"
out=$(talk "1 HELLO 1" "2 ADD 64:ff9b::/96 0 -" "3 ADD 64:ff9b::/64 0 -" "4 ADD 64:ff9b::7f00:1 0 -" \
    "5 ADD 64:ff9b::c633:6407 0 -" "6 ADD 64:ff9b::c000:201 0 -" "7 ADD 2002:7f00:1::/48 0 -" \
    "8 ADD 2002:c633:6400::/40 0 -" "9 ADD 2002:c000:201::/48 0 -" "10 ADD ::ffff:192.0.2.50 0 -" \
    "11 ADD 2001:0:4136:e378::/64 0 -" "12 ADD 64:ff9b:1:c633:64:700:: 0 -" \
    "13 ADD 64:ff9b::cb00:0/104 0 -" "14 ADD 64:ff9b::cb00:7107 0 nat64" \
    "15 ADD 2001:0:4136:e378:8000:63bf:3fff:fdd2 0 teredo" "16 PING")
for id in 2 3 4 5 6 7 8 9 10 11 12 13; do
    grep -q "^$id ERR refused " <<<"$out" || fail "request $id was not refused:
$out"
done
expect "$out" "14 OK added" "15 OK added" "16 OK pong"
grep -q 'refused ADD net=64:ff9b::c633:6407 code=refused reason="carries IPv4 198.51.100.7' \
    "$WORK/log/helper.log" || fail "the NAT64 form of a protected address was not refused as such"
chain6=$(mx_chain "$CHAIN" 6)
assert_contains "$chain6" "64:ff9b::cb00:7107" "the IPv6 chain"
for net in 64:ff9b::/96 64:ff9b::/64 64:ff9b::c633:6407 2002:c633:6400::/40 2001:0:4136:e378::/64; do
    assert_not_contains "$chain6" " $net " "the IPv6 chain"
done
expect "$(talk "1 HELLO 1" "2 DEL 64:ff9b::cb00:7107" "3 DEL 2001:0:4136:e378:8000:63bf:3fff:fdd2")" \
    "2 OK deleted" "3 OK deleted"

log "malformed and over-long lines close only that connection"
out=$(talk "1 HELLO 1" "2 PING" "bogus" "3 PING")
expect "$out" "2 OK pong" "0 ERR syntax a request starts with a numeric id > 0"
assert_not_contains "$out" "3 OK pong" "replies after a malformed line"
out=$(talk "1 HELLO 1" "$(printf '2 ADD 192.0.2.9 0 %0600d' 0)" "3 PING")
expect "$out" "0 ERR syntax line too long"
assert_not_contains "$out" "3 OK" "replies after an over-long line"
out=$(printf '1 HELLO 1\n2 PING\r\n3 PING\n' | timeout 10 socat -t5 - "UNIX-CONNECT:$SOCK")
expect "$out" "0 ERR syntax line contains non-printable bytes"
out=$(talk "1 HELLO 1" "5 ADD 192.0.2.9/24 0 -" "6 PING")
expect "$out" "5 ERR syntax not an address or network"
assert_not_contains "$out" "6 OK" "replies after a network with host bits"
expect "$(talk "1 HELLO 1" "2 PING")" "2 OK pong"
kill -0 "$PID_helper" || fail "the helper died"

log "peer credentials: only $PEER_USER and root"
if setpriv --reuid=nobody --regid=nogroup --clear-groups \
    timeout 10 socat -u "UNIX-CONNECT:$SOCK" - >/dev/null 2>&1; then
    fail "nobody could connect to the mode 0600 socket"
fi
chmod 0666 "$SOCK"  # let nobody reach the socket, so that SO_PEERCRED must refuse it
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
    timeout 10 socat -u "UNIX-CONNECT:$SOCK" - 2>&1) || true
chmod 0600 "$SOCK"
[ "$out" = "0 ERR refused peer uid $(id -u nobody) not allowed" ] ||
    fail "nobody was not refused as expected: '$out'"
grep -q "refused connection uid=$(id -u nobody)" "$WORK/log/helper.log" ||
    fail "the refused connection was not logged"
out=$(printf '1 HELLO 1\n2 PING\n' | setpriv --reuid="$PEER_USER" --regid="$PEER_USER" \
    --clear-groups timeout 10 socat -t5 - "UNIX-CONNECT:$SOCK")
expect "$out" "1 OK 1" "2 OK pong"

log "IPv6: ADD 2001:db8:1::50 drops it"
tcp_connects "[2001:db8:1::1]" $PORT "[2001:db8:1::50]" ||
    fail "2001:db8:1::50 cannot connect before any ban"
expect "$(talk "1 HELLO 1" "2 ADD 2001:db8:1::50 0 v6-test")" "2 OK added"
blocked "[2001:db8:1::1]" $PORT "[2001:db8:1::50]" || fail "2001:db8:1::50 still connects"
tcp_connects "[2001:db8:1::1]" $PORT "[2001:db8:1::10]" || fail "2001:db8:1::10 was dropped too"
chain6=$(mx_chain "$CHAIN" 6)
assert_contains "$chain6" "/* smtpwall dyn [v6-test] */" "the IPv6 chain"
pkts=$(packets_of "$chain6" 2001:db8:1::50)
[ -n "$pkts" ] && [ "$pkts" -gt 0 ] || fail "no packets counted for 2001:db8:1::50:
$chain6"
expect "$(talk "1 HELLO 1" "2 DEL 2001:db8:1::50")" "2 OK deleted"
tcp_connects "[2001:db8:1::1]" $PORT "[2001:db8:1::50]" || fail "2001:db8:1::50 still dropped"

log "repair after someone flushes the chain and removes the hook"
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.50 0 repair-me")" "2 OK added"
in_mx iptables-legacy -F "$CHAIN"
in_mx iptables-legacy -D INPUT -p tcp --dport $PORT --tcp-flags FIN,SYN,RST,ACK SYN -j "$CHAIN"
chain_has 192.0.2.50 && fail "flushing the chain did not work"
wait_for 10 "the helper to restore 192.0.2.50" chain_has "[repair-me]"
wait_for 10 "the helper to restore the core entry" chain_has "smtpwall core [core-test]"
wait_for 10 "the helper to restore the INPUT hook" \
    sh -c "ip netns exec '$NS_MX' iptables-legacy -L INPUT -n | grep -q '$CHAIN'"
blocked 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 connects after the repair"
grep -q 'repaired: re-added missing entry net=192.0.2.50' "$WORK/log/helper.log" ||
    fail "the repair was not logged"

log "expiry: the helper removes an expired entry by itself"
expires=$(($(date +%s) + 2))
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.60 $expires short")" "2 OK added"
assert_contains "$(mx_chain "$CHAIN")" "smtpwall dyn exp=$expires [short]" "the IPv4 chain"
wait_for 10 "192.0.2.60 to expire" sh -c "! ip netns exec '$NS_MX' iptables-legacy -L '$CHAIN' -n | grep -q 192.0.2.60"
grep -q "expired net=192.0.2.60" "$WORK/log/helper.log" || fail "the expiry was not logged"
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.61 $(($(date +%s) - 1)) late")" \
    "2 ERR refused expiry $(($(date +%s) - 1)) is not in the future"

log "restart: bans stay in the kernel and come back into the helper"
stop helper
[ -e "$SOCK" ] && fail "the socket file is still there after SIGTERM"
grep -q "signal=TERM stopping" "$WORK/log/helper.log" || fail "no clean stop logged"
chain_has "[repair-me]" || fail "the ban was removed when the helper stopped"
blocked 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 connects while the helper is down"
start_helper helper2
out=$(talk "1 HELLO 1" "2 LIST")
expect "$out" "2 OK 2"
grep -qE '^2 ENTRY 192\.0\.2\.50 [0-9]+ [0-9]+ dyn 0 repair-me$' <<<"$out" ||
    fail "the restarted helper did not read 192.0.2.50 back:
$out"
grep -q 'adopted=1' "$WORK/log/helper2.log" || fail "the restarted helper adopted nothing"
expect "$(talk "1 HELLO 1" "2 DEL 192.0.2.50")" "2 OK deleted"
tcp_connects 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 still dropped after DEL"

log "rate limit: at most max_adds_per_minute new entries at once"
lines=("1 HELLO 1")
for i in $(seq 100 111); do lines+=("$i ADD 192.0.2.$i 0 burst"); done
out=$(talk "${lines[@]}")
added=$(grep -c ' OK added$' <<<"$out" || true)
limited=$(grep -c ' ERR limit ' <<<"$out" || true)
[ "$added" = 10 ] && [ "$limited" = 2 ] ||
    fail "expected 10 added and 2 limited, got $added and $limited:
$out"
[ "$(mx_chain "$CHAIN" | grep -c '\[burst\]')" = 10 ] || fail "the chain does not hold the 10 adds"
kill -0 "$PID_helper2" || fail "the helper died"

log "ok"
