#!/usr/bin/env bash
# The layering rule, checked over the #include lines of the tree (CTest: layering).
#
#   common/    includes only common/
#   conf/      common/ conf/
#   dnsbl/     common/ dnsbl/
#   firewall/  common/ conf/ firewall/
#   core/      common/ conf/ core/, and the pure headers of dnsbl/ and firewall/;
#              nothing that does I/O, reads the clock or starts threads: no milter/,
#              Asio, libmilter, SQLite, <thread>, <mutex>, sockets, syslog, and no
#              clock reads in the code itself
#   milter/    anything but ctl/
#   ctl/       common/ conf/ core/ (never milter/)
#
# Usage: check_layers.sh [SOURCE_DIR]   exits 1 and names every violation
#        check_layers.sh --self-test     proves the check fails on planted violations
set -uo pipefail

check() {
    local root=$1 bad=0
    complain() {
        echo "layering: $1" >&2
        bad=1
    }
    # allowed project folders per folder
    declare -A allowed=(
        [common]="common"
        [conf]="common conf"
        [dnsbl]="common dnsbl"
        [firewall]="common conf firewall"
        [core]="common conf core dnsbl firewall"
        [milter]="common conf core dnsbl firewall milter"
        [ctl]="common conf core"
    )
    # the only headers of these folders that core/ may use: pure vocabulary
    local core_dnsbl="facts.hpp zones.hpp dialup.hpp names.hpp result.hpp spf_result.hpp"
    local core_firewall="protocol.hpp target_policy.hpp"
    local core_common_edges="log.hpp clock.hpp unix_socket.hpp sd_notify.hpp host_name.hpp"
    local core_system='^(thread|mutex|shared_mutex|condition_variable|future|atomic|fstream|syslog\.h|unistd\.h|sqlite3\.h|sys/.*|netinet/.*|arpa/.*|poll\.h|pthread\.h|libmilter/.*|boost/asio.*|asio.*)$'

    local folder file line target dir name
    for folder in "${!allowed[@]}"; do
        [ -d "$root/$folder" ] || { complain "$root/$folder is missing"; continue; }
        for file in "$root/$folder"/*.cpp "$root/$folder"/*.hpp; do
            [ -e "$file" ] || continue
            while IFS= read -r line; do
                if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
                    target=${BASH_REMATCH[1]}
                    dir=${target%%/*}
                    name=${target#*/}
                    [ "$dir" = "$target" ] && continue  # same-folder relative include
                    if [[ " ${allowed[$folder]} " != *" $dir "* ]]; then
                        complain "${file#"$root"/}: includes \"$target\" ($folder/ may use only ${allowed[$folder]})"
                    elif [ "$folder" = core ]; then
                        if [ "$dir" = dnsbl ] && [[ " $core_dnsbl " != *" $name "* ]]; then
                            complain "${file#"$root"/}: includes \"$target\" (core/ may use only dnsbl/{$core_dnsbl})"
                        elif [ "$dir" = firewall ] && [[ " $core_firewall " != *" $name "* ]]; then
                            complain "${file#"$root"/}: includes \"$target\" (core/ may use only firewall/{$core_firewall})"
                        elif [ "$dir" = common ] && [[ " $core_common_edges " == *" $name "* ]]; then
                            complain "${file#"$root"/}: includes \"$target\" (I/O or clock: not in core/)"
                        fi
                    fi
                elif [ "$folder" = core ] &&
                    [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
                    target=${BASH_REMATCH[1]}
                    if [[ $target =~ $core_system ]]; then
                        complain "${file#"$root"/}: includes <$target> (I/O, threads or libmilter: not in core/)"
                    fi
                fi
            done <"$file"
            if [ "$folder" = core ] &&
                grep -nE '(system_clock|steady_clock|high_resolution_clock)::now|[^_a-z]time\(nullptr\)|clock_gettime|gettimeofday' \
                    "$file" >/dev/null; then
                complain "${file#"$root"/}: reads the clock (core/ takes time as a parameter)"
            fi
        done
    done
    return $bad
}

self_test() {
    local here tmp rc=0 planted
    here=$(cd "$(dirname "$0")/.." && pwd)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    # planted FILE LINE: a copy of the tree with LINE appended to FILE must fail.
    planted() {
        rm -rf "$tmp/tree"
        mkdir -p "$tmp/tree"
        cp -r "$here"/{common,conf,dnsbl,firewall,core,milter,ctl} "$tmp/tree/"
        printf '%s\n' "$2" >>"$tmp/tree/$1"
        if check "$tmp/tree" 2>/dev/null; then
            echo "self-test: the check missed a planted violation in $1: $2" >&2
            rc=1
        fi
    }
    for line in '#include "milter/runtime.hpp"' '#include <thread>' '#include <boost/asio.hpp>' \
        '#include <sqlite3.h>' '#include <libmilter/mfapi.h>' '#include "dnsbl/resolver.hpp"' \
        '#include "common/clock.hpp"' 'auto t = std::chrono::system_clock::now();'; do
        planted core/tally.cpp "$line"
    done
    planted ctl/smtpwallctl.cpp '#include "milter/report.hpp"'
    planted conf/milter_config.cpp '#include "dnsbl/zones.hpp"'
    [ $rc = 0 ] && echo "self-test: every planted violation was found"
    return $rc
}

if [ "${1:-}" = --self-test ]; then
    self_test
    exit $?
fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if check "$root"; then
    echo "layering: ok"
else
    exit 1
fi
