#!/usr/bin/env bash
# milter/redis_link against a real redis-server on its own unix socket and loopback
# port (never the system service): the checks are the Boost.Test program
# redis_link_integration; extra arguments go to it.
source "$(dirname "$0")/lib.sh"
itest_init redis
TEST_BIN=$BUILD_DIR/test/redis_link_integration
need_built "$TEST_BIN"
redis_start
redis_cli ACL SETUSER smtpwall on ">$REDIS_PASSWORD" '~sw:*' '+@all' >/dev/null
SMTPWALL_REDIS_SOCK=$REDIS_SOCK SMTPWALL_REDIS_PORT=$REDIS_PORT SMTPWALL_REDIS_PASSWORD=$REDIS_PASSWORD \
    "$TEST_BIN" --log_level=test_suite "$@" || fail "redis_link_integration failed"
log "passed"
