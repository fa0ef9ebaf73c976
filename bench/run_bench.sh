#!/usr/bin/env bash
# One command, from a fresh clone: install what is missing, build (--config=release), start
# memcached servers and measure, with identical load, memcached direct, nutcracker (twemproxy) and
# mcmesh (1 and N workers). Writes bench/results/latest.md, latest.jsonl, throughput.png and
# refreshes the table in bench/README.md. Every run is bounded; the whole script takes a few minutes.
#   bench/run_bench.sh
# Knobs (environment): BENCH_DURATION_S (4), BENCH_WARMUP_S (1), BENCH_REPEATS (5), BENCH_CONNECTIONS
#   (16), BENCH_THREADS (1), BENCH_KEYSPACE (10000), BENCH_WITH_BACKUP (0), BENCH_IDLE (1), BENCH_TARGETS,
#   BENCH_WORKLOADS ("get_set pipeline16 multiget10 value4k"), BENCH_BAZEL_OUTPUT_BASE, BENCH_BIN_DIR,
#   BENCH_TLS (1: the tls rows, bench/tls_bench.sh; it has its own knobs).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
MCMESH_PACKAGES+=(gnuplot-nox)
mcmesh_install_deps
source bench/lib.sh

DURATION=${BENCH_DURATION_S:-4}
WARMUP=${BENCH_WARMUP_S:-1}
CONNS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-1}
KEYSPACE=${BENCH_KEYSPACE:-10000}
WITH_BACKUP=${BENCH_WITH_BACKUP:-0}
REPEATS=${BENCH_REPEATS:-5}
RUN_IDLE=${BENCH_IDLE:-1}
WORKLOADS=${BENCH_WORKLOADS:-get_set pipeline16 multiget10 value4k}
for knob in DURATION WARMUP CONNS THREADS KEYSPACE REPEATS; do
  case "${!knob}" in
    '' | *[!0-9]*) echo "run_bench: $knob must be a whole number, got '${!knob}'" >&2; exit 2 ;;
    0) [ "$knob" = WARMUP ] || { echo "run_bench: $knob must be at least 1" >&2; exit 2; } ;;
  esac
done
RESULTS=bench/results
mkdir -p "$RESULTS"

WORK=$(mktemp -d /tmp/mcmesh-bench.XXXXXX)
cleanup() {
  bench_cleanup
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== building (bazel --config=release, as tools/demo.sh and tools/install.sh) ==" >&2
bench_build "$WORK"
# Printed with the results: compare with `sha256sum bazel-bin/app/mcmesh` after tools/demo.sh or
# tools/install.sh (same --config=release, so the same binary).
MCMESH_SHA=$(sha256sum "$WORK/mcmesh" | cut -c1-16)
MCMESH_BUILT=${BENCH_BIN_DIR:+"from BENCH_BIN_DIR=$BENCH_BIN_DIR"}
MCMESH_BUILT=${MCMESH_BUILT:-"bazel build --config=release"}
CLK_TCK=$(getconf CLK_TCK)

workload_title() {
  case "$1" in
    get_set) echo "90/10 get/set, 100 B, no pipelining" ;;
    pipeline16) echo "90/10 get/set, 100 B, pipeline depth 16" ;;
    multiget10) echo "10-key multi-gets (90/10), 100 B" ;;
    value4k) echo "90/10 get/set, 4 KiB values" ;;
  esac
}

echo "== starting memcached servers ==" >&2
bench_start_memcached; MA_PORT=$MC_PORT; MA_PID=$MC_PID
bench_start_memcached; MB_PORT=$MC_PORT
if [ "$WITH_BACKUP" = 1 ]; then bench_start_memcached; MBK_PORT=$MC_PORT; fi
echo "memcached: 127.0.0.1:$MA_PORT 127.0.0.1:$MB_PORT${MBK_PORT:+ (backup 127.0.0.1:$MBK_PORT)}" >&2

# mcmesh-1 keeps one upstream connection per server (-i 1, the default), as nutcracker's default
# server_connections: 1; other pool sizes can be asked for as mcmesh-1-i<N> in BENCH_TARGETS.
TARGETS="direct nutcracker mcmesh-1"
[ "$WITH_BACKUP" = 1 ] && TARGETS+=" mcmesh-1+backup"
TARGETS+=" mcmesh-2"
TARGETS=${BENCH_TARGETS:-$TARGETS}

