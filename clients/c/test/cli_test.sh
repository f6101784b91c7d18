#!/bin/sh
# CLI tests: build/waybill-c against build/fake_waybill (an in-memory stand-in server), in
# plaintext and, for TLS and the bearer token, a second one over TLS that requires a token.
# Run from clients/c (make test does). With VALGRIND set non-empty, every CLI run is
# checked by valgrind (leaks or memory errors fail the test with exit code 99).
# CERTS: the directory of test/make-certs.sh's certificates (default $BUILD/test-certs).
set -eu
B=${BUILD:-build}
CERTS=${CERTS:-$B/test-certs}
# The caller's own credentials and CA must not leak into the runs.
unset WAYBILL_TOKEN WAYBILL_TOKEN_FILE WAYBILL_TLS_CA
VG=""
if [ -n "${VALGRIND:-}" ]; then
    VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible"
fi

tmp=$(mktemp -d)
pid=""
tls_pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    [ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$B/fake_waybill" >"$tmp/port" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/port")
[ -n "$port" ] || { echo "fake server did not start" >&2; exit 1; }

failures=0
fail() { echo "  FAIL: $*" >&2; failures=$((failures + 1)); }

# run EXPECTED_EXIT ARGS... : runs the CLI, stdout to $tmp/out, stderr to $tmp/err
run() {
    expected=$1
    shift
    set +e
    $VG "$B/waybill-c" --server "127.0.0.1:$port" --client-id cli-test "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    if [ "$rc" -ne "$expected" ]; then
        fail "waybill-c $* exited $rc, expected $expected"
        sed 's/^/    /' "$tmp/out" "$tmp/err" >&2
    fi
}
expect_out() { grep -Eq -- "$1" "$tmp/out" || { fail "stdout lacks /$1/"; sed 's/^/    /' "$tmp/out" >&2; }; }
expect_err() { grep -Eq -- "$1" "$tmp/err" || { fail "stderr lacks /$1/"; sed 's/^/    /' "$tmp/err" >&2; }; }

cat >"$tmp/order.txt" <<'EOF'
# a web order
channel = WEB
external_order_id = x-1
customer.name = Ada Lovelace
ship_to.line = 1 Main St
ship_to.city = New York
ship_to.postal_code = 10001
ship_to.country = US
ship_to.latitude = 40.7506
ship_to.longitude = -73.9972
line = 1 SKU-1 2 1999 USD
line = 2 SKU-2 1 500 USD
EOF

echo "capture-order"
run 0 capture-order "$tmp/order.txt"
expect_out '^order W-00000001$'
expect_out '^  status +CAPTURED$'
expect_out '^  external id +x-1$'
expect_out '^  line 1 +SKU-1 qty 2 @ 19\.99 USD +CAPTURED'
expect_out '^  line 2 +SKU-2 qty 1 @ 5\.00 USD'

echo "capture-order again (replayed)"
run 0 capture-order "$tmp/order.txt"
expect_out '^order W-00000001$'
expect_out 'replayed +yes'

echo "capture-order from stdin, more orders"
for n in 2 3; do
    set +e
    sed "s/x-1/x-$n/" "$tmp/order.txt" | $VG "$B/waybill-c" --server "127.0.0.1:$port" capture-order - >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    [ $rc -eq 0 ] || fail "capture-order - exited $rc"
    expect_out "^order W-0000000$n\$"
done

echo "capture-order rejected by the server"
printf 'channel = WEB\nexternal_order_id = x-9\n' >"$tmp/nolines.txt"
run 1 capture-order "$tmp/nolines.txt"
expect_err '^INVALID_ARGUMENT: an order needs at least one line \(field order.lines\)$'

echo "capture-order with a bad file"
printf 'channel = WEB\nline = 1 SKU-1 two 100 USD\n' >"$tmp/bad.txt"
run 2 capture-order "$tmp/bad.txt"
expect_err 'line 2: expected line = LINE_ID SKU QUANTITY'
run 2 capture-order "$tmp/missing.txt"
expect_err 'missing.txt: No such file'

echo "get-order"
run 0 get-order W-00000001
expect_out '^order W-00000001$'
expect_out '^  channel +WEB$'
expect_out '^  ship to +1 Main St, New York 10001 US \(40\.7506, -73\.9972\)$'
run 1 get-order W-404
expect_err '^NOT_FOUND: order W-404 not found \(field order_id\)$'

