#!/usr/bin/env bash
# idle_clients refuses flags it cannot honour with a JSON error line and exit code 2, before it
# opens any connection (so no server is needed here).
set -u
bin="$1"
status=0
expect_refused() {
  local want="$1"
  shift
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 2 ] || [[ "$out" != *"\"event\":\"error\""*"$want"* ]]; then
    echo "FAIL: idle_clients $*: rc=$rc output=$out (want exit 2 and '$want')"
    status=1
  else
    echo "ok: idle_clients $* -> $out"
  fi
}
expect_refused "--connections must be at least 1" --connections 0
expect_refused "--port must be 1..65535" --port 70000
expect_refused "--host must be an IPv4 address" --host not-an-address
expect_refused "--large_value_bytes must not be negative" --large_value_bytes -5
expect_refused "--get_keys must be at least 1" --large_value_bytes 10 --get_keys 0
expect_refused "--get_keys needs --large_value_bytes" --get_keys 3
exit "$status"
