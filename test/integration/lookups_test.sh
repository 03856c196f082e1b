#!/usr/bin/env bash
# The DNS facts of a session, against a real nsd with dnsdist in front for
# faults: every FCrDNS case (confirming, not confirming, dangling PTR, several
# PTRs, RFC 2317 CNAMEs in-zone and delegated, IPv6), DNSBL listing and refusal,
# HELO lookups, and SERVFAIL / timeouts / 50 ms delays that must never turn into
# a permanent reject nor hold a session past its deadline; a verdict that no pending
# answer can change is given without waiting for a 150 ms forward confirmation.
source "$(dirname "$0")/lib.sh"
ITEST_NAME=lookups
need_built "$BUILD_DIR/test/lookups_integration"
WORK=$(mktemp -d /tmp/smtpwall-lookups.XXXXXX)
trap _itest_cleanup EXIT
nsd_start "$SOURCE_DIR/test/data/zones"
dnsdist_start "$NSD_PORT" '
addAction(QNameRule("24.2.0.192.in-addr.arpa."), RCodeAction(DNSRCode.SERVFAIL))
addAction(QNameRule("25.2.0.192.in-addr.arpa."), DropAction())
addAction(QNameRule("26.2.0.192.in-addr.arpa."), DelayAction(50))
addAction(QNameRule("host27.test.smtpwall."), DelayAction(150))
addAction(QNameRule("fail.test.smtpwall."), RCodeAction(DNSRCode.SERVFAIL))'
DNS_PORT=$DNSDIST_PORT "$BUILD_DIR/test/lookups_integration" --log_level=test_suite ||
    fail "lookups_integration failed"
log "PASS"
