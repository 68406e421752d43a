#!/bin/sh
# Regenerates the TCP-check TLS fixtures: two self-signed test certificates (keys are
# test-only), each served by a real `openssl s_server` on loopback and captured from
# the wire with `openssl s_client -showcerts`, saved as DER.
#   ec-30days.{der,pem,key}  P-256, CN=bergamot.test, SAN bergamot.test + 127.0.0.1, 30 days,
#                            not a CA (so it can be its own trust anchor in webpki)
#   rsa-2126.{der,pem,key}   RSA 2048, CN="Bergamot Prüfstand" (UTF8String), ~100 years
#                            (notAfter past 2049: GeneralizedTime)
set -eu
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj /CN=bergamot.test -addext subjectAltName=DNS:bergamot.test,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
  -keyout ec-30days.key -out ec-30days.gen.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -utf8 -subj "/CN=Bergamot Prüfstand" \
  -keyout rsa-2126.key -out rsa-2126.gen.pem 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for name in ec-30days rsa-2126; do
  openssl s_server -accept "127.0.0.1:$port" -cert "$name.gen.pem" -key "$name.key" -www -quiet &
  pid=$!
  sleep 1
  openssl s_client -connect "127.0.0.1:$port" -showcerts </dev/null 2>/dev/null \
    | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' > "$name.pem"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  openssl x509 -in "$name.pem" -outform DER -out "$name.der"
  rm -f "$name.gen.pem"
done
