#!/usr/bin/env bash
# Memory benchmark: 10,000 idle client connections to mcmesh must cost at most 40 MiB RSS in total.
# Opens the connections (each pinged once with "version", then idle), reads mcmesh's VmRSS
# before/with/after them, per worker count. Then the same with 1,000 connections that each first
# read a 256 KiB item, alone and within a 1,000-key get (a connection's buffers must shrink back
# after a large value or a big multi-get: kept, they would cost 250 MiB or more). Prints a
# markdown table; exit 1 if a run fails.
#   bench/idle_connections.sh            # builds what it needs
#   IDLE_CONNECTIONS=10000 IDLE_CONCURRENCY="1 2" IDLE_LARGE_CONNECTIONS=1000 IDLE_LARGE_BYTES=262144 \
#     IDLE_LARGE_KEYS=1000 \
#     BENCH_BIN_DIR=... bench/idle_connections.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

N=${IDLE_CONNECTIONS:-10000}
CONCURRENCY=${IDLE_CONCURRENCY:-1 2}
LIMIT_MIB=${IDLE_LIMIT_MIB:-40}
LARGE_CONNECTIONS=${IDLE_LARGE_CONNECTIONS:-1000}
LARGE_BYTES=${IDLE_LARGE_BYTES:-262144}
LARGE_KEYS=${IDLE_LARGE_KEYS:-1000}
for knob in N LIMIT_MIB LARGE_CONNECTIONS LARGE_BYTES LARGE_KEYS; do
  case "${!knob}" in
    '' | *[!0-9]*) echo "idle_connections: $knob must be a non-negative integer, got '${!knob}'" >&2; exit 2 ;;
  esac
done

WORK=${BENCH_WORK:-}
OWN_WORK=0
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d /tmp/mcmesh-idle.XXXXXX)
  OWN_WORK=1
fi
cleanup() {
  bench_cleanup
  [ "$OWN_WORK" -eq 1 ] && rm -rf "$WORK"
  return 0
}
trap cleanup EXIT INT TERM
[ -x "$WORK/mcmesh" ] || bench_build "$WORK"

# Each side needs N sockets: raise the soft limit (root may raise the hard one too).
want=$((N + 1000))
if [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" -lt "$((N + 64))" ]; then
  echo "idle_connections: open-file limit $(ulimit -n) < $N connections" >&2
  exit 1
fi

bench_start_memcached
status=0

# <row name> <workers> <connections> [idle_clients flags...]: one table row.
measure() {
  local what=$1 c=$2 n=$3
  shift 3
  local port mp ip out before with after ready verdict
  port=$(bench_free_port)
  "$WORK/mcmesh" -D -l 127.0.0.1 -p "$port" -s "127.0.0.1:$MC_PORT" -n $((n + 1000)) \
    --concurrency="$c" --log_level=warn >"$WORK/idle-mcmesh-$c-${what// /_}.log" 2>&1 &
  mp=$!
  BENCH_PIDS+=("$mp")
  bench_wait_port "$port" "$mp"
  sleep 0.5
  before=$(bench_rss_kib "$mp")
  out="$WORK/idle-$c-${what// /_}.out"
  "$WORK/idle_clients" --port "$port" --connections "$n" --hold_s 60 --timeout_s 60 "$@" >"$out" 2>&1 &
  ip=$!
  BENCH_PIDS+=("$ip")
  for _ in $(seq 1 1200); do
    grep -q '"event":"ready"' "$out" 2>/dev/null && break
    kill -0 "$ip" 2>/dev/null || break
    sleep 0.05
  done
  sleep 0.5  # let the proxy finish its last reads.
  ready=$(bench_json ready "$(grep '"event":"ready"' "$out" || true)")
  ready=${ready:-0}
  with=$(bench_rss_kib "$mp")
  bench_stop "$ip"
  sleep 1
  after=$(bench_rss_kib "$mp")
  bench_stop "$mp"
  verdict=$(awk -v w="$with" -v l="$LIMIT_MIB" -v r="$ready" -v n="$n" \
    'BEGIN { if (r < n) print "FAIL (only " r " opened)"; else if (w / 1024 <= l) print "PASS"; else print "FAIL" }')
  [ "${verdict%% *}" = PASS ] || status=1
  awk -v c="$c" -v r="$ready" -v b="$before" -v w="$with" -v a="$after" -v v="$verdict" -v what="$what" 'BEGIN {
    per = (r > 0) ? (w - b) / r : 0
    printf "| %d | %d %s | %.1f | %.1f | %.2f | %.1f | %s |\n", c, r, what, b / 1024, w / 1024, per, a / 1024, v }'
}

echo "| workers | connections held | RSS before (MiB) | RSS with them idle (MiB) | per connection (KiB) | RSS after close (MiB) | limit $LIMIT_MIB MiB |"
echo "|---|---|---|---|---|---|---|"
for c in $CONCURRENCY; do
  measure idle "$c" "$N"
done
# Buffers shrink back: each connection first reads one large item (through the proxy's reply
# buffers), then idles. Kept buffers would cost LARGE_CONNECTIONS x LARGE_BYTES.
if [ "$LARGE_CONNECTIONS" -gt 0 ]; then
  measure "idle after a $((LARGE_BYTES / 1024)) KiB get each" 1 "$LARGE_CONNECTIONS" \
    --large_value_bytes "$LARGE_BYTES" --window 64
  measure "idle after a $LARGE_KEYS-key get (one $((LARGE_BYTES / 1024)) KiB hit) each" 1 \
    "$LARGE_CONNECTIONS" --large_value_bytes "$LARGE_BYTES" --get_keys "$LARGE_KEYS" --window 64
fi
exit "$status"
