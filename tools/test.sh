#!/usr/bin/env bash
# Command 2: install what is missing and run every test (unit and integration) with Bazel.
# Arguments narrow the main run (e.g. tools/test.sh //proxy/...); with none, the example
# workspace's tests run too.
#
# With CI=true (and no arguments) it then also runs, each in its own Bazel output base (sharing
# the disk cache, so switching configs never rebuilds the default build):
#   asan  the whole suite under ASan + UBSan + LeakSanitizer   (--config=asan, gcc)
#   tsan  the threaded tests (integration + unit) under TSan    (--config=tsan, gcc)
#   fuzz  every libFuzzer target for CI_FUZZ_SECONDS (default 30; the corpora it grows are kept in
#         the cache for the next run, and tools/fuzz.sh alone runs 60 s each) (tools/fuzz.sh, clang)
# and prints each step's wall time. A sanitizer report in any test log fails its step, including
# reports from child processes (mcmesh, mcmesh_cp) and from a first attempt that the one retry
# then passed: tests get one retry only because timing assertions can trip under the sanitizers'
# 2-15x slowdown on a busy machine. CI_STEPS picks the CI steps (default "asan tsan fuzz");
# CI_TSAN_TARGETS overrides the TSan targets.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
mcmesh_install_deps

timings=()
failures=()  # "<step>: <bazel summary line>" for every target that failed, timed out or was flaky
# <step> <bazel log>: keeps the summary lines of failed, timed-out and flaky targets, and the
# first gtest failure lines of each failed one, to print again at the very end (CI shows only
# the head and the tail of a long output).
remember_failures() {
  local step="$1" log="$2" line target
  while IFS= read -r line; do
    failures+=("$step: $(echo "$line" | sed 's/  */ /g')")
    if [[ "$line" =~ (FAILED|TIMEOUT) ]]; then
      target="$(echo "$line" | awk '{print $1}')"
      target="${target#//}"
      target="${target/://}"
      while IFS= read -r detail; do
        failures+=("$step:     $detail")
      done < <(grep -hE '^\[  FAILED  \]|Failure$|^Expected|Which is|ERROR: [A-Za-z]*Sanitizer|TIMEOUT' \
        "$(testlog_dir "$step")/$target"/test.log 2>/dev/null | grep -v 'listed below' | head -8 || true)
    fi
  done < <(grep -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS)' "$log" || true)
}
# The last lines of every run, however it ends: each step's time, then what failed or was flaky.
print_summary() {
  [ "${#timings[@]}" -gt 0 ] || return 0
  echo "test.sh: wall time per step:"
  printf '  %s\n' "${timings[@]}"
  if [ "${#failures[@]}" -gt 0 ]; then
    echo "test.sh: failed, timed-out and flaky targets:"
    printf '  %s\n' "${failures[@]}"
  fi
}
trap print_summary EXIT
# <step>: where that step's bazel wrote its test logs.
testlog_dir() {
  case "$1" in
    tests) bazel info "${MCMESH_BAZEL_FLAGS[@]}" bazel-testlogs 2>/dev/null ;;
    *) bazel --output_base="${XDG_CACHE_HOME:-$HOME/.cache}/mcmesh-ob-$1" info \
         "${MCMESH_BAZEL_FLAGS[@]}" --config="$1" bazel-testlogs 2>/dev/null ;;
  esac
}
# <name> <command...>: runs a step and records its wall time and outcome.
timed() {
  local name="$1" start=$SECONDS rc=0
  shift
  echo "test.sh: === $name ==="
  "$@" || rc=$?
  timings+=("$(printf '%-8s %5ds  %s' "$name" $((SECONDS - start)) \
    "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)")")
  return "$rc"
}

# Seconds, and it names the file and line: a change that includes across the layers fails here.
timed layers tools/layers/check_layers.sh

# The example workspace (custom filters) is its own Bazel workspace; .bazelignore keeps it out
# of //... here, and it is tested from its own directory below.
# Integration tests start real servers on a shared machine: a test that fails is run once more,
# and Bazel's summary marks one that passed only then as FLAKY (listed again below), so a timing
# trip under load neither fails CI nor goes unseen.
main_tests() {
  local log rc=0
  log="$(mktemp)"
  bazel test "${MCMESH_BAZEL_FLAGS[@]}" --test_summary=short --flaky_test_attempts=2 //... "$@" \
    2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  if grep -q ' FLAKY' "$log"; then
    echo "test.sh: passed only on the second attempt (see their logs):"
    grep ' FLAKY' "$log" | sed 's/^/  /'
  fi
  remember_failures tests "$log"
  rm -f "$log"
  return "$rc"
}
timed tests main_tests "$@"

