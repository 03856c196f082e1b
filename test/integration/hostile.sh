# The attack set-up shared by hostile_test.sh and test/bench/hostile_bench.sh (source
# after lib.sh, nsd.sh and itest_init).
#   hostile_dns   nsd with test/data/mx-zones behind dnsdist, which logs every query to
#                 $QUERY_LOG and drops those for *.silent.example.net (slowspf's SPF
#                 includes one such name per sender); points the milter at dnsdist
#                 with a DNS timeout that makes each slow SPF check wait its deadline
#   queries TEXT  how many logged queries contain TEXT
hostile_dns() {
    nsd_start "$SOURCE_DIR/test/data/mx-zones"
    QUERY_LOG=$WORK/dnsdist-queries.log
    DNSDIST_CHECK_NAME=example.net. dnsdist_start "$NSD_PORT" "
addAction(AllRule(), LogAction(\"$QUERY_LOG\", false, true, false, false))
addAction(RegexRule(\"silent\\\\.example\\\\.net\"), DropAction())"
    SMTPWALL_DNS_PORT=$DNSDIST_PORT
    SMTPWALL_DNS_CONF=$(printf '[dns]\nservers = ["127.0.0.1:%s"]\ntimeout = "1500ms"\nattempts = 3\ndeadline = "4s"' "$DNSDIST_PORT")
    # Postfix may see a thousand greetings and RSETs per session; its own flow control
    # would add 1 s pauses at RCPT that have nothing to do with the milter.
    POSTFIX_EXTRA_MAIN="smtpd_junk_command_limit = 100000
smtpd_client_connection_count_limit = 0
in_flow_delay = 0
${POSTFIX_EXTRA_MAIN:-}"
}

queries() { awk -v text="$1" 'index($0, text) { n++ } END { print n + 0 }' "$QUERY_LOG"; }
