#!/usr/bin/env bash
# Interop test: grpcio stubs generated from proto/ call every service of a live `waybill serve`
# over standard gRPC with TLS (clients/python/interop_test.py), as credentials of the roles each
# call needs (admin, web and marketplace channels, erp, declared in a --credentials-file), and check
# what the server refuses (no token, an unknown one, a role, another channel's order, another CA,
# plaintext). Needs Debian's python3-grpcio, python3-protobuf, protobuf-compiler-grpc and openssl
# (scripts/install-deps.sh installs them).
# Environment: WAYBILL_BIN  the waybill binary (default .build/debug/waybill, built if missing)
# Exit status 0 when every check passed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { printf '==> %s\n' "$*"; }
die() { printf 'python interop: %s\n' "$*" >&2; exit 1; }

# Debian's grpcio lives in the system interpreter's dist-packages.
python=/usr/bin/python3
"$python" -c 'import grpc, google.protobuf' 2>/dev/null || die "python3-grpcio / python3-protobuf missing (scripts/install-deps.sh)"
plugin=$(command -v grpc_python_plugin) || die "grpc_python_plugin missing (protobuf-compiler-grpc)"

bin=${WAYBILL_BIN:-$root/.build/debug/waybill}
if [ ! -x "$bin" ]; then
    (cd "$root" && swift build) || die "swift build failed"
fi

TMP=$(mktemp -d)
server_pid=""
status=1
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$status" -eq 0 ]; then rm -rf "$TMP"; else echo "python interop: files kept in $TMP" >&2; fi
}
trap cleanup EXIT

say "generating Python stubs from proto/"
mkdir -p "$TMP/stubs"
protoc -I "$root/proto" --python_out="$TMP/stubs" --grpc_out="$TMP/stubs" --plugin=protoc-gen-grpc="$plugin" \
    "$root"/proto/waybill/v1/*.proto

say "certificates (openssl) and credentials"
sh "$root/clients/c/test/make-certs.sh" "$TMP/certs" || die "could not make certificates (is openssl installed?)"
token() { printf 'wbt_%s' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; }
admin=$(token) web=$(token) marketplace=$(token) erp=$(token)
umask 077
cat >"$TMP/credentials.json" <<EOF
[{"name": "py-admin", "role": "admin", "token": "$admin"},
 {"name": "py-web", "role": "channel", "channels": ["web"], "token": "$web"},
 {"name": "py-marketplace", "role": "channel", "channels": ["marketplace"], "token": "$marketplace"},
 {"name": "py-erp", "role": "erp", "token": "$erp"}]
EOF
printf '{"admin": "%s", "web": "%s", "marketplace": "%s", "erp": "%s"}\n' "$admin" "$web" "$marketplace" "$erp" \
    >"$TMP/tokens.json"
umask 022

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
grpc_port=$(free_port)
say "starting $bin serve (TLS; frames 127.0.0.1:$port, gRPC 127.0.0.1:$grpc_port)"
"$bin" serve --db "$TMP/db.sqlite" --listen "127.0.0.1:$port" --admin-listen off --grpc-listen "127.0.0.1:$grpc_port" \
    --tls-cert "$TMP/certs/server.pem" --tls-key "$TMP/certs/server.key" --credentials-file "$TMP/credentials.json" \
    --log-level info >"$TMP/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$TMP/server.log" >&2; server_pid=""; die "the server exited"; }
    grep -q "gRPC listening" "$TMP/server.log" && break
    sleep 0.1
done
grep -q "gRPC listening" "$TMP/server.log" || { cat "$TMP/server.log" >&2; die "the gRPC listener did not start"; }

say "running the interop checks"
if PYTHONPATH="$TMP/stubs" timeout 120 "$python" "$here/interop_test.py" "127.0.0.1:$grpc_port" "$root/examples" \
    --ca "$TMP/certs/ca.pem" --wrong-ca "$TMP/certs/other-ca.pem" --tokens "$TMP/tokens.json" >"$TMP/checks.out" 2>&1; then
    cat "$TMP/checks.out"
    status=0
    for secret in "$admin" "$web" "$marketplace" "$erp"; do
        if grep -qF "$secret" "$TMP/server.log" "$TMP/checks.out"; then
            echo "FAIL a token appears in the server's log or the checks' output" >&2
            status=1
        fi
    done
    [ "$status" -eq 0 ] || die "a token leaked"
else
    cat "$TMP/checks.out" "$TMP/server.log" >&2
    die "checks failed"
fi
