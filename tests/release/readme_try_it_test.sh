#!/usr/bin/env bash
# Runs README's "try it" lines (the first code block between the try-it markers) exactly as written
# against tools/demo.sh, which runs the mcmesh under test ($1) on free ports instead of 12000 and
# 11221-11223, and compares what they print with README's second block.
set -euo pipefail
source tests/release/lib.sh
MCMESH_BIN=$(realpath "$1")
export MCMESH_BIN

# <n>: the n-th fenced block between the try-it markers of README.md.
readme_block() {
  awk -v want="$1" '
    /<!-- try-it:begin -->/ { on = 1; next }
    /<!-- try-it:end -->/ { on = 0 }
    on && /^```/ { inside = !inside; if (inside) n++; next }
    on && inside && n == want { print }
  ' README.md
}
commands=$(readme_block 1)
expected=$(readme_block 2)
if [ -z "$commands" ] || [ -z "$expected" ]; then
  echo "FAIL: no try-it blocks between <!-- try-it:begin --> and <!-- try-it:end --> in README.md"
  exit 1
fi
if grep -qE '\b(telnet|nc)\b' <<<"$commands"; then
  echo "FAIL: README's try-it lines need telnet or nc, which a fresh Debian does not have"
  exit 1
fi

export MCMESH_PORT MCMESH_P1 MCMESH_P2 MCMESH_B
MCMESH_PORT=$(free_port); MCMESH_P1=$(free_port); MCMESH_P2=$(free_port); MCMESH_B=$(free_port)
log="${TEST_TMPDIR:-/tmp}/demo.log"
# Bazel's test environment has no HOME; tools/deps.sh reads it.
export HOME="${HOME:-${TEST_TMPDIR:-/tmp}}"
tools/demo.sh >"$log" 2>&1 &
demo=$!
stop_demo() { kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; }
trap stop_demo EXIT
for port in "$MCMESH_P1" "$MCMESH_P2" "$MCMESH_B" "$MCMESH_PORT"; do
  if ! wait_port "$port" 30 "$demo"; then
    echo "FAIL: tools/demo.sh did not listen on $port"
    cat "$log"
    exit 1
  fi
done

# The documented ports are the demo's defaults; this run's ports are mapped back for comparison.
ports_to_run() {
  sed -e "s/127\.0\.0\.1:12000\b/127.0.0.1:$MCMESH_PORT/g"
}
ports_to_doc() {
  sed -e "s/127\.0\.0\.1:$MCMESH_P1\b/127.0.0.1:11221/g" \
    -e "s/127\.0\.0\.1:$MCMESH_P2\b/127.0.0.1:11222/g" \
    -e "s/127\.0\.0\.1:$MCMESH_B\b/127.0.0.1:11223/g"
}
# Ketama places keys by server address, so on other ports key1 may land on the other primary: the
# primaries' counters are compared as a set (each line keeps its name and address).
canonical() {
  # The resolved address belongs to the line's server, not to its counters: it stays in the head.
  awk '/^STAT primary_/ { t = $0; sub(/ resolved=[^ ]*/, "", t); tails[++n] = t
                          r = $0; sub(/.* resolved=/, "", r); sub(/ .*/, "", r)
                          sub(/ weight=.*/, ""); print $0 " resolved=" r; next } { print }
       END { for (i = 1; i <= n; i++) {
               t = tails[i]; sub(/.* weight=/, "weight=", t); print t | "sort" } }'
}
echo "running README's try-it lines (port 12000 -> $MCMESH_PORT):"
echo "$commands"
actual=$(bash -euo pipefail -c "$(ports_to_run <<<"$commands")" 2>&1 | ports_to_doc)
if [ "$(canonical <<<"$actual")" != "$(canonical <<<"$expected")" ]; then
  echo "FAIL: README's try-it output differs (- README, + this run):"
  diff -u <(echo "$expected") <(echo "$actual") || true
  echo "--- tools/demo.sh log:"
  cat "$log"
  exit 1
fi
echo "$actual"
# README's other way to use tools/mc: lines on stdin (typed, or piped as here).
piped=$(printf 'get key1\n' | tools/mc "127.0.0.1:$MCMESH_PORT")
if [ "$piped" != $'VALUE key1 0 1\n1\nEND' ]; then
  echo "FAIL: tools/mc with stdin printed: $piped"
  exit 1
fi
stop_demo
trap - EXIT
echo "PASS"
