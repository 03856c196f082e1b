# DNS servers for integration tests (source after lib.sh and itest_init):
#   nsd_start ZONEDIR          nsd serving ZONEDIR/zones.conf on 127.0.0.1 and ::1;
#                              sets NSD_PORT and NSD_IDENTITY. With NSD_NETNS and
#                              NSD_ADDRESS set: in that namespace, on that address only
#                              (the cluster tests, whose milters live in namespaces)
#   dnsdist_start BACKEND LUA  dnsdist on 127.0.0.1 forwarding to 127.0.0.1:BACKEND,
#                              LUA holds fault rules (DelayAction, DropAction...);
#                              sets DNSDIST_PORT
# Both run in the foreground under spawn, so lib.sh's cleanup stops them by PID, and
# both are ready only once they answer with this run's identity: an old instance on
# the same port cannot fool the probe.

# need_pkg COMMAND PACKAGE: a missing tool fails the test and names the package.
need_pkg() {
    command -v "$1" >/dev/null 2>&1 ||
        fail "'$1' is not installed: apt-get install $2 (or run scripts/setup-debian.sh)"
}

# A port free for both UDP and TCP on loopback right now.
free_port() {
    need_pkg ss iproute2
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if [ -z "$(ss -Hlnut "sport = :$port")" ]; then
            echo "$port"
            return 0
        fi
    done
    fail "no free port found"
}

# dns_identity_is PORT IDENTITY: the server on PORT answers CH TXT id.server with IDENTITY.
dns_identity_is() {
    local in_ns=()
    [ -z "${NSD_NETNS:-}" ] || in_ns=(ip netns exec "$NSD_NETNS")
    [ "$("${in_ns[@]}" dig +short +time=1 +tries=1 -p "$1" "@${NSD_ADDRESS:-127.0.0.1}" CH TXT id.server 2>/dev/null)" = "\"$2\"" ]
}

# _dns_wait NAME PORT IDENTITY: true once ready, false if the process died (port taken).
_dns_wait() {
    local name=$1 port=$2 identity=$3 var="PID_${1//-/_}"
    for _ in $(seq 200); do
        dns_identity_is "$port" "$identity" && return 0
        kill -0 "${!var}" 2>/dev/null || return 1
        sleep 0.05
    done
    fail "$name did not answer on port $port within 10 s (see $WORK/log/$name.log)"
}

nsd_start() {
    local zonedir
    zonedir=$(cd "$1" && pwd) || fail "zone directory $1 is missing"
    need_pkg nsd nsd
    need_pkg dig bind9-dnsutils
    [ -f "$zonedir/zones.conf" ] || fail "$zonedir/zones.conf is missing"
    local dir=$WORK/nsd
    mkdir -p "$dir"
    NSD_IDENTITY="smtpwall-nsd-$$-$RANDOM"
    for _ in 1 2 3 4 5; do
        NSD_PORT=$(free_port)
        local listen="    ip-address: 127.0.0.1
    ip-address: ::1"
        [ -z "${NSD_ADDRESS:-}" ] || listen="    ip-address: $NSD_ADDRESS"
        cat >"$dir/nsd.conf" <<EOC
server:
$listen
    port: $NSD_PORT
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$zonedir"
    zonelistfile: "$dir/zone.list"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    pidfile: "$dir/nsd.pid"
    identity: "$NSD_IDENTITY"
    server-count: 1
    rrl-ratelimit: 0
    verbosity: 1
remote-control:
    control-enable: yes
    control-interface: "$dir/nsd.ctl"
include: "$zonedir/zones.conf"
EOC
        if [ -n "${NSD_NETNS:-}" ]; then
            spawn nsd ip netns exec "$NSD_NETNS" nsd -d -c "$dir/nsd.conf"
        else
            spawn nsd nsd -d -c "$dir/nsd.conf"
        fi
        if _dns_wait nsd "$NSD_PORT" "$NSD_IDENTITY"; then
            log "nsd ready on port $NSD_PORT"
            return 0
        fi
        stop nsd
    done
    fail "nsd did not start (see $WORK/log/nsd.log)"
}

dnsdist_start() {
    local backend=$1 rules=$2
    need_pkg dnsdist dnsdist
    need_pkg dig bind9-dnsutils
    [ -n "${NSD_IDENTITY:-}" ] || fail "dnsdist_start needs nsd_start first (readiness probe)"
    local dir=$WORK/dnsdist
    mkdir -p "$dir"
    for _ in 1 2 3 4 5; do
        DNSDIST_PORT=$(free_port)
        cat >"$dir/dnsdist.conf" <<EOC
setSecurityPollSuffix("")
setLocal("127.0.0.1:$DNSDIST_PORT")
-- Bursts are lost with the default buffers and a single backend socket.
setUDPSocketBufferSizes(1048576, 1048576)
newServer({address="127.0.0.1:$backend", sockets=8, checkName="${DNSDIST_CHECK_NAME:-test.smtpwall.}", checkType="SOA"})
$rules
EOC
        spawn dnsdist dnsdist --supervised --disable-syslog -C "$dir/dnsdist.conf"
        # CH TXT id.server goes through to nsd: the identity proves the whole path.
        if _dns_wait dnsdist "$DNSDIST_PORT" "$NSD_IDENTITY"; then
            log "dnsdist ready on port $DNSDIST_PORT"
            return 0
        fi
        stop dnsdist
    done
    fail "dnsdist did not start (see $WORK/log/dnsdist.log)"
}
