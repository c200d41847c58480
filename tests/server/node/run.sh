#!/usr/bin/env bash
# Conformance suite of `annals serve` with the official Node clients
# (@eventstore/db-client 6.2.1, @kurrent/kurrentdb-client 1.3.1).
# ANNALS_BIN names the server binary (default: ../../../build-release/tools/annals).
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund
# One client per process (harness.mjs says why): the whole suite once per client.
status=0
for client in esdb kurrent; do
  echo "=== conformance with ANNALS_NODE_CLIENT=$client"
  ANNALS_NODE_CLIENT=$client node --test --test-reporter=spec --test-concurrency=2 *.test.mjs || status=1
done
exit $status
