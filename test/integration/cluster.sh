# The cluster harness (source after lib.sh and itest_init): several MX hosts, each its
# own network namespace (own kernel firewall, own Postfix, helper and milter), a
# client namespace and an infrastructure namespace holding Redis and nsd, all on one
# bridge in 192.0.2.0/24 with no default route.
#
#   cluster_netns N     $NS_RDS 192.0.2.5 (the bridge br0), $NS_CL 192.0.2.10,
#                       MX i in ${NS_MXS[i]} at 192.0.2.i (i = 1..N)
#   cluster_services    nsd (192.0.2.5:$NSD_PORT) and cluster_redis in $NS_RDS
#   cluster_redis       (again) redis-server on 192.0.2.5:6379 and socket $REDIS_SOCK,
#                       empty; an ACL user "smtpwall" allowed ~sw:* only, its password
#                       in $WORK/redis-password (0640 root:smtpwall)
#   mx_start I          helper, milter (in MX I's namespace, [cluster] on) and Postfix
#   on_mx I             sets NS_MX, CONTROL_SOCK... to MX I's (for ctl, kernel_has...)
# Logs: $WORK/log/milterI.log, helperI.log, redis.log, nsd.log.

cluster_netns() {
    local n=$1 i
    NS_RDS="${NS_MX%mx}rd"
    ip netns add "$NS_RDS"
    _itest_netns+=("$NS_RDS")
    ip -n "$NS_RDS" link set lo up
    ip -n "$NS_RDS" link add br0 type bridge
    ip -n "$NS_RDS" addr add 192.0.2.5/24 dev br0
    ip -n "$NS_RDS" link set br0 up
    NS_MXS=()
    ip netns add "$NS_CL"
    _itest_netns+=("$NS_CL")
    _cluster_port "$NS_CL" cl0 192.0.2.10 pcl
    for i in $(seq "$n"); do
        NS_MXS[$i]="${NS_MX}$i"
        ip netns add "${NS_MXS[$i]}"
        _itest_netns+=("${NS_MXS[$i]}")
        _cluster_port "${NS_MXS[$i]}" mx0 "192.0.2.$i" "p$i"
    done
}

# _cluster_port NS IFACE ADDRESS PEER: NS joins the bridge as ADDRESS/24 through IFACE.
_cluster_port() {
    local ns=$1 iface=$2 address=$3 peer=$4
    ip -n "$ns" link set lo up
    ip link add "$iface" netns "$ns" type veth peer name "$peer" netns "$NS_RDS"
    ip -n "$NS_RDS" link set "$peer" master br0
    ip -n "$NS_RDS" link set "$peer" up
    ip -n "$ns" addr add "$address/24" dev "$iface"
    ip -n "$ns" link set "$iface" up
}

cluster_services() {
    NSD_NETNS=$NS_RDS NSD_ADDRESS=192.0.2.5 nsd_start "$SOURCE_DIR/test/data/mx-zones"
    cluster_redis
}

cluster_redis() {
    REDIS_NETNS=$NS_RDS REDIS_PORT_WANTED=6379 redis_start redis --bind 192.0.2.5 127.0.0.1 \
        --protected-mode no
    redis_cli ACL SETUSER smtpwall on ">$REDIS_PASSWORD" '~sw:*' '+@all' '-@dangerous' \
        '+script|load' '+info' '+role' >/dev/null || fail "cannot create the Redis ACL user"
    printf '%s\n' "$REDIS_PASSWORD" >"$WORK/redis-password"
    chown root:smtpwall "$WORK/redis-password"
    chmod 0640 "$WORK/redis-password"
}

# The [cluster] table of MX I: $CLUSTER_REDIS_LINE replaces the redis line (sentinels),
# $CLUSTER_EXTRA is appended (timeouts...).
cluster_conf() {
    local redis_line=${CLUSTER_REDIS_LINE:-}
    [ -n "$redis_line" ] || redis_line='redis = "192.0.2.5:6379"'
    cat <<EOC
[cluster]
$redis_line
host_name = "mx$1"
user = "smtpwall"
password_file = "$WORK/redis-password"
${CLUSTER_EXTRA:-}
EOC
}

on_mx() {
    MX_NAME=$1
    NS_MX=${NS_MXS[$1]}
    RUN=$WORK/run$1
    CONTROL_SOCK=$RUN/control.sock
    MILTER_SOCK=$RUN/milter.sock
    MILTER_CONF=$WORK/smtpwall$1.conf
    HELPER_SOCK=$WORK/helper-run$1/helper.sock
}

# mx_start I: MX I's helper, milter and Postfix. $SMTPWALL_EXTRA_MILTER_CONF as for
# smtpwall_start, with the [cluster] table added.
mx_start() {
    local i=$1 extra=${SMTPWALL_EXTRA_MILTER_CONF:-}
    on_mx "$i"
    SMTPWALL_DNS_CONF=$(printf '[dns]\nservers = ["192.0.2.5:%s"]\ntimeout = "500ms"\ndeadline = "3s"' "$NSD_PORT")
    MILTER_NETNS=$NS_MX SMTPWALL_EXTRA_MILTER_CONF="$extra
$(cluster_conf "$i")" smtpwall_start
    PF_DIR=$WORK/postfix$i postfix_start "192.0.2.$i"
    wait_for 10 "mx$i caught up with the cluster" grep -q "cluster: caught up" "$WORK/log/milter$i.log"
}

# send_to I SOURCE HELO RCPT [swaks options]: one SMTP transaction to MX I.
send_to() {
    local i=$1 source=$2 helo=$3 rcpt=$4
    shift 4
    in_cl swaks --server "192.0.2.$i" --port 25 --local-interface "$source" --helo "$helo" \
        --from sender@example.net --to "$rcpt" --timeout 10 --hide-informational "$@" 2>&1
}
