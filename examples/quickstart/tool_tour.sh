#!/usr/bin/env bash
# README.md's tour of the `annals` tool, run by ctest (readme_tool_tour) on
# the demo's store, from a directory where ./build is the build tree: the
# region between the markers is README's block, byte for byte
# (tests/docs/readme_snippets_test.sh). Any command that fails fails it.
# Usage: tool_tour.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1 work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"
ln -s "$build" build
./build/examples/annals_demo ./demo-store >/dev/null

# [START readme-tour]
export ANNALS_STORE=./demo-store ANNALS_PLUGIN=./build/examples/orders/libannals_orders_plugin.so
./build/tools/annals streams                                     # every stream: size, last revision, state
./build/tools/annals replay order-77                             # each event with the state diff it caused
./build/tools/annals state order-77 --at-revision 1              # time travel (or --as-of -2h, 2026-12-01, RFC 3339)
./build/tools/annals audit --correlation checkout-77 --meta user=alice   # who did what when
./build/tools/annals export -o demo.jsonl && ./build/tools/annals verify
# [END readme-tour]
