#!/usr/bin/env bash
# Interop test: the C client against a real Waybill server and the Swift CLI.
#   1. builds libwaybill and waybill-c, and the Swift package (swift build)
#   2. starts `waybill serve` on a free loopback port with a fresh database
#   3. captures an order with waybill-c, reads it back with `waybill call get-order`
#      (protobuf JSON) and compares the fields
#   4. captures an order with `waybill call capture-order` (protobuf JSON file), reads it
#      back with waybill-c and compares the fields
#   5. checks waybill-c availability and subscribe against the same server
# Environment: WAYBILL_BIN  the waybill binary to use (default: swift build, then
#                           .build/debug/waybill); skips swift build when set
#              PORT         the port to listen on (default: a free one)
# Needs jq. Exit status 0 when everything matches.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { printf '==> %s\n' "$*"; }
die() { printf 'interop: %s\n' "$*" >&2; exit 1; }

command -v jq >/dev/null || die "jq is required (apt-get install jq)"

say "building the C client"
make -C "$here" build/libwaybill.a build/waybill-c >/dev/null || die "make failed in $here"
cli="$here/build/waybill-c"

if [ -n "${WAYBILL_BIN:-}" ]; then
    bin=$WAYBILL_BIN
else
    say "building the Swift server (swift build)"
    command -v swift >/dev/null || die "swift not found; install it or set WAYBILL_BIN"
    (cd "$root" && swift build) || die "swift build failed; fix it or set WAYBILL_BIN to a waybill binary"
    bin="$root/.build/debug/waybill"
fi
[ -x "$bin" ] || die "Waybill binary not found or not executable: $bin (set WAYBILL_BIN)"

TMP=$(mktemp -d)
server_pid=""
failures=0
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$failures" -eq 0 ]; then rm -rf "$TMP"; else echo "interop: files kept in $TMP" >&2; fi
}
trap cleanup EXIT

if [ -z "${PORT:-}" ]; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
        PORT=$((20000 + RANDOM % 20000))
fi
server="127.0.0.1:$PORT"

say "starting $bin serve on $server"
(cd "$root" && exec "$bin" serve --db "$TMP/db.sqlite" --listen "$server" --admin-listen 127.0.0.1:0) >"$TMP/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        server_pid=""
        failures=1
        sed 's/^/    /' "$TMP/server.log" >&2
        die "the server exited before listening on $server"
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.2
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { failures=1; die "the server is not listening on $server after 20 s"; }

check() { # NAME EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then
        printf '    ok    %s = %s\n' "$1" "$3"
    else
        printf '    FAIL  %s: expected [%s], got [%s]\n' "$1" "$2" "$3" >&2
        failures=$((failures + 1))
    fi
}
run() { # OUTFILE COMMAND... ; fails the test when the command fails
    local out=$1
    shift
    if ! "$@" >"$out" 2>"$out.err"; then
        failures=$((failures + 1))
        echo "interop: command failed: $*" >&2
        sed 's/^/    /' "$out" "$out.err" >&2
        die "stopping"
    fi
}

# A server without a network refuses captures (nothing could serve them).
run "$TMP/load.json" "$bin" call load-network "$root/examples/network.json" --server "$server"

# ---- 1. capture from C, read back with the Swift CLI ----
say "capture-order from C"
cat >"$TMP/order.txt" <<'EOF'
channel = WEB
external_order_id = c-interop-1
customer.name = Ada Lovelace
ship_to.line = 1 Main St
ship_to.city = New York
ship_to.region = NY
ship_to.postal_code = 10001
ship_to.country = US
ship_to.latitude = 40.7506
ship_to.longitude = -73.9972
line = 1 TSHIRT-BLK-M 2 1999 USD
line = 2 MUG-CERAMIC 1 500 USD
EOF
run "$TMP/c-capture.out" "$cli" --server "$server" --client-id interop-c capture-order "$TMP/order.txt"
c_order=$(sed -n 's/^order \(W-[^ ]*\)$/\1/p' "$TMP/c-capture.out" | head -n1)
[ -n "$c_order" ] || { failures=1; cat "$TMP/c-capture.out" >&2; die "no order id in waybill-c output"; }
echo "    captured $c_order"

