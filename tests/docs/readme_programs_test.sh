#!/usr/bin/env bash
# README.md's three programs (examples/quickstart/), run in README's order
# in a fresh directory, then all again on the same store: each must succeed
# both times (a reader runs them more than once) and say what README says.
# Usage: readme_programs_test.sh FIRST_PROGRAM WRITE_SIDE READ_SIDE WORK_DIR
set -euo pipefail
first=$1 write=$2 read=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "readme_programs: $*" >&2; exit 1; }
expect() {  # $1: output, $2: what it must contain
  grep -qF -- "$2" <<<"$1" || fail "expected '$2' in:"$'\n'"$1"
}
for run in first second; do
  out=$("$first") || fail "first_program failed on the $run run"
  expect "$out" 'order-42@0 (position 1): OrderPlaced {"customer":"c-17"}'
  [ $run = first ] || expect "$out" "order-42 exists already"
  out=$("$write") || fail "write_side failed on the $run run"
  expect "$out" 'order-43 at revision 1: '
  expect "$out" 'at revision 0: '
  [ $run = first ] || expect "$out" "(repeated)"
  out=$("$read") || fail "read_side failed on the $run run"
  expect "$out" 'order-44: {"customer":"c-18"}'
done
echo "readme_programs: the three programs ran twice"
