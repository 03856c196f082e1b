# Shared harness for smtpwall's integration tests (bash). Source it, then call
# `itest_init NAME`. It gives each test a private work directory, network
# namespaces with TEST-NET addresses and no default route, and a cleanup trap
# that stops everything the test started (by PID) and deletes its namespaces,
# whether the test passes or fails. The work directory is deleted after a pass
# unless SMTPWALL_KEEP_WORK is set (kept after a failure, always).
#
# Topology made by `netns_pair`:
#   $NS_MX      mx0  192.0.2.1/24   2001:db8:1::1/64   (the mail server side)
#   $NS_CL      cl0  192.0.2.10/24  2001:db8:1::10/64  (clients; add more with client_addr)

set -euo pipefail

BUILD_DIR=${SMTPWALL_BUILD_DIR:?SMTPWALL_BUILD_DIR must point at the CMake build directory}
SOURCE_DIR=${SMTPWALL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MILTER_BIN=$BUILD_DIR/milter/smtpwall-milter
HELPER_BIN=$BUILD_DIR/firewall/smtpwall-helper
CTL_BIN=$BUILD_DIR/ctl/smtpwallctl

_itest_pids=()
_itest_netns=()
_itest_cleanups=()
ITEST_FAILED=0

log() { printf '[%s] %s\n' "${ITEST_NAME:-itest}" "$*" >&2; }

fail() {
    ITEST_FAILED=1
    printf '[%s] FAIL: %s\n' "${ITEST_NAME:-itest}" "$*" >&2
    exit 1
}

# A missing tool fails the test and says what to install; it never skips.
need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 ||
            fail "'$cmd' is not installed: run scripts/setup-debian.sh (Debian packages)"
    done
}

# need_package PACKAGE CMD...: like need, naming the Debian package that provides CMD.
need_package() {
    local package=$1 cmd
    shift
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 ||
            fail "'$cmd' is not installed: apt-get install $package (or run scripts/setup-debian.sh)"
    done
}

# need_built BIN...: the project's own programs this test runs.
need_built() {
    local bin
    for bin in "$@"; do [ -x "$bin" ] || fail "$bin is not built (cmake --build $BUILD_DIR)"; done
}

need_root() {
    [ "$(id -u)" = 0 ] || fail "this test needs root (network namespaces, iptables)"
}

itest_init() {
    ITEST_NAME=$1
    need_root
    need ip iptables-legacy socat
    WORK=$(mktemp -d "/tmp/smtpwall-$ITEST_NAME.XXXXXX")
    chmod 755 "$WORK"
    # Short, unique namespace names: tests may run side by side.
    local tag=$$
    NS_MX="sw${tag}mx"
    NS_CL="sw${tag}cl"
    trap _itest_cleanup EXIT
    trap 'exit 130' INT TERM
    log "work directory $WORK"
}

# Runs "$@" at cleanup time, before processes are stopped.
on_cleanup() { _itest_cleanups+=("$*"); }

