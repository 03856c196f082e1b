#!/usr/bin/env bash
# The smtpwall sandbox, from a fresh Debian 12 machine: installs what it needs,
# builds, then runs scripts/demo-sandbox.sh (network namespaces, a private
# Postfix, the milter, the helper and a few scripted SMTP clients). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
./scripts/build.sh
SMTPWALL_BUILD_DIR=$PWD/${SMTPWALL_BUILD_DIR:-build} exec bash scripts/demo-sandbox.sh
