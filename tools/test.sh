#!/usr/bin/env bash
# Command 2: install what is missing and run every test (unit and integration) with Bazel.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
mcmesh_install_deps

# The example workspace (custom filters) is its own Bazel workspace; keep it out of //...
bazel test "${MCMESH_BAZEL_FLAGS[@]}" --test_summary=short //... "$@"
