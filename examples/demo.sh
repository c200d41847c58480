#!/usr/bin/env bash
# Builds annals and runs the demo on a store in ./demo-store, then tours the
# store with the `annals` tool and the example domain's plugin.
# Usage (from a fresh clone): bash examples/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dev/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DANNALS_BUILD_TESTS=OFF -DANNALS_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build --target annals_demo annals annals_orders_plugin
./build/examples/annals_demo ./demo-store

# The tool, read-only, with the domain plugin (docs/CLI.md).
export ANNALS_STORE=./demo-store ANNALS_PLUGIN=./build/examples/orders/libannals_orders_plugin.so
tour() { echo; echo "\$ annals $*"; ./build/tools/annals "$@"; }
tour streams
tour replay order-77
tour state order-77 --at-revision 1
tour bisect order-77 --until '/total_cents > 3000'
tour audit --correlation checkout-77
tour verify
