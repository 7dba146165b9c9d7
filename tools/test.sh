#!/usr/bin/env bash
# tools/test.sh [plain|asan|tsan] — builds (see tools/build.sh) and runs the
# test suite with ctest. Default: plain. asan = AddressSanitizer +
# UndefinedBehaviorSanitizer over every test; tsan = ThreadSanitizer over the
# tests labelled "threads". Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-plain}
shift || true
dir=$("$root/tools/build.sh" "$flavour" | tail -n 1)
ctest_args=(--test-dir "$dir" --output-on-failure -j "$(nproc)")
case "$flavour" in
  tsan) ctest_args+=(-L threads) ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
ctest "${ctest_args[@]}" "$@"
