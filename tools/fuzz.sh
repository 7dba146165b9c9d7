#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] — builds every libFuzzer target (clang) and runs each
# for SECONDS (default 30) from its seed corpus in tests/fuzz/corpus/<target>.
# Exits non-zero on the first crash; the crashing input is kept in build/fuzz.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
dir=$("$root/tools/build.sh" fuzz | tail -n 1)
shopt -s nullglob
targets=("$dir"/tests/fuzz/*_fuzzer)
if [ ${#targets[@]} -eq 0 ]; then echo "fuzz: no targets built" >&2; exit 1; fi
for t in "${targets[@]}"; do
  name=$(basename "$t")
  work="$dir/fuzz-work/$name"
  mkdir -p "$work"
  corpora=("$work")
  [ -d "$root/tests/fuzz/corpus/$name" ] && corpora+=("$root/tests/fuzz/corpus/$name")
  echo "== fuzz $name for ${seconds}s"
  log="$dir/$name.log"
  if ! "$t" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="$dir/$name-" "${corpora[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $name crashed; input saved under $dir/$name-*" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
done
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a crash"
