#!/usr/bin/env bash
# `annals serve` refuses bad arguments with the tool's exit codes and a
# message, before it opens or creates the store: nothing is written.
# Usage: serve_cli_test.sh ANNALS_BIN
set -euo pipefail
annals=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "serve_cli_test: $*" >&2; exit 1; }
expect() {  # expect EXIT_CODE MESSAGE_PART ARGS...: the store stays unwritten
  local code=$1 part=$2; shift 2
  local rc=0 err
  err=$("$annals" --store "$work/store" serve --port 0 "$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = "$code" ] || fail "serve $*: exit $rc, expected $code ($err)"
  [[ $err == *"$part"* ]] || fail "serve $*: '$err' does not say '$part'"
  [ ! -e "$work/store" ] || fail "serve $*: the store was created"
}
echo "not a certificate" >"$work/not.pem"
expect 3 "cannot read the TLS certificate" --tls-cert "$work/missing.pem" --tls-key "$work/not.pem"
expect 2 "is not a PEM file" --tls-cert "$work/not.pem" --tls-key "$work/not.pem"
expect 2 "needs both a certificate and its private key" --tls-cert "$work/not.pem"
expect 2 "--port" --port 70000
expect 2 "--workers" --workers 0
rc=0
"$annals" serve --port 0 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "serve without --store: exit $rc, expected 2"
echo "serve_cli_test: ok"
