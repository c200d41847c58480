#!/usr/bin/env bash
# Builds annals and runs the demo on a store in ./demo-store.
# Usage (from a fresh clone): bash examples/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dev/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DANNALS_BUILD_TESTS=OFF -DANNALS_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build --target annals_demo annals
./build/examples/annals_demo ./demo-store