# Starts a target; sets T_PORT and T_PID (for direct: memcached A itself, not restarted).
start_target() {
  local name=$1
  if [ "$name" = direct ]; then
    T_PORT=$MA_PORT
    T_PID=$MA_PID
    return 0
  fi
  T_PORT=$(bench_free_port)
  case "$name" in
    nutcracker)
      local stats_port
      stats_port=$(bench_free_port)
      cat >"$WORK/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$T_PORT
  hash: md5
  distribution: ketama
  auto_eject_hosts: false
  timeout: 1000
  servers:
    - 127.0.0.1:$MA_PORT:1
    - 127.0.0.1:$MB_PORT:1
YML
      nutcracker -c "$WORK/nutcracker.yml" -s "$stats_port" -a 127.0.0.1 \
        -o "$WORK/nutcracker.log" &
      ;;
    mcmesh-*)
      # mcmesh-<workers>[-i<pool size>][+backup]
      local spec=${name#mcmesh-} extra=()
      local workers=${spec%%[-+]*}
      case "$spec" in *+backup*) extra+=(-b "127.0.0.1:$MBK_PORT") ;; esac
      case "$spec" in *-i[0-9]*) local i=${spec#*-i}; extra+=(-i "${i%%[^0-9]*}") ;; esac
      "$WORK/mcmesh" -D -l 127.0.0.1 -p "$T_PORT" -s "127.0.0.1:$MA_PORT" \
        -s "127.0.0.1:$MB_PORT" "${extra[@]}" -n 20000 --concurrency="$workers" \
        --log_level=warn >>"$WORK/mcmesh.log" 2>&1 &
      ;;
    *) echo "unknown target $name" >&2; return 1 ;;
  esac
  T_PID=$!
  BENCH_PIDS+=("$T_PID")
  bench_wait_port "$T_PORT" "$T_PID"
}

stop_target() {
  [ "$1" = direct ] || bench_stop "$T_PID"
}

# Runs: every workload, REPEATS rounds, every target once per round (interleaved, so a burst of
# outside load does not land on one target only). One line per run in runs.tsv.
: >"$WORK/runs.tsv"
: >"$RESULTS/latest.jsonl"
for w in $WORKLOADS; do
  read -r -a wargs <<<"$(workload_args "$w")"
  for rep in $(seq 1 "$REPEATS"); do
    for t in $TARGETS; do
      start_target "$t"
      common=(--port "$T_PORT" --connections "$CONNS" --threads "$THREADS" --keyspace "$KEYSPACE"
              --duration_s "$DURATION" --warmup_s "$WARMUP" --timeout_ms 2000 "${wargs[@]}")
      "$WORK/mcbench" "${common[@]}" --preload_only --label "$w/$t" >"$WORK/preload.json" ||
        echo "warning: preload through $t had errors: $(cat "$WORK/preload.json")" >&2
      "$WORK/mcbench" "${common[@]}" --preload=false --label "$w/$t/$rep" >"$WORK/run.json" &
      bp=$!
      BENCH_PIDS+=("$bp")
      # CPU of the process under test over the measured window only (after the warm-up).
      sleep "$WARMUP"
      c0=$(bench_cpu_ticks "$T_PID"); k0=$(bench_sys_ticks "$T_PID"); s0=$(bench_io_syscalls "$T_PID")
      sleep "$DURATION"
      c1=$(bench_cpu_ticks "$T_PID"); k1=$(bench_sys_ticks "$T_PID"); s1=$(bench_io_syscalls "$T_PID")
      wait "$bp" || true
      bench_stop "$bp"
      rss=$(bench_rss_kib "$T_PID")
      line=$(cat "$WORK/run.json")
      echo "$line" >>"$RESULTS/latest.jsonl"
      ops=$(bench_json ops "$line"); ops=${ops:-0}
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$t" \
        "$(bench_json ops_per_s "$line")" "$(bench_json p50_us "$line")" \
        "$(bench_json p99_us "$line")" "$(bench_json p999_us "$line")" \
        "$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$ops" 'BEGIN { printf "%.2f", (n > 0 ? d / hz / n * 1e6 : 0) }')" \
        "$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }')" \
        "$(bench_json errors "$line")" "$(bench_json misses "$line")" \
        "$(awk -v k=$((k1 - k0)) -v c=$((c1 - c0)) 'BEGIN { printf "%.0f", (c > 0 ? 100 * k / c : 0) }')" \
        "$(awk -v s=$((s1 - s0)) -v n="$ops" 'BEGIN { printf "%.2f", (n > 0 ? s / n : 0) }')" \
        "$rep" >>"$WORK/runs.tsv"
      printf '%-11s %-16s #%d %10s ops/s  p50 %7s us  p99 %8s us  CPU %s us/req\n' "$w" "$t" "$rep" \
        "$(bench_json ops_per_s "$line")" "$(bench_json p50_us "$line")" \
        "$(bench_json p99_us "$line")" "$(tail -1 "$WORK/runs.tsv" | cut -f7)" >&2
      stop_target "$t"
    done
  done
