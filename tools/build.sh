#!/usr/bin/env bash
# tools/build.sh [plain|asan|tsan|fuzz] [TARGET...] — installs dependencies,
# configures and builds into build/<flavour>: every target, or only the given
# ones (e.g. `tools/build.sh plain idle_memory`). Prints the build directory
# on its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-plain}
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
"$root/tools/install-deps.sh"

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
args=()
case "$flavour" in
  plain) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan)  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DALTS_SANITIZE=address,undefined
               -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  tsan)  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DALTS_SANITIZE=thread
               -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  fuzz)  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DALTS_FUZZ=ON
               -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 [plain|asan|tsan|fuzz] [TARGET...]" >&2; exit 2 ;;
esac
dir="$root/build/$flavour"
cmake -S "$root" -B "$dir" "${gen[@]}" "${args[@]}" >&2
cmake --build "$dir" -j "$(nproc)" "${targets[@]}" >&2
echo "$dir"
