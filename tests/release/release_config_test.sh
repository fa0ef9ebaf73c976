#!/usr/bin/env bash
# "What users build is what we measure": README, docs and every script that builds for users
# (tools/demo.sh, tools/install.sh, the benchmark) build with --config=release, which .bazelrc
# defines once as -c opt, and nothing makes -c opt global (tests and sanitizer builds keep theirs).
set -euo pipefail
status=0
problem() { echo "FAIL: $*"; status=1; }

for rc in .bazelrc examples/custom_filter/.bazelrc; do
  [ "$(grep -E '^build:release( |$)' "$rc")" = "build:release -c opt" ] ||
    problem "$rc: the release config is not exactly 'build:release -c opt'"
  if grep -nE '^(build|test|common)[ :].*(-c |--compilation_mode)' "$rc" |
    grep -v '^[0-9]*:build:release '; then
    problem "$rc: a compilation mode outside the release config"
  fi
done

# Documentation: every `bazel build` or `bazel run` inside a fenced code block.
for doc in README.md bench/README.md docs/*.md; do
  while IFS= read -r hit; do
    problem "$doc:$hit: a build command without --config=release"
  done < <(awk '/^```/ { inside = !inside; next }
                inside && /(^|[ ;&(])bazel( --[^ ]*)* (build|run) / && !/--config=release/ {
                  print NR ": " $0 }' "$doc")
done

# Scripts: they name the release config, pass no compilation mode of their own, and every direct
# `bazel build` / `bazel info` line carries the config (info must, to find the same bazel-bin).
for script in tools/demo.sh tools/install.sh bench/lib.sh bench/backup_load.sh; do
  grep -q -- '--config=release' "$script" || problem "$script does not build with --config=release"
  if grep -nE -- '(^|[ "(])(-c (opt|dbg|fastbuild)|--compilation_mode)' "$script"; then
    problem "$script sets a compilation mode itself"
  fi
  while IFS= read -r hit; do
    problem "$script:$hit: bazel without --config=release"
  done < <(grep -nE '(^|[ ;&(])bazel( --[^ ]*)* (build|info) ' "$script" |
    grep -v -- '--config=release' || true)
done

# The try-it lines of README must not need telnet or nc (not on a fresh Debian).
if grep -nE '^\$? ?(telnet|nc) ' README.md; then
  problem "README still tells users to use telnet/nc"
fi
[ "$status" -eq 0 ] && echo PASS
exit "$status"
