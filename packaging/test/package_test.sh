#!/usr/bin/env bash
# CTest `packaging`: builds the Debian packages, runs lintian, then installs,
# runs, upgrades and purges them on this machine's own root file system, seen
# through a throwaway copy-on-write layer, so that the machine itself is never
# changed (even if this test is killed):
#
#   sandbox = new mount, PID, network, UTS, IPC and cgroup namespaces; / is an
#             overlay (lower: the real /, upper: a tmpfs); /run, /dev and /tmp-like
#             runtime state are fresh. Every dpkg, adduser, iptables and systemd
#             action lands in the upper layer or in the sandbox's own network
#             namespace, and vanishes with the namespaces when the test ends.
#
# Inside it, with systemd booted as PID 1 (the default; SMTPWALL_PKGTEST_INIT=setpriv
# or a machine where systemd cannot boot in a container uses the fallback):
#   1. dpkg -i version X: users, groups, modes, conffiles, statoverride, tmpfiles dirs;
#      systemd-analyze verify + security (scores printed);
#   2. both units start as installed (fallback: setpriv with the unit's user, groups,
#      capability bounding set and no_new_privs); sockets' owners and modes; who may
#      connect and who may ban; the processes' credentials, capabilities, seccomp; a
#      miltertest session as user postfix, smtpwallctl ping and check --offline; a
#      state file from the first schema (v1) with a ban and a
#      tally is picked up, migrated if the schema moved on, and the ban reaches the
#      kernel through the helper;
#   3. the helper restarts: the kernel entry stays and is read back; the ipset and
#      nftables backends work under the same unit; the weekly report's timer is off,
#      its service mails the report into the local Postfix's queue, one command
#      enables the timer;
#   4. dpkg -i version X+1 (same tree, a newer changelog entry): the admin's edit of
#      smtpwall.conf, the statoverride, the state and the ban survive; systemctl reload;
#   5. dpkg --purge: no files, users, groups, statoverrides or unit links left.
#
# Env: SMTPWALL_SOURCE_DIR (the tree), SMTPWALL_PKGTEST_KEEP=1 keeps the work directory,
# SMTPWALL_PKGTEST_DEBS=DIR skips the build and uses DIR/v1/*.deb and DIR/v2/*.deb.
set -euo pipefail

