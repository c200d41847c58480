#!/usr/bin/env bash
# Runs the demo, then the `annals` tool against the store it made, and checks
# the outputs and exit codes. Args: path to annals_demo, path to annals.
set -euo pipefail
demo=$1
annals=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$demo" "$dir/store")
grep -q "Stale append REJECTED (ABORTED)" <<<"$out" || fail "demo did not show the rejection"
grep -q "stream order-42: expected revision 1, actual 2" <<<"$out" || fail "demo conflict details"

read_out=$("$annals" read "$dir/store" order-42)
[ "$(wc -l <<<"$read_out")" -eq 4 ] || fail "expected header + 3 events, got: $read_out"
awk -F'\t' 'NR==2 && ($1 != "1" || $2 != "order-42" || $3 != "0" || $5 != "OrderPlaced") {exit 1}' \
  <<<"$read_out" || fail "first row of order-42: $read_out"

grep -q "ShipOrder repeated with the same command id: recognised" <<<"$out" || fail "demo command idempotency"
grep -q "as of revision 1: open, 1 lines" <<<"$out" || fail "demo time travel"
grep -q "orders-per-customer  c-17 = 2" <<<"$out" || fail "demo projection query"
grep -q "revenue-per-day      day/.* = 3495 cents" <<<"$out" || fail "demo revenue projection"

"$annals" read "$dir/store" order-77 | awk -F'\t' 'NR==2 && $7 !~ /^base64:/ {exit 1}' ||
  fail "binary payloads must print as base64"

head=$("$annals" info "$dir/store" | awk -F'\t' '$1 == "head_position" {print $2}')
[ "$head" -gt 4 ] || fail "info head: $head"
all_out=$("$annals" read "$dir/store" --backward --limit 2)
[ "$(cut -f1 <<<"$all_out" | tr '\n' ' ')" = "position $head $((head - 1)) " ] || fail "backward \$all: $all_out"

"$annals" verify "$dir/store" | grep -q $'^result\tok$' || fail "verify of the demo store"

streams_out=$("$annals" streams "$dir/store" --prefix order-)
[ "$(cut -f1 <<<"$streams_out" | tr '\n' ' ')" = "stream order-42 order-43 order-77 order-78 " ] ||
  fail "streams: $streams_out"
awk -F'\t' '$1 == "order-77" && ($2 != "3" || $5 != "active") {exit 1}' <<<"$streams_out" ||
  fail "streams row of order-77: $streams_out"

audit_out=$("$annals" audit "$dir/store" --correlation checkout-77)
[ "$(wc -l <<<"$audit_out")" -eq 2 ] || fail "audit by correlation: $audit_out"
awk -F'\t' 'NR==2 && ($3 != "order-77" || $5 != "OrderPlaced" || $6 != "alice" || $8 != "cmd-place-77") {exit 1}' \
  <<<"$audit_out" || fail "audit row: $audit_out"
[ "$("$annals" audit "$dir/store" --stream order-42 --meta user=alice | wc -l)" -eq 4 ] ||
  fail "audit by stream and metadata"
[ "$("$annals" audit "$dir/store" --since 2099-01-01T00:00:00Z | wc -l)" -eq 1 ] ||
  fail "audit since a future time must list nothing"

set +e
"$annals" read "$dir/store" order-404 2>/dev/null; [ $? -eq 1 ] || fail "unknown stream must exit 1"
"$annals" read "$dir/store" --limit 2>/dev/null; [ $? -eq 2 ] || fail "bad flag must exit 2"
"$annals" frobnicate 2>/dev/null; [ $? -eq 2 ] || fail "unknown subcommand must exit 2"
"$annals" verify 2>/dev/null; [ $? -eq 2 ] || fail "verify without a store must exit 2"
"$annals" audit "$dir/store" --since yesterday 2>/dev/null; [ $? -eq 2 ] || fail "bad time must exit 2"
"$annals" audit "$dir/store" --meta novalue 2>/dev/null; [ $? -eq 2 ] || fail "bad --meta must exit 2"
"$annals" streams "$dir/store" --limit x 2>/dev/null; [ $? -eq 2 ] || fail "bad --limit must exit 2"
"$annals" read "$dir/missing" 2>/dev/null; [ $? -eq 1 ] || fail "missing store must exit 1"
echo "cli smoke: all checks passed"
