#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the build
# and the tests need, builds, and runs CTest (unit tests, then the integration
# tests with real Postfix and iptables in network namespaces). Run as root.
# Extra arguments go to ctest, e.g. -L unit or -R postfix.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
./scripts/build.sh
cd "${SMTPWALL_BUILD_DIR:-build}"
ctest --output-on-failure "$@"