say "get-order $c_order with the Swift CLI"
run "$TMP/swift-get.json" "$bin" call get-order "$c_order" --server "$server"
j() { jq -r "$1" "$TMP/swift-get.json"; }
check orderId "$c_order" "$(j '.orderId')"
check channel CHANNEL_WEB "$(j '.channel')"
check externalOrderId c-interop-1 "$(j '.externalOrderId')"
check shipTo "10001 US" "$(j '"\(.shipTo.postalCode) \(.shipTo.country)"')"
check coordinates "40.7506 -73.9972" "$(j '"\(.shipTo.coordinates.latitude) \(.shipTo.coordinates.longitude)"')"
check routedFrom "" "$(j '.routingDecisions[0].destinationApproximation // ""')"
# Stock for both lines at one DC, the policy releases nothing on allocation: allocated, not released.
check status ORDER_STATUS_ALLOCATED "$(j '.status')"
check customer "Ada Lovelace" "$(j '.customer.name')"
check lines "1 TSHIRT-BLK-M 2 1999 USD;2 MUG-CERAMIC 1 500 USD" \
    "$(j '[.lines[] | "\(.lineId) \(.sku) \(.quantity) \(.unitPrice.minorUnits) \(.unitPrice.currency)"] | join(";")')"

# ---- 2. capture with the Swift CLI, read back from C ----
say "capture-order with the Swift CLI"
cat >"$TMP/order.json" <<'EOF'
{"channel":"CHANNEL_WEB","externalOrderId":"swift-interop-1",
 "shipTo":{"city":"New York","region":"NY","postalCode":"10001","country":"US"},
 "lines":[{"lineId":"1","sku":"TSHIRT-BLK-M","quantity":2,"unitPrice":{"minorUnits":1999,"currency":"USD"}},
          {"lineId":"2","sku":"LAMP-DESK","quantity":3,"unitPrice":{"minorUnits":250,"currency":"USD"}}]}
EOF
run "$TMP/swift-capture.json" "$bin" call capture-order "$TMP/order.json" --server "$server"
s_order=$(jq -r '.order.orderId // .orderId // empty' "$TMP/swift-capture.json")
[ -n "$s_order" ] || { failures=1; cat "$TMP/swift-capture.json" >&2; die "no order id in the Swift CLI output"; }
echo "    captured $s_order"

say "get-order $s_order from C"
run "$TMP/c-get.out" "$cli" --server "$server" get-order "$s_order"
field() { sed -n "s/^  $1  *//p" "$TMP/c-get.out" | head -n1; }
check orderId "$s_order" "$(sed -n 's/^order //p' "$TMP/c-get.out")"
check channel WEB "$(field channel)"
check externalOrderId swift-interop-1 "$(field 'external id')"
check shipTo "New York NY 10001 US" "$(field 'ship to')"
# No coordinates were sent: routed from the city's centroid, and the order says so.
run "$TMP/swift-get-2.json" "$bin" call get-order "$s_order" --server "$server"
check routedFrom "destination approximated from city centroid New York City, NY" \
    "$(jq -r '.routingDecisions[0].destinationApproximation' "$TMP/swift-get-2.json")"
check lines "1 TSHIRT-BLK-M 2 19.99 USD;2 LAMP-DESK 3 2.50 USD" \
    "$(awk '$1 == "line" { printf "%s%s %s %s %s %s", sep, $2, $3, $5, $7, $8; sep = ";" }' "$TMP/c-get.out")"
# Every unit in stock (LAMP-DESK at DC-DALLAS, DC-RENO, VENDOR-ATL), the policy releases nothing on
# allocation: allocated, as the Swift CLI reads it too.
check status ALLOCATED "$(field status)"
check "status (Swift)" ORDER_STATUS_ALLOCATED "$(jq -r '.status' "$TMP/swift-get-2.json")"

# ---- 3. the rest of the C surface against the real server ----
say "availability and change feed from C"
run "$TMP/c-avail.out" "$cli" --server "$server" availability TSHIRT-BLK-M LAMP-DESK
# Opening stock of examples/network.json: 500 TSHIRT-BLK-M at DC-NEWARK, 200 LAMP-DESK at VENDOR-ATL.
check "on hand TSHIRT-BLK-M@DC-NEWARK" 500 \
    "$(awk '$1 == "TSHIRT-BLK-M" && $2 == "DC-NEWARK" { print $5 }' "$TMP/c-avail.out")"
check "on hand LAMP-DESK@VENDOR-ATL" 200 "$(awk '$1 == "LAMP-DESK" && $2 == "VENDOR-ATL" { print $5 }' "$TMP/c-avail.out")"
run "$TMP/c-feed.out" timeout 60 "$cli" --server "$server" subscribe interop-c --from 1 --count 2
check "first event offset" 1 "$(awk 'NR == 1 { print $1 }' "$TMP/c-feed.out")"
# LoadNetwork writes items before opening stock: the feed starts with the first item's upsert.
check "first event type" item.upserted "$(awk 'NR == 1 { print $2 }' "$TMP/c-feed.out")"
check "events printed" 2 "$(wc -l <"$TMP/c-feed.out" | tr -d ' ')"

if [ "$failures" -ne 0 ]; then
    echo "interop: $failures mismatches" >&2
    exit 1
fi
say "interop: all fields match"
