#!/usr/bin/env bash
# The backup pool's load in a mixed load with misses (issue 13, item 6): 2 primaries + 1 backup,
# mcbench without preload over 100,000 keys (90% gets, so most gets miss at first), then the
# requests each server received, from `stats servers`. Before the miss policy, every primary miss
# went to the backup (about as many backup requests as primary ones); now only the copies of
# writes and misses within --backup_read_budget or a restart window do.
#   bench/backup_load.sh [path/to/mcmesh] [path/to/mcbench]
# Binaries default to the optimised build (built if missing). Ports: BENCH_BASE_PORT (24100) .. +3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bazel-out/k8-opt/bin/app/mcmesh}
MCB=${2:-bazel-out/k8-opt/bin/bench/loadgen/mcbench}
BASE=${BENCH_BASE_PORT:-24100}
if [ ! -x "$BIN" ] || [ ! -x "$MCB" ]; then
  source tools/deps.sh
  bazel build "${MCMESH_BAZEL_FLAGS[@]}" --config=release //app:mcmesh //bench/loadgen:mcbench >&2
fi
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
user=(); [ "$(id -u)" -eq 0 ] && user=(-u root)
for p in 1 2 3; do memcached "${user[@]}" -p $((BASE + p)) -U 0 -l 127.0.0.1 & pids+=($!); done
sleep 0.3
"$BIN" -D -p "$BASE" -s 127.0.0.1:$((BASE + 1)) -s 127.0.0.1:$((BASE + 2)) \
  -b 127.0.0.1:$((BASE + 3)) --concurrency=1 2>/dev/null & pids+=($!)
sleep 0.5
"$MCB" --port "$BASE" --preload=false --keyspace 100000 --get_ratio 0.9 --duration_s 5 \
  --warmup_s 0 --connections 8 >/dev/null
python3 - "$BASE" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats servers\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    buf += s.recv(65536)
primary = backup = 0
for line in buf.decode().splitlines():
    words = line.split()
    if len(words) > 2 and words[0] == "STAT" and words[1].startswith(("primary_", "backup_")):
        n = int(next(w for w in words if w.startswith("requests=")).split("=")[1])
        if words[1].startswith("backup_"):
            backup += n
        else:
            primary += n
print(f"requests: primaries {primary}, backup {backup}, backup/primaries {backup / max(1, primary):.2f}")
PY
