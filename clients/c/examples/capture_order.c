/* Capture one order and print its Waybill id. Usage: capture_order HOST PORT
 * The credential's token comes from $WAYBILL_TOKEN; with $WAYBILL_TLS_CA (a PEM CA bundle) the
 * connection is TLS, verified against it. */
#include <stdio.h>
#include <stdlib.h>

#include "waybill.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    waybill_options opts = {.client_id = "pos-store-17",
                            .call_timeout_ms = 5000,
                            .token = getenv("WAYBILL_TOKEN"),
                            .tls_ca_file = getenv("WAYBILL_TLS_CA")};
    waybill_status st;
    waybill_client *c = waybill_connect(argv[1], atoi(argv[2]), &opts, &st);
    if (!c) {
        fprintf(stderr, "connect: %s: %s\n", waybill_code_name(st.code), st.message);
        return 1;
    }

    /* Build the order on the stack: the library only reads it. */
    Waybill__V1__Money price = WAYBILL__V1__MONEY__INIT;
    price.minor_units = 1999; /* 19.99 */
    price.currency = "USD";
    Waybill__V1__OrderLine line = WAYBILL__V1__ORDER_LINE__INIT;
    line.line_id = "1";
    line.sku = "TSHIRT-BLK-M"; /* a SKU of examples/network.json */
    line.quantity = 2;
    line.unit_price = &price;
    Waybill__V1__OrderLine *lines[] = {&line};
    /* Routing measures distances from the ship-to: send its coordinates (or a city and region
     * the server knows), else a shipped order is refused. */
    Waybill__V1__Coordinates where = WAYBILL__V1__COORDINATES__INIT;
    where.latitude = 40.7506;
    where.longitude = -73.9972;
    Waybill__V1__Address ship_to = WAYBILL__V1__ADDRESS__INIT;
    ship_to.city = "New York";
    ship_to.region = "NY";
    ship_to.postal_code = "10001";
    ship_to.country = "US";
    ship_to.coordinates = &where;
    Waybill__V1__Order order = WAYBILL__V1__ORDER__INIT;
    order.channel = WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS;
    order.external_order_id = "till-3-receipt-0042"; /* idempotency key with the channel */
    order.ship_to = &ship_to;
    order.lines = lines;
    order.n_lines = 1;

    Waybill__V1__CaptureOrderResponse *resp = NULL;
    if (waybill_capture_order(c, &order, &resp, &st) != 0) {
        /* DEADLINE_EXCEEDED / UNAVAILABLE: the order may still have been captured;
         * retrying with the same external id is safe (it replays). */
        fprintf(stderr, "capture: %s: %s%s%s\n", waybill_code_name(st.code), st.message,
                st.field[0] ? " at " : "", st.field);
        waybill_close(c);
        return 1;
    }
    printf("captured %s%s\n", resp->order->order_id, resp->replayed ? " (replayed)" : "");
    waybill__v1__capture_order_response__free_unpacked(resp, NULL); /* the response is ours */
    waybill_close(c);
    return 0;
}
