#!/usr/bin/env bash
# Interop test: the C client against a real Waybill server and the Swift CLI, over TLS, with
# authenticated callers.
#   1. builds libwaybill and waybill-c, and the Swift package (swift build)
#   2. makes a throwaway CA and a server certificate for 127.0.0.1 (test/make-certs.sh,
#      openssl), credentials (a web channel one with `waybill clients add`, the others in a
#      --credentials-file: admin, marketplace channel, erp), and starts `waybill serve` with
#      TLS on a free loopback port with a fresh database
#   3. captures an order with waybill-c (web token), reads it back with `waybill call
#      get-order` (protobuf JSON) and compares the fields
#   4. captures an order with `waybill call capture-order` (protobuf JSON file), reads it
#      back with waybill-c and compares the fields
#   5. checks waybill-c availability and subscribe (erp token) against the same server, asks
#      waybill-c options for a cart, captures it with the SHIP EXPEDITED option and with the
#      PICKUP STORE-NYC option, and checks each order's promise (and cost, shipments) is the option's;
#      reserves a cart from C (reserve-cart, replayed, get-cart, extend-cart), captures an order
#      naming it (cart_id in the order file) and checks the order's promise is the cart's and the
#      cart CONVERTED; releases another cart (again: replayed); an unknown cart is NOT_FOUND
#   6. security: another CA's bundle is refused (certificate not verified), no token is
#      UNAUTHENTICATED, another channel's order is NOT_FOUND, plaintext to the TLS port fails,
#      a channel token may not load the network (PERMISSION_DENIED)
#   7. mutual TLS (the server restarted with --tls-client-ca): a client certificate whose subject
#      a credential names (`clients add --certificate-subject`) reads that channel's order with no
#      token; no certificate, or one of another CA, is refused. No output holds a token
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
# Every run names its credential and CA; the caller's own must not leak in.
unset WAYBILL_TOKEN WAYBILL_TOKEN_FILE WAYBILL_TLS_CA

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

