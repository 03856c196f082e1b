# Sendmail for integration tests (sourced by lib.sh). Sendmail conflicts with
# Postfix in apt, so scripts/setup-debian.sh unpacks sendmail-bin, sendmail-cf,
# m4 and libwrap0 into $SENDMAIL_ROOT; nothing of the machine's own mail system
# is used or touched.
#
#   sendmail_start LISTEN_ADDR...  builds $WORK/sendmail/etc/sendmail.cf from a .mc
#                                  with the unpacked m4 and cf files and starts
#                                  Sendmail in $NS_MX (private mount + UTS namespace)
#   sendmail_stop                  stops it (also run by the cleanup trap)
#   sendmail_queued RCPT           true if a message for RCPT sits in the queue
#
# Knobs (set before sendmail_start):
#   SENDMAIL_MILTER_FLAGS   the F= of INPUT_MAIL_FILTER: "T" (default), "R" or "" (none)
#   SENDMAIL_EXTRA_MC       lines added to the .mc before the MAILER lines (more
#                           INPUT_MAIL_FILTERs, more DAEMON_OPTIONS...)
#   SENDMAIL_DAEMON_OPTS    appended to the DAEMON_OPTIONS of the port-25 listeners,
#                           e.g. ", InputMailFilters=smtpwall" when SENDMAIL_EXTRA_MC
#                           defines other filters for other daemons
#   SENDMAIL_ALIASES        the local parts of example.org that exist (default: user
#                           other trap postmaster abuse); any other local part is
#                           rejected by Sendmail itself with "550 5.1.1 User unknown"
#                           at RCPT, and that rejection is passed to the milter
#                           (SMFIP_RCPT_REJ). nobody-virtual@example.org is rejected
#                           the same way by the virtusertable (error:nouser), which
#                           happens while Sendmail parses the address: like relay
#                           denials, such rejections are never passed to a milter.
#
# Sendmail has no log file of its own, only syslog, and this machine has no
# syslogd: the private mount namespace gets a /dev/log of its own, a datagram
# socket whose lines a small reader writes to $WORK/log/sendmail.log.

SENDMAIL_ROOT=${SMTPWALL_SENDMAIL_ROOT:-/opt/smtpwall-sendmail}/root

_sendmail_need() {
    local bin=$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail
    [ -x "$bin" ] || fail "Sendmail is not unpacked in $SENDMAIL_ROOT: run scripts/setup-debian.sh (apt-get download sendmail-bin sendmail-cf m4 libwrap0; dpkg -x each)"
    [ -f "$SENDMAIL_ROOT/usr/share/sendmail/cf/m4/cf.m4" ] ||
        fail "sendmail-cf is not unpacked in $SENDMAIL_ROOT: run scripts/setup-debian.sh"
    [ -x "$SENDMAIL_ROOT/usr/bin/m4" ] || command -v m4 >/dev/null ||
        fail "m4 is not unpacked in $SENDMAIL_ROOT: run scripts/setup-debian.sh"
    [ -x "$SENDMAIL_ROOT/usr/libexec/sendmail/makemap" ] ||
        fail "makemap (sendmail-bin) is not unpacked in $SENDMAIL_ROOT: run scripts/setup-debian.sh"
    # setgid makes ld.so ignore LD_LIBRARY_PATH, which the unpacked binary needs
    [ ! -g "$bin" ] || fail "$bin is setgid: chmod g-s it (scripts/setup-debian.sh does)"
    need_package swaks swaks
    need_package util-linux unshare
}

# sm_env CMD...: runs an unpacked Sendmail program with its libraries.
sm_env() {
    LD_LIBRARY_PATH=$SENDMAIL_ROOT/usr/lib/x86_64-linux-gnu "$@"
}

