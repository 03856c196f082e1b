#!/usr/bin/env bash
# smtpwall-helper with one firewall backend, named by the first argument (iptables,
# ipset or nftables), in a network namespace pair, IPv4 and IPv6: core entries are in
# the kernel from the start; an added address is dropped (its connection times out)
# and the kernel's own counters for it rise; a deleted one gets through; a SYNC
# converges a changed set (entries not synced are gone, new ones present, counters of
# kept ones preserved); a flushed set/chain and a removed table/set are repaired within
# repair_interval; bans survive a restart; refusals (foreign uid, loopback, protected,
# own address, short prefix, rate cap, malformed and over-long lines, misplaced SYNC
# verbs) are answered and logged while the helper keeps serving.
#
# Every check reads the kernel through the backend's own tool (iptables-legacy -L,
# ipset list -o save, nft -j list), not through the helper. Run by ctest as
# helper_backend_iptables, helper_backend_ipset and helper_backend_nftables (root).
source "$(dirname "$0")/lib.sh"
BACKEND=${1:-}
case $BACKEND in
    iptables | ipset | nftables) ;;
    *) echo "usage: $0 iptables|ipset|nftables" >&2; exit 64 ;;
esac
itest_init "helper-$BACKEND"
need_built "$HELPER_BIN"
need setpriv timeout awk stat
case $BACKEND in
    iptables) need_package iptables iptables-legacy ip6tables-legacy ;;
    ipset) need_package ipset ipset && need_package iptables iptables-legacy ip6tables-legacy ;;
    nftables) need_package nftables nft && need_package python3 python3 ;;
esac
netns_pair

CHAIN="SWB$$"
CHAIN=${CHAIN:0:28}
TABLE=$(tr 'A-Z' 'a-z' <<<"$CHAIN")
SET4=${CHAIN}4
SET6=${CHAIN}6
helper_dirs
SOCK=$HELPER_RUN/helper.sock
PORT=2525
PEER_USER=daemon

cat >"$WORK/helper.conf" <<EOF
[helper]
socket = "$SOCK"
peer_user = "$PEER_USER"
user = "smtpwall-helper"
state_file = "$HELPER_STATE/entries"

[firewall]
backend = "$BACKEND"
chain = "$CHAIN"
ports = [$PORT]
ipv6 = true
repair_interval = "1s"

[limits]
protected = ["198.51.100.0/24"]
max_adds_per_minute = 20

[core]
networks = ["203.0.113.0/24", "2001:db8:ff::/48"]
tags = ["core-test"]
EOF

kernel_has() { kernel_entries | awk -v n="$1" '$1 == n { f = 1 } END { exit !f }'; }
kernel_lacks() { ! kernel_has "$1"; }
kernel_packets() { kernel_entries | awk -v n="$1" '$1 == n { print $2; exit }'; }
kernel_comment() { kernel_entries | awk -v n="$1" '$1 == n { $1 = ""; $2 = ""; $3 = ""; sub(/^   /, ""); print; exit }'; }

# The pieces that make the entries effective: hooks from INPUT, set rules, nft chains.
base_in_place() {
    case $BACKEND in
        iptables)
            in_mx iptables-legacy -L INPUT -n | grep -q "$CHAIN.*tcp dpt:$PORT flags:0x17/0x02" &&
                in_mx ip6tables-legacy -L INPUT -n | grep -q "$CHAIN.*tcp dpt:$PORT flags:0x17/0x02"
            ;;
        ipset)
            in_mx iptables-legacy -L INPUT -n | grep -q "$CHAIN.*tcp dpt:$PORT flags:0x17/0x02" &&
                in_mx iptables-legacy -L "$CHAIN" -n | grep -q "match-set $SET4 src" &&
                in_mx ip6tables-legacy -L "$CHAIN" -n | grep -q "match-set $SET6 src"
            ;;
        nftables)
            in_mx nft list chain inet "$TABLE" input | grep -q "tcp dport $PORT .*jump bans" &&
                in_mx nft list chain inet "$TABLE" bans | grep -q "ip saddr @ban4 drop" &&
                in_mx nft list chain inet "$TABLE" bans | grep -q "ip6 saddr @ban6 drop"
            ;;
    esac
}

