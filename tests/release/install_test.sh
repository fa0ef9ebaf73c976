#!/usr/bin/env bash
# tools/install.sh into a temporary prefix, with the binaries under test ($1 mcmesh, $2 mcmesh_cp,
# $3 mcmeshctl): every file lands where README says; `systemd-analyze verify` accepts both units
# (it also checks that ExecStart's binary exists: the units point into the prefix); stop = drain
# (KillSignal=SIGTERM, TimeoutStopSec above the drain deadline); the installed mcmesh survives the
# unit's ExecReload (SIGHUP) and drains to exit 0 on SIGTERM; the installed mcmesh_cp and mcmeshctl
# work together and mcmesh_cp exits 0 on SIGTERM.
set -euo pipefail
source tests/release/lib.sh
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/install.XXXXXX")
fail() { echo "FAIL: $*"; exit 1; }

bazel_bin=$tmp/bazel-bin
mkdir -p "$bazel_bin/app" "$bazel_bin/control_plane"
ln -s "$(realpath "$1")" "$bazel_bin/app/mcmesh"
ln -s "$(realpath "$2")" "$bazel_bin/control_plane/mcmesh_cp"
ln -s "$(realpath "$3")" "$bazel_bin/control_plane/mcmeshctl"
prefix=$tmp/prefix
tools/install.sh --prefix="$prefix" --bin_dir="$bazel_bin"
for f in bin/mcmesh bin/mcmesh_cp bin/mcmeshctl; do
  [ -x "$prefix/$f" ] && [ ! -L "$prefix/$f" ] || fail "$prefix/$f is not an installed executable"
done
units=$prefix/lib/systemd/system
for f in "$units/mcmesh.service" "$units/mcmesh_cp.service" "$prefix/etc/mcmesh/mcmesh.env" \
  "$prefix/etc/mcmesh/mcmesh_cp.env"; do
  [ -f "$f" ] || fail "missing $f"
done
if grep -n '@[A-Z]*@' "$units"/*.service; then fail "unreplaced placeholders"; fi

# A second install keeps the operator's argument files.
echo "MCMESH_ARGS=-p 1 -s 127.0.0.1:2" >"$prefix/etc/mcmesh/mcmesh.env"
out=$(tools/install.sh --prefix="$prefix" --bin_dir="$bazel_bin")
grep -q "kept $prefix/etc/mcmesh/mcmesh.env" <<<"$out" || fail "no 'kept' line in: $out"
grep -q 'MCMESH_ARGS=-p 1 ' "$prefix/etc/mcmesh/mcmesh.env" || fail "reinstall replaced mcmesh.env"

# systemd's own checks: unknown keys, bad values, ExecStart binaries that do not exist. Any output
# is a finding.
out=$(cd "$units" && /usr/bin/systemd-analyze verify mcmesh.service mcmesh_cp.service 2>&1) ||
  fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
# ...and it does catch a unit whose binary is missing (so the check above means something).
sed "s|$prefix/bin/mcmesh |$prefix/bin/nosuch |" "$units/mcmesh.service" >"$tmp/broken.service"
if /usr/bin/systemd-analyze verify "$tmp/broken.service" >/dev/null 2>&1; then
  fail "systemd-analyze verify accepted a unit whose ExecStart does not exist"
fi
/usr/bin/systemd-analyze security --offline=true "$units/mcmesh.service" 2>&1 | tail -1 || true

# Stop = drain: SIGTERM, and systemd waits longer than mcmesh's drain deadline (--drain_timeout_s,
# default 5 s, plus at most 4 x --timeout_ms after it) before SIGKILL.
unit_value() { sed -n "s/^$2=//p" "$units/$1.service"; }
[ "$(unit_value mcmesh KillSignal)" = SIGTERM ] || fail "mcmesh.service: KillSignal is not SIGTERM"
drain_s=$("$prefix/bin/mcmesh" --help 2>&1 |
  sed -n 's/.*--drain_timeout_s.*default \([0-9]*\).*/\1/p')