SOURCE_DIR=${SMTPWALL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
INIT_MODE=${SMTPWALL_PKGTEST_INIT:-systemd}

log() { printf '[packaging] %s\n' "$*" >&2; }
FAILED=0
fail() {
    FAILED=1
    printf '[packaging] FAIL: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (namespaces, overlay mounts, dpkg)"
for tool in dpkg-buildpackage dh fakeroot lintian systemd-analyze unshare nsenter setpriv \
    iptables-legacy ipset nft sqlite3 socat miltertest python3; do
    command -v "$tool" >/dev/null ||
        fail "'$tool' is not installed: run scripts/setup-debian.sh"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    fail "the kernel has no overlay file system"

WORK=$(mktemp -d /tmp/smtpwall-pkgtest.XXXXXX)
chmod 755 "$WORK"
LOG=$WORK/log
mkdir -p "$LOG"
CGNAME=smtpwall-pkgtest.$$
SANDBOX_PID=
LAUNCHER_PID=

# ---------------------------------------------------------------------------
# Host side: cgroups for the sandbox (systemd inside creates its tree below them),
# removed again at the end.

cgroup_mounts() { awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo; }

# Our own cgroup in the hierarchy mounted at $1 (from /proc/self/cgroup).
cgroup_of() {
    local mnt=$1 opts line
    opts=$(awk -v m="$mnt" '$5 == m {print $NF}' /proc/self/mountinfo)
    if [ "$(awk -v m="$mnt" '$5 == m {print $9}' /proc/self/mountinfo)" = cgroup2 ]; then
        line=$(grep '^0::' /proc/self/cgroup || true)
    else
        local c
        for c in ${opts//,/ }; do
            case $c in rw | ro | relatime | nosuid | nodev | noexec) continue ;; esac
            line=$(grep -E "^[0-9]+:([^:]*,)?${c}(,[^:]*)?:" /proc/self/cgroup || true)
            [ -n "$line" ] && break
        done
    fi
    printf '%s' "${line##*:}"
}

cgroups_remove() {
    local mnt dir
    for mnt in $(cgroup_mounts); do
        for dir in $(find "$mnt" -maxdepth 3 -type d -name 'smtpwall-pkgtest.*' 2>/dev/null); do
            # Only stale ones of earlier runs (their shell is gone) and our own.
            local pid=${dir##*.}
            [ "$pid" = $$ ] || ! kill -0 "$pid" 2>/dev/null || continue
            for _ in $(seq 50); do
                find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
                [ -d "$dir" ] || break
                sleep 0.1
            done
        done
    done
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$SANDBOX_PID" ] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
        in_sandbox journalctl --no-pager -o short-precise >"$LOG/journal.txt" 2>&1
        kill -KILL "$SANDBOX_PID" 2>/dev/null
    fi
    [ -n "$LAUNCHER_PID" ] && wait "$LAUNCHER_PID" 2>/dev/null
    cgroups_remove
    if [ $rc -ne 0 ] || [ $FAILED -ne 0 ]; then
        log "failed (exit $rc); work directory kept: $WORK"
        for f in "$LOG"/*; do
            [ -f "$f" ] || continue
            echo "----- $f (last 60 lines)" >&2
            tail -n 60 "$f" >&2
        done
    elif [ "${SMTPWALL_PKGTEST_KEEP:-0}" = 1 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Empty cgroups of an earlier run that was killed before its cleanup.
cgroups_remove

# ---------------------------------------------------------------------------
# 0. Build X and X+1, lintian.

V1=$(dpkg-parsechangelog -l "$SOURCE_DIR/packaging/debian/changelog" -S Version)
V2="${V1}+pkgtest1"
project_version=$(sed -n 's/^project(smtpwall VERSION \([0-9.]*\).*/\1/p' "$SOURCE_DIR/CMakeLists.txt")
[ "${V1%%-*}" = "$project_version" ] ||
    fail "packaging/debian/changelog is at ${V1%%-*}, CMakeLists.txt at $project_version: add a changelog entry"

if [ -n "${SMTPWALL_PKGTEST_DEBS:-}" ]; then
    DEBS=$SMTPWALL_PKGTEST_DEBS
    log "using prebuilt packages in $DEBS"
else
    DEBS=$WORK/debs
    log "building $V1 (DEB_BUILD_OPTIONS=nocheck parallel=2; log: $LOG/build.log)"
    start=$SECONDS
    DEB_BUILD_OPTIONS="nocheck parallel=2" "$SOURCE_DIR/packaging/build-deb.sh" \
        -o "$DEBS/v1" -w "$WORK/build" >"$LOG/build.log" 2>&1 ||
        fail "dpkg-buildpackage failed (see $LOG/build.log)"
    log "built in $((SECONDS - start))s; rebuilding the same tree as $V2"
    DEB_BUILD_OPTIONS="nocheck parallel=2" "$SOURCE_DIR/packaging/build-deb.sh" \
        -o "$DEBS/v2" -w "$WORK/build" --rebuild --version "$V2" >"$LOG/build2.log" 2>&1 ||
        fail "the $V2 rebuild failed (see $LOG/build2.log)"
    rm -rf "$WORK/build"
fi
arch=$(dpkg --print-architecture)
for v in v1 v2; do
    for p in smtpwall smtpwall-helper; do
        ls "$DEBS/$v/${p}_"*"_$arch.deb" >/dev/null 2>&1 || fail "$DEBS/$v has no $p package"
    done
done

log "lintian $V1"
lintian --info --display-level '>=warning' "$DEBS"/v1/*.changes >"$LOG/lintian.txt" 2>&1 || true
grep -v '^N:' "$LOG/lintian.txt" | grep -E '^[EWI]: ' >&2 || true
if grep -q '^E: ' "$LOG/lintian.txt"; then
    fail "lintian reports errors (see above)"
fi

# ---------------------------------------------------------------------------
# The sandbox.

# Runs inside the new namespaces (as their PID 1, before the chroot): builds the
# overlay root and execs the init (systemd, or a plain reaper for setpriv mode).
sandbox_init() {
    local ov=$1 mode=$2 logdir=$3 debs=$4
    set -e
    mount --make-rprivate /
    mount -t tmpfs -o mode=755,size=2g swpkg "$ov"
    mkdir -p "$ov/up" "$ov/work" "$ov/root"
    mount -t overlay swpkg -o "lowerdir=/,upperdir=$ov/up,workdir=$ov/work" "$ov/root"
    local r=$ov/root
    mount -t proc proc "$r/proc"
    # Kernel tunables stay as they are: nothing inside changes them.
    mount --bind "$r/proc/sys" "$r/proc/sys"
    mount -o remount,bind,ro "$r/proc/sys"
    mount -t sysfs -o ro sysfs "$r/sys"
    mount -t tmpfs -o mode=755 cgroup "$r/sys/fs/cgroup"
    local line mnt fstype opts name
    while read -r mnt fstype opts; do
        name=${mnt#/sys/fs/cgroup/}
        [ "$name" != "$mnt" ] || continue
        mkdir -p "$r/sys/fs/cgroup/$name"
        if [ "$fstype" = cgroup2 ]; then
            mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup/$name"
        else
            mount -t cgroup -o "$opts" cgroup "$r/sys/fs/cgroup/$name"
        fi
    done < <(awk '$9 == "cgroup" || $9 == "cgroup2" {
                 n = split($NF, o, ","); s = "";
                 for (i = 1; i <= n; i++) if (o[i] != "rw" && o[i] != "ro") s = s (s ? "," : "") o[i];
                 print $5, $9, s }' /proc/self/mountinfo)
    mount -t tmpfs -o mode=755 dev "$r/dev"
    local node
    for node in null zero full random urandom tty; do
        touch "$r/dev/$node"
        mount --bind "/dev/$node" "$r/dev/$node"
    done
    touch "$r/dev/console"
    mount --bind /dev/null "$r/dev/console"
    mkdir -p "$r/dev/pts" "$r/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$r/dev/pts"
    ln -s pts/ptmx "$r/dev/ptmx"
    mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
    ln -s /proc/self/fd "$r/dev/fd"
    mount -t tmpfs -o mode=755 run "$r/run"
    mkdir -p "$r/run/lock"
    mount -t tmpfs -o mode=1777 tmp "$r/tmp"
    mkdir -p "$r/$logdir" "$r/$debs"
    mount --bind "$logdir" "$r/$logdir"
    mount --bind "$debs" "$r/$debs"
    hostname smtpwall-pkgtest
    ip link set lo up
    # A boot of its own: nothing scheduled, nothing that reaches for the hardware.
    local unit
    for unit in timers.target systemd-modules-load.service systemd-udevd.service \
        systemd-udev-trigger.service systemd-networkd.service systemd-timesyncd.service \
        systemd-resolved.service proc-sys-fs-binfmt_misc.automount sys-kernel-config.mount \
        sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount \
        getty.target console-getty.service postfix.service nsd.service dnsdist.service \
        cron.service rsyslog.service ssh.service; do
        ln -sf /dev/null "$r/etc/systemd/system/$unit"
    done
    cat >"$r/etc/systemd/system/pkgtest-sandbox.target" <<'EOF'
[Unit]
Description=smtpwall packaging test
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
    # The milter's syslog lines end up in the journal (systemd) or in a file (setpriv).
    if [ "$mode" = systemd ]; then
        exec setpriv --pdeathsig KILL -- chroot "$r" /usr/bin/env container=smtpwall-pkgtest /lib/systemd/systemd \
            --system --unit=pkgtest-sandbox.target --log-target=journal
    fi
    exec setpriv --pdeathsig KILL -- chroot "$r" /bin/bash -c 'trap "exit 0" TERM; while :; do wait -n 2>/dev/null || sleep 1; done'
}

in_sandbox() { nsenter -t "$SANDBOX_PID" -m -u -i -n -p -C -r -w -- "$@"; }

sandbox_start() {
    local mode=$1
    mkdir -p "$WORK/ov"
    local mnt dir cgdirs=()
    for mnt in $(cgroup_mounts); do
        dir=$mnt$(cgroup_of "$mnt")/$CGNAME
        mkdir -p "$dir" 2>/dev/null && cgdirs+=("$dir")
    done
    (
        for dir in "${cgdirs[@]}"; do echo "$BASHPID" 2>/dev/null >"$dir/cgroup.procs" || true; done
        # If this test dies, even by SIGKILL, unshare dies with it, and the sandbox's
        # PID 1 with unshare (both by pdeathsig; unshare's own --kill-child is broken in
        # Debian 12's util-linux), and so everything in the sandbox.
        exec setpriv --pdeathsig KILL -- unshare --mount --pid --net --uts --ipc --cgroup --fork \
            --propagation private \
            bash -c "$(declare -f sandbox_init); sandbox_init \"\$@\"" sandbox_init \
            "$WORK/ov" "$mode" "$LOG" "$DEBS"
    ) >"$LOG/sandbox-$mode.log" 2>&1 &
    LAUNCHER_PID=$!
    # PID 1 of the sandbox: unshare's child, once it has changed its root.
    local p
    for _ in $(seq 100); do
        p=$(pgrep -P "$LAUNCHER_PID" | head -n1 || true)
        if [ -n "$p" ] && [ "$(readlink "/proc/$p/root" 2>/dev/null)" != / ] &&
            [ -n "$(readlink "/proc/$p/root" 2>/dev/null)" ]; then
            SANDBOX_PID=$p
            break
        fi
        kill -0 "$LAUNCHER_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$SANDBOX_PID" ] || { cat "$LOG/sandbox-$mode.log" >&2; return 1; }
    [ "$mode" = systemd ] || return 0
    # systemd is up when the test target is reached ("degraded" is fine: masked units).
    local state
    for _ in $(seq 300); do
        state=$(in_sandbox systemctl is-system-running 2>/dev/null || true)
        case $state in running | degraded) return 0 ;; esac
        kill -0 "$SANDBOX_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "systemd did not come up in the sandbox (state: ${state:-none})"
    return 1
}

sandbox_stop() {
    [ -n "$SANDBOX_PID" ] || return 0
    in_sandbox journalctl --no-pager -o short-precise >"$LOG/journal.txt" 2>&1 || true
    kill -KILL "$SANDBOX_PID" 2>/dev/null || true
    wait "$LAUNCHER_PID" 2>/dev/null || true
    SANDBOX_PID=
    LAUNCHER_PID=
    cgroups_remove
}

if [ "$INIT_MODE" = systemd ]; then
    if ! sandbox_start systemd; then
        log "systemd cannot boot in a container on this machine: falling back to setpriv"
        sandbox_stop
        INIT_MODE=setpriv
    fi
fi
if [ "$INIT_MODE" = setpriv ]; then
    sandbox_start setpriv || fail "cannot make the sandbox (see $LOG/sandbox-setpriv.log)"
fi
log "sandbox up (init: $INIT_MODE, PID $SANDBOX_PID)"

# Everything below runs inside the sandbox.
sb() { in_sandbox "$@"; }
sbsh() { in_sandbox bash -c "$1"; }

# ---------------------------------------------------------------------------
# Starting and stopping the programs: through systemd, or the way the units do it.

HELPER_SETPRIV=(setpriv --bounding-set -all,+net_admin,+net_raw,+chown,+fowner,+setgid,+setpcap
    --inh-caps -all --ambient-caps -all --no-new-privs)
MILTER_SETPRIV=(setpriv --reuid smtpwall --regid smtpwall --groups smtpwall-admin
    --bounding-set -all --inh-caps -all --ambient-caps -all --no-new-privs)

svc_start() {
    local name=$1
    if [ "$INIT_MODE" = systemd ]; then
        # This test restarts faster than systemd's default start limit allows.
        sb systemctl reset-failed "smtpwall-$name.service" 2>/dev/null || true
        sb systemctl start "smtpwall-$name.service" || {
            sb systemctl status --no-pager "smtpwall-$name.service" >&2 || true
            fail "systemctl start smtpwall-$name failed"
        }
        return
    fi
    case $name in
        helper)
            sbsh "$(printf '%q ' "${HELPER_SETPRIV[@]}") -- /usr/sbin/smtpwall-helper \
                -c /etc/smtpwall/helper.conf >>$LOG/helper.log 2>&1 & echo \$! >/run/pkgtest-helper.pid"
            ;;
        milter)
            sbsh "$(printf '%q ' "${MILTER_SETPRIV[@]}") -- /usr/sbin/smtpwall-milter --check-config \
                -c /etc/smtpwall/smtpwall.conf" >>"$LOG/milter.log" 2>&1 ||
                fail "smtpwall-milter --check-config failed"
            sbsh "cd /; umask 0077; $(printf '%q ' "${MILTER_SETPRIV[@]}") -- /usr/sbin/smtpwall-milter \
                -c /etc/smtpwall/smtpwall.conf >>$LOG/milter.log 2>&1 & echo \$! >/run/pkgtest-milter.pid"
            ;;
    esac
}

svc_stop() {
    local name=$1
    if [ "$INIT_MODE" = systemd ]; then
        sb systemctl stop "smtpwall-$name.service"
        return
    fi
    sbsh "pid=\$(cat /run/pkgtest-$name.pid 2>/dev/null) || exit 0
          kill -TERM \$pid 2>/dev/null || exit 0
          for i in \$(seq 150); do kill -0 \$pid 2>/dev/null || exit 0; sleep 0.1; done
          kill -KILL \$pid"
}

svc_pid() {
    if [ "$INIT_MODE" = systemd ]; then
        sb systemctl show -P MainPID "smtpwall-$1.service"
    else
        sb cat "/run/pkgtest-$1.pid"
    fi
}

# wait_for SECONDS WHAT COMMAND...
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${seconds}s waiting for $what"
        sleep 0.1
    done
}

# Milter log lines: the journal (syslog, facility mail) or, in setpriv mode, a file
# fed by a /dev/log receiver.
milter_log() {
    if [ "$INIT_MODE" = systemd ]; then
        sb journalctl --no-pager -o cat -t smtpwall-milter
    else
        cat "$LOG/syslog.log" 2>/dev/null
    fi
}
if [ "$INIT_MODE" = setpriv ]; then
    sbsh "socat -u UNIX-RECV:/dev/log,mode=666 OPEN:$LOG/syslog.log,creat,append >/dev/null 2>&1 &"
    wait_for 5 "the /dev/log receiver" sb test -S /dev/log
fi

# stat_is PATH OWNER:GROUP MODE (octal, as stat %a)
stat_is() {
    local got
    got=$(sb stat -c '%U:%G %a' "$1") || fail "$1 does not exist"
    [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
}

ctl() { sb /usr/sbin/smtpwallctl "$@"; }

# ---------------------------------------------------------------------------
# 1. Install X on a machine where the package's users do not exist yet.

# A container's "start no services" policy would keep dpkg from starting the units.
sb rm -f /usr/sbin/policy-rc.d

sbsh 'getent passwd smtpwall >/dev/null && userdel smtpwall; getent group smtpwall >/dev/null && groupdel smtpwall; true'
# Leftovers from the machine's own set-up would hide what the package does.
for path in /etc/smtpwall /var/lib/smtpwall /run/smtpwall; do
    ! sb test -e "$path" || fail "$path exists before the package is installed"
done

log "installing $V1"
sb env DEBIAN_FRONTEND=noninteractive dpkg -i "$DEBS"/v1/smtpwall_*.deb "$DEBS"/v1/smtpwall-helper_*.deb \
    >"$LOG/dpkg-install.log" 2>&1 || fail "dpkg -i $V1 failed (see $LOG/dpkg-install.log)"
[ "$(sb dpkg-query -W -f '${Version}' smtpwall)" = "$V1" ] || fail "smtpwall $V1 is not installed"

if [ "$INIT_MODE" = systemd ]; then
    # dpkg started both units (enabled, started; the helper pulled in by the milter
    # only once its own package is configured): cleanly, on the first attempt.
    for unit in smtpwall-helper smtpwall-milter; do
        wait_for 15 "$unit to run after the installation" sb systemctl is-active --quiet "$unit"
    done
    sb journalctl --no-pager -o cat -u smtpwall-helper -u smtpwall-milter >"$LOG/install-journal.txt"
    if grep -E '\.service: (Failed|Main process exited)|Failed to start' "$LOG/install-journal.txt" >&2; then
        fail "a unit failed during the installation (see above)"
    fi
fi

log "checking users, groups and files"
pw=$(sb getent passwd smtpwall) || fail "user smtpwall was not created"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
((uid < 1000)) || fail "smtpwall is not a system user (uid $uid)"
[ "$home" = /var/lib/smtpwall ] || fail "smtpwall's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "smtpwall's shell is $shell"
[ "$(sb getent group smtpwall | cut -d: -f3)" = "$gid" ] || fail "smtpwall's primary group is not smtpwall"
sb getent group smtpwall-admin >/dev/null || fail "group smtpwall-admin was not created"
if sb getent passwd postfix >/dev/null; then
    sb id -nG postfix | grep -qw smtpwall || fail "postfix was not added to group smtpwall"
fi
stat_is /etc/smtpwall root:root 755
stat_is /etc/smtpwall/smtpwall.conf root:smtpwall 640
stat_is /etc/smtpwall/helper.conf root:root 640
stat_is /usr/sbin/smtpwall-milter root:root 755
stat_is /usr/sbin/smtpwall-helper root:root 755
stat_is /usr/sbin/smtpwallctl root:root 755
stat_is /run/smtpwall smtpwall:smtpwall 755
stat_is /run/smtpwall-helper smtpwall-helper:smtpwall-helper 755
stat_is /var/lib/smtpwall smtpwall:smtpwall 700
stat_is /var/lib/smtpwall-helper smtpwall-helper:smtpwall-helper 700
helper_uid=$(sb id -u smtpwall-helper) || fail "user smtpwall-helper was not created"
((helper_uid < 1000)) || fail "smtpwall-helper is not a system user (uid $helper_uid)"
sb dpkg-statoverride --list /etc/smtpwall/smtpwall.conf | grep -Eq '^root smtpwall 0?640 ' ||
    fail "no statoverride for smtpwall.conf"
conffiles=$(sb cat /var/lib/dpkg/info/smtpwall.conffiles /var/lib/dpkg/info/smtpwall-helper.conffiles)
for f in smtpwall/smtpwall.conf smtpwall/helper.conf default/smtpwall-report; do
    grep -qx "/etc/$f" <<<"$conffiles" || fail "/etc/$f is not a conffile: $conffiles"
done
sb grep -q '^socket_group = "smtpwall-admin"' /etc/smtpwall/smtpwall.conf ||
    fail "the packaged smtpwall.conf does not give the control socket to smtpwall-admin"
sb grep -q '^admin_group = "smtpwall-admin"' /etc/smtpwall/smtpwall.conf ||
    fail "the packaged smtpwall.conf does not make smtpwall-admin the admin group"
for page in smtpwall-milter.8 smtpwall-helper.8 smtpwallctl.8 smtpwall.conf.5 smtpwall-helper.conf.5; do
    sb test -f "/usr/share/man/man${page##*.}/$page.gz" || fail "man page $page is not installed"
    sb bash -c "zcat /usr/share/man/man${page##*.}/$page.gz | groff -man -Tutf8 -ww -z" \
        >"$LOG/man-$page.txt" 2>&1 || true
    [ ! -s "$LOG/man-$page.txt" ] || fail "groff warns about $page: $(cat "$LOG/man-$page.txt")"
done
sb /usr/sbin/smtpwall-milter --check-config -c /etc/smtpwall/smtpwall.conf >/dev/null ||
    fail "the packaged smtpwall.conf does not pass --check-config"
sb /usr/sbin/smtpwall-helper --check-config -c /etc/smtpwall/helper.conf 2>/dev/null ||
    fail "the packaged helper.conf does not pass --check-config"

log "systemd-analyze verify and security"
sb systemd-analyze verify /lib/systemd/system/smtpwall-helper.service \
    /lib/systemd/system/smtpwall-milter.service /lib/systemd/system/smtpwall-report.service \
    /lib/systemd/system/smtpwall-report.timer >"$LOG/verify.txt" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$LOG/verify.txt")"
# Messages about other units (Debian's own) are not ours to fix; ours must be clean.
if grep -i 'smtpwall' "$LOG/verify.txt"; then
    fail "systemd-analyze verify complains about smtpwall's units"
fi
for unit in smtpwall-helper smtpwall-milter; do
    sb systemd-analyze security --offline=true --no-pager "/lib/systemd/system/$unit.service" \
        >"$LOG/security-$unit.txt" 2>&1 || true
    score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$LOG/security-$unit.txt")
    [ -n "$score" ] || fail "no systemd-analyze security score for $unit: $(cat "$LOG/security-$unit.txt")"
    log "systemd-analyze security $unit: $score"
    # Guards against a unit losing its hardening unnoticed.
    awk -v s="$score" -v u="$unit" 'BEGIN { exit !(s <= (u == "smtpwall-helper" ? 3.0 : 2.0)) }' ||
        fail "$unit's exposure rose to $score"
done

# ---------------------------------------------------------------------------
# 2. Run. A state file of the first schema (v1) with one ban and one tally stands
#    for what an older smtpwall left behind.

now=$(date +%s)
BANNED=198.51.100.7
TALLIED=203.0.113.9
cat >"$LOG/state-v1.sql" <<EOF
PRAGMA journal_mode = WAL;
CREATE TABLE tallies (key TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
    sessions INTEGER NOT NULL, rejections INTEGER NOT NULL, accepted INTEGER NOT NULL,
    bans INTEGER NOT NULL, window_seconds INTEGER NOT NULL, rejected_window BLOB NOT NULL,
    accepted_window BLOB NOT NULL, tags TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE bans (key TEXT PRIMARY KEY, tags TEXT NOT NULL, since INTEGER NOT NULL,
    expires INTEGER NOT NULL, rule TEXT NOT NULL, origin TEXT NOT NULL,
    observed INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO tallies VALUES ('$BANNED', $((now - 600)), $((now - 60)), 3, 3, 0, 1, 3600,
    zeroblob(36), zeroblob(36), 'spamtrap:1:$((now - 60))');
INSERT INTO tallies VALUES ('$TALLIED', $((now - 300)), $((now - 30)), 2, 2, 0, 0, 3600,
    zeroblob(36), zeroblob(36), 'bad-helo:2:$((now - 30))');
INSERT INTO bans VALUES ('$BANNED', 'spamtrap', $((now - 60)), $((now + 7 * 86400)),
    'ban at first spamtrap', 'policy', 0);
PRAGMA user_version = 1;
EOF

svc_stop milter 2>/dev/null || true
svc_stop helper 2>/dev/null || true
sbsh "rm -f /var/lib/smtpwall/state.db* && sqlite3 /var/lib/smtpwall/state.db <$LOG/state-v1.sql >/dev/null &&
      chown smtpwall:smtpwall /var/lib/smtpwall/state.db && chmod 600 /var/lib/smtpwall/state.db" ||
    fail "cannot seed the v1 state file"

log "starting smtpwall-helper and smtpwall-milter ($INIT_MODE)"
svc_start helper
wait_for 15 "helper.sock" sb test -S /run/smtpwall-helper/helper.sock
svc_start milter
wait_for 15 "control.sock" sb test -S /run/smtpwall/control.sock
wait_for 15 "milter.sock" sb test -S /run/smtpwall/milter.sock

stat_is /run/smtpwall-helper/helper.sock smtpwall:smtpwall 600
stat_is /run/smtpwall/milter.sock smtpwall:smtpwall 660
stat_is /run/smtpwall/control.sock smtpwall:smtpwall-admin 660

log "checking the processes' credentials"
status_of() { sb cat "/proc/$(svc_pid "$1")/status"; }
field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' <<<"$1"; }
helper_status=$(status_of helper)
milter_status=$(status_of milter)
# CAP_NET_ADMIN (12) and CAP_NET_RAW (13) only, once the helper serves.
helper_dropped() { [ "$(field "$(status_of helper)" CapEff)" = 0000000000003000 ]; }
wait_for 10 "the helper to drop its start-up capabilities" helper_dropped
helper_status=$(status_of helper)
[ "$(field "$helper_status" Uid)" = "$helper_uid $helper_uid $helper_uid $helper_uid" ] ||
    fail "the helper does not serve as smtpwall-helper: Uid $(field "$helper_status" Uid)"
[ "$(field "$helper_status" CapPrm)" = 0000000000003000 ] ||
    fail "helper permitted set $(field "$helper_status" CapPrm), expected NET_ADMIN+NET_RAW"
[ "$(field "$helper_status" CapBnd)" = 0000000000003000 ] ||
    fail "helper bounding set $(field "$helper_status" CapBnd), expected NET_ADMIN+NET_RAW"
[ "$(field "$helper_status" NoNewPrivs)" = 1 ] || fail "helper without no_new_privs"
[ -z "$(field "$helper_status" Groups)" ] || fail "helper keeps groups $(field "$helper_status" Groups)"
[ "$(field "$milter_status" Uid | awk '{print $1}')" = "$uid" ] || fail "the milter does not run as smtpwall"
[ "$(field "$milter_status" CapEff)" = 0000000000000000 ] || fail "the milter has capabilities"
[ "$(field "$milter_status" CapBnd)" = 0000000000000000 ] || fail "the milter's bounding set is not empty"
[ "$(field "$milter_status" NoNewPrivs)" = 1 ] || fail "milter without no_new_privs"
if [ "$INIT_MODE" = systemd ]; then
    [ "$(field "$helper_status" Seccomp)" = 2 ] || fail "the helper runs without a system call filter"
    [ "$(field "$milter_status" Seccomp)" = 2 ] || fail "the milter runs without a system call filter"
fi

log "who may connect"
sb useradd --system --no-create-home --shell /usr/sbin/nologin --groups smtpwall-admin swadmin
as() {
    local who=$1 gid
    shift
    gid=$(sb id -g "$who")
    sb setpriv --reuid "$who" --regid "$gid" --init-groups -- "$@"
}
out=$(as swadmin /usr/sbin/smtpwallctl ping 2>&1) || fail "a member of smtpwall-admin cannot ping: $out"
if ctl --help 2>&1 | grep -qE '^ +ban( |$)'; then
        # A member of smtpwall-admin may change things, and so may the milter's own user
    # (systemd's ExecReload runs as it; it can ask the helper for bans anyway).
    out=$(as swadmin /usr/sbin/smtpwallctl ban 198.51.100.99 --for 1h --reason pkgtest 2>&1) ||
        fail "a member of smtpwall-admin cannot ban: $out"
    out=$(as swadmin /usr/sbin/smtpwallctl unban 198.51.100.99 2>&1) ||
        fail "a member of smtpwall-admin cannot unban: $out"
        out=$(as smtpwall /usr/sbin/smtpwallctl reload 2>&1) || fail "the milter's own user cannot reload: $out"
fi
if as nobody /usr/sbin/smtpwallctl ping >/dev/null 2>&1; then
    fail "nobody (not in smtpwall-admin) reached the control socket"
fi
if sb getent passwd postfix >/dev/null; then
    as postfix socat -u /dev/null UNIX-CONNECT:/run/smtpwall/milter.sock ||
        fail "postfix cannot connect to the milter socket"
fi
if as nobody socat -u /dev/null UNIX-CONNECT:/run/smtpwall/milter.sock 2>/dev/null; then
    fail "nobody reached the milter socket"
fi
if as nobody socat -u /dev/null UNIX-CONNECT:/run/smtpwall-helper/helper.sock 2>/dev/null; then
    fail "nobody reached the helper socket"
fi

log "smoke classification"
out=$(ctl ping) || fail "smtpwallctl ping failed: $out"
# Through the milter protocol, as the MTA's user: HELO localhost is rejected at RCPT.
cp "$SOURCE_DIR/packaging/test/smoke.lua" "$LOG/smoke.lua"
mta_user=smtpwall
sb getent passwd postfix >/dev/null && mta_user=postfix
as "$mta_user" miltertest -D sock=/run/smtpwall/milter.sock -s "$LOG/smoke.lua" >"$LOG/smoke.txt" 2>&1 ||
    fail "miltertest smoke session as $mta_user failed: $(cat "$LOG/smoke.txt")"
grep -q '^PASS smoke' "$LOG/smoke.txt" || fail "the smoke session did not finish: $(cat "$LOG/smoke.txt")"
# And smtpwallctl's offline classification, where this smtpwallctl has it.
if ctl --help 2>&1 | grep -qE '^ +check( |$)'; then
    out=$(ctl check --offline --ip 192.0.2.7 --helo localhost 2>&1) || fail "check --offline failed: $out"
    grep -q 'bad-helo' <<<"$out" || fail "check --offline --helo localhost found no bad-helo: $out"
    out=$(ctl check --offline --json --ip 192.0.2.7 --helo localhost 2>&1) ||
        fail "check --offline --json failed: $out"
    python3 -c 'import json, sys; json.loads(sys.stdin.read())' <<<"$out" ||
        fail "check --offline --json is not JSON: $out"
else
    log "note: this smtpwallctl has no check verb yet"
fi

log "state picked up, ban in the kernel"
ban_listed() { ctl bans | grep -qF "$BANNED"; }
wait_for 15 "the ban of $BANNED in smtpwallctl bans" ban_listed
ctl tallies | grep -qF "$TALLIED" || fail "the tally of $TALLIED was not restored: $(ctl tallies)"
# The milter holds state.db exclusively: read it while the milter is stopped.
state_version() {
    svc_stop milter
    sb sqlite3 /var/lib/smtpwall/state.db 'PRAGMA user_version' || fail "state.db cannot be read"
    svc_start milter
    wait_for 15 "control.sock" sb test -S /run/smtpwall/control.sock
}
schema=$(state_version)
((schema >= 1)) || fail "state.db has schema version $schema"
log "state.db schema version $schema (seeded as 1)"
if ((schema > 1)); then
    milter_log | grep -q 'migrated from schema 1' || log "note: no migration line in the milter's log"
fi
kernel_has() { sb iptables-legacy -w -L SMTPWALL -n 2>/dev/null | grep -qF "$1"; }
wait_for 15 "$BANNED in the SMTPWALL chain" kernel_has "$BANNED"
sb iptables-legacy -w -S INPUT | grep -q -- '-j SMTPWALL' || fail "INPUT does not jump to SMTPWALL"

# ---------------------------------------------------------------------------
# 3. The helper restarts: its entries stay in the kernel and are read back.

log "helper restart keeps the kernel entries"
svc_stop helper
kernel_has "$BANNED" || fail "stopping the helper removed $BANNED from the kernel"
svc_start helper
wait_for 15 "the helper back" sb test -S /run/smtpwall-helper/helper.sock
kernel_has "$BANNED" || fail "$BANNED is gone after the helper's restart"
wait_for 20 "the milter to meet the restarted helper" ban_listed
if [ "$(sb iptables-legacy -w -S SMTPWALL | grep -cF "$BANNED")" != 1 ]; then
    fail "$BANNED is in the chain more than once after the restart"
fi

# The other two backends under the same unit (system call filter, read-only file
# system, address families): libipset and libnftables must work there too.
for backend in ipset nftables; do
    log "backend $backend"
    sbsh "sed -i 's/^backend = .*/backend = \"$backend\"/' /etc/smtpwall/helper.conf"
    svc_stop helper
    svc_start helper
    wait_for 15 "the helper with $backend" sb test -S /run/smtpwall-helper/helper.sock
    case $backend in
        ipset) in_kernel() { sb ipset list SMTPWALL4 2>/dev/null | grep -qF "$BANNED"; } ;;
        nftables) in_kernel() { sb nft list table inet smtpwall 2>/dev/null | grep -qF "$BANNED"; } ;;
    esac
    wait_for 20 "$BANNED in the $backend backend" in_kernel
done
sbsh "sed -i 's/^backend = .*/backend = \"iptables\"/' /etc/smtpwall/helper.conf"
svc_stop helper
svc_start helper
wait_for 15 "the helper with iptables again" sb test -S /run/smtpwall-helper/helper.sock

# ---------------------------------------------------------------------------
# 3b. The weekly report: its timer is off until enabled with one command; the service
# mails `smtpwallctl report --week` through the local MTA's sendmail, and the mail
# waits in Postfix's queue (maildrop: no Postfix runs in the sandbox).

log "weekly report by mail"
sb test -x /usr/sbin/sendmail || fail "no /usr/sbin/sendmail: the test needs postfix (scripts/setup-debian.sh)"
# The machine's Postfix is installed with "No configuration": the sandbox gets a main.cf.
sbsh 'test -e /etc/postfix/main.cf || printf "compatibility_level = 3.6\nmyhostname = pkgtest.example\nmydestination = \$myhostname, localhost\n" >/etc/postfix/main.cf'
queued() { sbsh 'find /var/spool/postfix/maildrop -type f 2>/dev/null | sort'; }
queued_before=$(queued)
if [ "$INIT_MODE" = systemd ]; then
    enabled=$(sb systemctl is-enabled smtpwall-report.timer 2>&1 || true)
    [ "$enabled" = disabled ] || fail "smtpwall-report.timer is '$enabled' after the installation"
    sb systemctl start smtpwall-report.service || {
        sb journalctl --no-pager -o cat -u smtpwall-report >&2 || true
        fail "systemctl start smtpwall-report.service failed"
    }
else
    # The unit's ExecStart, as its user, with its environment file.
    to=$(sbsh '. /etc/default/smtpwall-report && echo "$SMTPWALL_REPORT_TO"')
    as smtpwall /usr/sbin/smtpwallctl report --week --mail-to "$to" ||
        fail "smtpwallctl report --week --mail-to $to failed"
fi
new_mail() { [ -n "$(comm -13 <(echo "$queued_before") <(queued))" ]; }
wait_for 10 "the report in Postfix's queue" new_mail
mail_file=$(comm -13 <(echo "$queued_before") <(queued) | head -1)
sb postcat "$mail_file" >"$LOG/report-mail.txt" 2>&1 || fail "postcat $mail_file: $(cat "$LOG/report-mail.txt")"
for want in "To: root" "Subject: smtpwall report for" "Auto-Submitted: auto-generated" \
    "Sessions by verdict" "DNS zone health"; do
    grep -qF "$want" "$LOG/report-mail.txt" || fail "the queued report lacks '$want': $(cat "$LOG/report-mail.txt")"
done
if [ "$INIT_MODE" = systemd ]; then
    sb systemctl enable --now smtpwall-report.timer >"$LOG/report-enable.txt" 2>&1 ||
        fail "systemctl enable --now smtpwall-report.timer: $(cat "$LOG/report-enable.txt")"
    sb systemctl is-active --quiet smtpwall-report.timer || fail "the report timer does not run once enabled"
    sb systemctl list-timers --all --no-pager smtpwall-report.timer | grep -q '^Sun ' ||
        fail "the report timer is not set for Sunday: $(sb systemctl list-timers --all --no-pager)"
    sb systemctl disable --now smtpwall-report.timer >/dev/null 2>&1
fi

# ---------------------------------------------------------------------------
# 4. Upgrade to X+1 over the running installation.

log "upgrading to $V2"
sbsh "sed -i 's/^allowlist = \[\]/allowlist = [\"192.0.2.0\/24\"]/' /etc/smtpwall/smtpwall.conf"
sb grep -q '^allowlist = \["192.0.2.0/24"\]' /etc/smtpwall/smtpwall.conf || fail "cannot edit smtpwall.conf"
state_inode=$(sb stat -c %i /var/lib/smtpwall/state.db)
[ "$INIT_MODE" = systemd ] || { svc_stop milter; svc_stop helper; }
sb env DEBIAN_FRONTEND=noninteractive dpkg -i "$DEBS"/v2/smtpwall_*.deb "$DEBS"/v2/smtpwall-helper_*.deb \
    >"$LOG/dpkg-upgrade.log" 2>&1 </dev/null || fail "dpkg -i $V2 failed (see $LOG/dpkg-upgrade.log)"
[ "$(sb dpkg-query -W -f '${Version}' smtpwall)" = "$V2" ] || fail "smtpwall $V2 is not installed"
[ "$(sb dpkg-query -W -f '${Version}' smtpwall-helper)" = "$V2" ] || fail "smtpwall-helper $V2 is not installed"
if [ "$INIT_MODE" = systemd ]; then
    for unit in smtpwall-helper smtpwall-milter; do
        sb systemctl is-active --quiet "$unit" || fail "$unit is not running after the upgrade"
    done
else
    svc_start helper
    wait_for 15 "helper.sock" sb test -S /run/smtpwall-helper/helper.sock
    svc_start milter
fi
wait_for 15 "control.sock after the upgrade" sb test -S /run/smtpwall/control.sock
sb grep -q '^allowlist = \["192.0.2.0/24"\]' /etc/smtpwall/smtpwall.conf ||
    fail "the upgrade lost the admin's change to smtpwall.conf"
stat_is /etc/smtpwall/smtpwall.conf root:smtpwall 640
stat_is /run/smtpwall smtpwall:smtpwall 755
[ "$(sb stat -c %i /var/lib/smtpwall/state.db)" = "$state_inode" ] || fail "state.db was replaced by the upgrade"
wait_for 15 "the ban after the upgrade" ban_listed
ctl tallies | grep -qF "$TALLIED" || fail "the tally of $TALLIED is gone after the upgrade"
kernel_has "$BANNED" || fail "$BANNED left the kernel during the upgrade"
[ "$(state_version)" = "$schema" ] || fail "the schema version changed on an upgrade to the same schema"
wait_for 15 "the ban after a restart" ban_listed
if sb getent passwd postfix >/dev/null; then
    sb id -nG postfix | grep -qw smtpwall || fail "postfix left group smtpwall on the upgrade"
fi
if [ "$INIT_MODE" = systemd ] && ctl --help 2>&1 | grep -qE '^ +reload( |$)'; then
    log "systemctl reload smtpwall-milter"
    sb systemctl reload smtpwall-milter || fail "systemctl reload smtpwall-milter failed"
    sb systemctl is-active --quiet smtpwall-milter || fail "the milter died on reload"
fi

# ---------------------------------------------------------------------------
# 5. Purge.

log "purging"
[ "$INIT_MODE" = systemd ] || { svc_stop milter; svc_stop helper; }
sb userdel swadmin
sb env DEBIAN_FRONTEND=noninteractive dpkg --purge smtpwall-helper smtpwall \
    >"$LOG/dpkg-purge.log" 2>&1 || fail "dpkg --purge failed (see $LOG/dpkg-purge.log)"
for path in /etc/smtpwall /var/lib/smtpwall /run/smtpwall /var/spool/postfix/smtpwall \
    /usr/sbin/smtpwall-milter /usr/sbin/smtpwall-helper /usr/sbin/smtpwallctl \
    /lib/systemd/system/smtpwall-milter.service /lib/systemd/system/smtpwall-report.timer \
    /etc/default/smtpwall-report /usr/lib/tmpfiles.d/smtpwall.conf; do
    ! sb test -e "$path" || fail "$path is still there after the purge"
done
! sb getent passwd smtpwall >/dev/null || fail "user smtpwall is still there after the purge"
for group in smtpwall smtpwall-admin; do
    ! sb getent group "$group" >/dev/null || fail "group $group is still there after the purge"
done
! sb dpkg-statoverride --list /etc/smtpwall/smtpwall.conf >/dev/null || fail "statoverride left behind"
left=$(sb find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled -name 'smtpwall*' 2>/dev/null || true)
[ -z "$left" ] || fail "unit links left behind: $left"
sb dpkg-query -W smtpwall >/dev/null 2>&1 && fail "dpkg still knows smtpwall"
if [ "$INIT_MODE" = systemd ]; then
    ! sb systemctl is-active --quiet smtpwall-milter || fail "smtpwall-milter still runs after the purge"
fi

sandbox_stop
log "passed ($INIT_MODE; packages $V1 -> $V2)"
echo "1 passed, 0 failed"