echo "availability"
run 0 availability SKU-1 SKU-3
expect_out '^SKU-1 +DC-1 +on hand 10  reserved 6  safety 0  available 4$'
expect_out '^SKU-3 +DC-1 +on hand 10  reserved 0  safety 0  available 10$'
run 2 availability

echo "options"
run 0 options "$tmp/order.txt" --service-level expedited --service-level NEXT_DAY --pickup STORE-1 --pickup STORE-9 --nearby 1
expect_out '^options for x-1 \(routing policy 1\)$'
expect_out '^  evaluated at +2023-11-14T22:13:20Z$'
expect_out '^option SHIP EXPEDITED$'
expect_out '^  promised +2023-11-16$'
expect_out '^  cost +3\.00 USD$'
expect_out '^  shipment +DC-1 FAKE EXPEDITED, cost 3\.00 USD, transit 2 days, promised 2023-11-16 \[1 SKU-1 x2, 2 SKU-2 x1\]$'
expect_out '^option SHIP NEXT_DAY$'
expect_out '^option PICKUP STORE-1$'
expect_out '^  ready +2023-11-15$'
expect_out '^option PICKUP STORE-9$'
expect_out '^  reason +STORE-9 does not serve store pickup$'
expect_out '^option PICKUP NEAR-1 \(1\.0 km\)$'
[ "$(grep -c '^option ' "$tmp/out")" -eq 5 ] || fail "expected 5 options"
grep -q 'STANDARD' "$tmp/out" && fail "STANDARD was not asked for"
echo "options: every level by default; --pickup-only"
run 0 options "$tmp/order.txt"
[ "$(grep -c '^option SHIP ' "$tmp/out")" -eq 3 ] || fail "expected 3 ship options"
run 0 options --pickup-only --nearby 2 "$tmp/order.txt"
[ "$(grep -c '^option ' "$tmp/out")" -eq 2 ] || fail "expected 2 pickup options"
grep -q '^option SHIP' "$tmp/out" && fail "--pickup-only printed a ship option"
echo "options: a cart refused on its own; usage"
grep -v '^channel' "$tmp/order.txt" >"$tmp/nochannel.txt"
run 1 options "$tmp/nochannel.txt"
expect_err '^INVALID_ARGUMENT: channel is required \(field queries\[0\]\.channel\)$'
run 2 options "$tmp/order.txt" --service-level SLOW
expect_err 'unknown service level'
run 2 options "$tmp/order.txt" --nearby -1
run 2 options
run 2 options "$tmp/order.txt" "$tmp/order.txt"
run 2 options "$tmp/order.txt" --frobnicate
run 2 options "$tmp/missing.txt"
expect_err 'missing.txt: No such file'

echo "subscribe (window 1: only acknowledging lets the feed go on)"
run 0 subscribe feed-1 --window 1 --count 2
expect_out '^1 +order.captured +order W-00000001 seq 1  status CAPTURED$'
expect_out '^2 +order.captured +order W-00000002'
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "expected 2 events"
echo "subscribe resumes after the acknowledged offset"
run 0 subscribe feed-1 --count 1
expect_out '^3 +order.captured +order W-00000003'
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "expected 1 event"
run 0 subscribe feed-2 --from 2 --count 2
expect_out '^2 +order.captured'
expect_out '^3 +order.captured'

