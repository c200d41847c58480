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
expect 2 "--metrics-port" --metrics-port 70000
rc=0
"$annals" serve --port 0 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "serve without --store: exit $rc, expected 2"

# --metrics-port 0: "metrics on HOST:PORT" after the listening line, and
# GET /metrics answers Prometheus text there (bash's /dev/tcp, no curl).
"$annals" --store "$work/served" serve --port 0 --metrics-port 0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '^metrics on ' "$work/out" && break; sleep 0.1; done
grep -q '^listening on ' "$work/out" || { kill "$pid"; fail "no listening line: $(cat "$work/err")"; }
port=$(sed -n 's/^metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/out")
[ -n "$port" ] || { kill "$pid"; fail "no 'metrics on' line: $(cat "$work/out")"; }
[ "$(sed -n 2p "$work/out")" = "metrics on 127.0.0.1:$port" ] || { kill "$pid"; fail "order: $(cat "$work/out")"; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
body=$(timeout 10 cat <&3 || true)
exec 3>&-
kill "$pid"
wait "$pid" || true
[[ $body == *"# TYPE annals_server_append_calls_total counter"* ]] || fail "GET /metrics: $body"
[[ $body == *"annals_store_head_position 1"* ]] || fail "GET /metrics has no head: $body"
echo "serve_cli_test: ok"
