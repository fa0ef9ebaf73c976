#!/usr/bin/env bash
# The cost of TLS: mcmesh (1 worker) plain vs mcmesh with TLS on both sides (mcbench -> mcmesh
# --tls_port, mcmesh -> memcached -Z with --upstream_tls_ca), same run, same two memcached
# servers (each has a notls: listener and a TLS listener), rounds interleaved. Prints a markdown
# table on stdout (run_bench.sh appends it to latest.md); progress on stderr.
#   bench/tls_bench.sh            builds with -c opt, or uses the binaries in $BENCH_WORK
# Knobs: BENCH_DURATION_S (4), BENCH_WARMUP_S (1), BENCH_CONNECTIONS (16), BENCH_KEYSPACE (10000),
#   BENCH_TLS_REPEATS (3), BENCH_TLS_WORKLOADS ("get_set pipeline16 value4k").
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${BENCH_DURATION_S:-4}
WARMUP=${BENCH_WARMUP_S:-1}
CONNS=${BENCH_CONNECTIONS:-16}
KEYSPACE=${BENCH_KEYSPACE:-10000}
REPEATS=${BENCH_TLS_REPEATS:-3}
WORKLOADS=${BENCH_TLS_WORKLOADS:-get_set pipeline16 value4k}

OWN_WORK=0
if [ -n "${BENCH_WORK:-}" ]; then
  WORK=$BENCH_WORK
else
  WORK=$(mktemp -d /tmp/mcmesh-tls-bench.XXXXXX)
  OWN_WORK=1
  echo "== building (bazel -c opt) ==" >&2
  bench_build "$WORK"
fi
TLS=$WORK/tls
mkdir -p "$TLS"
cleanup() {
  bench_cleanup
  if [ "$OWN_WORK" = 1 ]; then rm -rf "$WORK"; else rm -rf "$TLS"; fi
}
trap cleanup EXIT INT TERM
CLK_TCK=$(getconf CLK_TCK)

# A throw-away CA and a server certificate for 127.0.0.1 (EC P-256, as a mesh CA would issue).
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key "$TLS/ca.key"
openssl req -x509 -new -key "$TLS/ca.key" -days 2 -subj /CN=bench-ca -out "$TLS/ca.pem" 2>/dev/null
key "$TLS/server.key"
openssl req -new -key "$TLS/server.key" -subj /CN=localhost -out "$TLS/server.csr" 2>/dev/null
echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$TLS/server.ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
  -days 2 -extfile "$TLS/server.ext" -out "$TLS/server.pem" 2>/dev/null

# memcached -Z with a plain (notls:) and a TLS listener; sets MC_PLAIN, MC_TLS.
start_memcached_tls() {
  local user_opt=()
  [ "$(id -u)" -eq 0 ] && user_opt=(-u root)
  MC_PLAIN=$(bench_free_port)
  MC_TLS=$(bench_free_port)
  memcached -Z -o "ssl_chain_cert=$TLS/server.pem,ssl_key=$TLS/server.key" \
    -l "notls:127.0.0.1:$MC_PLAIN,127.0.0.1:$MC_TLS" -U 0 -m 512 -c 20000 -t 2 \
    "${user_opt[@]}" >/dev/null 2>&1 &
  local pid=$!
  BENCH_PIDS+=("$pid")
  bench_wait_port "$MC_PLAIN" "$pid"
  bench_wait_port "$MC_TLS" "$pid"
}
start_memcached_tls; A_PLAIN=$MC_PLAIN; A_TLS=$MC_TLS
start_memcached_tls; B_PLAIN=$MC_PLAIN; B_TLS=$MC_TLS

