#!/usr/bin/env bash
# `--check-config` of both daemons: exit 78 and file:line for every error the
# daemon would hit at start, including what only a compile (PCRE2 patterns, code
# filters) or a look at this host (users, groups, directories, the core list)
# finds; exit 0 for good files. No network, no firewall: run by ctest as
# check_config.
source "$(dirname "$0")/lib.sh"
itest_init check_config
need_built "$MILTER_BIN" "$HELPER_BIN"

# expect_config_error BIN FILE TEXT: --check-config exits 78 and prints TEXT.
expect_config_error() {
    local bin=$1 file=$2 text=$3 rc=0 out
    out=$("$bin" -c "$file" --check-config 2>&1) || rc=$?
    [ "$rc" = 78 ] || fail "$(basename "$bin") --check-config $file: exit $rc, want 78: $out"
    assert_contains "$out" "$text" "$(basename "$bin") --check-config"
}

expect_config_ok() {
    local bin=$1 file=$2 out
    out=$("$bin" -c "$file" --check-config 2>&1) ||
        fail "$(basename "$bin") --check-config rejected a good $file: $out"
}

milter_conf() {  # a minimal config that passes on this host, plus "$1"
    cat <<CONF
[milter]
user = "nobody"
[dns]
servers = ["127.0.0.1"]
[state]
file = "$WORK/state.db"
$1
CONF
}

log "smtpwall-milter: a good file passes"
milter_conf "" >"$WORK/good.conf"
expect_config_ok "$MILTER_BIN" "$WORK/good.conf"


log "smtpwall-milter: a broken [dialup] pattern is blamed at its own line"
milter_conf '[dialup]
patterns = [
  "^cust[0-9]+-",
  "dyn(amic",
]' >"$WORK/dialup.conf"
line=$(grep -n 'dyn(amic' "$WORK/dialup.conf" | cut -d: -f1)
expect_config_error "$MILTER_BIN" "$WORK/dialup.conf" \
    "$WORK/dialup.conf:$line: dialup.patterns: \"dyn(amic\" is not a valid pattern"

log "smtpwall-milter: a bad code filter, an unknown group, a missing directory"
milter_conf '[[zone]]
tag = "bl"
zone = "bl.example"
codes = "127.0.0.[11..2]"' >"$WORK/codes.conf"
line=$(grep -n '^codes' "$WORK/codes.conf" | cut -d: -f1)
expect_config_error "$MILTER_BIN" "$WORK/codes.conf" "$WORK/codes.conf:$line: zone.codes:"
printf '[control]\nsocket_group = "no-such-group-sw"\n[milter]\nuser = "nobody"\n[dns]\nservers = ["127.0.0.1"]\n[state]\nfile = ""\n' \
    >"$WORK/group.conf"
expect_config_error "$MILTER_BIN" "$WORK/group.conf" \
    "$WORK/group.conf:2: control.socket_group: group \"no-such-group-sw\" does not exist"
printf '[milter]\nuser = "nobody"\n[dns]\nservers = ["127.0.0.1"]\n[state]\nfile = "%s/none/state.db"\n' \
    "$WORK" >"$WORK/state.conf"
expect_config_error "$MILTER_BIN" "$WORK/state.conf" "$WORK/state.conf:6: state.file: directory"
printf '[milter]\nuser = "root"\n' >"$WORK/root.conf"
expect_config_error "$MILTER_BIN" "$WORK/root.conf" "$WORK/root.conf:2: milter.user:"

log "smtpwall-milter: the cluster's password file must be private, the state kept"
printf 'secret\n' >"$WORK/redis-password"
chmod 0644 "$WORK/redis-password"
milter_conf "[cluster]
redis = \"192.0.2.5:6379\"
password_file = \"$WORK/redis-password\"" >"$WORK/cluster.conf"
expect_config_error "$MILTER_BIN" "$WORK/cluster.conf" "is accessible to others (mode 0644)"
chmod 0640 "$WORK/redis-password"
expect_config_ok "$MILTER_BIN" "$WORK/cluster.conf"
printf '[milter]\nuser = "nobody"\n[dns]\nservers = ["127.0.0.1"]\n[state]\nfile = ""\n[cluster]\nredis = "unix:/run/redis.sock"\n' >"$WORK/nostate.conf"
expect_config_error "$MILTER_BIN" "$WORK/nostate.conf" "cluster mode keeps what it must publish in the state file"

