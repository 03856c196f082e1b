#!/usr/bin/env bash
# Classification latency with slow DNS (issue 3, the latency budget): nsd serves the
# benchmark zones (test/bench/zones), test/bench/delay_proxy.cpp in front delays
# every answer by DELAY ms (default 50), and classify_bench runs SESSIONS sessions
# (default 1000) through the milter's own DNS and SPF code. Prints figures;
# asserts nothing. (dnsdist's DelayAction would cap the run at ~1000 answers/s.)
# Usage (root not needed): test/bench/classify_bench.sh [DELAY_MS] [SESSIONS] [CONCURRENCY] [SPF_WORKERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${SMTPWALL_BUILD_DIR:-build}
cmake --build "$build" --target classify_bench delay_proxy -j"$(nproc)" >/dev/null
delay=${1:-50}
export SMTPWALL_BUILD_DIR=$PWD/$build
source test/integration/lib.sh
ITEST_NAME=classify-bench
WORK=$(mktemp -d /tmp/smtpwall-bench.XXXXXX)
trap _itest_cleanup EXIT
sessions=${2:-1000}
mkdir -p "$WORK/zones"
cp test/bench/zones/* "$WORK/zones/"
python3 - "$WORK/zones/reverse.zone" "$sessions" <<'PY'
import ipaddress, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as out:
    out.write("$ORIGIN b.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.\n"
              "@ 300 IN SOA ns.bench.example. hostmaster.bench.example. 1 3600 600 86400 60\n"
              "@ 300 IN NS ns.bench.example.\n")
    for i in range(n):  # the client addresses classify_bench uses
        addr = ipaddress.IPv6Address(f"2001:db8:b::{i // 65536 + 1:x}:{i % 65536 + 2:x}")
        name = ".".join(reversed(addr.exploded.replace(":", "")))
        out.write(f"{name[:-len('.b.0.0.0.8.b.d.0.1.0.0.2')]} 300 IN PTR p{i}.ptr.bench.example.\n")
PY
nsd_start "$WORK/zones"
proxy_port=$(free_port)
spawn delay-proxy "$build/test/delay_proxy" "$proxy_port" "$NSD_PORT" "$delay"
wait_for 5 "the delay proxy" grep -q "delay proxy on" "$WORK/log/delay-proxy.log"
"$build/test/classify_bench" "$proxy_port" "$delay" "$sessions" "${3:-50}" "${4:-32}"