_itest_cleanup() {
    local rc=$?
    set +e
    local cmd pid
    for cmd in "${_itest_cleanups[@]}"; do eval "$cmd" >/dev/null 2>&1; done
    for pid in "${_itest_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${_itest_pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    for ns in "${_itest_netns[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ $rc -ne 0 ] || [ $ITEST_FAILED -ne 0 ]; then
        log "failed (exit $rc); logs kept in $WORK"
        for f in "$WORK"/log/*; do
            [ -f "$f" ] || continue
            echo "----- $f (last 40 lines)" >&2
            tail -n 40 "$f" >&2
        done
    elif [ -n "${SMTPWALL_KEEP_WORK:-}" ]; then
        log "logs kept in $WORK (SMTPWALL_KEEP_WORK)"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}

# Starts "$@" in the background with output in $WORK/log/NAME.log and records its PID.
spawn() {
    local name=$1
    shift
    mkdir -p "$WORK/log"
    "$@" >"$WORK/log/$name.log" 2>&1 &
    local pid=$!
    _itest_pids+=("$pid")
    eval "PID_${name//-/_}=$pid"
}

# Stops a process started with spawn (SIGTERM, then SIGKILL after 10 s; libmilter
# notices a stop request only every few seconds).
stop() {
    local name=$1 var="PID_${1//-/_}"
    local pid=${!var:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 50 ms.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${seconds}s waiting for $what"
        sleep 0.05
    done
}

# wait_for_quietly SECONDS COMMAND...: like wait_for, but returns 1 on timeout
# so the caller can say more before failing.
wait_for_quietly() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}

netns_pair() {
    ip netns add "$NS_MX"
    _itest_netns+=("$NS_MX")
    ip netns add "$NS_CL"
    _itest_netns+=("$NS_CL")
    ip link add mx0 netns "$NS_MX" type veth peer name cl0 netns "$NS_CL"
    local ns
    for ns in "$NS_MX" "$NS_CL"; do
        ip -n "$ns" link set lo up
        # No DAD delay for the test addresses; IPv6 must work at once.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
    ip -n "$NS_MX" addr add 192.0.2.1/24 dev mx0
    ip -n "$NS_MX" addr add 2001:db8:1::1/64 dev mx0 nodad
    ip -n "$NS_CL" addr add 192.0.2.10/24 dev cl0
    ip -n "$NS_CL" addr add 2001:db8:1::10/64 dev cl0 nodad
    ip -n "$NS_MX" link set mx0 up
    ip -n "$NS_CL" link set cl0 up
    # (Not ping: iputils-ping is not among the packages scripts/setup-debian.sh installs.)
    wait_for 5 "veth link up" _veth_up
}

_veth_up() {
    ip -n "$NS_MX" -o link show mx0 | grep -q 'state UP' &&
        ip -n "$NS_CL" -o link show cl0 | grep -q 'state UP'
}

# Adds another client source address on cl0. Addresses outside the link's own
# subnets (192.0.2.0/24, 2001:db8:1::/64) get an on-link route on the mx side,
# so clients can come from several TEST-NET networks over one veth pair.
client_addr() {
    case $1 in
        *:*)
            ip -n "$NS_CL" addr add "$1/64" dev cl0 nodad
            case $1 in 2001:db8:1::*) ;; *) ip -n "$NS_MX" -6 route replace "${1%:*}:/64" dev mx0 ;; esac
            ;;
        *)
            ip -n "$NS_CL" addr add "$1/24" dev cl0
            case $1 in 192.0.2.*) ;; *) ip -n "$NS_MX" route replace "${1%.*}.0/24" dev mx0 ;; esac
            ;;
    esac
}

in_mx() { ip netns exec "$NS_MX" "$@"; }
in_cl() { ip netns exec "$NS_CL" "$@"; }

# tcp_connects HOST PORT SOURCE [TIMEOUT]: true if a TCP connection from SOURCE
# (in the client namespace) is accepted within TIMEOUT seconds (default 2).
tcp_connects() {
    local host=$1 port=$2 source=$3 timeout=${4:-2}
    in_cl timeout "$((timeout + 1))" socat -T"$timeout" /dev/null \
        "TCP:$host:$port,bind=$source,connect-timeout=$timeout" 2>/dev/null
}

# Prints the legacy x_tables rules of CHAIN in the mx namespace, exact counters.
mx_chain() {
    local chain=$1 family=${2:-4}
    if [ "$family" = 6 ]; then
        in_mx ip6tables-legacy -L "$chain" -v -x -n
    else
        in_mx iptables-legacy -L "$chain" -v -x -n
    fi
}

assert_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    grep -qF -- "$needle" <<<"$haystack" || fail "$what does not contain '$needle':
$haystack"
}

assert_not_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    if grep -qF -- "$needle" <<<"$haystack"; then
        fail "$what unexpectedly contains '$needle':
$haystack"
    fi
}

# ---------------------------------------------------------------------------
# Postfix: a private instance inside the mx namespace (HARNESS.md). Nothing in
# /etc/postfix is used or touched; every transport is discard: so nothing leaves.

# postfix_start LISTEN_ADDR... : configures $WORK/postfix and starts it in $NS_MX.
# Uses $MILTER_SOCK and, if set, $POSTFIX_EXTRA_MAIN (lines appended to main.cf).
postfix_start() {
    need postfix swaks
    PF=${PF_DIR:-$WORK/postfix}
    mkdir -p "$PF/etc" "$PF/data" "$PF/spool" "$WORK/log"
    chown postfix "$PF/data"
    cat >"$PF/etc/main.cf" <<EOC
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.smtpwall.test
mydomain = smtpwall.test
mydestination =
inet_interfaces = all
inet_protocols = all
mynetworks = 127.0.0.1/32
relay_domains = example.org
relay_recipient_maps = inline:{ {user@example.org=ok}, {other@example.org=ok}, {trap@example.org=ok}, {postmaster@example.org=ok} }
default_transport = discard:
relay_transport = discard:
local_transport = discard:
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
maillog_file = $WORK/log/maillog
maillog_file_prefixes = $WORK
smtpd_milters = unix:$MILTER_SOCK
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 5s
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
${POSTFIX_EXTRA_MAIN:-}
EOC
    {
        local addr
        for addr in "$@"; do
            echo "$addr:25 inet n - n - - smtpd"
        done
        cat <<'EOC'
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOC
    } >"$PF/etc/master.cf"
    on_cleanup "PF=$PF NS_MX=$NS_MX postfix_stop"
    # `postfix check` creates the queue directories of a new instance.
    in_mx postfix -c "$PF/etc" check >"$WORK/log/postfix-start.log" 2>&1 ||
        fail "postfix check failed: $(cat "$WORK/log/postfix-start.log")"
    in_mx postfix -c "$PF/etc" start >"$WORK/log/postfix-start.log" 2>&1 ||
        fail "postfix did not start: $(cat "$WORK/log/postfix-start.log")"
    local first=$1
    wait_for 15 "postfix listening on $first:25" in_mx bash -c "exec 3<>/dev/tcp/${first//[\[\]]/}/25"
}

postfix_stop() {
    [ -n "${PF:-}" ] || return 0
    in_mx postfix -c "$PF/etc" stop >/dev/null 2>&1
    local pid
    pid=$(cat "$PF/spool/pid/master.pid" 2>/dev/null | tr -d ' ')
    if [ -n "$pid" ]; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    # Children of a killed master (smtpd, qmgr...) must not outlive the test.
    pkill -KILL -f -- "-c $PF/etc" 2>/dev/null
    return 0
}

# send_mail SOURCE HELO RCPT [swaks options...]: one SMTP transaction from the
# client namespace to the mx; prints swaks' transcript, returns swaks' status.
send_mail() {
    local source=$1 helo=$2 rcpt=$3
    shift 3
    local server=192.0.2.1
    case $source in *:*) server=2001:db8:1::1 ;; esac
    in_cl swaks --server "$server" --port 25 --local-interface "$source" --helo "$helo" \
        --from sender@example.net --to "$rcpt" --timeout 10 --hide-informational "$@" 2>&1
}

# send_messages SOURCE HELO N: N messages to user@example.org in one SMTP session
# from SOURCE; prints each end-of-data reply code, then the QUIT reply code.
send_messages() {
    local server=192.0.2.1
    case $1 in *:*) server=2001:db8:1::1 ;; esac
    in_cl python3 - "$server" "$1" "$2" "$3" <<'PY'
import smtplib, sys
server, source, helo, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = smtplib.SMTP(server, 25, local_hostname=helo, source_address=(source, 0), timeout=10)
s.ehlo()
for i in range(count):
    for command, reply in (("MAIL", s.mail("sender@example.net")), ("RCPT", s.rcpt("user@example.org"))):
        if reply[0] != 250:
            sys.exit(f"message {i + 1}: {command} -> {reply[0]} {reply[1].decode(errors='replace')}")
    code, _ = s.data(f"Subject: message {i + 1}\r\n\r\nbody {i + 1}\r\n")
    print(code)
print(s.quit()[0])
PY
}

# expect_two_messages SOURCE: two messages in one SMTP session from SOURCE are both
# taken, and the milter's session line counts both (however it settles each one).
expect_two_messages() {
    local replies
    replies=$(send_messages "$1" client.example.net 2 | tr '\n' ' ') || fail "the two-message session failed"
    [ "$replies" = "250 250 221 " ] || fail "two messages in one session: replies $replies"
    wait_for 5 "the two-message session line" \
        grep -q "session client=$1 .*rcpts=2/2 messages=2 " "$WORK/log/milter.log"
}

# expect_allowlisted_passes SOURCE: an allowlisted client's mail is taken although its
# HELO is bad (the milter let it through at CONNECT), and its session is logged.
expect_allowlisted_passes() {
    local out
    out=$(send_mail "$1" localhost user@example.org) || fail "allowlisted client refused:
$out"
    wait_for 5 "the allowlisted session line" \
        grep -q "session client=$1 .*verdict=accept" "$WORK/log/milter.log"
}

# ---------------------------------------------------------------------------
# smtpwall itself.

# helper_dirs: $HELPER_RUN (smtpwall-helper, 0755: the helper's socket directory,
# which no one else may write) and $HELPER_STATE (smtpwall-helper, 0700: its
# journal), as the package makes them.
helper_dirs() {
    id smtpwall-helper >/dev/null 2>&1 ||
        fail "user smtpwall-helper is missing: run scripts/setup-debian.sh"
    HELPER_RUN=$WORK/helper-run${MX_NAME:-}
    HELPER_STATE=$WORK/helper-state${MX_NAME:-}
    install -d -o smtpwall-helper -g smtpwall-helper -m 0755 "$HELPER_RUN"
    install -d -o smtpwall-helper -g smtpwall-helper -m 0700 "$HELPER_STATE"
}

# smtpwall_start: nsd with the MTA test zones (test/data/mx-zones), the helper in
# the mx namespace, the milter outside it; sockets and the state file in $WORK/run.
# Writes $WORK/helper.conf and $WORK/smtpwall.conf. With MX_NAME set (the cluster
# tests) every file, directory and process name carries it: $WORK/run1, milter1...
# $SMTPWALL_EXTRA_MILTER_CONF
# and $SMTPWALL_EXTRA_HELPER_CONF are appended ($SMTPWALL_HELPER_LIMITS to the
# helper's [limits]), $SMTPWALL_DNS_CONF replaces the
# [dns] table and $SMTPWALL_DNS_PORT the server it names (default: nsd).
smtpwall_start() {
    [ -n "${NSD_PORT:-}" ] || nsd_start "$SOURCE_DIR/test/data/mx-zones"
    need_built "$MILTER_BIN" "$HELPER_BIN" "$CTL_BIN"
    id smtpwall >/dev/null 2>&1 || fail "user smtpwall is missing: run scripts/setup-debian.sh"
    local mx=${MX_NAME:-}
    RUN=$WORK/run$mx
    mkdir -p "$RUN"
    chown smtpwall "$RUN"
    chmod 755 "$RUN"
    MILTER_SOCK=$RUN/milter.sock
    CONTROL_SOCK=$RUN/control.sock
    helper_dirs
    HELPER_SOCK=$HELPER_RUN/helper.sock
        CHAIN=${CHAIN:-SMTPWALL}
    local protected=${SMTPWALL_PROTECTED:-'"198.51.100.0/24"'}
    cat >"$WORK/helper$mx.conf" <<EOC
[helper]
socket = "$HELPER_SOCK"
peer_user = "smtpwall"
user = "smtpwall-helper"
state_file = "$HELPER_STATE/entries"
[firewall]
chain = "$CHAIN"
ports = [25]
${SMTPWALL_EXTRA_HELPER_CONF:-}
[limits]
protected = [$protected]
${SMTPWALL_HELPER_LIMITS:-}
${SMTPWALL_HELPER_CORE:-}
EOC
    MILTER_CONF=$WORK/smtpwall$mx.conf
    milter_config
    spawn "helper$mx" ip netns exec "$NS_MX" "$HELPER_BIN" -c "$WORK/helper$mx.conf"
    wait_for 10 "helper$mx socket" test -S "$HELPER_SOCK"
    milter_start "milter$mx"
}

# milter_config: (re)writes $MILTER_CONF (default $WORK/smtpwall.conf) from
# $SMTPWALL_EXTRA_MILTER_CONF ($SMTPWALL_MILTER_OPTIONS, $SMTPWALL_CONTROL_OPTIONS and
# $SMTPWALL_CHECKS_OPTIONS go into [milter], [control] and [checks]).
milter_config() {
    MILTER_CONF=${MILTER_CONF:-$WORK/smtpwall.conf}
    local dns_conf=${SMTPWALL_DNS_CONF:-}
    if [ -z "$dns_conf" ]; then
        dns_conf=$(printf '[dns]\nservers = ["127.0.0.1:%s"]\ntimeout = "500ms"\ndeadline = "3s"' \
            "${SMTPWALL_DNS_PORT:-$NSD_PORT}")
    fi
    cat >"$MILTER_CONF" <<EOC
[milter]
socket = "$MILTER_SOCK"
socket_mode = "0666"
user = "smtpwall"
${SMTPWALL_MILTER_OPTIONS:-}
[control]
socket = "$CONTROL_SOCK"
socket_mode = "0666"
${SMTPWALL_CONTROL_OPTIONS:-}
[helper]
socket = "$HELPER_SOCK"
[checks]
spamtraps = ["trap@example.org"]
${SMTPWALL_CHECKS_OPTIONS:-}
[state]
file = "$RUN/state.db"
$dns_conf
[[zone]]
tag = "${SMTPWALL_BL_TAG:-testbl}"
zone = "bl.example"
codes = "127.0.0.[2..11]"
weight = 10
[[zone]]
tag = "testwl"
zone = "wl.example"
codes = "127.0.10.[1..255]"
weight = -20
${SMTPWALL_EXTRA_MILTER_CONF:-}
EOC
}

# milter_start NAME: starts the milter (log in $WORK/log/NAME.log) and waits
# until it serves the MTA and the control socket and has met the helper. With
# MILTER_NETNS set it runs in that network namespace.
milter_start() {
    local name=$1
    if [ -n "${MILTER_NETNS:-}" ]; then
        spawn "$name" ip netns exec "$MILTER_NETNS" "$MILTER_BIN" -f -c "${MILTER_CONF:-$WORK/smtpwall.conf}"
    else
        spawn "$name" "$MILTER_BIN" -f -c "${MILTER_CONF:-$WORK/smtpwall.conf}"
    fi
    wait_for 10 "$name started" grep -q "started milter=" "$WORK/log/$name.log"
    wait_for 10 "$name connected to the helper" grep -q "connected to firewall helper" "$WORK/log/$name.log"
}

# kernel_entries: what the helper's firewall in the mx namespace holds, read with the
# backend's own tool ($BACKEND: iptables (default), ipset or nftables; $CHAIN names
# the chain, the sets ${CHAIN}4/6 and the nftables table, lower case): lines
# "NET PACKETS BYTES COMMENT", exact counters.
kernel_entries() {
    local set4=${SET4:-${CHAIN}4} set6=${SET6:-${CHAIN}6} table=${TABLE:-$(tr 'A-Z' 'a-z' <<<"$CHAIN")}
    case ${BACKEND:-iptables} in
        iptables)
            local fam
            for fam in 4 6; do
                mx_chain "$CHAIN" "$fam" 2>/dev/null | awk '/DROP/ && /\/\* smtpwall / {
                    src = ($7 ~ /[.:]/) ? $7 : $8; sub(/\/(32|128)$/, "", src)
                    c = $0; sub(/.*\/\* /, "", c); sub(/ \*\/.*/, "", c); print src, $1, $2, c }'
            done
            ;;
        ipset)
            local set
            for set in "$set4" "$set6"; do
                in_mx ipset list -o save "$set" 2>/dev/null | awk '$1 == "add" {
                    p = ""; b = ""
                    for (i = 4; i < NF; i++) { if ($i == "packets") p = $(i + 1); if ($i == "bytes") b = $(i + 1) }
                    c = ""; if (index($0, "comment \"")) { c = $0; sub(/.*comment "/, "", c); sub(/"$/, "", c) }
                    print $3, p, b, c }'
            done
            ;;
        nftables)
            in_mx nft -j list table inet "$table" 2>/dev/null | python3 -c '
