#!/usr/bin/env bash
# Regenerates the fuzz targets' seed corpus (tests/fuzz/corpus/, committed)
# from a regular build: stored values and export lines made by the engine
# (fuzz_seed_writer), the export of the example store (annals_demo, then
# `annals export`), descriptor sets made by protoc, and hand-written option
# values. Inputs found while fuzzing do not go here: a crash goes to
# tests/fuzz/regressions/<target>/ (docs/ARCHITECTURE.md, Tests).
# Usage: bash tests/fuzz/make_corpus.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
corpus=tests/fuzz/corpus
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

rm -rf "$corpus"
mkdir -p "$corpus"/{stored_event,stream_record,export_line,cli_parsers,descriptor_set}

"$build/tests/fuzz/fuzz_seed_writer" "$scratch/seed-store" "$corpus"

# The example store, exported: one seed per line.
"$build/examples/annals_demo" "$scratch/demo-store" >/dev/null
"$build/tools/annals" --store "$scratch/demo-store" export -o "$scratch/demo.jsonl"
split -l 1 -d -a 3 "$scratch/demo.jsonl" "$corpus/export_line/demo-"

# Descriptor sets as `annals schema add` takes them.
protoc --include_imports -I examples/orders --descriptor_set_out="$corpus/descriptor_set/orders" \
  examples/orders/orders.proto
protoc --include_imports -I proto --descriptor_set_out="$corpus/descriptor_set/storage" \
  proto/annals/storage/v1/*.proto
protoc --include_imports -I tests/fuzz/seed_protos --descriptor_set_out="$corpus/descriptor_set/shapes" \
  tests/fuzz/seed_protos/shapes.proto
protoc --include_imports -I tests/fuzz/seed_protos --descriptor_set_out="$corpus/descriptor_set/wellknown" \
  tests/fuzz/seed_protos/wellknown.proto

# Option values: times, points, predicates, numbers.
n=0
while IFS= read -r value; do
  n=$((n + 1))
  printf '%s' "$value" >"$corpus/cli_parsers/$(printf 'value-%02d' "$n")"
done <<'VALUES'
2026-11-23T10:00:00Z
2026-11-23T10:00:00.123456Z
2026-11-23T11:30:00+01:30
1969-12-31T23:59:59.999999Z
9999-12-31T23:59:59.999999999-00:00
12
@120
0
18446744073709551615
-1
3.5
1e9
/total_cents > 3000
/status == "SHIPPED"
/status != SHIPPED
/lines/0/qty <= 2
/big >= 9007199254740993
/a~1b/~0 < 1e308
/paid
/note == null
/ == 42
VALUES
find "$corpus" -type f | wc -l
du -sh "$corpus"
