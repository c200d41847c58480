#!/usr/bin/env bash
# Throughput of `annals serve` through the official Node clients (bench.mjs
# says what each case measures and how to read the table it prints).
#
#   bash bench/server_node/run.sh [PATH_TO_ANNALS] [--client esdb|kurrent]
#
# PATH_TO_ANNALS defaults to build-release/tools/annals of this tree. Quick
# run: BENCH_EVENTS=20000 BENCH_SECONDS=2 BENCH_REPETITIONS=1 bash run.sh
# (also BENCH_DURABLE_EVENTS). Installs the pinned clients on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:-$here/../../build-release/tools/annals}")"
shift || true
cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund
exec node bench.mjs "$bin" "$@"
