#!/usr/bin/env bash
# Protocol conformance against a milter client nobody here wrote: miltertest
# (OpenDKIM's Lua-scripted MTA simulator) runs the suites in test/miltertest/
# against the built smtpwall-milter on a unix socket, DNS pointed at the test
# nsd (never the machine's resolver), the helper in a network namespace.
# milter_replies.py then checks the exact reply texts miltertest cannot see.
#
# Afterwards: every connection that reached CONNECT left exactly one session
# line (closed and freed once: no leaked, no doubled sessions), the tallies are
# what the suites imply, the milter never logged a failed callback, and it
# stops cleanly. Against a sanitizer build (SMTPWALL_BUILD_DIR pointing at a
# -DSMTPWALL_SANITIZE=address,undefined build) any ASan/UBSan/LSan report in the
# milter's output fails the test.
#
#   MILTERTEST_SUITES="stages helo"   runs only those suites
source "$(dirname "$0")/lib.sh"
itest_init miltertest
need_package miltertest miltertest
need_package python3 python3
netns_pair

SUITE_DIR=$SOURCE_DIR/test/miltertest
SUITES=${MILTERTEST_SUITES:-negotiate stages messages abort_quit macros helo ipv6}
# Delivered mail earns no credit here, so DATA settles an accepted message
# (SMFIS_ACCEPT): the suites check that conversation step by step; the Postfix and
# Sendmail end-to-end tests keep the default one (CONTINUE at DATA, end of message).
SMTPWALL_EXTRA_MILTER_CONF='[escalation]
rules = ["ban at first spamtrap"]
good_mail_ratio = 0
[shared_relays]
good_mail = 0'
# A sanitizer build reports leaks only when the process exits normally.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
smtpwall_start

expected=$WORK/expected-sessions
: >"$expected"
for suite in $SUITES; do
    [ -f "$SUITE_DIR/$suite.lua" ] || fail "no miltertest suite $SUITE_DIR/$suite.lua"
    log "miltertest suite $suite"
    started=$(date +%s%N)
    if ! miltertest -D "sock=$MILTER_SOCK" -D "dir=$SUITE_DIR" -s "$SUITE_DIR/$suite.lua" \
        >"$WORK/log/miltertest-$suite.log" 2>&1; then
        fail "miltertest suite $suite failed:
$(tail -n 20 "$WORK/log/miltertest-$suite.log")"
    fi
    grep -q "^PASS $suite\$" "$WORK/log/miltertest-$suite.log" ||
        fail "miltertest suite $suite did not finish: $(tail -n 5 "$WORK/log/miltertest-$suite.log")"
    log "  $(grep -c '^ok - ' "$WORK/log/miltertest-$suite.log") checks in $((($(date +%s%N) - started) / 1000000)) ms"
    sed -n 's/^expect-session //p' "$WORK/log/miltertest-$suite.log" >>"$expected"
done

if [ -z "${MILTERTEST_SUITES:-}" ]; then
    log "exact reply texts (milter_replies.py)"
    python3 "$SUITE_DIR/milter_replies.py" "$MILTER_SOCK" >"$WORK/log/milter-replies.log" 2>&1 ||
        fail "milter_replies.py failed:
$(tail -n 20 "$WORK/log/milter-replies.log")"
    grep -q "^PASS replies\$" "$WORK/log/milter-replies.log" || fail "milter_replies.py did not finish"
    log "  $(grep -c '^ok - ' "$WORK/log/milter-replies.log") checks"
    sed -n 's/^expect-session //p' "$WORK/log/milter-replies.log" >>"$expected"
fi

log "every session closed exactly once"
logged_sessions() { sed -n 's/^smtpwall-milter: session client=\([^ ]*\) .*/\1/p' "$WORK/log/milter.log" | sort; }
want=$(sort "$expected")
sessions_match() { [ "$(logged_sessions)" = "$want" ]; }
for _ in $(seq 100); do sessions_match && break; sleep 0.05; done
if ! sessions_match; then
    fail "session lines differ from the connections made (< expected, > logged):