# What the kernel holds, for failure messages.
kernel_tables() {
    case $BACKEND in
        iptables | ipset)
            in_mx iptables-legacy -L -n -v -x
            in_mx ip6tables-legacy -L -n -v -x
            [ "$BACKEND" = ipset ] && in_mx ipset list
            ;;
        nftables) in_mx nft list table inet "$TABLE" ;;
    esac
}

# Someone flushes what the helper filled in.
external_flush() {
    case $BACKEND in
        iptables)
            in_mx iptables-legacy -F "$CHAIN"
            in_mx ip6tables-legacy -F "$CHAIN"
            ;;
        ipset)
            in_mx ipset flush "$SET4"
            in_mx ipset flush "$SET6"
            in_mx iptables-legacy -F "$CHAIN"
            ;;
        nftables)
            in_mx nft flush set inet "$TABLE" ban4
            in_mx nft flush set inet "$TABLE" ban6
            in_mx nft flush chain inet "$TABLE" bans
            ;;
    esac
}

# Someone removes the structure itself (a firewall reload, a cleanup script).
external_remove() {
    case $BACKEND in
        iptables)
            in_mx iptables-legacy -D INPUT -p tcp --dport $PORT --tcp-flags FIN,SYN,RST,ACK SYN -j "$CHAIN"
            in_mx iptables-legacy -F "$CHAIN"
            in_mx iptables-legacy -X "$CHAIN"
            ;;
        ipset)
            in_mx iptables-legacy -F "$CHAIN"
            in_mx ipset destroy "$SET4"
            ;;
        nftables)
            in_mx nft delete table inet "$TABLE"
            ;;
    esac
}

start_helper() {
    local name=$1
    spawn "$name" ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
    wait_for 10 "$name to report ready" grep -q 'ready socket=' "$WORK/log/$name.log"
}

talk() { printf '%s\n' "$@" | timeout 10 socat -t5 - "UNIX-CONNECT:$SOCK"; }

expect() {
    local replies=$1 line
    shift
    for line in "$@"; do
        grep -qxF -- "$line" <<<"$replies" || fail "expected the line '$line' in the helper's replies:
$replies"
    done
}

blocked() { ! tcp_connects "$@"; }

# rises NET: the kernel counts packets for NET.
rises() {
    local pkts
    pkts=$(kernel_packets "$1")
    [ -n "$pkts" ] && [ "$pkts" -gt 0 ] || fail "no packets counted for $1 in the kernel:
$(kernel_entries)"
}

log "start: base in place and core entries in the kernel before any request"
start_helper helper
# A listing can race the helper's own first repair pass; give it a moment, and
# show what the kernel held if it never appears.
if ! wait_for_quietly 5 base_in_place; then
    kernel_tables >&2
    fail "the $BACKEND base (hooks, rules, sets) is not in place"
fi
kernel_has 203.0.113.0/24 || fail "core 203.0.113.0/24 missing: $(kernel_entries)"
kernel_has 2001:db8:ff::/48 || fail "core 2001:db8:ff::/48 missing: $(kernel_entries)"
[ "$(kernel_comment 203.0.113.0/24)" = "smtpwall core [core-test]" ] ||
    fail "core comment is '$(kernel_comment 203.0.113.0/24)'"
expect "$(talk "1 HELLO 1" "2 PING")" "1 OK 1" "2 OK pong"

log "listener; a client inside the core network is dropped"
spawn listener ip netns exec "$NS_MX" socat "TCP6-LISTEN:$PORT,ipv6only=0,fork,reuseaddr" EXEC:/bin/true
for a in 192.0.2.50 192.0.2.51 192.0.2.60 192.0.2.61 192.0.2.62 192.0.2.63 203.0.113.5 \
    2001:db8:1::50 2001:db8:1::62; do
    client_addr "$a"
