#!/bin/sh
# make-certs.sh DIR - throwaway certificates for the C client's TLS tests (P-256 keys, openssl CLI).
#   ca.pem                 the test CA
#   server.pem/.key        signed by it; subjectAltName localhost, 127.0.0.1, ::1
#   expired.pem/.key       signed by it, same names, notAfter a day before notBefore (expired)
#   client.pem/.key        signed by it, CN=test-client, for mutual TLS
#   other-ca.pem           an unrelated CA (the "wrong CA")
#   other-client.pem/.key  signed by the unrelated CA, CN=intruder
# Keys are written mode 0600. Idempotent: does nothing when DIR/.done exists.
set -eu
dir=$1
[ -f "$dir/.done" ] && exit 0
mkdir -p "$dir"
cd "$dir"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # NAME CN
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3650 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # NAME CA CN DAYS EXTENSIONS
    key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3"
    printf '%s\n' "$5" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days "$4" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
server_ext='subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth'
ca ca "Waybill C client test CA"
ca other-ca "Unrelated test CA"
leaf server ca localhost 3650 "$server_ext"
leaf expired ca localhost -1 "$server_ext"
leaf client ca test-client 3650 'extendedKeyUsage=clientAuth'
leaf other-client other-ca intruder 3650 'extendedKeyUsage=clientAuth'
chmod 644 ./*.pem
touch .done