echo "carts: reserve, replay, replace, get, extend, release"
run 0 reserve-cart "$tmp/order.txt" --cart-id c-1 --ttl 900
expect_out '^cart c-1$'
expect_out '^  status +ACTIVE$'
expect_out '^  version +1$'
expect_out '^  channel +WEB$'
expect_out '^  promised +2023-11-19$'
expect_out '^  expires at +2023-11-14T22:28:20Z$'
expect_out '^  line 1 +SKU-1 qty 2 @ 19\.99 USD$'
expect_out '^  reservations +1$'
expect_out '^  shipment +DC-1 FAKE STANDARD, cost 3\.00 USD, transit 5 days, promised 2023-11-19 \[1 SKU-1 x2, 2 SKU-2 x1\]$'
run 0 reserve-cart "$tmp/order.txt" --cart-id c-1 --ttl 900
expect_out '^cart c-1 \(replayed\)$'
expect_out '^  version +1$'
run 0 reserve-cart "$tmp/order.txt" --ttl 600 --cart-id c-1 --pickup STORE-1
expect_out '^cart c-1$'
expect_out '^  version +2$'
expect_out '^  requested +PICKUP at STORE-1$'
expect_out '^  promised +2023-11-15$'
expect_out '^  expires at +2023-11-14T22:23:20Z$'
expect_out '^  shipment +STORE-1, cost 0\.00 USD, transit 0 days, promised 2023-11-15'
run 0 get-cart --cart-id c-1 --channel web
expect_out '^cart c-1$'
expect_out '^  status +ACTIVE$'
run 0 extend-cart --cart-id c-1 --channel WEB --ttl 3600
expect_out '^  expires at +2023-11-14T23:13:20Z$'
expect_out '^  version +3$'
run 0 release-cart --cart-id c-1 --channel WEB
expect_out '^  status +RELEASED$'
expect_out '^  reservations +0$'
expect_out '^  promised +-$'
run 0 release-cart --cart-id c-1 --channel WEB
expect_out '^cart c-1 \(replayed\)$'
run 1 extend-cart --cart-id c-1 --channel WEB --ttl 60
expect_err '^FAILED_PRECONDITION: cart is not active: reserve again \(field cart_id\)$'
run 1 get-cart --cart-id c-9 --channel WEB
expect_err '^NOT_FOUND: cart c-9 not found \(field cart_id\)$'
run 1 get-cart --cart-id c-1 --channel MARKETPLACE
expect_err '^NOT_FOUND'
echo "carts: a capture naming the cart (cart_id in the order file) converts it"
{ grep -v '^external_order_id' "$tmp/order.txt"; echo "external_order_id = x-cart"; echo "cart_id = c-2"; } >"$tmp/cart.txt"
run 0 reserve-cart "$tmp/cart.txt" --ttl 900
expect_out '^cart c-2$'
run 0 capture-order "$tmp/cart.txt"
expect_out '^  cart +c-2$'
order_id=$(sed -n 's/^order //p' "$tmp/out")
run 0 get-cart --cart-id c-2 --channel WEB
expect_out '^  status +CONVERTED$'
expect_out "^  order +$order_id\$"
run 1 reserve-cart "$tmp/cart.txt" --ttl 900
expect_err '^FAILED_PRECONDITION: cart was converted'
echo "carts: refused requests; usage"
run 1 reserve-cart "$tmp/nochannel.txt" --cart-id c-3 --ttl 60
expect_err '^INVALID_ARGUMENT: channel is required \(field channel\)$'
run 2 reserve-cart "$tmp/order.txt" --ttl 60
expect_err 'needs --cart-id'
run 2 reserve-cart "$tmp/order.txt" --cart-id c-3
run 2 reserve-cart "$tmp/order.txt" --cart-id c-3 --ttl 0
expect_err '--ttl takes'
run 2 reserve-cart "$tmp/order.txt" --cart-id c-3 --ttl 60 --channel WEB
run 2 reserve-cart --cart-id c-3 --ttl 60
run 2 reserve-cart "$tmp/missing.txt" --cart-id c-3 --ttl 60
expect_err 'missing.txt: No such file'
run 2 extend-cart --cart-id c-1 --channel WEB
run 2 extend-cart --cart-id c-1 --ttl 60
run 2 release-cart --cart-id c-1
run 2 release-cart --cart-id c-1 --channel WEB --ttl 60
run 2 get-cart --channel WEB
run 2 get-cart --cart-id c-1 --channel SOMEWHERE
expect_err 'unknown channel'
run 2 get-cart --cart-id c-1 --channel WEB extra

echo "TLS and the bearer token (a TLS server that requires a token)"
token="wbt_cli-test-secret-0123456789"
FAKE_WAYBILL_TOKEN=$token "$B/fake_waybill" 0 --tls "$CERTS/server.pem" "$CERTS/server.key" >"$tmp/tls_port" &
tls_pid=$!
i=0
while [ ! -s "$tmp/tls_port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
tls_port=$(cat "$tmp/tls_port")
[ -n "$tls_port" ] || { echo "TLS fake server did not start" >&2; exit 1; }
# run_tls EXPECTED_EXIT ARGS... : like run, against the TLS server, WAYBILL_TOKEN unset
run_tls() {
    expected=$1
    shift
    set +e
    env -u WAYBILL_TOKEN $VG "$B/waybill-c" --server "127.0.0.1:$tls_port" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    if [ "$rc" -ne "$expected" ]; then
        fail "waybill-c $* exited $rc, expected $expected"
        sed 's/^/    /' "$tmp/out" "$tmp/err" >&2
    fi
    if grep -q "$token" "$tmp/out" "$tmp/err"; then fail "the token was printed by waybill-c $*"; fi
}
umask 077
printf '%s\n' "$token" >"$tmp/token"
printf 'wbt_not-the-token\n' >"$tmp/wrong-token"
: >"$tmp/empty-token"
printf '%s\nsecond line\n' "$token" >"$tmp/two-line-token"
run_tls 0 --tls-ca "$CERTS/ca.pem" --token-file "$tmp/token" capture-order "$tmp/order.txt"
expect_out '^order W-00000001$'
set +e
WAYBILL_TOKEN=$token $VG "$B/waybill-c" --server "127.0.0.1:$tls_port" --tls-ca "$CERTS/ca.pem" \
    get-order W-00000001 >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 0 ] || fail "WAYBILL_TOKEN: exit $rc"