done
wait_for 10 "the listener" tcp_connects 192.0.2.1 $PORT 192.0.2.10
blocked 192.0.2.1 $PORT 203.0.113.5 || fail "203.0.113.5 (core network) connects"
rises 203.0.113.0/24

log "ADD drops 192.0.2.50 only; its counters rise"
tcp_connects 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 cannot connect before any ban"
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.50 0 test-ban,a")" "2 OK added"
[ "$(kernel_comment 192.0.2.50)" = "smtpwall dyn [test-ban] [a]" ] ||
    fail "192.0.2.50 has comment '$(kernel_comment 192.0.2.50)'"
blocked 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 still connects after ADD"
tcp_connects 192.0.2.1 $PORT 192.0.2.51 || fail "192.0.2.51 was dropped too"
rises 192.0.2.50
out=$(talk "1 HELLO 1" "2 LIST")
grep -qE '^2 ENTRY 192\.0\.2\.50 [1-9][0-9]* [1-9][0-9]* dyn 0 test-ban,a$' <<<"$out" ||
    fail "LIST lacks 192.0.2.50 with its counters:
$out"

log "ADD drops 2001:db8:1::50 only; its counters rise"
tcp_connects "[2001:db8:1::1]" $PORT "[2001:db8:1::50]" || fail "2001:db8:1::50 cannot connect"
expect "$(talk "1 HELLO 1" "2 ADD 2001:db8:1::50 0 v6-test")" "2 OK added"
blocked "[2001:db8:1::1]" $PORT "[2001:db8:1::50]" || fail "2001:db8:1::50 still connects"
tcp_connects "[2001:db8:1::1]" $PORT "[2001:db8:1::10]" || fail "2001:db8:1::10 was dropped too"
rises 2001:db8:1::50

log "DEL lets both in again"
expect "$(talk "1 HELLO 1" "2 DEL 192.0.2.50" "3 DEL 2001:db8:1::50" "4 DEL 192.0.2.50")" \
    "2 OK deleted" "3 OK deleted" "4 OK absent"
kernel_lacks 192.0.2.50 || fail "192.0.2.50 still in the kernel"
kernel_lacks 2001:db8:1::50 || fail "2001:db8:1::50 still in the kernel"
tcp_connects 192.0.2.1 $PORT 192.0.2.50 || fail "192.0.2.50 still dropped after DEL"
tcp_connects "[2001:db8:1::1]" $PORT "[2001:db8:1::50]" || fail "2001:db8:1::50 still dropped"

log "SYNC converges a changed set and keeps the counters of kept entries"
expect "$(talk "1 HELLO 1" "2 ADD 192.0.2.60 0 old" "3 ADD 192.0.2.61 0 gone")" "2 OK added" "3 OK added"
blocked 192.0.2.1 $PORT 192.0.2.60 || fail "192.0.2.60 connects"
sleep 2 # let the helper read the counters once more (nftables carries them over from there)
before=$(kernel_packets 192.0.2.60)
[ "${before:-0}" -gt 0 ] || fail "no packets counted for 192.0.2.60"
out=$(talk "1 HELLO 1" "2 SYNC BEGIN" "3 ADD 192.0.2.60 0 new-tags" "4 ADD 192.0.2.62 0 synced" \
    "5 ADD 2001:db8:1::62 0 synced" "6 DEL 192.0.2.60" "7 SYNC BEGIN" "8 ADD 127.0.0.1 0 -" \
    "9 ADD 203.0.113.0/24 0 -" "10 PING" "11 SYNC END" "12 SYNC END" "13 SYNC ABORT")
expect "$out" "2 OK syncing" "3 OK staged" "4 OK staged" "5 OK staged" \
    "6 ERR syntax DEL inside SYNC" "7 ERR syntax SYNC already in progress" "10 OK pong" \
    "11 OK added=2 updated=1 removed=1" "12 ERR syntax no SYNC in progress" \
    "13 ERR syntax no SYNC in progress"
