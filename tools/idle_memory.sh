#!/usr/bin/env bash
# tools/idle_memory.sh [idle_memory flags] — the main job: builds (installing
# any missing Debian package first) and runs the idle-connection memory
# comparison with its default N, printing its table. Extra flags go to the
# program, e.g. --conns=9000 or --json=out.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$root/tools/build.sh" plain | tail -n 1)
# Each endpoint is a socket: N pairs need 2N fds plus the TLS baseline's.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$dir/benchmarks/idle_memory" "$@"