example_tests() {
  (cd examples/custom_filter && bazel test "${MCMESH_BAZEL_FLAGS[@]}" --test_summary=short //...)
}
if [ "$#" -eq 0 ]; then
  timed example example_tests
fi

if [ "${CI:-}" != "true" ] || [ "$#" -ne 0 ]; then
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}"

# <config> <targets...>: bazel test under --config=<config> in its own output base, then fails if
# any log this run wrote holds a sanitizer report.
sanitized_test() {
  local config="$1"
  shift
  local output_base="$cache/mcmesh-ob-$config" marker log rc=0 logs reports
  marker="$(mktemp)"
  log="$(mktemp)"
  bazel --output_base="$output_base" test "${MCMESH_BAZEL_FLAGS[@]}" --config="$config" \
    --test_summary=short --flaky_test_attempts=2 "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  remember_failures "$config" "$log"
  rm -f "$log"
  logs="$(bazel --output_base="$output_base" info "${MCMESH_BAZEL_FLAGS[@]}" --config="$config" \
    bazel-testlogs 2>/dev/null)"
  reports="$(find "$logs" -name '*.log' -newer "$marker" -print0 |
    xargs -0 -r grep -lE 'SUMMARY: [A-Za-z]*Sanitizer' || true)"
  rm -f "$marker"
  if [ -n "$reports" ]; then
    echo "test.sh: $config: sanitizer reports in:"
    echo "$reports" | sed 's/^/  /'
    while IFS= read -r report; do failures+=("$config: sanitizer report in $report"); done <<<"$reports"
    echo "$reports" | head -3 | xargs -r grep -h -A30 -E '(ERROR|WARNING): [A-Za-z]*Sanitizer|runtime error:' | head -150
    rc=1
  fi
  return "$rc"
}

# //... in another output base would descend into the default build's bazel-<dir> symlinks (they
# point into that output base, which Bazel only skips for its own) and fail to load: name the
# source directories that hold packages instead, minus what .bazelignore leaves out.
all_source_packages() {
  local prune=() line d
  while IFS= read -r line; do
    [ -n "$line" ] && prune+=(-path "./$line" -prune -o)
  done < <(grep -v '^#' .bazelignore 2>/dev/null || true)
  for d in */; do
    d="${d%/}"
    if [ -L "$d" ] || [[ "$d" == bazel-* ]]; then continue; fi
    if [ -n "$(find "./$d" "${prune[@]}" \( -name BUILD -o -name BUILD.bazel \) -print -quit)" ]; then
      echo "//$d/..."
    fi
  done
}
mapfile -t all_packages < <(all_source_packages)

read -r -a ci_steps <<<"${CI_STEPS:-asan tsan fuzz}"
read -r -a tsan_targets <<<"${CI_TSAN_TARGETS:-//tests/integration/... //tests/unit/...}"
ci_failed=()
for step in "${ci_steps[@]}"; do
  case "$step" in
    asan) timed asan sanitized_test asan --build_tests_only "${all_packages[@]}" || ci_failed+=(asan) ;;
    # Tests tagged single_threaded (a deterministic simulation on one thread) give TSan nothing
    # to check; --build_tests_only skips building what no test runs.
    tsan) timed tsan sanitized_test tsan --build_tests_only --test_tag_filters=-single_threaded \
      "${tsan_targets[@]}" || ci_failed+=(tsan) ;;
    fuzz) timed fuzz env FUZZ_SECONDS="${CI_FUZZ_SECONDS:-30}" tools/fuzz.sh || ci_failed+=(fuzz) ;;
    *) echo "test.sh: unknown CI step '$step'" >&2; exit 2 ;;
  esac
done

if [ "${#ci_failed[@]}" -gt 0 ]; then
  echo "test.sh: FAILED: ${ci_failed[*]}"
  exit 1
fi
