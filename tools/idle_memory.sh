#!/usr/bin/env bash
# tools/idle_memory.sh [idle_memory flags] — the main job: builds only the
# idle_memory program (installing any missing Debian package first), runs the
# idle-connection memory comparison (on-demand and pinned ALTS, BoringSSL
# TLS 1.3 untuned and tuned) and prints its table. The JSON goes to
# build/plain/idle_memory.json unless --json=PATH says otherwise. Extra
# flags go to the program, e.g. --conns=9000, or --plot=docs/idle_memory.svg
# for the sweep drawn as SVG (see benchmarks/idle_memory.cc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$root/tools/build.sh" plain idle_memory | tail -n 1)
# Each endpoint is a socket and both ends live in one process: N pairs need
# 2N fds (the program raises its soft limit to the hard one and says which
# sizes do not fit).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
args=("$@")
case " $* " in
  *" --json="*|*" --json "*) ;;
  *) args+=("--json=$dir/idle_memory.json") ;;
esac
exec "$dir/benchmarks/idle_memory" "${args[@]}"
