#!/usr/bin/env bash
# Command 2: install what is missing and run every test (unit and integration) with Bazel.
# Arguments narrow the main run (e.g. tools/test.sh //proxy/...); with none, the example
# workspace's tests run too.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
mcmesh_install_deps

# The example workspace (custom filters) is its own Bazel workspace; .bazelignore keeps it out
# of //... here, and it is tested from its own directory below.
bazel test "${MCMESH_BAZEL_FLAGS[@]}" --test_summary=short //... "$@"

if [ "$#" -eq 0 ]; then
  (cd examples/custom_filter && bazel test "${MCMESH_BAZEL_FLAGS[@]}" --test_summary=short //...)
fi
