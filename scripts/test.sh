#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the build
# and the tests need, builds (the fuzz targets too, with clang), and runs CTest (unit
# tests, then the integration tests with real Postfix and iptables in network
# namespaces). Run as root.
# Extra arguments go to ctest, e.g. -L unit or -R postfix.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
./scripts/build.sh
# The libFuzzer targets (test/fuzz/) must keep building with clang; running them is
# test/fuzz/run_fuzz.sh's job. Own build directory; from scratch 95 s at -j1 here.
fuzz_build=${SMTPWALL_FUZZ_BUILD_DIR:-build-fuzz-ci}
CXX=clang++ cmake -S . -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTPWALL_FUZZ=ON >/dev/null
cmake --build "$fuzz_build" --target fuzz_targets -j"$(nproc)"
cd "${SMTPWALL_BUILD_DIR:-build}"
ctest --output-on-failure "$@"
