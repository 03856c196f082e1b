#!/usr/bin/env bash
# Builds the helper protocol fuzz target with clang (libFuzzer + ASan + UBSan) and runs
# it for a while on the saved corpus.
#
#   test/fuzz/run_fuzz.sh [SECONDS] [--merge]
#
# SECONDS    how long to fuzz (default 300)
# --merge    afterwards, add the inputs that reach new coverage to the saved corpus
#            (test/fuzz/corpus/helper_protocol); review them before committing
#
# Environment: BUILD_DIR (default <repo>/build-fuzz), JOBS (default 2), CXX (default
# clang++). New inputs of this run go to $BUILD_DIR/fuzz-new/helper_protocol; a crash
# is written to $BUILD_DIR/fuzz-artifacts/ and makes the script fail. A crashing input
# belongs in the corpus once fixed: the replay test then guards against its return.
set -euo pipefail

SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build-fuzz}
JOBS=${JOBS:-2}
SECONDS_TO_RUN=300
MERGE=0
for arg in "$@"; do
    case $arg in
        --merge) MERGE=1 ;;
        '' | *[!0-9]*) echo "usage: $0 [SECONDS] [--merge]" >&2; exit 64 ;;
        *) SECONDS_TO_RUN=$arg ;;
    esac
done

command -v "${CXX:-clang++}" >/dev/null ||
    { echo "${CXX:-clang++} not found: apt-get install clang" >&2; exit 1; }
mkdir -p "$BUILD_DIR"
CXX=${CXX:-clang++} cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -DSMTPWALL_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log" >&2; exit 1; }
cmake --build "$BUILD_DIR" --target helper_protocol_fuzz -j "$JOBS"

CORPUS=$SOURCE_DIR/test/fuzz/corpus/helper_protocol
NEW=$BUILD_DIR/fuzz-new/helper_protocol
ARTIFACTS=$BUILD_DIR/fuzz-artifacts/
mkdir -p "$NEW" "$ARTIFACTS"
FUZZER=$BUILD_DIR/test/helper_protocol_fuzz

# New inputs go to the first directory; the saved corpus is only read.
"$FUZZER" "$NEW" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=1024 \
    -artifact_prefix="$ARTIFACTS" -print_final_stats=1 \
    2>&1 | tee "$BUILD_DIR/fuzz-helper_protocol.log" | grep -E '^#[0-9]+.*(INITED|DONE|NEW)|stat::|ERROR|SUMMARY' | tail -n 40
status=${PIPESTATUS[0]}
if [ "$status" != 0 ]; then
    echo "fuzzer failed (exit $status): see $BUILD_DIR/fuzz-helper_protocol.log and $ARTIFACTS" >&2
    exit "$status"
fi
if [ "$MERGE" = 1 ]; then
    before=$(ls "$CORPUS" | wc -l)
    "$FUZZER" -merge=1 "$CORPUS" "$NEW" >"$BUILD_DIR/fuzz-merge.log" 2>&1
    echo "corpus: $before -> $(ls "$CORPUS" | wc -l) inputs (new ones add coverage)"
fi
