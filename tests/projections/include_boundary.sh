#!/usr/bin/env bash
# projections/ reaches the store only through the engine's public headers and
# its read-side extension (annals/read_side.h): no engine internals, no
# RocksDB. Fails listing every include that crosses that line.
set -euo pipefail
dir="${1:?usage: include_boundary.sh PROJECTIONS_DIR}"
pattern='^\s*#\s*include\s*[<"]((.*/)?(internal_access|storage|writer|key_codec|status_util|store_extension|event_store_impl)\.h|rocksdb/)'
if grep -rnE "$pattern" "$dir" --include='*.h' --include='*.cc'; then
  echo "projections/ includes engine internals or RocksDB (above); use annals/read_side.h" >&2
  exit 1
fi
echo "projections/: no engine internals, no RocksDB"
