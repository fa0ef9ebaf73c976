#!/usr/bin/env bash
# Installs the Debian packages mcmesh needs, only those missing (idempotent; safe to re-run).
# Sourced by tools/demo.sh and tools/test.sh.
set -euo pipefail

MCMESH_PACKAGES=(
  bazel-bootstrap pkg-config g++ libgrpc++-dev protobuf-compiler-grpc protobuf-compiler
  libprotobuf-dev libabsl-dev libevent-dev libgtest-dev libgmock-dev libbenchmark-dev
  memcached nutcracker libmemcached-tools libmemcached-dev
  clang libclang-rt-14-dev
  etcd-server etcd-client golang-etcd-server-dev golang-github-gogo-protobuf-dev openssl
  golang-github-gogo-googleapis-dev libssl-dev
)

mcmesh_install_deps() {
  local missing=()
  for p in "${MCMESH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "mcmesh: installing missing packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Bazel flags shared by every script: a disk cache under the user's cache dir keeps rebuilds fast.
MCMESH_BAZEL_FLAGS=(--disk_cache="${XDG_CACHE_HOME:-$HOME/.cache}/mcmesh-bazel-disk")
