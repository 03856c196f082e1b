#!/usr/bin/env bash
# Shared relays end to end, through a real Postfix and a real nsd: a provider's
# forward-confirmed outbound relay (the test's own domain out.provider.example,
# configured as a shared-relay domain) that sends one message to five unknown users
# gets five 550s from Postfix and stays out of the kernel, where an ordinary client
# without PTR doing the same is banned; a relay hitting a spamtrap is rejected and,
# under the default rules, not banned; a DNSWL-listed client is spared too; `show`
# says why each was spared, and metrics count the bans withheld. Then, with a rule
# that opts shared relays in on spamtrap evidence, four relays in one /24 are banned
# for no longer than [shared_relays] max_ban and build no block, not even with
# ordinary bans beside them.
source "$(dirname "$0")/lib.sh"
itest_init shared-relay
netns_pair
RELAYS=(203.0.113.201 203.0.113.202 203.0.113.203 203.0.113.204)
ORDINARY=192.0.2.60 DNSWL=192.0.2.63 NEIGHBOURS=(203.0.113.21 203.0.113.22 203.0.113.23)
for a in "${RELAYS[@]}" $ORDINARY $DNSWL "${NEIGHBOURS[@]}"; do client_addr "$a"; done

RELAY_CONF='[shared_relays]
add_domains = ["out.provider.example"]
max_ban = "2h"'
SMTPWALL_EXTRA_MILTER_CONF=$RELAY_CONF
smtpwall_start
postfix_start 192.0.2.1

UNKNOWN=nobody1@example.org,nobody2@example.org,nobody3@example.org,nobody4@example.org,nobody5@example.org

# five_unknown SOURCE HELO: one message to five unknown users; prints the transcript.
five_unknown() {
    local out
    out=$(send_mail "$1" "$2" "$UNKNOWN") && fail "five unknown recipients from $1 accepted:
$out"
    [ "$(grep -c '<\*\* 550 5.1.1' <<<"$out")" = 5 ] || fail "expected five 550 5.1.1 replies for $1:
$out"
}

log "a shared relay sends one message to five unknown users: five 550s, no ban"
five_unknown ${RELAYS[0]} mta201.out.provider.example
wait_for 5 "the relay's withheld ban in the log" \
    grep -q "ban-withheld client=${RELAYS[0]} rule=\"ban after 5 rejections in 1h\" tags=badrcpt shared_relay=provider:out.provider.example" "$WORK/log/milter.log"
wait_for 5 "the relay's session line" \
    grep -q "session client=${RELAYS[0]} .*tags=badrcpt.* banned=withheld shared_relay=provider:out.provider.example" "$WORK/log/milter.log"

log "the same from an ordinary client without PTR is a ban"
five_unknown $ORDINARY client.example.net
wait_for 5 "the ordinary client's ban in the kernel" kernel_has $ORDINARY
# The relay's verdicts were made before the ordinary client's ban reached the kernel.
kernel_lacks ${RELAYS[0]} || fail "the shared relay ${RELAYS[0]} is in the kernel:
$(mx_chain "$CHAIN")"
tcp_connects 192.0.2.1 25 ${RELAYS[0]} || fail "the shared relay can no longer connect"

log "a shared relay hitting a spamtrap is rejected and, by default, not banned"
out=$(send_mail ${RELAYS[1]} mta202.out.provider.example trap@example.org) &&
    fail "spamtrap accepted from a shared relay:
$out"
assert_contains "$out" "<** 550 5.1.1" "the relay's spamtrap reply"
wait_for 5 "the spamtrap ban withheld" \
    grep -q "ban-withheld client=${RELAYS[1]} rule=\"ban at first spamtrap\" tags=spamtrap shared_relay=provider:out.provider.example" "$WORK/log/milter.log"
kernel_lacks ${RELAYS[1]} || fail "the shared relay ${RELAYS[1]} is in the kernel"

log "a DNSWL-listed client is a shared relay: exempt, never tallied"
out=$(send_mail $DNSWL client.example.net "$UNKNOWN") && fail "unknown recipients accepted:
$out"
kernel_lacks $DNSWL || fail "the DNSWL-listed client is in the kernel"

log "show says why each was spared"
show=$(ctl show ${RELAYS[0]})
assert_contains "$show" "shared relay: provider:out.provider.example (its confirmed PTR lies under out.provider.example, a large provider's domain)" "show of the badrcpt relay"
assert_contains "$show" "1 ban withheld" "show of the badrcpt relay"
assert_contains "$show" "ban: none" "show of the badrcpt relay"
json=$(ctl show ${RELAYS[1]} --json)
python3 - "$json" <<'EOF' || fail "show --json of the spamtrap relay: $json"
import json, sys
doc = json.loads(sys.argv[1])
assert doc["shared_relay"] == "provider:out.provider.example", doc
assert doc["bans_withheld"] == 1, doc
assert doc["ban"] is None, doc
EOF
assert_contains "$(ctl show $DNSWL)" "shared relay: dnswl:testwl (listed in the DNS allowlist testwl)" "show of the DNSWL client"
show=$(ctl show $ORDINARY)
assert_not_contains "$show" "shared relay" "show of the ordinary client"
assert_contains "$show" "rule \"ban after 5 rejections in 1h\"" "show of the ordinary client"

log "check (live DNS) and check --offline know a shared relay"
json=$(ctl check --ip ${RELAYS[2]} --json)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["shared_relay"]=="provider:out.provider.example", d' "$json" ||
    fail "live check of a relay: $json"
assert_contains "$("$CTL_BIN" check --offline --config "$WORK/smtpwall.conf" --ip ${RELAYS[2]} --ptr mta203.out.provider.example)" \
    "shared relay: provider:out.provider.example" "offline check of a relay"

log "metrics count the bans withheld"
metrics=$(ctl metrics)
assert_contains "$metrics" 'smtpwall_bans_withheld_total{reason="provider"} 2' "metrics"

log "opted in on spamtrap evidence: four relays in one /24 are banned for max_ban at most, and no block"
SMTPWALL_EXTRA_MILTER_CONF="$RELAY_CONF
[escalation]
rules = [\"ban at first spamtrap including shared-relay for 30d\", \"ban after 5 rejections in 1h\"]
[aggregation]
min_banned = 3"
milter_config
ctl reload >/dev/null || fail "reload refused"
for i in 0 1 2 3; do
    send_mail ${RELAYS[$i]} mta20$((i + 1)).out.provider.example trap@example.org >/dev/null &&
        fail "spamtrap accepted from ${RELAYS[$i]}"
    wait_for 5 "${RELAYS[$i]} banned" kernel_has ${RELAYS[$i]}
done
json=$(ctl show ${RELAYS[3]} --json)
python3 - "$json" <<'EOF' || fail "the relay's ban is not capped at max_ban: $json"
import json, sys
ban = json.loads(sys.argv[1])["ban"]
assert ban["expires"] - ban["since"] == 7200, ban
EOF
log "ordinary bans beside the relays make no block either"
for a in "${NEIGHBOURS[@]}"; do
    send_mail $a "host${a##*.}.block.example.net" trap@example.org >/dev/null && fail "spamtrap accepted from $a"
    wait_for 5 "$a banned" kernel_has $a
done
sleep 0.5
kernel_lacks 203.0.113.0/24 || fail "a block covers the shared relays:
$(mx_chain "$CHAIN")"
[ "$(ctl bans | grep -c 'netblock')" = 0 ] || fail "a netblock ban was made: $(ctl bans)"

log "shared relays: rejected, not firewalled, on weak evidence"
