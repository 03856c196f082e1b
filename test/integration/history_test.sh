#!/usr/bin/env bash
# The counter history with one firewall backend (first argument: iptables, ipset or
# nftables), the helper in a network namespace: banned clients send SYNs that the
# kernel drops and counts; the milter samples the counters (every second here); an
# entry is unbanned; the namespace is rebuilt (the kernel's counters are gone, the
# helper restores its bans into an empty firewall) and traffic goes on; the helper is
# restarted; the milter is killed with SIGKILL and started again. At the end
# `top --since 1h` must show, per entry, exactly the sum of what the kernel counted
# in each of its lives (read with the backend's own tool before each reset and at
# the end), the unbanned entry with its packets, and `report --week` the same rows.
#
# Run by ctest as history_iptables, history_ipset and history_nftables (root).
source "$(dirname "$0")/lib.sh"
BACKEND=${1:-}
case $BACKEND in
    iptables | ipset | nftables) ;;
    *) echo "usage: $0 iptables|ipset|nftables" >&2; exit 64 ;;
esac
itest_init "history-$BACKEND"
need python3
case $BACKEND in
    iptables) need_package iptables iptables-legacy ip6tables-legacy ;;
    ipset) need_package ipset ipset && need_package iptables iptables-legacy ;;
    nftables) need_package nftables nft ;;
esac
A=192.0.2.41 B=192.0.2.42 C=2001:db8:7::43 CNET=2001:db8:7::/64
addresses() { for a in $A $B $C; do client_addr $a; done; }
netns_pair
addresses

CHAIN=SMTPWALL
SMTPWALL_EXTRA_HELPER_CONF="backend = \"$BACKEND\"
ipv6 = true"
SMTPWALL_EXTRA_MILTER_CONF='[history]
sample_interval = "1s"'
smtpwall_start

# syn_burst SOURCE COUNT: COUNT connection attempts, each closed before its SYN is
# sent again: COUNT SYNs that a ban drops.
syn_burst() {
    in_cl python3 - "$1" "$2" <<'PY'
import socket, sys, time
src, n = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in src else socket.AF_INET
dst = "2001:db8:1::1" if fam == socket.AF_INET6 else "192.0.2.1"
socks = []
for _ in range(n):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect((dst, 25))
    except BlockingIOError:
        pass
    socks.append(s)
time.sleep(0.3)
for s in socks:
    s.close()
PY
}
# counters NET: "PACKETS BYTES" of NET in the kernel now, or "0 0" when it is not there.
# (The listing is read whole first: a reader that stops early would break the pipe.)
counters() {
    local entries
    entries=$(kernel_entries)
    awk -v n="$1" '$1 == n { print $2, $3; f = 1; exit } END { if (!f) print 0, 0 }' <<<"$entries"
}
in_kernel() {
    local entries
    entries=$(kernel_entries)
    awk -v n="$1" '$1 == n { f = 1 } END { exit !f }' <<<"$entries"
}
packets_at_least() { [ "$(counters "$1" | cut -d' ' -f1)" -ge "$2" ]; }
# add "P1 B1" "P2 B2": their sum.
add() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print x[1] + y[1], x[2] + y[2] }'; }
connected_count() { grep -c "connected to firewall helper" "$WORK/log/$1.log" || true; }
# One history sample and one flush of the state file (sample_interval and
# flush_interval are 1 s).
let_sample() { sleep 2.5; }

log "bans: $A and $B, and the network $CNET"
for net in $A $B $CNET; do ctl ban $net --for 1h --reason history-test >/dev/null || fail "ban $net"; done
for net in $A $B $CNET; do
    wait_for 10 "$net in the kernel" in_kernel $net
done

log "life 1: traffic, sampled by the milter's timer (no smtpwallctl call in between)"
syn_burst $A 20
syn_burst $B 10
syn_burst $C 12
wait_for 5 "the kernel counting $A" packets_at_least $A 20
wait_for 5 "the kernel counting $B" packets_at_least $B 10
wait_for 5 "the kernel counting $CNET" packets_at_least $CNET 12
let_sample
A1=$(counters $A) B1=$(counters $B) C1=$(counters $CNET)
log "kernel, life 1: $A $A1, $B $B1, $CNET $C1"

log "unban $B: its counters are read before it leaves"
ctl unban $B >/dev/null || fail "unban $B"
wait_for 5 "$B leaving the kernel" eval "! in_kernel $B"

