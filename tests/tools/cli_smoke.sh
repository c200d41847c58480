#!/usr/bin/env bash
# Runs the demo, then the `annals` tool against the store it made, and checks
# the outputs and exit codes (tests/tools/tool_*_test.cc cover every
# subcommand). Args: paths to annals_demo, annals and the orders plugin.
set -euo pipefail
demo=$1
annals=$2
plugin=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$demo" "$dir/store")
grep -q "Stale append REJECTED (ABORTED)" <<<"$out" || fail "demo did not show the rejection"
grep -q "stream order-42: expected revision 1, actual 2" <<<"$out" || fail "demo conflict details"

grep -q "ShipOrder repeated with the same command id: recognised" <<<"$out" || fail "demo command idempotency"
grep -q "as of revision 1: open, 1 lines" <<<"$out" || fail "demo time travel"
grep -q "orders-per-customer  c-17 = 2" <<<"$out" || fail "demo projection query"
grep -q "revenue-per-day      day/.* = 3495 cents" <<<"$out" || fail "demo revenue projection"

# The tour of examples/demo.sh: each command succeeds on the demo's store.
export ANNALS_STORE="$dir/store" ANNALS_PLUGIN="$plugin"
"$annals" streams >/dev/null || fail "annals streams"
"$annals" replay order-77 | grep -q '~ /status: "OPEN" -> "SHIPPED"' || fail "annals replay with the plugin"
"$annals" state order-77 --at-revision 1 | grep -q '"total_cents": "2500"' || fail "annals state"
"$annals" bisect order-77 --until '/total_cents > 3000' | grep -q "order-77@2" || fail "annals bisect"
"$annals" audit --correlation checkout-77 | grep -q "order-77" || fail "annals audit"
"$annals" verify | grep -q "result *ok" || fail "annals verify"
echo "cli smoke: all checks passed"