: >"$TLS/runs.tsv"
for w in $WORKLOADS; do
  read -r -a wargs <<<"$(workload_args "$w")"
  for rep in $(seq 1 "$REPEATS"); do
    for mode in plain tls; do
      port=$(bench_free_port)
      load_port=$port
      if [ "$mode" = plain ]; then
        "$WORK/mcmesh" -D -l 127.0.0.1 -p "$port" -s "127.0.0.1:$A_PLAIN" -s "127.0.0.1:$B_PLAIN" \
          -n 20000 --concurrency=1 --log_level=warn >>"$TLS/mcmesh.log" 2>&1 &
        tls_args=()
      else
        load_port=$(bench_free_port)
        "$WORK/mcmesh" -D -l 127.0.0.1 -p "$port" --tls_port="$load_port" \
          --tls_cert="$TLS/server.pem" --tls_key="$TLS/server.key" \
          -s "127.0.0.1:$A_TLS" -s "127.0.0.1:$B_TLS" --upstream_tls_ca="$TLS/ca.pem" \
          -n 20000 --concurrency=1 --log_level=warn >>"$TLS/mcmesh.log" 2>&1 &
        tls_args=(--tls_ca "$TLS/ca.pem")
      fi
      pid=$!
      BENCH_PIDS+=("$pid")
      bench_wait_port "$port" "$pid"
      bench_wait_port "$load_port" "$pid"
      common=(--connections "$CONNS" --threads 1 --keyspace "$KEYSPACE" --duration_s "$DURATION"
              --warmup_s "$WARMUP" --timeout_ms 2000 "${wargs[@]}")
      # Preload through the proxy's plain port (the TLS proxy's upstreams are TLS either way).
      "$WORK/mcbench" --port "$port" "${common[@]}" --preload_only >/dev/null ||
        echo "warning: preload through $mode had errors" >&2
      "$WORK/mcbench" --port "$load_port" "${common[@]}" "${tls_args[@]}" --preload=false \
        --label "tls/$w/$mode/$rep" >"$TLS/run.json" &
      bp=$!
      BENCH_PIDS+=("$bp")
      sleep "$WARMUP"
      c0=$(bench_cpu_ticks "$pid")
      sleep "$DURATION"
      c1=$(bench_cpu_ticks "$pid")
      wait "$bp" || true
      bench_stop "$bp"
      line=$(cat "$TLS/run.json")
      ops=$(bench_json ops "$line"); ops=${ops:-0}
      cpu=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$ops" \
        'BEGIN { printf "%.2f", (n > 0 ? d / hz / n * 1e6 : 0) }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$mode" "$(bench_json ops_per_s "$line")" \
        "$(bench_json p50_us "$line")" "$(bench_json p99_us "$line")" "$cpu" \
        "$(bench_json errors "$line")" "$rep" >>"$TLS/runs.tsv"
      printf 'tls %-11s %-6s #%d %10s ops/s  p50 %7s us  p99 %8s us  CPU %s us/req\n' "$w" "$mode" \
        "$rep" "$(bench_json ops_per_s "$line")" "$(bench_json p50_us "$line")" \
        "$(bench_json p99_us "$line")" "$cpu" >&2
      bench_stop "$pid"
    done
  done
done

# Anything the proxies complained about (timeouts, TLS errors) explains an errors column > 0.
if grep -q WARN "$TLS/mcmesh.log" 2>/dev/null; then
  echo "mcmesh warnings during the TLS runs ($(grep -c WARN "$TLS/mcmesh.log") lines), first 5:" >&2
  grep WARN "$TLS/mcmesh.log" | head -5 >&2
fi

# Medians over the rounds; "tls vs plain" is the median of each round's paired ratio.
{
echo "| workload | mcmesh-1 | ops/s | p50 µs | p99 µs | mcmesh CPU µs / req | errors | ops/s vs plain (paired, min-max) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
  function sort(list, a,   n, i, j, v) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { v = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return n
  }
  function median(list,   a, n) { n = sort(list, a); return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  { k = $1 SUBSEP $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    for (c = 3; c <= 6; c++) m[k, c] = m[k, c] " " $c
    err[k] += $7; ops[$1, $8, $2] = $3 }
  END {
    for (r in ops) { split(r, f, SUBSEP); if (f[3] == "tls" && ops[f[1], f[2], "plain"] > 0)
      q[f[1]] = q[f[1]] " " ops[r] / ops[f[1], f[2], "plain"] }
    for (i = 1; i <= n; i++) { split(order[i], f, SUBSEP); k = order[i]
      ratio = "1.00x"
      if (f[2] == "tls") { cnt = sort(q[f[1]], a); ratio = sprintf("%.2fx (%.2f-%.2f)", median(q[f[1]]), a[1], a[cnt]) }
      printf "| %s | %s | %.0f | %.0f | %.0f | %.2f | %d | %s |\n", f[1], (f[2] == "tls" ? "TLS both sides" : "plain"),
        median(m[k, 3]), median(m[k, 4]), median(m[k, 5]), median(m[k, 6]), err[k], ratio } }
' "$TLS/runs.tsv"
} >"$TLS/table.md"
cat "$TLS/table.md"
# Kept with the other results (also when run on its own).
mkdir -p bench/results
{
  echo "TLS cost, taken $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores shared by mcbench, mcmesh and 2 memcached -t 2 (1.6.18, -Z with a notls: listener for the plain rows);"
  echo "mcmesh-1 = 1 worker; TLS both sides = mcbench -> mcmesh --tls_port, mcmesh -> memcached -Z (--upstream_tls_ca); TLS 1.3, EC P-256 certificates; handshakes are not timed."
  echo "$CONNS connections, ${WARMUP}s warm-up + ${DURATION}s measured, median of $REPEATS interleaved rounds."
  echo
  cat "$TLS/table.md"
} >bench/results/tls.md
