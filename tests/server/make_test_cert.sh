#!/usr/bin/env bash
# A throwaway certificate authority and a server certificate it signed, for
# localhost and 127.0.0.1, in DIR: ca.pem (what clients trust), cert.pem and
# key.pem (what `annals serve --tls-cert --tls-key` takes). A separate leaf
# because rustls (the 1.x Node client's transport) refuses a CA certificate
# used as the server's own. Usage: make_test_cert.sh DIR
set -euo pipefail
dir=$1
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=annals-test-ca \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
  -extfile server.ext -out cert.pem 2>/dev/null
