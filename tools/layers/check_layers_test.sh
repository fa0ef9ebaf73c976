#!/usr/bin/env bash
# The layer check passes a tree that follows the rule and names each include that breaks it.
set -euo pipefail
check="$1"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/proxy" "$tree/filters" "$tree/codec"
printf '#include "proxy/message.h"\n' >"$tree/codec/parser.cc"
printf '#include "proxy/filter.h"\n#include "absl/strings/str_cat.h"\n' >"$tree/filters/f.cc"
printf '#include "codec/text_codec.h"\n#include "event2/event.h"\n' >"$tree/proxy/conn.cc"
"$check" "$tree" >/dev/null || { echo "FAIL: a tree that follows the rule was refused"; exit 1; }

printf '#include "filters/ketama_router/router_filter.h"\n' >>"$tree/proxy/conn.cc"
printf '#include "proxy/server.h"\n' >>"$tree/codec/parser.cc"
if out="$("$check" "$tree")"; then
  echo "FAIL: includes across the rule passed:"; echo "$out"; exit 1
fi
for expected in 'proxy/conn.cc:3 includes "filters/ketama_router/router_filter.h"' \
                'codec/parser.cc:2 includes "proxy/server.h"' '2 include(s) across'; do
  grep -qF "$expected" <<<"$out" || { echo "FAIL: missing '$expected' in:"; echo "$out"; exit 1; }
done
echo "PASS"
