#!/usr/bin/env bash
# Installs the Debian packages annals builds with, if any are missing.
# Sourced by examples/demo.sh and tests/run.sh; safe to run again.
set -euo pipefail

ANNALS_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  librocksdb-dev libprotobuf-dev protobuf-compiler libabsl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  clang-format clang-tidy help2man
  # The server (server/, annals serve): gRPC.
  libgrpc++-dev protobuf-compiler-grpc openssl
  # GET /metrics of annals serve (server/metrics.cc): cpp-httplib.
  libcpp-httplib-dev
  # The relay to NATS JetStream (relay/): the C client, and the server its
  # tests start.
  libnats-dev nats-server
)
# The server's conformance tests run the official Node.js clients: Debian's
# nodejs and npm unless a Node.js is already installed.
command -v node >/dev/null 2>&1 || ANNALS_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || ANNALS_PACKAGES+=(npm)

annals_install_deps() {
  local missing=()
  for package in "${ANNALS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "annals: installing missing packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

annals_install_deps
