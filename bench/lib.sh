#!/usr/bin/env bash
# Shared helpers for bench/*.sh: ports, process tracking by PID, /proc CPU and RSS readers,
# building the binaries. Sourced, never run.

BENCH_PIDS=()

# Stops only the processes this script started (by PID), then reaps them.
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
}

# Stops one process we started and forgets it.
bench_stop() {
  local pid=$1 p keep=()
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${BENCH_PIDS[@]:-}"; do [ "$p" != "$pid" ] && [ -n "$p" ] && keep+=("$p"); done
  BENCH_PIDS=("${keep[@]:-}")
}

_BENCH_USED_PORTS=" "
# A loopback port nobody listens on, below the ephemeral range (so client sockets can't take it).
bench_free_port() {
  local p i
  for i in $(seq 1 500); do
    p=$((20000 + RANDOM % 12000))
    case "$_BENCH_USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      _BENCH_USED_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  echo "no free port" >&2
  return 1
}

# Waits (at most ~10 s) until 127.0.0.1:port accepts and the process is still alive.
bench_wait_port() {
  local port=$1 pid=$2 i
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || { echo "process $pid died before listening on $port" >&2; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "timed out waiting for port $port" >&2
  return 1
}

# user+system CPU of a whole process (all threads), in clock ticks.
bench_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# System-time CPU ticks only (the kernel's share: sockets, epoll).
bench_sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
# Read- plus write-family system calls made so far (syscr + syscw from /proc/PID/io).
bench_io_syscalls() { awk '/^sysc[rw]:/ { n += $2 } END { print n + 0 }' "/proc/$1/io"; }
# Resident set size in KiB.
bench_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
bench_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# Starts one memcached on a free loopback port; sets MC_PORT and MC_PID.
bench_start_memcached() {
  local user_opt=()
  [ "$(id -u)" -eq 0 ] && user_opt=(-u root)
  MC_PORT=$(bench_free_port)
  memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 512 -c 20000 -t 2 "${user_opt[@]}" "$@" \
    >/dev/null 2>&1 &
  MC_PID=$!
  BENCH_PIDS+=("$MC_PID")
  bench_wait_port "$MC_PORT" "$MC_PID"
}

# JSON field from one mcbench line (numbers and plain strings only).
bench_json() {
  local key=$1 line=$2
  sed -n "s/.*\"$key\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$line"
}

# Builds mcmesh and the bench tools with --config=release (.bazelrc: the flags tools/demo.sh,
# tools/install.sh and the docs use, so what we measure is what users run) unless BENCH_BIN_DIR
# points at built ones, then copies them to $1 so concurrent builds in this workspace can't swap
# them mid-run.
bench_build() {
  local dest=$1
  if [ -n "${BENCH_BIN_DIR:-}" ]; then
    cp "$BENCH_BIN_DIR/app/mcmesh" "$BENCH_BIN_DIR/bench/loadgen/mcbench" \
      "$BENCH_BIN_DIR/bench/loadgen/idle_clients" "$dest/"
    return 0
  fi
  local bazel=(bazel)
  # Own output base when others build in the same workspace (optional).
  [ -n "${BENCH_BAZEL_OUTPUT_BASE:-}" ] && bazel+=(--output_base="$BENCH_BAZEL_OUTPUT_BASE")
  local flags=(--config=release --disk_cache="${XDG_CACHE_HOME:-$HOME/.cache}/mcmesh-bazel-disk")
  "${bazel[@]}" build "${flags[@]}" //app:mcmesh //bench/loadgen:mcbench \
    //bench/loadgen:idle_clients >&2
  local bin
  bin=$("${bazel[@]}" info "${flags[@]}" bazel-bin 2>/dev/null)
  cp "$bin/app/mcmesh" "$bin/bench/loadgen/mcbench" "$bin/bench/loadgen/idle_clients" "$dest/"
}

# The load every target gets, per workload (each differs from get_set in one parameter); shared
# by run_bench.sh and tls_bench.sh so both measure the same workloads.
workload_args() {
  case "$1" in
    get_set) echo "--pipeline 1 --get_ratio 0.9 --value_size 100 --multiget 1" ;;
    pipeline16) echo "--pipeline 16 --get_ratio 0.9 --value_size 100 --multiget 1" ;;
    multiget10) echo "--pipeline 1 --get_ratio 0.9 --value_size 100 --multiget 10" ;;
    value4k) echo "--pipeline 1 --get_ratio 0.9 --value_size 4096 --multiget 1" ;;
    *) echo "unknown workload $1" >&2; return 1 ;;
  esac
}
