#!/usr/bin/env bash
# Configures and builds smtpwall into ./build (or $SMTPWALL_BUILD_DIR). Extra
# arguments go to CMake's configure step, e.g. -DSMTPWALL_SANITIZE=address,undefined.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SMTPWALL_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTPWALL_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
