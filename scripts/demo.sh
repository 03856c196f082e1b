#!/usr/bin/env bash
# The smtpwall sandbox, from a fresh Debian 12 machine: installs what it needs,
# builds, then runs scripts/demo-sandbox.sh (network namespaces, a private
# Postfix, the milter, the helper and a few scripted SMTP clients). Run as root.
# `demo.sh --cluster` runs scripts/demo-cluster-sandbox.sh instead: two MX hosts
# sharing one Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
./scripts/build.sh
sandbox=scripts/demo-sandbox.sh
[ "${1:-}" = --cluster ] && sandbox=scripts/demo-cluster-sandbox.sh
SMTPWALL_BUILD_DIR=$PWD/${SMTPWALL_BUILD_DIR:-build} exec bash "$sandbox"
