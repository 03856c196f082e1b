#!/bin/bash
# Recall and false-positive figures of the dialup heuristic (dnsbl/dialup.cpp) on the
# golden table (test/data/dialup_golden.tsv, which it is tuned to pass) and on the
# held-out names (test/data/dialup_heldout.tsv and dialup_heldout2.tsv), every miss listed.
# Not a timed benchmark. Usage: test/bench/dialup_eval.sh [build-dir]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
[[ -x $build/test/unit_dnsbl ]] || { echo "build unit_dnsbl first (make unit_dnsbl in $build)" >&2; exit 1; }
"$build/test/unit_dnsbl" --run_test=dialup/golden_table,heldout_figures,heldout2_figures --log_level=message \
    --report_level=no --color_output=no 2>&1 | grep -v "^Running "
