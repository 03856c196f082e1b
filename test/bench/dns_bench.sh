#!/usr/bin/env bash
# DNS resolver benchmark against a private nsd (not a test: prints figures).
#   SMTPWALL_BUILD_DIR=build test/bench/dns_bench.sh [NAMES] [WINDOW] [HIT_ROUNDS]
# Distinct names hit nsd's wildcard *.bench.test.smtpwall, so every lookup is a
# packet; then the same names again are cache hits. nsd shares the machine's cores.
export SMTPWALL_BUILD_DIR=${SMTPWALL_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/nsd.sh"
itest_init dns-bench
BENCH_BIN=$BUILD_DIR/test/dns_bench
need_built "$BENCH_BIN"
nsd_start "$SOURCE_DIR/test/data/zones"
"$BENCH_BIN" "$NSD_PORT" "${1:-10000}" "${2:-1000}" "${3:-10}"