import json, sys
for item in json.load(sys.stdin)["nftables"]:
    s = item.get("set")
    if not s or not s["name"].startswith("ban"):
        continue
    plen = s["name"].split("_")[1] if "_" in s["name"] else ""
    for e in s.get("elem", []):
        e = e.get("elem", e) if isinstance(e, dict) else {"val": e}
        net = e["val"] + ("/" + plen if plen else "")
        c = e.get("counter", {})
        print(net, c.get("packets", 0), c.get("bytes", 0), e.get("comment", ""))
'
            ;;
    esac
}

# kernel_has NET [4|6]: the helper's chain in the mx namespace holds a rule for NET.
kernel_lacks() { ! kernel_has "$@"; }

kernel_has() {
    mx_chain "$CHAIN" "${2:-4}" | awk -v net="$1" '{for (i = 1; i <= NF; i++) if ($i == net) found = 1} END {exit !found}'
}

ctl() { "$CTL_BIN" --socket "$CONTROL_SOCK" "$@"; }

# The DNS servers (nsd, dnsdist) the milter is pointed at.
source "$(dirname "${BASH_SOURCE[0]}")/nsd.sh"

# Redis for the cluster tests: redis_start, redis_cli.
source "$(dirname "${BASH_SOURCE[0]}")/redis.sh"

# Sendmail (unpacked, private mount + UTS namespace): sendmail_start, sendmail_stop...
source "$(dirname "${BASH_SOURCE[0]}")/sendmail.sh"

# golden NAME: compares stdin, with times, durations and traffic counts masked, to
# test/data/golden/NAME. SMTPWALL_UPDATE_GOLDEN=1 rewrites the file instead.
golden() {
    local name=$1 file=$SOURCE_DIR/test/data/golden/$1 got
    got=$(sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/<time>/g' \
        -e 's/up [0-9][0-9dhms]*/up <duration>/' -e "s#$WORK#<work>#g" \
        -e '/^(sessions|dns):/ s/[0-9]+/<n>/g')
    if [ "${SMTPWALL_UPDATE_GOLDEN:-0}" = 1 ]; then
        mkdir -p "$(dirname "$file")"
        printf '%s\n' "$got" >"$file"
        return 0
    fi
    [ -f "$file" ] || fail "golden file $file is missing (run with SMTPWALL_UPDATE_GOLDEN=1 once)"
    diff -u "$file" <(printf '%s\n' "$got") >&2 || fail "output differs from golden $name"
}