done

# Median of each metric over the rounds (mawk has no asort: insertion sort), in run order;
# `spread` is (max - min) / median of ops/s, to show how noisy the machine was.
awk -F'\t' -v OFS='\t' '
  function median(list,   n, a, i, j, v) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { v = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { k = $1 OFS $2
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    for (f = 3; f <= 7; f++) m[k, f] = m[k, f] " " $f
    for (f = 11; f <= 12; f++) m[k, f] = m[k, f] " " $f
    if ($8 + 0 > rss[k] + 0) rss[k] = $8
    err[k] += $9; miss[k] += $10
    if (!(k in lo) || $3 + 0 < lo[k]) lo[k] = $3 + 0
    if ($3 + 0 > hi[k]) hi[k] = $3 + 0 }
  END { for (i = 1; i <= n; i++) { k = order[i]; ops = median(m[k, 3])
      print k, ops, median(m[k, 4]), median(m[k, 5]), median(m[k, 6]), sprintf("%.2f", median(m[k, 7])),
        rss[k], err[k], miss[k], (ops > 0 ? sprintf("%.0f%%", (hi[k] - lo[k]) / ops * 100) : "-"),
        sprintf("%.0f%%", median(m[k, 11])), sprintf("%.2f", median(m[k, 12])) } }
' "$WORK/runs.tsv" >"$WORK/rows.tsv"

# Paired ratios to nutcracker: each round runs the targets of a workload back to back, so the
# ratio within a round cancels load that drifts between rounds. Per workload and target: the
# median, min and max over the rounds of ops/s and p99 against that round's nutcracker run.
awk -F'\t' -v OFS='\t' '
  function sort(list, a,   n, i, j, v) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { v = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return n
  }
  function median(list,   a, n) { n = sort(list, a); return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  { ops[$1, $13, $2] = $3; p99[$1, $13, $2] = $5; if (!(($1, $2) in seen)) { seen[$1, $2] = 1; key[++n] = $1 OFS $2 } }
  END {
    for (k in ops) { split(k, f, SUBSEP); w = f[1]; r = f[2]; t = f[3]
      if (ops[w, r, "nutcracker"] > 0 && p99[w, r, "nutcracker"] > 0) {
        q[w, t] = q[w, t] " " ops[k] / ops[w, r, "nutcracker"]; l[w, t] = l[w, t] " " p99[k] / p99[w, r, "nutcracker"] } }
    for (i = 1; i <= n; i++) { split(key[i], f, OFS); w = f[1]; t = f[2]
      if (!((w, t) in q)) { print w, t, "-", "-", "-", "-"; continue }
      m = sort(q[w, t], a)
      print w, t, sprintf("%.2f", median(q[w, t])), sprintf("%.2f", a[1]), sprintf("%.2f", a[m]), sprintf("%.2f", median(l[w, t])) } }
' "$WORK/runs.tsv" >"$WORK/paired.tsv"

# Ratios to direct (a) and nutcracker (b) per workload; markdown table.
TABLE=$(awk -F'\t' '
  FNR == NR { pr[$1, $2] = ($3 == "-") ? "-" : sprintf("%sx (%s-%s)", $3, $4, $5); next }
  { i = ++n; w[i]=$1; t[i]=$2; ops[i]=$3; p50[i]=$4; p99[i]=$5; p999[i]=$6; cpu[i]=$7; rss[i]=$8;
    err[i]=$9; miss[i]=$10; spread[i]=$11; sys[i]=$12; calls[i]=$13
    if ($2 == "direct") d_ops[$1]=$3
    if ($2 == "nutcracker") { n_ops[$1]=$3; n_p99[$1]=$5 } }
  END {
    print "| workload | target | ops/s | spread | vs direct | vs nutcracker | paired vs nutcracker (min-max) | p50 µs | p99 µs | p99.9 µs | p99 vs nutcracker | CPU s / M req | sys share | read+write calls / req | RSS MiB | errors | misses |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= n; i++) {
      vd = d_ops[w[i]] > 0 ? sprintf("%.2fx", ops[i] / d_ops[w[i]]) : "-"
      vn = n_ops[w[i]] > 0 ? sprintf("%.2fx", ops[i] / n_ops[w[i]]) : "-"
      pn = n_p99[w[i]] > 0 ? sprintf("%.2fx", p99[i] / n_p99[w[i]]) : "-"
      printf "| %s | %s | %.0f | %s | %s | %s | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
        w[i], t[i], ops[i], spread[i], vd, vn, pr[w[i], t[i]], p50[i], p99[i], p999[i], pn, cpu[i],
        sys[i], calls[i], rss[i], err[i], miss[i]
    }
  }' "$WORK/paired.tsv" "$WORK/rows.tsv")

# The issue's bar: mcmesh with 1 worker >= 1.0x nutcracker ops/s and p99 <= 1.2x, every workload,
# judged on the paired ratios (median over the rounds); the ratio of the medians is shown beside.
VERDICT=$(for m in $(echo "$TARGETS" | tr ' ' '\n' | grep '^mcmesh-1\(-i[0-9]*\)\?$'); do
  awk -F'\t' -v m="$m" '
    FNR == NR { if ($2 == m) { pr[$1] = $3; lo[$1] = $4; hi[$1] = $5; pp[$1] = $6 }; next }
    $2 == "nutcracker" { n_ops[$1]=$3; n_p99[$1]=$5 }
    $2 == m { m_ops[$1]=$3; m_p99[$1]=$5; order[++k]=$1 }
    END { if (k == 0) exit; ok = 1
      for (i = 1; i <= k; i++) { w = order[i]
        if (pr[w] == "" || pr[w] == "-") { ok = 0; printf "- %s, %s: no nutcracker run to compare with\n", m, w; continue }
        r = n_ops[w] > 0 ? m_ops[w] / n_ops[w] : 0; p = n_p99[w] > 0 ? m_p99[w] / n_p99[w] : 99
        s = (pr[w] + 0 >= 1.0 && pp[w] + 0 <= 1.2) ? "meets" : "MISSES"; if (s != "meets") ok = 0
        printf "- %s, %s: %.2fx nutcracker ops/s paired (rounds %.2f-%.2f; ratio of medians %.2fx), p99 %.2fx paired (%.2fx): %s the bar\n", m, w, pr[w], lo[w], hi[w], r, pp[w], p, s }
      printf "- **%s overall: %s**\n", m, ok ? "meets the bar (>= 1.0x ops/s, p99 <= 1.2x) on every workload" : "does NOT meet the bar on every workload" }' "$WORK/paired.tsv" "$WORK/rows.tsv"
done)

TLS_TABLE=""
if [ "${BENCH_TLS:-1}" = 1 ]; then
  echo "== TLS (bench/tls_bench.sh) ==" >&2
  TLS_TABLE=$(BENCH_WORK="$WORK" bash bench/tls_bench.sh) || true
fi

IDLE=""
if [ "$RUN_IDLE" = 1 ]; then
  echo "== idle connections ==" >&2
  IDLE=$(BENCH_WORK="$WORK" bash bench/idle_connections.sh) || true
fi

# Chart: ops/s per workload, one bar per target.
{
  printf 'workload'
  for t in $TARGETS; do printf '\t%s' "$t"; done
  printf '\n'
  for w in $WORKLOADS; do
    printf '%s' "$w"
    for t in $TARGETS; do
      printf '\t%s' "$(awk -F'\t' -v w="$w" -v t="$t" '$1 == w && $2 == t { printf "%.1f", $3 / 1000 }' "$WORK/rows.tsv")"
    done
    printf '\n'
  done
} >"$WORK/chart.dat"
ncols=$(echo $TARGETS | wc -w)
gnuplot <<GP
set terminal pngcairo size 1000,520 font "DejaVu Sans,10" noenhanced
set output "$RESULTS/throughput.png"
set title "Throughput, same load per workload ($CONNS connections, ${DURATION}s; $(nproc) cores shared by load generator, proxy and memcached)"
set ylabel "k requests / s"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
set datafile separator "\t"
plot for [i=2:$((ncols + 1))] "$WORK/chart.dat" using i:xtic(1) title columnheader(i)
GP

MODEL=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain -- proxy filters 2>/dev/null | head -1)
{
  echo "Taken $DATE on \`$(hostname)\`: $(nproc) cores ($MODEL), kernel $(uname -r), commit $COMMIT${DIRTY:+ (+ uncommitted proxy/filters changes)}."
  echo "mcmesh binary: sha256 $MCMESH_SHA... ($MCMESH_BUILT)."
  echo "$(memcached -V 2>/dev/null | head -1); nutcracker $(nutcracker -V 2>&1 | sed -n 's/.*nutcracker-\([0-9.]*\).*/\1/p' | head -1)."
  echo "Load: mcbench, $CONNS connections, $THREADS thread(s), keyspace $KEYSPACE (preloaded), ${WARMUP}s warm-up + ${DURATION}s measured per run;"
  echo "each row is the median of $REPEATS runs, interleaved with the other rows of its workload (*spread*: (max - min) / median of ops/s);"
  echo "*paired vs nutcracker* is the median (min-max) over the rounds of ops/s against nutcracker's run of the same round, which cancels load that drifts between rounds; the bar below is judged on it."
  echo "2 memcached servers (-t 2), nutcracker and mcmesh route over both with ketama/md5; *direct* is one of them with the whole keyspace."
  echo "CPU s / M req is the CPU (user+sys, all threads) of the process under test (the proxy; memcached itself for *direct*) over the measured window;"
  echo "*sys share* is the kernel's part of that CPU, *read+write calls / req* the read- and write-family system calls (/proc/PID/io syscr + syscw) per request."
  echo "The load generator, the proxy and the servers share the machine's cores, so compare rows within one run."
  echo
  for w in $WORKLOADS; do echo "- **$w**: $(workload_title "$w") (\`$(workload_args "$w")\`)"; done
  echo
  echo "$TABLE"
  echo
  echo "Bar from issue 5:"
  echo "$VERDICT"
  if [ -n "$TLS_TABLE" ]; then
    echo
    echo "TLS (\`bench/tls_bench.sh\`): mcmesh-1 plain vs TLS on both sides (clients -> --tls_port, mcmesh -> memcached -Z), same run, same servers:"
    echo
    echo "$TLS_TABLE"
  fi
  if [ -n "$IDLE" ]; then
    echo
    echo "Idle connections (\`bench/idle_connections.sh\`): 10,000 client connections, each pinged once then idle:"
    echo
    echo "$IDLE"
  fi
  echo
  echo "![throughput](throughput.png)"
} >"$RESULTS/latest.md"

# Refresh bench/README.md between its markers (image path relative to bench/).
if [ -f bench/README.md ] && grep -q '<!-- BENCH:BEGIN -->' bench/README.md; then
  sed 's#(throughput.png)#(results/throughput.png)#' "$RESULTS/latest.md" >"$WORK/section.md"
  awk -v f="$WORK/section.md" '
    /<!-- BENCH:BEGIN -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- BENCH:END -->/ { skip = 0 }
    !skip { print }' bench/README.md >"$WORK/README.md"
  cp "$WORK/README.md" bench/README.md
fi

echo
cat "$RESULTS/latest.md" | grep -v '^!\['
echo
echo "wrote $RESULTS/latest.md, $RESULTS/latest.jsonl, $RESULTS/throughput.png, bench/README.md" >&2
