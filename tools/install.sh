#!/usr/bin/env bash
# Builds mcmesh, mcmesh_cp and mcmeshctl optimised (--config=release, what the benchmark measures)
# and installs them with systemd units for mcmesh and mcmesh_cp:
#   tools/install.sh [--prefix=/usr/local] [--sysconfdir=DIR] [--unitdir=DIR] [--destdir=DIR]
#                    [--bin_dir=DIR]
# puts  PREFIX/bin/{mcmesh,mcmesh_cp,mcmeshctl}
#       UNITDIR/{mcmesh,mcmesh_cp}.service        (default PREFIX/lib/systemd/system)
#       SYSCONFDIR/mcmesh/{mcmesh,mcmesh_cp}.env  (the arguments; default /etc for the prefixes
#                                                  /usr and /usr/local, else PREFIX/etc; an
#                                                  existing file is kept)
# --destdir stages everything under DIR (for packaging: paths inside the files stay without it).
# --bin_dir takes the binaries from a Bazel output tree (DIR/app/mcmesh, ...) instead of building.
# It never starts anything; it prints the systemctl commands. Uses sudo when PREFIX is not writable.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local sysconfdir= unitdir= destdir= bin_dir=
for arg in "$@"; do
  case "$arg" in
    --prefix=*) prefix=${arg#*=} ;;
    --sysconfdir=*) sysconfdir=${arg#*=} ;;
    --unitdir=*) unitdir=${arg#*=} ;;
    --destdir=*) destdir=${arg#*=} ;;
    --bin_dir=*) bin_dir=${arg#*=} ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
for dir in prefix sysconfdir unitdir; do
  case "${!dir}" in
    '' | /*) ;;
    *) echo "install.sh: --$dir must be an absolute path, got '${!dir}'" >&2; exit 2 ;;
  esac
done
prefix=${prefix%/}
[ -n "$prefix" ] || { echo "install.sh: --prefix must not be /" >&2; exit 2; }
if [ -z "$sysconfdir" ]; then
  case "$prefix" in /usr | /usr/local) sysconfdir=/etc ;; *) sysconfdir=$prefix/etc ;; esac
fi
unitdir=${unitdir:-$prefix/lib/systemd/system}
bindir=$prefix/bin

if [ -z "$bin_dir" ]; then
  source tools/deps.sh
  mcmesh_install_deps
  targets=(//app:mcmesh //control_plane:mcmesh_cp //control_plane:mcmeshctl)
  bazel build "${MCMESH_BAZEL_FLAGS[@]}" --config=release "${targets[@]}"
  bin_dir=$(bazel info "${MCMESH_BAZEL_FLAGS[@]}" --config=release bazel-bin)
fi
binaries=("$bin_dir/app/mcmesh" "$bin_dir/control_plane/mcmesh_cp"
          "$bin_dir/control_plane/mcmeshctl")

sudo=()
probe=$destdir$prefix
while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
if [ ! -w "$probe" ] && [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi

"${sudo[@]}" install -d "$destdir$bindir" "$destdir$unitdir" "$destdir$sysconfdir/mcmesh"
"${sudo[@]}" install -m 0755 "${binaries[@]}" "$destdir$bindir/"
for unit in mcmesh mcmesh_cp; do
  sed -e "s|@BINDIR@|$bindir|g" -e "s|@SYSCONFDIR@|$sysconfdir|g" \
    "tools/systemd/$unit.service.in" | "${sudo[@]}" tee "$destdir$unitdir/$unit.service" >/dev/null
  "${sudo[@]}" chmod 0644 "$destdir$unitdir/$unit.service"
  env_file=$destdir$sysconfdir/mcmesh/$unit.env
  if [ -e "$env_file" ]; then
    echo "install.sh: kept $env_file (the new default is tools/systemd/$unit.env)"
  else
    "${sudo[@]}" install -m 0644 "tools/systemd/$unit.env" "$env_file"
  fi
done

echo "install.sh: installed mcmesh, mcmesh_cp, mcmeshctl in $destdir$bindir"
echo "install.sh: units in $destdir$unitdir, arguments in $destdir$sysconfdir/mcmesh/*.env"
if [ -n "$destdir" ]; then
  echo "install.sh: staged under $destdir (the files name paths without it)"
  exit 0
fi
case "$unitdir" in
  /etc/systemd/system | /usr/lib/systemd/system | /lib/systemd/system | \
    /usr/local/lib/systemd/system)
    echo "next: systemctl daemon-reload && systemctl enable --now mcmesh_cp mcmesh" ;;
  *) echo "next: systemctl link $unitdir/mcmesh_cp.service $unitdir/mcmesh.service" \
       "&& systemctl enable --now mcmesh_cp mcmesh   ($unitdir is not on systemd's unit path)" ;;
esac
