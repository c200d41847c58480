#!/usr/bin/env bash
# README.md's "Serve it", run by ctest (readme_serve) from a directory where
# ./build is the build tree and ./examples/serve a copy of this folder: the
# region between the markers is README's block, byte for byte
# (tests/docs/readme_snippets_test.sh). The server gets a free loopback port
# (PORT) and is stopped by its pid; the client must print both events.
# Usage: serve_tour.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
source_dir=$1 build=$2 work=$3
rm -rf "$work" && mkdir -p "$work/examples" && cd "$work"
ln -s "$build" build
cp -R "$source_dir/examples/serve" examples/serve
rm -rf examples/serve/node_modules
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export KURRENTDB_URL="kurrentdb://127.0.0.1:$PORT?tls=false"
trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true' EXIT
exec 3>&1 >"$work/out.log"  # what the block prints, checked below

# [START readme-serve]
./build/tools/annals --store ./orders-store serve --port "${PORT:-2113}" &   # listening on 127.0.0.1:2113
server=$!
(cd examples/serve && npm ci --silent && node first_client.mjs)            # append, then subscribe
# [END readme-serve]

exec 1>&3
cat "$work/out.log"
grep -q '^listening on 127.0.0.1:' "$work/out.log"
grep -q '^appended: order-77 is at revision 1$' "$work/out.log"
grep -q '^0: OrderPlaced {"customer":"ada","total":42}$' "$work/out.log"
grep -q '^1: ItemAdded {"sku":"tea","quantity":2}$' "$work/out.log"
kill -TERM "$server"
wait "$server"  # exits 0 once it has closed the store
server=
