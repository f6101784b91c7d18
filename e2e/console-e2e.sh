#!/usr/bin/env bash
# The operator console in a real browser: starts `waybill serve` on a temporary database with
# credentials of four roles (admin, web and store POS channels, the STORE-NYC store) and an ERP
# bridge (`waybill erp-bridge` delivering to erp_webhook.py, a stand-in ERP that refuses the
# marketplace order's first event once, so it is a dead letter to replay), loads the example
# network and orders through the CLI, and runs console_e2e.py (Debian's chromium through
# chromium-driver and python3-selenium; no browser download). Screenshots of every page visited
# are kept in $WAYBILL_ARTIFACTS/console (default ./ci-artifacts/console), the run's output.
# Environment: WAYBILL_BIN  the waybill binary (default .build/debug/waybill, built if missing)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
say() { printf '==> %s\n' "$*"; }
die() { printf 'console e2e: %s\n' "$*" >&2; exit 1; }
python=/usr/bin/python3
"$python" -c 'import selenium' 2>/dev/null || die "python3-selenium missing (scripts/install-deps.sh)"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || die "chromium / chromium-driver missing (scripts/install-deps.sh)"
bin=${WAYBILL_BIN:-$root/.build/debug/waybill}
[ -x "$bin" ] || (cd "$root" && swift build) || die "swift build failed"
artifacts=${WAYBILL_ARTIFACTS:-$root/ci-artifacts}/console
rm -rf "$artifacts" && mkdir -p "$artifacts"

TMP=$(mktemp -d)
server_pid="" bridge_pid="" webhook_pid=""
status=1
cleanup() {
    for pid in $bridge_pid $webhook_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -eq 0 ]; then rm -rf "$TMP"; else echo "console e2e: server log and files kept in $TMP" >&2; fi
}
trap cleanup EXIT

token() { printf 'wbt_%s' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; }
admin=$(token) web=$(token) pos=$(token) nyc=$(token) erp=$(token)
umask 077
cat >"$TMP/credentials.json" <<JSON
[{"name": "ops-admin", "role": "admin", "token": "$admin"},
 {"name": "web-service", "role": "channel", "channels": ["web"], "token": "$web"},
 {"name": "pos-desk", "role": "channel", "channels": ["store_pos"], "token": "$pos"},
 {"name": "store-nyc", "role": "fulfillment", "locations": ["STORE-NYC"], "token": "$nyc"},
 {"name": "erp-bridge", "role": "erp", "token": "$erp"}]
JSON
printf '{"admin": "%s", "web": "%s", "pos": "%s", "nyc": "%s"}\n' "$admin" "$web" "$pos" "$nyc" >"$TMP/tokens.json"
printf '%s\n' "$admin" >"$TMP/admin.token"
printf '%s\n' "$erp" >"$TMP/erp.token"
umask 022

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port) console=$(free_port)
say "waybill serve on 127.0.0.1:$port, console on 127.0.0.1:$console"
"$bin" serve --db "$TMP/waybill.sqlite" --listen "127.0.0.1:$port" --admin-listen off --grpc-listen off \
    --console-listen "127.0.0.1:$console" --credentials-file "$TMP/credentials.json" >"$TMP/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$console/sign-in" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || die "the server exited: $(tail -5 "$TMP/server.log")"
    sleep 0.2
done

say "loading the example network and orders"
call() { "$bin" call "$@" --server "127.0.0.1:$port" --token-file "$TMP/admin.token"; }
call load-network "$root/examples/network.json" >/dev/null
printf '{' >"$TMP/orders.json"
first=1
for file in "$root"/examples/orders/*.json; do
    name=$(basename "$file" .json)
    id=$(call capture-order "$file" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["orderId"])')
    [ "$first" -eq 1 ] || printf ',' >>"$TMP/orders.json"
    first=0
    printf '"%s": "%s"' "$name" "$id" >>"$TMP/orders.json"
done
printf '}\n' >>"$TMP/orders.json"

refuse=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["marketplace"])' "$TMP/orders.json")
webhook=$(free_port)
say "ERP bridge delivering to a stand-in ERP on 127.0.0.1:$webhook that refuses $refuse once"
"$python" "$here/erp_webhook.py" "$webhook" "$refuse" >"$TMP/webhook.log" 2>&1 &
webhook_pid=$!
"$bin" erp-bridge --server "127.0.0.1:$port" --token-file "$TMP/erp.token" --consumer erp \
    --webhook "http://127.0.0.1:$webhook/" --unsigned-webhooks --state-dir "$TMP/bridge" \
    --status-interval-ms 500 >"$TMP/bridge.log" 2>&1 &
bridge_pid=$!

say "browser scenarios (screenshots in $artifacts)"
"$python" "$here/console_e2e.py" "http://127.0.0.1:$console" "$TMP/tokens.json" "$TMP/orders.json" "$artifacts"
status=0
