#!/usr/bin/env bash
# Counter history benchmark (issue 16): the cost of sampling N kernel entries, the
# memory and state file a week of hourly rows takes, and top --since 7d / report --week.
# Usage: test/bench/history_bench.sh [ENTRIES] [ACTIVE_PERCENT]   (builds first; prints figures)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${SMTPWALL_BUILD_DIR:-build}
cmake --build "$build" --target history_bench -j"$(nproc)" >/dev/null
"$build/test/history_bench" "${1:-100000}" "${2:-10}" "${TMPDIR:-/tmp}"
