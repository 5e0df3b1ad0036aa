#!/bin/sh
# A throwaway ACME CA for one test: Debian's pebble (2.4) and
# pebble-challtestsrv as its DNS, both on loopback only, on the ports given.
#   ACME directory: https://127.0.0.1:$ACME_PORT/dir   (its TLS certificate: $DIR/ca.pem)
#   management:     https://127.0.0.1:$MGMT_PORT/roots/0  (the issuing root, new at every start)
#   DNS:            pebble-challtestsrv on 127.0.0.1:$DNS_PORT answers every A query with 127.0.0.1
#   HTTP-01:        pebble's validator fetches http://<domain>:$HTTP01_PORT/.well-known/acme-challenge/<token>
#   TLS-ALPN-01:    pebble's validator connects to <domain>:$TLSALPN_PORT
# Certificates live $VALIDITY seconds (default 5 years, pebble's own default is
# not used). Validation has no random delay; no nonce is rejected on purpose.
# Usage: ACME_PORT=… MGMT_PORT=… DNS_PORT=… CHALLTESTSRV_PORT=… HTTP01_PORT=…
#        TLSALPN_PORT=… [VALIDITY=…] start-pebble.sh DIR
# Stop with: kill $(cat DIR/pebble.pid) $(cat DIR/challtestsrv.pid)
set -eu
DIR=${1:?usage: start-pebble.sh DIR}
: "${ACME_PORT:?}" "${MGMT_PORT:?}" "${DNS_PORT:?}" "${CHALLTESTSRV_PORT:?}" "${HTTP01_PORT:?}" "${TLSALPN_PORT:?}"
VALIDITY=${VALIDITY:-157766400}
rm -rf "$DIR"; mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
cd "$DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=pebble test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout key.pem -out req.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out cert.pem 2>/dev/null
cat > pebble-config.json <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:$ACME_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$DIR/cert.pem",
    "privateKey": "$DIR/key.pem",
    "httpPort": $HTTP01_PORT,
    "tlsPort": $TLSALPN_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "certificateValidityPeriod": $VALIDITY
} }
JSON
# Loopback only: challtestsrv listens on every interface unless told otherwise.
pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
  -management "127.0.0.1:$CHALLTESTSRV_PORT" -defaultIPv4 127.0.0.1 -defaultIPv6 "" > challtestsrv.log 2>&1 &
echo $! > challtestsrv.pid
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config pebble-config.json -dnsserver "127.0.0.1:$DNS_PORT" > pebble.log 2>&1 &
echo $! > pebble.pid
for i in $(seq 1 100); do
  curl -sf --cacert ca.pem "https://127.0.0.1:$ACME_PORT/dir" >/dev/null && exit 0
  sleep 0.1
done
echo "pebble did not answer on 127.0.0.1:$ACME_PORT" >&2
cat pebble.log challtestsrv.log >&2
exit 1