log "the namespace is rebuilt: the kernel's counters are gone, the helper starts afresh"
seen=$(connected_count milter)
stop helper
ip netns del "$NS_MX"
ip netns del "$NS_CL"
netns_pair
addresses
spawn helper2 ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
wait_for 15 "the milter back on the helper" eval '[ "$(connected_count milter)" -gt "$seen" ]'
wait_for 10 "$A back in the new kernel" in_kernel $A
wait_for 10 "$CNET back in the new kernel" in_kernel $CNET
[ "$(counters $A)" = "0 0" ] || fail "the rebuilt namespace still counts $A: $(counters $A)"
in_kernel $B && fail "$B came back after its unban"

log "life 2: traffic in the new kernel"
syn_burst $A 15
syn_burst $C 5
wait_for 5 "the kernel counting $A again" packets_at_least $A 15
wait_for 5 "the kernel counting $CNET again" packets_at_least $CNET 5
A2=$(counters $A) C2=$(counters $CNET)

log "helper restart"
seen=$(connected_count milter)
stop helper2
spawn helper3 ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper.conf"
wait_for 15 "the milter back on the restarted helper" eval '[ "$(connected_count milter)" -gt "$seen" ]'
wait_for 10 "$A still in the kernel" in_kernel $A
# Whether this backend kept the counters across a helper restart (then life 2 goes on)
# or made the entries again (then life 2 ended here).
A_done="0 0" C_done="0 0"
[ "$(counters $A | cut -d' ' -f1)" -lt "${A2%% *}" ] && A_done=$A2
[ "$(counters $CNET | cut -d' ' -f1)" -lt "${C2%% *}" ] && C_done=$C2
log "after the helper restart: $A $(counters $A) (life 2 was $A2), $CNET $(counters $CNET)"

log "milter killed with SIGKILL after a sample, traffic while it is gone, started again"
before=$(counters $A | cut -d' ' -f1)
syn_burst $A 7
wait_for 5 "the kernel counting $A" packets_at_least $A $((before + 7))
let_sample
kill -KILL "$PID_milter"
wait "$PID_milter" 2>/dev/null || true
syn_burst $A 4
syn_burst $C 3
milter_start milter-again
syn_burst $A 6
sleep 0.5
A3=$(counters $A) C3=$(counters $CNET)

expect_A=$(add "$(add "$A1" "$A_done")" "$A3")
expect_B=$B1
expect_C=$(add "$(add "$C1" "$C_done")" "$C3")
log "expected totals: $A $expect_A, $B $expect_B, $CNET $expect_C"

log "top --since 1h: exactly the kernel's counts over every life of each entry"
ctl top 20 --since 1h --exact --json >"$WORK/top.json" || fail "top --since failed"
python3 - "$WORK/top.json" "$A" "$expect_A" "$B" "$expect_B" "$CNET" "$expect_C" <<'PY' || fail "top --since does not add up: $(cat "$WORK/top.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
rows = {r["host"]: r for r in doc["entries"]}
args = sys.argv[2:]
for host, expect in zip(args[0::2], args[1::2]):
    packets, octets = map(int, expect.split())
    r = rows.get(host)
    assert r is not None, f"{host} missing from {sorted(rows)}"
    assert (r["packets"], r["bytes"]) == (packets, octets), (host, r, packets, octets)
    assert r["tags"] == ["history-test"], r
    assert r["attempts_estimate"] >= (packets + 4) // 5, r
a, b, c = (rows[h] for h in args[0::2])
assert a["status"] == "active" and c["status"] == "active", (a, c)
assert a["segments"] >= 2, a  # before and after the rebuild
assert b["status"] == "unbanned", b
PY
top=$(ctl top --since 1h) || fail "top --since (text)"
assert_contains "$top" "Attempts(est.)" "top --since"
assert_contains "$(grep -F "$B " <<<"$top")" "unbanned" "top --since, the unbanned entry"
assert_contains "$(grep -F "$A " <<<"$top")" "[a] [history-test]" "top --since, tags"

log "report --week: the same rows, and the bans"
ctl report --week --json >"$WORK/report.json" || fail "report --week failed"
python3 - "$WORK/report.json" "$A" "$expect_A" <<'PY' || fail "report --week: $(cat "$WORK/report.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
rows = {r["host"]: r for r in doc["top"]}
packets = int(sys.argv[3].split()[0])
assert rows[sys.argv[2]]["packets"] == packets, rows
assert doc["ban_events"].get("lifted") == 1, doc["ban_events"]  # the unban
assert doc["until"] - doc["from"] >= 7 * 86400, doc
PY
report=$(ctl report --week) || fail "report --week (text)"
assert_contains "$report" "Top " "report --week"
assert_contains "$report" "$A " "report --week"
log "PASS"