# sendmail_mc LISTEN_ADDR...: prints the .mc (the lines README.md quotes).
sendmail_mc() {
    local flags=${SENDMAIL_MILTER_FLAGS-T} addr n=0
    cat <<EOC
divert(-1)
include(\`$SENDMAIL_ROOT/usr/share/sendmail/cf/m4/cf.m4')
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confCF_VERSION', \`smtpwall-test')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`QUEUE_DIR', \`$SM/queue')dnl
define(\`STATUS_FILE', \`$SM/run/statistics')dnl
define(\`confPID_FILE', \`$SM/run/sendmail.pid')dnl
define(\`confHELP_FILE', \`$SM/etc/helpfile')dnl
define(\`ALIAS_FILE', \`$SM/etc/aliases')dnl
define(\`confCW_FILE', \`$SM/etc/local-host-names')dnl
define(\`confCT_FILE', \`$SM/etc/trusted-users')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM/etc/service.switch')dnl
define(\`confHOSTS_FILE', \`$SM/etc/hosts')dnl
define(\`confDELIVERY_MODE', \`queueonly')dnl
define(\`confTO_IDENT', \`0s')dnl
define(\`confREFUSE_LA', \`999')dnl
define(\`confQUEUE_LA', \`999')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confMAX_DAEMON_CHILDREN', \`0')dnl
define(\`confBAD_RCPT_THROTTLE', \`0')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confMILTER_LOG_LEVEL', \`${SENDMAIL_MILTER_LOG_LEVEL:-9}')dnl
define(\`confPRIVACY_FLAGS', \`goaway')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`use_cw_file')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`virtusertable', \`hash -o $SM/etc/virtusertable')dnl
EOC
    for addr in "$@"; do
        n=$((n + 1))
        case $addr in
            *:*) echo "DAEMON_OPTIONS(\`Family=inet6, Port=25, Addr=$addr, Name=MTA-v6-$n${SENDMAIL_DAEMON_OPTS:-}')dnl" ;;
            *) echo "DAEMON_OPTIONS(\`Family=inet, Port=25, Addr=$addr, Name=MTA-$n${SENDMAIL_DAEMON_OPTS:-}')dnl" ;;
        esac
    done
    if [ -n "$flags" ]; then
        echo "INPUT_MAIL_FILTER(\`smtpwall', \`S=local:$MILTER_SOCK, F=$flags, T=C:5s;S:10s;R:10s;E:30s')dnl"
    else
        echo "INPUT_MAIL_FILTER(\`smtpwall', \`S=local:$MILTER_SOCK, T=C:5s;S:10s;R:10s;E:30s')dnl"
    fi
    printf '%s\n' "${SENDMAIL_EXTRA_MC:-}"
    cat <<'EOC'
MAILER(`local')dnl
MAILER(`smtp')dnl
EOC
}

sendmail_start() {
    _sendmail_need
    [ -n "${MILTER_SOCK:-}" ] || fail "sendmail_start needs MILTER_SOCK (smtpwall_start first)"
    SM=$WORK/sendmail
    local bin=$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail
    local m4=$SENDMAIL_ROOT/usr/bin/m4
    [ -x "$m4" ] || m4="m4"
    mkdir -p "$SM/etc" "$SM/queue" "$SM/run" "$SM/dev" "$WORK/log"
    chmod 700 "$SM/queue"
    sendmail_mc "$@" >"$SM/etc/sendmail.mc"
    sm_env "$m4" "$SM/etc/sendmail.mc" >"$SM/etc/sendmail.cf" 2>"$WORK/log/sendmail-m4.log" ||
        fail "m4 could not build sendmail.cf: $(cat "$WORK/log/sendmail-m4.log")"
    # The host's own files are hidden: a FQDN for ourselves, files-only lookups,
    # and a resolver address where nothing listens (the namespace's own loopback).
    cat >"$SM/etc/hosts" <<'EOC'
127.0.0.1 localhost
::1 localhost
192.0.2.1 mx.smtpwall.test mx
2001:db8:1::1 mx.smtpwall.test mx
EOC
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\nservices: files\nprotocols: files\n' \
        >"$SM/etc/nsswitch.conf"
    printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$SM/etc/resolv.conf"
    printf 'hosts files\naliases files\n' >"$SM/etc/service.switch"
    printf 'mx.smtpwall.test\nexample.org\n' >"$SM/etc/local-host-names"
    : >"$SM/etc/trusted-users"
    : >"$SM/etc/helpfile"
    printf '%s: root\n' ${SENDMAIL_ALIASES:-user other trap postmaster abuse} >"$SM/etc/aliases"
    # Other local parts of example.org are unknown users (550 5.1.1 from Sendmail,
    # passed to the milter); one is rejected by the virtusertable (never passed).
    printf '%s@example.org\terror:nouser 550 5.1.1 User unknown\n' "nobody-virtual" >"$SM/etc/virtusertable.txt"
    sm_env "$SENDMAIL_ROOT/usr/libexec/sendmail/makemap" -C "$SM/etc/sendmail.cf" hash "$SM/etc/virtusertable" \
        <"$SM/etc/virtusertable.txt" >"$WORK/log/sendmail-makemap.log" 2>&1 ||
        fail "makemap could not build the virtusertable: $(cat "$WORK/log/sendmail-makemap.log")"

    # Sendmail's syslog lines, through a /dev/log of the mount namespace's own.
    need_package python3 python3
    spawn sendmail python3 -u -c '
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
while True:
    sys.stdout.write(sock.recv(65536).decode(errors="replace").rstrip("\n") + "\n")' "$SM/run/log.sock"
    wait_for 5 "the syslog socket" test -S "$SM/run/log.sock"

    cat >"$SM/run/start.sh" <<EOC
set -e
hostname mx.smtpwall.test
mount --bind "$SM/etc/hosts" /etc/hosts
mount --bind "$SM/etc/nsswitch.conf" /etc/nsswitch.conf
mount --bind "$SM/etc/resolv.conf" /etc/resolv.conf
# /dev has no log socket here: a tmpfs /dev with the few nodes Sendmail uses.
mount --rbind /dev "$SM/dev"
mount -t tmpfs -o mode=755 smtpwall-dev /dev
for node in null zero random urandom tty; do
    touch /dev/\$node
    mount --bind "$SM/dev/\$node" /dev/\$node
done
ln -s "$SM/run/log.sock" /dev/log
export LD_LIBRARY_PATH="$SENDMAIL_ROOT/usr/lib/x86_64-linux-gnu"
"$bin" -bi -C "$SM/etc/sendmail.cf"
exec "$bin" -bD -C "$SM/etc/sendmail.cf"
EOC
    on_cleanup "sendmail_stop"
    # ip netns exec and unshare both exec, and start.sh ends in exec:
    # $PID_sendmail_daemon is the daemon, and its private mount namespace tells its children apart.
    spawn sendmail-daemon ip netns exec "$NS_MX" unshare --mount --uts --propagation private bash "$SM/run/start.sh"
    local first=$1
    wait_for 15 "sendmail listening on $first:25" in_mx bash -c "exec 3<>/dev/tcp/${first//[\[\]]/}/25"
    SM_MNTNS=$(readlink "/proc/$PID_sendmail_daemon/ns/mnt") || fail "sendmail is not running"
}

sendmail_stop() {
    [ -n "${PID_sendmail_daemon:-}" ] || return 0
    stop sendmail-daemon
    # Session children of the daemon must not outlive the test: they are the
    # processes left in its private mount namespace (Sendmail rewrites its
    # process titles, so a pkill -f on the config path would miss them).
    [ -n "${SM_MNTNS:-}" ] || return 0
    local ns pid
    for ns in /proc/[0-9]*/ns/mnt; do
        [ "$(readlink "$ns" 2>/dev/null)" = "$SM_MNTNS" ] || continue
        pid=${ns#/proc/}
        kill -KILL "${pid%%/*}" 2>/dev/null
    done
    return 0
}

# sendmail_queued RCPT: a queued message (queueonly: nothing is ever delivered) for RCPT.
sendmail_queued() {
    grep -qsF "<$1>" "$SM"/queue/qf* 2>/dev/null
}
