#!/usr/bin/env bash
# The DNS stub resolver against a real nsd serving test/data/zones, with dnsdist in
# front of it for faults: slow.test.smtpwall delayed 50 ms, drop.test.smtpwall
# dropped (timeouts), fail.test.smtpwall SERVFAIL, cname-only.test.smtpwall answered
# with a bare CNAME. The checks themselves are the Boost.Test program
# dns_resolver_integration; extra arguments go to it (e.g. --run_test=...).
source "$(dirname "$0")/lib.sh"
itest_init dns
TEST_BIN=$BUILD_DIR/test/dns_resolver_integration
need_built "$TEST_BIN"

nsd_start "$SOURCE_DIR/test/data/zones"
dnsdist_start "$NSD_PORT" '
addAction(QNameRule("slow.test.smtpwall."), DelayAction(50))
addAction(QNameRule("drop.test.smtpwall."), DropAction())
addAction(QNameRule("fail.test.smtpwall."), RCodeAction(DNSRCode.SERVFAIL))
addAction(QNameRule("cname-only.test.smtpwall."), SpoofCNAMEAction("host65.test.smtpwall."))
'

SMTPWALL_DNS_PORT=$NSD_PORT SMTPWALL_DNS_FAULT_PORT=$DNSDIST_PORT \
    "$TEST_BIN" --log_level=test_suite "$@" || fail "dns_resolver_integration failed"
log "passed"
