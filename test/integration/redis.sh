# Redis for the cluster tests (source after lib.sh and itest_init; HARNESS.md):
#   redis_start [NAME] [redis-server options...]
#        a private redis-server in the foreground under spawn, on its own unix socket
#        $WORK/NAME/redis.sock (mode 0777 inside the private $WORK) and a free loopback
#        port, no persistence, DEBUG allowed; sets REDIS_SOCK, REDIS_PORT and
#        REDIS_PASSWORD (a fresh secret for the ACL users a test makes). Extra options
#        (--bind ADDR --port N, --appendonly yes...) are appended and win.
#        With REDIS_NETNS set it runs in that network namespace (its unix socket is
#        reachable from everywhere all the same).
#   redis_cli ARGS...   redis-cli on $REDIS_SOCK
# Never the package's system service.

redis_start() {
    local name=${1:-redis}
    shift || true
    need_pkg redis-server redis-server
    need_pkg redis-cli redis-tools
    local dir=$WORK/$name
    mkdir -p "$dir"
    REDIS_SOCK=$dir/redis.sock
    REDIS_PORT=${REDIS_PORT_WANTED:-$(free_port)}
    REDIS_PASSWORD=${REDIS_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
    local in_ns=()
    [ -z "${REDIS_NETNS:-}" ] || in_ns=(ip netns exec "$REDIS_NETNS")
    spawn "$name" "${in_ns[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --unixsocket "$REDIS_SOCK" \
        --unixsocketperm 777 --dir "$dir" --save '' --appendonly no \
        --enable-debug-command yes --daemonize no "$@"
    wait_for 10 "$name answering on $REDIS_SOCK" _redis_pong "$REDIS_SOCK"
}

_redis_pong() { [ "$(redis-cli -s "$1" PING 2>/dev/null)" = PONG ]; }

redis_cli() { redis-cli -s "$REDIS_SOCK" "$@"; }