grep -q '^8 ERR refused ' <<<"$out" || fail "127.0.0.1 was not refused inside SYNC: $out"
grep -q '^9 ERR refused ' <<<"$out" || fail "the core entry was not refused inside SYNC: $out"
kernel_lacks 192.0.2.61 || fail "192.0.2.61 survived the SYNC: $(kernel_entries)"
kernel_has 192.0.2.62 || fail "192.0.2.62 missing after the SYNC: $(kernel_entries)"
kernel_has 2001:db8:1::62 || fail "2001:db8:1::62 missing after the SYNC: $(kernel_entries)"
kernel_has 203.0.113.0/24 || fail "the SYNC removed a core entry"
[ "$(kernel_comment 192.0.2.60)" = "smtpwall dyn [new-tags]" ] ||
    fail "192.0.2.60 was not updated: '$(kernel_comment 192.0.2.60)'"
after=$(kernel_packets 192.0.2.60)
[ "${after:-0}" -ge "$before" ] || fail "the SYNC reset the counters of 192.0.2.60: $before -> $after"
tcp_connects 192.0.2.1 $PORT 192.0.2.61 || fail "192.0.2.61 is still dropped"
blocked 192.0.2.1 $PORT 192.0.2.62 || fail "192.0.2.62 connects"
blocked "[2001:db8:1::1]" $PORT "[2001:db8:1::62]" || fail "2001:db8:1::62 connects"
grep -q 'sync done conn=[0-9]* staged=3 refused=2 expired=0 added=2 updated=1 removed=1' \
    "$WORK/log/helper.log" || fail "the SYNC was not logged"

log "a connection that closes inside a SYNC changes nothing"
expect "$(talk "1 HELLO 1" "2 SYNC BEGIN" "3 ADD 192.0.2.63 0 never")" "3 OK staged"
wait_for 5 "the discarded sync to be logged" grep -q 'sync discarded conn=' "$WORK/log/helper.log"
kernel_lacks 192.0.2.63 || fail "192.0.2.63 got in from an unfinished SYNC"
kernel_has 192.0.2.62 || fail "an unfinished SYNC removed 192.0.2.62"

log "repair after an external flush"
lines_before=$(wc -l <"$WORK/log/helper.log")
external_flush
# With a 1 s repair interval the helper may already have put it back: then its log
# proves the flush had removed it.
kernel_lacks 192.0.2.62 ||
    tail -n +"$((lines_before + 1))" "$WORK/log/helper.log" | grep -q 're-added missing entry net=192.0.2.62' ||
    fail "the flush did not work"
wait_for 10 "the helper to restore 192.0.2.62" kernel_has 192.0.2.62
wait_for 10 "the helper to restore 2001:db8:1::62" kernel_has 2001:db8:1::62
wait_for 10 "the helper to restore the core entry" kernel_has 203.0.113.0/24
wait_for 10 "the helper to restore the base" base_in_place
blocked 192.0.2.1 $PORT 192.0.2.62 || fail "192.0.2.62 connects after the repair"
grep -q 'repaired: re-added missing entry net=192.0.2.62' "$WORK/log/helper.log" ||
    fail "the repair was not logged"

log "repair after the structure itself is removed"
external_remove
wait_for 10 "the helper to rebuild the base" base_in_place
wait_for 10 "the helper to restore 192.0.2.62" kernel_has 192.0.2.62
wait_for 10 "the helper to restore the core entry" kernel_has 203.0.113.0/24
blocked 192.0.2.1 $PORT 192.0.2.62 || fail "192.0.2.62 connects after the rebuild"

log "refusals: loopback, protected, own address, short prefix, core entry"
out=$(talk "1 HELLO 1" "2 ADD 127.0.0.1 0 -" "3 ADD ::1 0 -" "4 ADD 198.51.100.7 0 -" \
    "5 ADD 192.0.2.1 0 -" "6 ADD 2001:db8:1::1 0 -" "7 ADD 10.0.0.0/8 0 -" \
    "8 DEL 203.0.113.0/24" "9 ADD 2001::/16 0 -" "10 PING")
