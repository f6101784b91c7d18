#!/usr/bin/env bash
# Interop test: grpcio stubs generated from proto/ call every service of a live `waybill serve`
# over standard gRPC (clients/python/interop_test.py). Needs Debian's python3-grpcio,
# python3-protobuf and protobuf-compiler-grpc (scripts/install-deps.sh installs them).
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

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
grpc_port=$(free_port)
say "starting $bin serve (frames 127.0.0.1:$port, gRPC 127.0.0.1:$grpc_port)"
"$bin" serve --db "$TMP/db.sqlite" --listen "127.0.0.1:$port" --admin-listen off --grpc-listen "127.0.0.1:$grpc_port" \
    --log-level info >"$TMP/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$TMP/server.log" >&2; server_pid=""; die "the server exited"; }
    grep -q "gRPC listening" "$TMP/server.log" && break
    sleep 0.1
done
grep -q "gRPC listening" "$TMP/server.log" || { cat "$TMP/server.log" >&2; die "the gRPC listener did not start"; }

say "running the interop checks"
if PYTHONPATH="$TMP/stubs" timeout 120 "$python" "$here/interop_test.py" "127.0.0.1:$grpc_port" "$root/examples"; then
    status=0
else
    cat "$TMP/server.log" >&2
    die "checks failed"
fi