$(diff <(echo "$want") <(logged_sessions) | grep '^[<>]')"
fi
log "  $(wc -l <"$expected") sessions, each logged once"

if [ -z "${MILTERTEST_SUITES:-}" ]; then
    log "the tallies the suites imply"
    ctl tallies --top 1000 --json | python3 -c '
import json, sys
rows = {r["address"]: r for r in json.load(sys.stdin)}
def tags(a): return rows.get(a, {}).get("tags", {})
assert tags("192.0.2.48") == {"badrcpt": 2}, ("permanent MTA rejections only", rows.get("192.0.2.48"))
assert tags("192.0.2.31") == {"badrcpt": 2}, ("Postfix and Sendmail forms", rows.get("192.0.2.31"))
assert tags("2001:db8:6::/64").get("bad-helo") == 3 and rows["2001:db8:6::/64"]["rejections"] == 3, \
    ("IPv6 per /64", rows.get("2001:db8:6::/64"))
assert "2001:db8:6::5" not in rows and "2001:db8:6::6" not in rows, "IPv6 hosts tallied alone"
assert tags("2001:db8:7::/64").get("bad-helo") == 1, ("one client, two spellings", rows.get("2001:db8:7::/64"))
assert tags("192.0.2.62").get("testbl") == 3, ("listed: stages, ipv6 (mapped), replies", rows.get("192.0.2.62"))
assert not any(a.startswith("::ffff:") for a in rows), "an IPv4-mapped address tallied as IPv6"
assert "192.0.2.46" not in rows, "an authenticated client was tallied"
assert "unknown" not in rows and "" not in rows, "a session without address was tallied"
for a in ("192.0.2.24", "192.0.2.26", "192.0.2.28", "192.0.2.29", "192.0.2.89"):
    assert a not in rows, ("a clean client was tallied", a, rows[a])
' || fail "tallies do not match: $(ctl tallies)"
fi

if [ -z "${MILTERTEST_SUITES:-}" ] || [[ " $MILTERTEST_SUITES " == *" helo "* ]]; then
    log "show survives hostile HELOs: JSON despite invalid UTF-8, text without control bytes"
    # helo.lua: 192.0.2.136 greeted with bytes 255 254 253, 192.0.2.130 with a \001 inside.
    out=$(ctl show 192.0.2.136 --json) || fail "show --json of an invalid UTF-8 HELO failed: $out"
    python3 -c '
import json, sys
doc = json.load(sys.stdin)
text = json.dumps(doc)
assert "\\ufffd" in text or "\ufffd" in text, ("invalid UTF-8 not replaced", text[:400])
' <<<"$out" || fail "show --json is not valid JSON with the HELO replaced: $out"
    for addr in 192.0.2.130 192.0.2.136; do
        out=$(ctl show $addr) || fail "show $addr failed: $out"
        assert_contains "$out" "helo=" "show $addr"
        if LC_ALL=C grep -q '[^[:print:][:space:]]' <<<"$out" ||
            [ -n "$(LC_ALL=C tr -d '\n\t\040-\176' <<<"$out")" ]; then
            fail "show $addr prints bytes a terminal would interpret: $(od -c <<<"$out" | head)"
        fi
    done
fi

assert_not_contains "$(cat "$WORK/log/milter.log")" "callback failed" "milter log"
log "the milter stops cleanly"
kill -0 "$PID_milter" 2>/dev/null || fail "the milter died during the suites"
stop milter
if grep -E "Sanitizer|runtime error:" \
    "$WORK/log/milter.log" >&2; then
    fail "sanitizer report in the milter's output (see $WORK/log/milter.log)"
fi
grep -q "stopping" "$WORK/log/milter.log" || fail "the milter did not log its shutdown"
log "PASS"
