#!/usr/bin/env bash
# SPF (libspf2 through smtpwall's resolver) against a real nsd serving
# test/data/zones (spf.smtpwall and its reverse zones), with dnsdist in front of it
# dropping every query for drop.spf.smtpwall (timeouts). The checks themselves are the
# Boost.Test program spf_integration; extra arguments go to it (e.g. --run_test=...).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/nsd.sh"
itest_init spf
TEST_BIN=$BUILD_DIR/test/spf_integration
need_built "$TEST_BIN"
# libspf2-dev is needed to build (CMake says so); the program needs the library.
if ldd "$TEST_BIN" | grep -q 'libspf2.*not found'; then
    fail "libspf2 is not installed: apt-get install libspf2-2 libspf2-dev (or run scripts/setup-debian.sh)"
fi

nsd_start "$SOURCE_DIR/test/data/zones"
dnsdist_start "$NSD_PORT" '
addAction(QNameRule("drop.spf.smtpwall."), DropAction())
'

SMTPWALL_DNS_PORT=$NSD_PORT SMTPWALL_DNS_FAULT_PORT=$DNSDIST_PORT \
    "$TEST_BIN" --log_level=test_suite "$@" || fail "spf_integration failed"
log "passed"
