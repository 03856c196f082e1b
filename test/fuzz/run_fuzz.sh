#!/usr/bin/env bash
# Builds one fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a while
# on its saved corpus.
#
#   test/fuzz/run_fuzz.sh [TARGET] [SECONDS] [--merge]
#
# TARGET     helper_protocol (default), helper_config, target_policy, control_protocol,
#            milter_config, helo_check, dialup, recipients, spf_result or dns_query (listed in
#            test/CMakeLists.txt): the libFuzzer binary TARGET_fuzz, its check
#            test/fuzz/TARGET_check.*, its corpus test/fuzz/corpus/TARGET (replayed by
#            the unit test fuzz_corpus_TARGET)
# SECONDS    how long to fuzz (default 300)
# --merge    afterwards, add the inputs that reach new coverage to the saved corpus;
#            review them before committing
#
# Examples: run_fuzz.sh 600 (the helper protocol, as before targets were named),
#           run_fuzz.sh target_policy 120 --merge
#
# Environment: BUILD_DIR (default <repo>/build-fuzz), JOBS (default 2), CXX (default
# clang++). New inputs of this run go to $BUILD_DIR/fuzz-new/TARGET; a crash is written
# to $BUILD_DIR/fuzz-artifacts/TARGET-* and makes the script fail. A crashing input
# belongs in the corpus once fixed: the replay test then guards against its return.
# test/fuzz/TARGET.dict, if present, is the fuzzer's dictionary.
set -euo pipefail

SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build-fuzz}
JOBS=${JOBS:-2}
TARGET=helper_protocol
SECONDS_TO_RUN=300
MERGE=0
usage() {
    local targets=helper_protocol\|helper_config\|target_policy\|control_protocol
    targets+=\|milter_config\|helo_check\|dialup\|recipients\|spf_result\|dns_query
    echo "usage: $0 [$targets] [SECONDS] [--merge]" >&2
    exit 64
}
for arg in "$@"; do
    case $arg in
        --merge) MERGE=1 ;;
        helper_protocol | helper_config | target_policy | control_protocol | milter_config | \
            helo_check | dialup | recipients | spf_result | dns_query) TARGET=$arg ;;
        '' | *[!0-9]*) usage ;;
        *) SECONDS_TO_RUN=$arg ;;
    esac
done
# The longest input worth trying: one protocol line, one config file, one decoded case;
# a little past a limit the code enforces (a request line's 1024 bytes and its CR, a
# HELO's 255, a PTR name's 253, an SMTP reply line's 512), so both sides are tried.
case $TARGET in
    helper_protocol) MAX_LEN=1024 ;;
    helper_config | milter_config) MAX_LEN=4096 ;;
    target_policy) MAX_LEN=256 ;;
    control_protocol) MAX_LEN=1100 ;;
    helo_check | dialup | spf_result | dns_query) MAX_LEN=300 ;;
    recipients) MAX_LEN=600 ;;
esac

command -v "${CXX:-clang++}" >/dev/null ||
    { echo "${CXX:-clang++} not found: apt-get install clang" >&2; exit 1; }
mkdir -p "$BUILD_DIR"
CXX=${CXX:-clang++} cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -DSMTPWALL_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log" >&2; exit 1; }
cmake --build "$BUILD_DIR" --target "${TARGET}_fuzz" -j "$JOBS"

CORPUS=$SOURCE_DIR/test/fuzz/corpus/$TARGET
NEW=$BUILD_DIR/fuzz-new/$TARGET
ARTIFACTS=$BUILD_DIR/fuzz-artifacts/
mkdir -p "$NEW" "$ARTIFACTS"
FUZZER=$BUILD_DIR/test/${TARGET}_fuzz
DICT=()
[ -f "$SOURCE_DIR/test/fuzz/$TARGET.dict" ] && DICT=(-dict="$SOURCE_DIR/test/fuzz/$TARGET.dict")

# New inputs go to the first directory; the saved corpus is only read.
set +e
"$FUZZER" "$NEW" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" \
    "${DICT[@]}" -artifact_prefix="$ARTIFACTS$TARGET-" -print_final_stats=1 \
    2>&1 | tee "$BUILD_DIR/fuzz-$TARGET.log" | grep -E '^#[0-9]+.*(INITED|DONE|NEW)|stat::|ERROR|SUMMARY' | tail -n 40
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
    echo "fuzzer failed (exit $status): see $BUILD_DIR/fuzz-$TARGET.log and $ARTIFACTS" >&2
    exit "$status"
fi
if [ "$MERGE" = 1 ]; then
    before=$(ls "$CORPUS" | wc -l)
    "$FUZZER" -merge=1 -max_len="$MAX_LEN" "$CORPUS" "$NEW" >"$BUILD_DIR/fuzz-merge-$TARGET.log" 2>&1
    echo "corpus: $before -> $(ls "$CORPUS" | wc -l) inputs (new ones add coverage)"
fi
