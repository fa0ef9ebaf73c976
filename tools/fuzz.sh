#!/usr/bin/env bash
# Builds the libFuzzer targets of //fuzz (--config=fuzz: clang, ASan + UBSan) and runs each one for
# a bounded time. Fails if any target finds a crash, leak, UB, timeout or memory blow-up.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_JOBS      targets run at a time (default: the number of cores)
#   FUZZ_TARGETS   space-separated target names (default: every *_fuzzer in fuzz/BUILD)
#   FUZZ_WORKDIR   where the growing corpora, logs and crash artifacts go
#                  (default ~/.cache/mcmesh-fuzz: corpora persist between runs)
#   MCMESH_FUZZ_OUTPUT_BASE  Bazel output base for the clang build (default ~/.cache/mcmesh-ob-fuzz)
#
# A finding leaves <workdir>/<target>/crash-* (or leak-*, timeout-*, oom-*); reproduce it with
#   bazel-bin/fuzz/<target> <artifact>    (in the fuzz output base), minimize with -minimize_crash=1,
# then turn it into a unit test under tests/unit/ and add it to fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
mcmesh_install_deps

cache="${XDG_CACHE_HOME:-$HOME/.cache}"
output_base="${MCMESH_FUZZ_OUTPUT_BASE:-$cache/mcmesh-ob-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
workdir="${FUZZ_WORKDIR:-$cache/mcmesh-fuzz}"
mkdir -p "$workdir"
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  # Not `bazel query`: it would re-run the toolchain set-up without clang in this output base.
  mapfile -t targets < <(sed -n 's/^ *name = "\([a-z0-9_]*_fuzzer\)",$/\1/p' fuzz/BUILD)
fi
labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:$t"); done

bazel_fuzz() { bazel --output_base="$output_base" "$@"; }
bazel_fuzz build "${MCMESH_BAZEL_FLAGS[@]}" --config=fuzz "${labels[@]}"
bin="$(bazel_fuzz info "${MCMESH_BAZEL_FLAGS[@]}" --config=fuzz bazel-bin 2>/dev/null)"

# <target>: runs one target for $seconds and prints its verdict; returns non-zero on a finding.
fuzz_one() {
  local t="$1" dir="$workdir/$1" rc=0 execs corpus dict=()
  mkdir -p "$dir/corpus" "$dir/artifacts"
  rm -f "$dir"/artifacts/*
  if [ -f "fuzz/$t.dict" ]; then dict=(-dict="fuzz/$t.dict"); fi
  # -timeout: one input may take at most 10 s; -rss_limit_mb/-malloc_limit_mb: memory stays bounded.
  "$bin/fuzz/$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "${dict[@]}" \
    "$dir/corpus" "fuzz/corpus/$t" >"$dir/log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
  corpus="$(find "$dir/corpus" -type f | wc -l)"
  if [ "$rc" -ne 0 ] || compgen -G "$dir/artifacts/*" >/dev/null; then
    echo "fuzz: $t FAILED (exit $rc) after ${execs:-?} executions; artifacts:"
    ls -l "$dir/artifacts" || true
    grep -E -A30 "^==[0-9]+==|runtime error|fuzz check failed|ERROR: libFuzzer" "$dir/log" | head -60 || true
    return 1
  fi
  echo "fuzz: $t OK: ${execs:-?} executions, corpus $corpus inputs, no finding (log: $dir/log)"
}

# Each target is one process on one core: run as many at a time as there are cores (FUZZ_JOBS),
# so every target still gets its full $seconds while the step takes a fraction of the sum.
jobs="${FUZZ_JOBS:-$(nproc)}"
[[ "$jobs" =~ ^[0-9]+$ ]] && [ "$jobs" -ge 1 ] || jobs=1
failed=()
pids=()
# Interrupted (CI's limit, ^C): stop the fuzzers still running rather than leave them behind.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  pids=()
  batch=("${targets[@]:i:jobs}")
  for t in "${batch[@]}"; do
    echo "fuzz: $t for ${seconds}s (corpus $workdir/$t/corpus + fuzz/corpus/$t)"
    fuzz_one "$t" >"$workdir/$t.verdict" 2>&1 &
    pids+=("$!")
  done
  for j in "${!batch[@]}"; do
    wait "${pids[$j]}" || failed+=("${batch[$j]}")
    cat "$workdir/${batch[$j]}.verdict"
  done
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, no findings"
