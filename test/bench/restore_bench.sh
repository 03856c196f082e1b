#!/usr/bin/env bash
# Benchmark of the helper's restore after a reboot, run on demand (root; not a test).
# Runs test/integration/helper_restore_test.sh with many bans: the namespace is
# destroyed with them in the kernel, the helper restarts with the shipped limits and
# puts every one back from its journal before the milter connects. Prints
#
#   restored N entries in S s     helper start -> ready, all N in the kernel
#   burst: ...                    the LIST/update burst figures of the same run
#
#   usage: test/bench/restore_bench.sh          (SMTPWALL_BUILD_DIR: the build tree)
#          RESTORE_N=100000 RESTORE_BACKEND=iptables|ipset|nftables
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$REPO/build}
export SMTPWALL_SOURCE_DIR=$REPO
export RESTORE_N=${RESTORE_N:-100000}
export RESTORE_BACKEND=${RESTORE_BACKEND:-iptables}
# 100000 entries live in the helper's memory (its table, libiptc's copy, a LIST reply):
# the packaged unit's MemoryMax (1G) is the bound here, not the test's 64 MiB.
export RESTORE_RSS_LIMIT_KB=${RESTORE_RSS_LIMIT_KB:-1048576}
echo "restore benchmark: $RESTORE_N bans, backend $RESTORE_BACKEND"
bash "$REPO/test/integration/helper_restore_test.sh" 2>&1 | grep -E '^(restored|burst:)|FAIL'
