#!/usr/bin/env bash
# Command 1: install what is missing, build mcmesh optimised (--config=release, as the benchmark
# measures it), start a demo topology and run the proxy.
#   2 primaries + 1 backup memcached on loopback (the magent tutorial's layout), mcmesh on :12000.
# Ctrl-C stops the proxy and the memcached servers this script started (by PID).
# MCMESH_BIN=path runs that mcmesh binary instead of building one (tests/docs/readme_try_it_test).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
mcmesh_install_deps

PORT="${MCMESH_PORT:-12000}"
P1="${MCMESH_P1:-11221}"; P2="${MCMESH_P2:-11222}"; B="${MCMESH_B:-11223}"

if [ -n "${MCMESH_BIN:-}" ]; then
  BIN="$MCMESH_BIN"
else
  bazel build "${MCMESH_BAZEL_FLAGS[@]}" --config=release //app:mcmesh
  BIN="$(bazel info "${MCMESH_BAZEL_FLAGS[@]}" --config=release bazel-bin)/app/mcmesh"
fi

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

user_flag=()
if [ "$(id -u)" -eq 0 ]; then user_flag=(-u root); fi
for p in "$P1" "$P2" "$B"; do
  memcached "${user_flag[@]}" -l 127.0.0.1 -p "$p" -U 0 -m 64 &
  PIDS+=($!)
done

cat <<MSG

mcmesh demo: primaries 127.0.0.1:$P1 127.0.0.1:$P2, backup 127.0.0.1:$B
Try it from another terminal (tools/mc is a tiny client in plain bash; one argument per line):
  tools/mc 127.0.0.1:$PORT 'set key1 0 0 1' 1 'get key1' 'stats servers'
  tools/mc 127.0.0.1:$PORT          (interactive: type commands, Ctrl-D to end)
Then kill the primary that holds key1 and get it again: the backup answers.
Stop with Ctrl-C.

MSG
"$BIN" -D -l 127.0.0.1 -p "$PORT" -s "127.0.0.1:$P1" -s "127.0.0.1:$P2" -b "127.0.0.1:$B" "$@" &
PIDS+=($!)
wait "${PIDS[-1]}"