expect_out '^order W-00000001$'
set +e
env -u WAYBILL_TOKEN WAYBILL_TOKEN_FILE="$tmp/token" WAYBILL_TLS_CA="$CERTS/ca.pem" $VG "$B/waybill-c" \
    --server "127.0.0.1:$tls_port" get-order W-00000001 >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 0 ] || { fail "WAYBILL_TOKEN_FILE and WAYBILL_TLS_CA: exit $rc"; sed 's/^/    /' "$tmp/err" >&2; }
expect_out '^order W-00000001$'
echo "  without a token, with another token: UNAUTHENTICATED"
run_tls 1 --tls-ca "$CERTS/ca.pem" get-order W-00000001
expect_err '^UNAUTHENTICATED: '
run_tls 1 --tls-ca "$CERTS/ca.pem" --token-file "$tmp/wrong-token" get-order W-00000001
expect_err '^UNAUTHENTICATED: '
echo "  the token never on the command line; bad token files"
run_tls 2 --token "$token" get-order W-00000001
expect_err 'visible to other users: use --token-file FILE or \$WAYBILL_TOKEN'
run_tls 2 --token="$token" get-order W-00000001
run_tls 2 --token-file "$tmp/empty-token" get-order W-00000001
expect_err 'token file .*empty-token: empty$'
run_tls 2 --token-file "$tmp/two-line-token" get-order W-00000001
expect_err 'more than one line$'
run_tls 2 --token-file "$tmp/no-such-token" get-order W-00000001
expect_err 'no-such-token: No such file'
cp "$tmp/token" "$tmp/shared-token"
chmod 640 "$tmp/shared-token"
run_tls 2 --token-file "$tmp/shared-token" get-order W-00000001
expect_err 'shared-token: mode 640 lets others read it; make it 0600'
echo "  certificate verification"
run_tls 1 --tls --token-file "$tmp/token" get-order W-00000001
expect_err '^UNAVAILABLE: TLS handshake with 127\.0\.0\.1:[0-9]+ failed: server certificate not verified'
run_tls 1 --tls-ca "$CERTS/other-ca.pem" --token-file "$tmp/token" get-order W-00000001
expect_err 'server certificate not verified: unable to get local issuer certificate'
run_tls 1 --tls-ca "$CERTS/ca.pem" --tls-server-name waybill.example --token-file "$tmp/token" get-order W-00000001
expect_err 'not valid for waybill.example: hostname mismatch'
run_tls 0 --tls-ca "$CERTS/ca.pem" --tls-server-name localhost --token-file "$tmp/token" get-order W-00000001
run_tls 1 --tls-ca "$CERTS/ca.pem" --tls-cert "$CERTS/client.pem" --token-file "$tmp/token" get-order W-00000001
expect_err '^INVALID_ARGUMENT: tls_cert_file and tls_key_file go together'
echo "  plaintext to the TLS server"
run_tls 1 --token-file "$tmp/token" --timeout 2000 get-order W-00000001
expect_err '^UNAVAILABLE: '

echo "usage and connection errors"
run 2 frobnicate
set +e
env -u WAYBILL_SERVER "$B/waybill-c" get-order W-1 >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "no server: exit $rc"
expect_err 'no server'
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
run 1 get-order W-1
expect_err '^UNAVAILABLE: cannot connect to 127.0.0.1:'

if [ $failures -ne 0 ]; then
    echo "CLI tests: $failures failures" >&2
    exit 1
fi
echo "CLI tests: ok"