say "certificates (openssl) and credentials"
sh "$here/test/make-certs.sh" "$TMP/certs" || die "could not make certificates (is openssl installed?)"
ca="$TMP/certs/ca.pem"
token() { printf 'wbt_%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; }
umask 077
token >"$TMP/admin.token"
token >"$TMP/marketplace.token"
token >"$TMP/erp.token"
cat >"$TMP/credentials.json" <<EOF
[{"name": "c-admin", "role": "admin", "token": "$(cat "$TMP/admin.token")"},
 {"name": "c-marketplace", "role": "channel", "channels": ["marketplace"], "token": "$(cat "$TMP/marketplace.token")"},
 {"name": "c-erp", "role": "erp", "token": "$(cat "$TMP/erp.token")"}]
EOF
umask 022

start_server() { # LOG EXTRA_SERVE_ARGS... : TLS, the credentials file, the database above
    local log=$1
    shift
    (cd "$root" && exec "$bin" serve --db "$TMP/db.sqlite" --listen "$server" --admin-listen 127.0.0.1:0 \
        --tls-cert "$TMP/certs/server.pem" --tls-key "$TMP/certs/server.key" \
        --credentials-file "$TMP/credentials.json" "$@") >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            server_pid=""
            failures=1
            sed 's/^/    /' "$log" >&2
            die "the server exited before listening on $server"
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.2
    done
    failures=1
    die "the server is not listening on $server after 20 s"
}
stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

say "starting $bin serve on $server (TLS)"
start_server "$TMP/server.log"

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
refused() { # OUTFILE COMMAND... ; the command must fail; its stderr is in OUTFILE.err
    local out=$1
    shift
    if "$@" >"$out" 2>"$out.err"; then
        failures=$((failures + 1))
        printf '    FAIL  %s succeeded, expected a refusal\n' "$*" >&2
    fi
}
code_of() { sed -n 's/^\([A-Z_]*\): .*/\1/p' "$1" | head -n1; } # the status name waybill-c printed
# The CLIs over TLS as one credential: waybill-c and the Swift CLI, token from a file.
c_as() { local who=$1; shift; "$cli" --server "$server" --tls-ca "$ca" --token-file "$TMP/$who.token" "$@"; }
swift_as() { local who=$1; shift; "$bin" call "$@" --server "$server" --tls-ca "$ca" --token-file "$TMP/$who.token"; }

# The web channel's credential through the CLI, into the running server's database (the
# server picks credential changes up within a second): it prints the token alone.
umask 077
"$bin" clients add c-web --role channel --channels web --database "$TMP/db.sqlite" >"$TMP/web.token" 2>"$TMP/clients.err" ||
    { failures=1; cat "$TMP/clients.err" >&2; die "waybill clients add failed"; }
umask 022
[ "$(wc -l <"$TMP/web.token")" -eq 1 ] || { failures=1; die "waybill clients add printed more than the token"; }
for _ in $(seq 1 50); do # until the server knows it: W-0 is then NOT_FOUND, not UNAUTHENTICATED
    c_as web get-order W-0 >/dev/null 2>"$TMP/web-ready.err" || true
    grep -q '^NOT_FOUND' "$TMP/web-ready.err" && break
    sleep 0.2
done
grep -q '^NOT_FOUND' "$TMP/web-ready.err" || { failures=1; cat "$TMP/web-ready.err" >&2; die "the server did not take the new credential within 10 s"; }

# A server without a network refuses captures (nothing could serve them).
run "$TMP/load.json" swift_as admin load-network "$root/examples/network.json"

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
run "$TMP/c-capture.out" c_as web --client-id interop-c capture-order "$TMP/order.txt"
c_order=$(sed -n 's/^order \(W-[^ ]*\)$/\1/p' "$TMP/c-capture.out" | head -n1)
[ -n "$c_order" ] || { failures=1; cat "$TMP/c-capture.out" >&2; die "no order id in waybill-c output"; }
echo "    captured $c_order"

say "get-order $c_order with the Swift CLI"
run "$TMP/swift-get.json" swift_as web get-order "$c_order"
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
run "$TMP/swift-capture.json" swift_as web capture-order "$TMP/order.json"
s_order=$(jq -r '.order.orderId // .orderId // empty' "$TMP/swift-capture.json")
[ -n "$s_order" ] || { failures=1; cat "$TMP/swift-capture.json" >&2; die "no order id in the Swift CLI output"; }
echo "    captured $s_order"

say "get-order $s_order from C"
run "$TMP/c-get.out" c_as web get-order "$s_order"
field() { sed -n "s/^  $1  *//p" "$TMP/c-get.out" | head -n1; }
check orderId "$s_order" "$(sed -n 's/^order //p' "$TMP/c-get.out")"
check channel WEB "$(field channel)"
check externalOrderId swift-interop-1 "$(field 'external id')"
check shipTo "New York NY 10001 US" "$(field 'ship to')"
# No coordinates were sent: routed from the city's centroid, and the order says so.
run "$TMP/swift-get-2.json" swift_as web get-order "$s_order"
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
run "$TMP/c-avail.out" c_as web availability TSHIRT-BLK-M LAMP-DESK
# Opening stock of examples/network.json: 500 TSHIRT-BLK-M at DC-NEWARK, 200 LAMP-DESK at VENDOR-ATL.
check "on hand TSHIRT-BLK-M@DC-NEWARK" 500 \
    "$(awk '$1 == "TSHIRT-BLK-M" && $2 == "DC-NEWARK" { print $5 }' "$TMP/c-avail.out")"
check "on hand LAMP-DESK@VENDOR-ATL" 200 "$(awk '$1 == "LAMP-DESK" && $2 == "VENDOR-ATL" { print $5 }' "$TMP/c-avail.out")"
run "$TMP/c-feed.out" timeout 60 "$cli" --server "$server" --tls-ca "$ca" --token-file "$TMP/erp.token" \
    subscribe interop-c --from 1 --count 2
check "first event offset" 1 "$(awk 'NR == 1 { print $1 }' "$TMP/c-feed.out")"
# LoadNetwork writes items before opening stock: the feed starts with the first item's upsert.
check "first event type" item.upserted "$(awk 'NR == 1 { print $2 }' "$TMP/c-feed.out")"
check "events printed" 2 "$(wc -l <"$TMP/c-feed.out" | tr -d ' ')"

# ---- 3b. fulfillment options from C, then a capture with the chosen option ----
say "fulfillment options from C, then capture with the chosen option"
cat >"$TMP/cart.txt" <<'EOF'
channel = WEB
external_order_id = c-interop-options-1
ship_to.city = New York
ship_to.region = NY
ship_to.postal_code = 10001
ship_to.country = US
ship_to.latitude = 40.7506
ship_to.longitude = -73.9972
line = 1 TSHIRT-BLK-M 1 1999 USD
line = 2 JEANS-IND-32 1 4999 USD
EOF
run "$TMP/c-options.out" c_as web options "$TMP/cart.txt" --service-level EXPEDITED --pickup STORE-NYC \
    --pickup DC-NEWARK --nearby 1
# option_field OPTION_HEADER LABEL: a field of the option whose header line is OPTION_HEADER.
option_field() {
    awk -v head="$1" -v label="$2" '/^option / { inside = ($0 == head || index($0, head " (") == 1) }
        inside && $1 == label { $1 = ""; sub(/^ +/, ""); print; exit }' "$TMP/c-options.out"
}
check "options query id" "options for c-interop-options-1" "$(head -n1 "$TMP/c-options.out" | sed 's/ (routing policy.*//')"
check "options printed" 4 "$(grep -c '^option ' "$TMP/c-options.out")"
check "SHIP EXPEDITED outcome" COMPLETE "$(option_field 'option SHIP EXPEDITED' outcome)"
check "PICKUP STORE-NYC outcome" COMPLETE "$(option_field 'option PICKUP STORE-NYC' outcome)"
check "PICKUP DC-NEWARK outcome" UNAVAILABLE "$(option_field 'option PICKUP DC-NEWARK' outcome)"
check "PICKUP DC-NEWARK has a reason" yes "$([ -n "$(option_field 'option PICKUP DC-NEWARK' reason)" ] && echo yes || echo no)"
promised=$(option_field 'option SHIP EXPEDITED' promised)
cost=$(option_field 'option SHIP EXPEDITED' cost)
shipments=$(option_field 'option SHIP EXPEDITED' shipments)
locations=$(awk '/^option / { inside = ($0 == "option SHIP EXPEDITED") } inside && $1 == "shipment" { print $2 }' \
    "$TMP/c-options.out" | sort | paste -sd, -)
ready=$(option_field 'option PICKUP STORE-NYC' ready)
if [ -z "$promised" ] || [ "$promised" = "-" ]; then
    failures=1
    cat "$TMP/c-options.out" >&2
    die "no promise for SHIP EXPEDITED"
fi
echo "    SHIP EXPEDITED: promised $promised, cost $cost, $shipments shipment(s) from $locations; PICKUP STORE-NYC ready $ready"
# The same cart captured at once with that option: the order gets the option's promise.
{ cat "$TMP/cart.txt"; echo "fulfillment = SHIP"; echo "service_level = EXPEDITED"; } >"$TMP/cart-order.txt"
run "$TMP/c-capture-option.out" c_as web capture-order "$TMP/cart-order.txt"
o_order=$(sed -n 's/^order \(W-[^ ]*\)$/\1/p' "$TMP/c-capture-option.out" | head -n1)
run "$TMP/swift-get-option.json" swift_as web get-order "$o_order"
promise_day='[.fulfillments[].promisedDeliveryUnixMs | tonumber] | max / 1000 | strftime("%Y-%m-%d")'
check "order's promised delivery = the option's" "$promised" "$(jq -r "$promise_day" "$TMP/swift-get-option.json")"
check "order's shipping cost = the option's" "$cost" \
    "$(jq -r '[.fulfillments[].shippingCostEstimate.minorUnits | tonumber] | add | "\(. / 100 | floor).\(. % 100 | tostring | if length < 2 then "0" + . else . end) USD"' "$TMP/swift-get-option.json")"
check "order's fulfillments = the option's shipments" "$shipments $locations" \
    "$(jq -r '"\(.fulfillments | length) \([.fulfillments[].locationId] | sort | join(","))"' "$TMP/swift-get-option.json")"
# A pickup capture at the store the option named: ready the day the option said.
{ grep -v '^external_order_id' "$TMP/cart.txt"; echo "external_order_id = c-interop-options-2"
  echo "fulfillment = PICKUP"; echo "pickup_location_id = STORE-NYC"; } >"$TMP/cart-pickup.txt"
run "$TMP/c-capture-pickup.out" c_as web capture-order "$TMP/cart-pickup.txt"
p_order=$(sed -n 's/^order \(W-[^ ]*\)$/\1/p' "$TMP/c-capture-pickup.out" | head -n1)
run "$TMP/swift-get-pickup.json" swift_as web get-order "$p_order"
check "pickup order ready = the option's" "$ready" "$(jq -r "$promise_day" "$TMP/swift-get-pickup.json")"
# A cart the server refuses on its own (no lines) fails the command, naming the query's field.
grep -v '^line' "$TMP/cart.txt" >"$TMP/cart-empty.txt"
refused "$TMP/c-options-empty.out" c_as web options "$TMP/cart-empty.txt"
check "a cart without lines" "INVALID_ARGUMENT queries[0]" \
    "$(sed -n 's/^\([A-Z_]*\): .*(field \(queries\[0\]\).*/\1 \2/p' "$TMP/c-options-empty.out.err")"

# ---- 3c. a cart that holds stock, from C, then a capture naming it ----
say "carts from C: reserve, get, extend, capture with cart_id; release"
{ grep -v '^external_order_id' "$TMP/cart.txt"; echo "external_order_id = c-interop-cart-1"
  echo "fulfillment = SHIP"; echo "service_level = EXPEDITED"; } >"$TMP/cart-hold.txt"
run "$TMP/c-reserve.out" c_as web reserve-cart "$TMP/cart-hold.txt" --cart-id c-interop-cart-1 --ttl 900
# cart_field FILE LABEL: a field of a printed cart.
cart_field() { awk -v label="$2" '$1 == label { $1 = ""; sub(/^ +/, ""); print; exit }' "$1"; }
check "reserved cart" "cart c-interop-cart-1" "$(head -n1 "$TMP/c-reserve.out")"
check "reserved cart status" ACTIVE "$(cart_field "$TMP/c-reserve.out" status)"
cart_promised=$(cart_field "$TMP/c-reserve.out" promised)
cart_reservations=$(cart_field "$TMP/c-reserve.out" reservations)
if [ -z "$cart_promised" ] || [ "$cart_promised" = "-" ] || [ "${cart_reservations:-0}" -lt 1 ]; then
    failures=1
    cat "$TMP/c-reserve.out" >&2
    die "the cart holds nothing"
fi
echo "    cart c-interop-cart-1: promised $cart_promised, $cart_reservations reservation(s), expires $(cart_field "$TMP/c-reserve.out" expires)"
run "$TMP/c-reserve-again.out" c_as web reserve-cart "$TMP/cart-hold.txt" --cart-id c-interop-cart-1 --ttl 900
check "the same reserve again" "cart c-interop-cart-1 (replayed)" "$(head -n1 "$TMP/c-reserve-again.out")"
run "$TMP/c-get-cart.out" c_as web get-cart --cart-id c-interop-cart-1 --channel WEB
check "get-cart promised" "$cart_promised" "$(cart_field "$TMP/c-get-cart.out" promised)"
run "$TMP/c-extend.out" c_as web extend-cart --cart-id c-interop-cart-1 --channel WEB --ttl 1800
check "extended cart status" ACTIVE "$(cart_field "$TMP/c-extend.out" status)"
check "extend moves the deadline" yes \
    "$([ "$(cart_field "$TMP/c-extend.out" expires)" \> "$(cart_field "$TMP/c-reserve.out" expires)" ] && echo yes || echo no)"
# The capture names the cart (cart_id in the order file): the order gets the cart's promise.
{ cat "$TMP/cart-hold.txt"; echo "cart_id = c-interop-cart-1"; } >"$TMP/cart-capture.txt"
run "$TMP/c-capture-cart.out" c_as web capture-order "$TMP/cart-capture.txt"
k_order=$(sed -n 's/^order \(W-[^ ]*\)$/\1/p' "$TMP/c-capture-cart.out" | head -n1)
run "$TMP/swift-get-cart-order.json" swift_as web get-order "$k_order"
check "order's cart_id" c-interop-cart-1 "$(jq -r '.cartId' "$TMP/swift-get-cart-order.json")"
check "order's promised delivery = the cart's" "$cart_promised" "$(jq -r "$promise_day" "$TMP/swift-get-cart-order.json")"
check "order routed from the cart" "capture from cart c-interop-cart-1" \
    "$(jq -r '.routingDecisions[0].trigger' "$TMP/swift-get-cart-order.json")"
run "$TMP/c-get-converted.out" c_as web get-cart --cart-id c-interop-cart-1 --channel WEB
check "converted cart" "CONVERTED $k_order" \
    "$(cart_field "$TMP/c-get-converted.out" status) $(cart_field "$TMP/c-get-converted.out" order)"
refused "$TMP/c-reserve-converted.out" c_as web reserve-cart "$TMP/cart-hold.txt" --cart-id c-interop-cart-1 --ttl 900
check "reserving a converted cart" FAILED_PRECONDITION "$(sed -n 's/^\([A-Z_]*\): .*/\1/p' "$TMP/c-reserve-converted.out.err")"
# Another cart, released: its stock comes back, a second release changes nothing.
run "$TMP/c-reserve-2.out" c_as web reserve-cart "$TMP/cart-hold.txt" --cart-id c-interop-cart-2 --ttl 60
run "$TMP/c-release.out" c_as web release-cart --cart-id c-interop-cart-2 --channel WEB
check "released cart" "RELEASED 0" \
    "$(cart_field "$TMP/c-release.out" status) $(cart_field "$TMP/c-release.out" reservations)"
run "$TMP/c-release-again.out" c_as web release-cart --cart-id c-interop-cart-2 --channel WEB
check "release again" "cart c-interop-cart-2 (replayed)" "$(head -n1 "$TMP/c-release-again.out")"
refused "$TMP/c-get-unknown-cart.out" c_as web get-cart --cart-id c-interop-nope --channel WEB
check "unknown cart" NOT_FOUND "$(sed -n 's/^\([A-Z_]*\): .*/\1/p' "$TMP/c-get-unknown-cart.out.err")"

# ---- 4. security: TLS verification, authentication, roles and channel scopes ----
say "security from C"
refused "$TMP/wrong-ca.out" "$cli" --server "$server" --tls-ca "$TMP/certs/other-ca.pem" \
    --token-file "$TMP/web.token" get-order "$c_order"
check "another CA's bundle" \
    "UNAVAILABLE: TLS handshake with $server failed: server certificate not verified: unable to get local issuer certificate" \
    "$(head -n1 "$TMP/wrong-ca.out.err")"
refused "$TMP/no-token.out" env -u WAYBILL_TOKEN "$cli" --server "$server" --tls-ca "$ca" get-order "$c_order"
check "no token" UNAUTHENTICATED "$(code_of "$TMP/no-token.out.err")"
check "no token: the refusal names no order" "" "$(grep -o "$c_order" "$TMP/no-token.out.err" || true)"
refused "$TMP/other-channel.out" c_as marketplace get-order "$c_order"
refused "$TMP/missing.out" c_as marketplace get-order W-99999999
check "another channel's order" NOT_FOUND "$(code_of "$TMP/other-channel.out.err")"
check "another channel's order reads as a missing one" "$(sed "s/W-99999999/ID/" "$TMP/missing.out.err")" \
    "$(sed "s/$c_order/ID/" "$TMP/other-channel.out.err")"
refused "$TMP/role.out" swift_as web load-network "$root/examples/network.json"
check "a channel token loading the network is PERMISSION_DENIED" yes \
    "$(grep -q PERMISSION_DENIED "$TMP/role.out" "$TMP/role.out.err" && echo yes || echo no)"
refused "$TMP/plaintext.out" "$cli" --server "$server" --timeout 3000 availability TSHIRT-BLK-M
check "plaintext to the TLS port" UNAVAILABLE "$(code_of "$TMP/plaintext.out.err")"
# ---- 5. mutual TLS: the client certificate proves the credential ----
say "mutual TLS from C"
stop_server
umask 077
"$bin" clients add c-web-device --role channel --channels web --certificate-subject test-client \
    --database "$TMP/db.sqlite" >"$TMP/device.token" 2>"$TMP/clients.err" ||
    { failures=1; cat "$TMP/clients.err" >&2; die "waybill clients add --certificate-subject failed"; }
umask 022
start_server "$TMP/server-mtls.log" --tls-client-ca "$ca"
run "$TMP/mtls-get.out" env -u WAYBILL_TOKEN "$cli" --server "$server" --tls-ca "$ca" \
    --tls-cert "$TMP/certs/client.pem" --tls-key "$TMP/certs/client.key" get-order "$c_order"
check "a web device's certificate reads the web order" "$c_order" "$(sed -n 's/^order //p' "$TMP/mtls-get.out")"
refused "$TMP/mtls-none.out" c_as web get-order "$c_order"
check "no client certificate" UNAVAILABLE "$(code_of "$TMP/mtls-none.out.err")"
refused "$TMP/mtls-other.out" "$cli" --server "$server" --tls-ca "$ca" --tls-cert "$TMP/certs/other-client.pem" \
    --tls-key "$TMP/certs/other-client.key" --token-file "$TMP/web.token" get-order "$c_order"
check "a client certificate of another CA" UNAVAILABLE "$(code_of "$TMP/mtls-other.out.err")"
stop_server

# No output of any command, and not the server's log, holds a token.
for who in web admin marketplace erp device; do
    outputs=$(ls "$TMP"/*.out "$TMP"/*.err "$TMP"/*.json "$TMP"/server*.log | grep -v '/credentials\.json$')
    # shellcheck disable=SC2086 # one path per line, no spaces in $TMP's names
    if grep -qF "$(cat "$TMP/$who.token")" $outputs; then
        printf '    FAIL  the %s token appears in an output or the server log\n' "$who" >&2
        failures=$((failures + 1))
    fi
done

if [ "$failures" -ne 0 ]; then
    echo "interop: $failures mismatches" >&2
    exit 1
fi
say "interop: all fields match, and the server refused what it must"