[ -n "$drain_s" ] || fail "mcmesh --help does not show the --drain_timeout_s default"
stop_s=$(unit_value mcmesh TimeoutStopSec)
[ "$stop_s" -ge $((drain_s + 5)) ] ||
  fail "TimeoutStopSec=$stop_s is not above the ${drain_s}s drain"
reload=$(unit_value mcmesh ExecReload)
[ "$reload" = '/bin/kill -HUP $MAINPID' ] || fail "mcmesh.service: unexpected ExecReload '$reload'"
[ -z "$(unit_value mcmesh_cp ExecReload)" ] || fail "mcmesh_cp.service: SIGHUP would end mcmesh_cp"
grep -q '^Restart=on-failure$' "$units/mcmesh.service" ||
  fail "mcmesh.service: no Restart=on-failure"

# The installed mcmesh, as the unit starts it (-D, foreground): reload, then stop with a client
# connected.
mc_port=$(free_port)
proxy_port=$(free_port)
user=()
[ "$(id -u)" -eq 0 ] && user=(-u root)
memcached "${user[@]}" -l 127.0.0.1 -p "$mc_port" -U 0 -m 16 &
mc_pid=$!
"$prefix/bin/mcmesh" -D -l 127.0.0.1 -p "$proxy_port" -s "127.0.0.1:$mc_port" \
  >"$tmp/mcmesh.log" 2>&1 &
proxy_pid=$!
cleanup() {
  kill "$proxy_pid" "$mc_pid" "${cp_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_port "$mc_port" && wait_port "$proxy_port" 20 "$proxy_pid" ||
  fail "mcmesh did not start: $(cat "$tmp/mcmesh.log")"
kill -HUP "$proxy_pid"  # what ExecReload sends
sleep 0.2
[ "$(tools/mc "127.0.0.1:$proxy_port" 'set k 0 0 2' hi)" = STORED ] || fail "no answer after SIGHUP"
exec 4<>"/dev/tcp/127.0.0.1/$proxy_port"  # an idle pooled client must not hold the drain
start=$SECONDS
kill -TERM "$proxy_pid"  # what systemctl stop sends
rc=0
wait "$proxy_pid" || rc=$?
exec 4>&-
[ "$rc" -eq 0 ] || fail "mcmesh exited $rc on SIGTERM: $(cat "$tmp/mcmesh.log")"
[ $((SECONDS - start)) -lt "$stop_s" ] || fail "the drain outlasted TimeoutStopSec"
grep -q 'SIGHUP): ignored' "$tmp/mcmesh.log" || fail "SIGHUP not logged: $(cat "$tmp/mcmesh.log")"
grep -q 'draining' "$tmp/mcmesh.log" || fail "SIGTERM did not drain: $(cat "$tmp/mcmesh.log")"
echo "mcmesh: SIGHUP ignored, SIGTERM drained and exited 0 in $((SECONDS - start)) s"

# The installed control plane and CLI.
"$prefix/bin/mcmesh_cp" --listen=127.0.0.1:0 --port_file="$tmp/cp.port" \
  --store_path="$tmp/topology.pb" >"$tmp/cp.log" 2>&1 &
cp_pid=$!
for _ in $(seq 200); do [ -s "$tmp/cp.port" ] && break; sleep 0.05; done
[ -s "$tmp/cp.port" ] || fail "mcmesh_cp did not start: $(cat "$tmp/cp.log")"
"$prefix/bin/mcmeshctl" --control_plane="127.0.0.1:$(cat "$tmp/cp.port")" \
  create-cluster default "127.0.0.1:$mc_port" ||
  fail "installed mcmeshctl could not create a cluster"
kill -TERM "$cp_pid"
rc=0
wait "$cp_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "mcmesh_cp exited $rc on SIGTERM: $(cat "$tmp/cp.log")"
echo "PASS"
