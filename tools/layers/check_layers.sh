#!/usr/bin/env bash
# Fails when a source file includes across the layer rule (docs/architecture.md, "Layers").
# Usage: tools/layers/check_layers.sh [root]   (default: the repository this script is in)
#
# Each layer is a top-level folder; RULES says which folders (or single headers) its files may
# include with #include "<folder>/...". Third-party headers (absl/, grpcpp/, google/, event2/,
# etcd/, gtest/, ...) are not project folders and are not checked. Folders not listed (tests/,
# fuzz/, bench/, examples/, tools/) sit above every layer and may include anything.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"

PROJECT_DIRS="app api codec control_plane filters proxy"
declare -A RULES=(
  # The request model lives in the core; codecs turn bytes into it and nothing else.
  [codec]="codec proxy/message.h"
  # The core: never a filter, never the program; the control plane only through its client API.
  [proxy]="proxy codec api control_plane/discovery_client.h control_plane/validator.h"
  # Filters see the core's filter API and upstream interfaces.
  [filters]="filters proxy"
  # The control plane shares only the Prometheus text writer with the proxy.
  [control_plane]="control_plane api proxy/admin/exposition.h"
  # The composition root (main, runMcmesh) puts everything together.
  [app]="app proxy filters codec api control_plane"
)

violations=0
for layer in "${!RULES[@]}"; do
  [ -d "$root/$layer" ] || continue
  allowed=" ${RULES[$layer]} "
  while IFS= read -r -d '' file; do
    lineno=0
    while IFS= read -r line; do
      lineno=$((lineno + 1))
      [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]+\"([^\"]+)\" ]] || continue
      path="${BASH_REMATCH[1]}"
      top="${path%%/*}"
      [ "$top" != "$path" ] || continue                 # same-folder include without a path
      [[ " $PROJECT_DIRS " == *" $top "* ]] || continue  # third-party header
      [[ "$allowed" == *" $top "* || "$allowed" == *" $path "* ]] && continue
      echo "layer violation: ${file#$root/}:$lineno includes \"$path\" ($layer/ may include: ${RULES[$layer]})"
      violations=$((violations + 1))
    done <"$file"
  done < <(find "$root/$layer" -type f \( -name '*.h' -o -name '*.cc' \) -print0)
done

if [ "$violations" -gt 0 ]; then
  echo "check_layers: $violations include(s) across the layer rule (see docs/architecture.md)"
  exit 1
fi
echo "check_layers: every include follows the layer rule"
