#!/usr/bin/env bash
# Tally benchmark (issue 4): memory per tracked address at 1 million addresses,
# tally updates per second, and the state file after a million updates.
# Usage: test/bench/tally_bench.sh [ADDRESSES]   (builds first; prints figures)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${SMTPWALL_BUILD_DIR:-build}
cmake --build "$build" --target tally_bench -j"$(nproc)" >/dev/null
"$build/test/tally_bench" "${1:-1000000}" "${TMPDIR:-/tmp}"