log "smtpwall-milter: the daemon itself refuses what --check-config refuses"
rc=0
out=$(timeout 10 "$MILTER_BIN" -f -c "$WORK/dialup.conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || fail "smtpwall-milter started on a broken pattern: exit $rc: $out"
assert_contains "$out" "dialup.patterns" "the milter's start-up error"

log "smtpwall-helper: good file, core list against this host, users, directories"
helper_dirs
# helper_conf PEER_USER USER LINES...: a [helper] table (its keys on lines 2-5), then LINES.
helper_conf() {
    printf '[helper]\nsocket = "%s/helper.sock"\npeer_user = "%s"\nuser = "%s"\nstate_file = "%s/entries"\n' \
        "$HELPER_RUN" "$1" "$2" "$HELPER_STATE"
    shift 2
    printf '%s\n' "$@"
}
helper_conf nobody smtpwall-helper '[core]' 'networks = ["203.0.113.0/24"]' >"$WORK/helper.conf"
expect_config_ok "$HELPER_BIN" "$WORK/helper.conf"
helper_conf nobody smtpwall-helper '[core]' 'networks = [' '  "127.0.0.0/8",' ']' >"$WORK/core.conf"
expect_config_error "$HELPER_BIN" "$WORK/core.conf" "$WORK/core.conf:7: core.networks: 127.0.0.0/8"
helper_conf no-such-user-sw smtpwall-helper >"$WORK/peer.conf"
expect_config_error "$HELPER_BIN" "$WORK/peer.conf" "$WORK/peer.conf:3: helper.peer_user:"
helper_conf nobody no-such-user-sw >"$WORK/user.conf"
expect_config_error "$HELPER_BIN" "$WORK/user.conf" "$WORK/user.conf:4: helper.user: \"no-such-user-sw\" is not a user"
helper_conf nobody root >"$WORK/root-helper.conf"
expect_config_error "$HELPER_BIN" "$WORK/root-helper.conf" "$WORK/root-helper.conf:4: helper.user: must not be root"
printf '[helper]\nstate_file = "%s/none/entries"\nsocket = "%s/helper.sock"\n' "$WORK" "$HELPER_RUN" \
    >"$WORK/journal.conf"
expect_config_error "$HELPER_BIN" "$WORK/journal.conf" "$WORK/journal.conf:2: helper.state_file: its directory must belong to smtpwall-helper"
# A socket directory that others may write: anyone there could pose as the helper.
install -d -m 1777 "$WORK/shared"
printf '[helper]\nsocket = "%s/shared/helper.sock"\nstate_file = ""\n' "$WORK" >"$WORK/shared.conf"
expect_config_error "$HELPER_BIN" "$WORK/shared.conf" "$WORK/shared.conf:2: helper.socket: its directory must belong to smtpwall-helper"
# A journal directory the helper's user does not own (or others may write).
install -d -o root -m 0700 "$WORK/rootstate"
printf '[helper]\nsocket = "%s/helper.sock"\nstate_file = "%s/rootstate/entries"\n' "$HELPER_RUN" "$WORK" \
    >"$WORK/rootstate.conf"
expect_config_error "$HELPER_BIN" "$WORK/rootstate.conf" "$WORK/rootstate.conf:3: helper.state_file:"
printf '[firewall]\nbackend = "nftables"\nchain = "1WALL"\n' >"$WORK/nft.conf"
expect_config_error "$HELPER_BIN" "$WORK/nft.conf" "$WORK/nft.conf:3: firewall.chain:"

log "both list their settings"
# (Captured first: grep -q quits at the first match, and under pipefail the writer's
# SIGPIPE would fail the pipeline.)
settings=$("$MILTER_BIN" --list-settings)
grep -q '^dialup.patterns ' <<<"$settings" || fail "--list-settings lacks dialup.patterns"
grep -q '^shared_relays.max_ban ' <<<"$settings" || fail "--list-settings lacks shared_relays.max_ban"
settings=$("$HELPER_BIN" --list-settings)
grep -q '^limits.max_adds_per_minute ' <<<"$settings" ||
    fail "--list-settings lacks limits.max_adds_per_minute"
log "ok"