for id in 2 3 4 5 6 7 8 9; do
    grep -q "^$id ERR refused " <<<"$out" || fail "request $id was not refused:
$out"
done
expect "$out" "10 OK pong"
for net in 127.0.0.1 198.51.100.7 192.0.2.1 10.0.0.0/8 2001::/16; do
    kernel_lacks "$net" || fail "$net reached the kernel"
done
grep -q 'refused ADD net=198.51.100.7 code=refused reason="overlaps protected network' \
    "$WORK/log/helper.log" || fail "the protected-network refusal was not logged"

log "malformed and over-long lines close only that connection"
out=$(talk "1 HELLO 1" "2 PING" "bogus" "3 PING")
expect "$out" "2 OK pong" "0 ERR syntax a request starts with a numeric id > 0"
assert_not_contains "$out" "3 OK pong" "replies after a malformed line"
out=$(talk "1 HELLO 1" "$(printf '2 ADD 192.0.2.9 0 %0600d' 0)" "3 PING")
expect "$out" "0 ERR syntax line too long"
assert_not_contains "$out" "3 OK" "replies after an over-long line"
grep -q 'bad request: line too long' "$WORK/log/helper.log" ||
    fail "the over-long line was not logged"
expect "$(talk "1 HELLO 1" "2 PING")" "2 OK pong"

log "peer credentials: a foreign uid is refused"
chmod 0666 "$SOCK" # let nobody reach the socket, so that SO_PEERCRED must refuse it
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
    timeout 10 socat -u "UNIX-CONNECT:$SOCK" - 2>&1) || true
chmod 0600 "$SOCK"
[ "$out" = "0 ERR refused peer uid $(id -u nobody) not allowed" ] ||
    fail "nobody was not refused as expected: '$out'"
grep -q "refused connection uid=$(id -u nobody)" "$WORK/log/helper.log" ||
    fail "the refused connection was not logged"

log "restart: bans stay in the kernel and come back into the helper"
stop helper
kernel_has 192.0.2.62 || fail "the ban was removed when the helper stopped"
blocked 192.0.2.1 $PORT 192.0.2.62 || fail "192.0.2.62 connects while the helper is down"
start_helper helper2
out=$(talk "1 HELLO 1" "2 LIST")
grep -qE '^2 ENTRY 192\.0\.2\.60 [0-9]+ [0-9]+ dyn 0 new-tags$' <<<"$out" ||
    fail "the restarted helper did not read 192.0.2.60 back:
$out"
grep -qE '^2 ENTRY 2001:db8:1::62 [0-9]+ [0-9]+ dyn 0 synced$' <<<"$out" ||
    fail "the restarted helper did not read 2001:db8:1::62 back:
$out"
grep -q 'adopted=3' "$WORK/log/helper2.log" || fail "the restarted helper did not adopt 3 bans"

log "rate cap: new entries beyond max_adds_per_minute are refused"
lines=("1 HELLO 1")
for i in $(seq 100 124); do lines+=("$i ADD 192.0.2.$i 0 burst"); done
lines+=("200 PING")
out=$(talk "${lines[@]}")
added=$(grep -c ' OK added$' <<<"$out" || true)
limited=$(grep -c ' ERR limit more than 20 new entries per minute$' <<<"$out" || true)
[ "$added" -ge 1 ] && [ "$added" -le 20 ] && [ $((added + limited)) = 25 ] ||
    fail "expected at most 20 added and the rest limited, got $added and $limited:
$out"
expect "$out" "200 OK pong"
[ "$(kernel_entries | grep -c '\[burst\]')" = "$added" ] ||
    fail "the kernel does not hold the $added adds: $(kernel_entries | grep -c '\[burst\]')"
grep -q 'refused ADD net=192.0.2.124 code=limit' "$WORK/log/helper2.log" ||
    fail "the rate refusal was not logged"
kill -0 "$PID_helper2" || fail "the helper died"

log "ok"
