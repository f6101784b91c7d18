/* test_waybill.c - libwaybill against a scripted fake server (run under valgrind/ASan). */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../src/order_file.h"
#include "check.h"
#include "fake_server.h"
#include "waybill.h"

atomic_int failures;
atomic_int checks;
int over_tls;
static const char *cert_dir = "build/test-certs";

const char *cert(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", cert_dir, name);
    return p;
}

int start_server(fake_server *s, int connections, fs_handler handler, void *arg) {
    fs_tls_options tls = {.cert_file = cert("server.pem"), .key_file = cert("server.key")};
    return fs_start_tls(s, 0, connections, handler, arg, over_tls ? &tls : NULL);
}

waybill_client *connect_to(const fake_server *s, int call_timeout_ms, uint32_t max_frame) {
    waybill_options o = {.client_id = "test-client",
                         .connect_timeout_ms = 10000, /* a TLS handshake under valgrind on a loaded 2-core machine took > 2 s */
                         .call_timeout_ms = call_timeout_ms,
                         .max_frame_bytes = max_frame,
                         .token = TEST_TOKEN,
                         .tls_ca_file = over_tls ? cert("ca.pem") : NULL};
    waybill_status st;
    waybill_client *c = waybill_connect("127.0.0.1", s->port, &o, &st);
    CHECK_CODE(st, 0);
    CHECK(c != NULL);
    CHECK(over_tls ? waybill_tls_protocol(c) != NULL : waybill_tls_protocol(c) == NULL);
    return c;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *metadata(const Waybill__V1__RequestEnvelope *env, const char *key) {
    for (size_t i = 0; i < env->n_metadata; i++)
        if (!strcmp(env->metadata[i]->key, key)) return env->metadata[i]->value;
    return NULL;
}

Waybill__V1__RequestEnvelope *expect_request(int fd, const char *method) {
    Waybill__V1__RequestEnvelope *env = fs_read_request(fd);
    CHECK(env != NULL);
    if (env && method) {
        CHECK(strcmp(env->method, method) == 0);
        CHECK(env->call_id != 0);
        CHECK(env->protocol_version == WAYBILL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_1);
        const char *cid = metadata(env, "client-id");
        CHECK(cid && strcmp(cid, "test-client") == 0);
        const char *auth = metadata(env, "authorization");
        CHECK(auth && strcmp(auth, "Bearer " TEST_TOKEN) == 0);
    }
    return env;
}

void free_request(Waybill__V1__RequestEnvelope *env) {
    if (env) waybill__v1__request_envelope__free_unpacked(env, NULL);
}

void answer_get_order(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__GetOrderRequest *req =
        waybill__v1__get_order_request__unpack(NULL, env->payload.len, env->payload.data);
    CHECK(req != NULL);
    Waybill__V1__Order o = WAYBILL__V1__ORDER__INIT;
    o.order_id = req ? req->order_id : (char *)"?";
    o.status = WAYBILL__V1__ORDER_STATUS__ORDER_STATUS_ALLOCATED;
    fs_send_response(fd, env->call_id, 0, NULL, &o.base, 1);
    if (req) waybill__v1__get_order_request__free_unpacked(req, NULL);
}

static void sample_order(Waybill__V1__Order *o, Waybill__V1__Address *addr,
                         Waybill__V1__OrderLine *lines, Waybill__V1__OrderLine **line_ptrs,
                         Waybill__V1__Money *prices) {
    waybill__v1__order__init(o);
    waybill__v1__address__init(addr);
    o->channel = WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS;
    o->external_order_id = "pos-0001";
    addr->postal_code = "10001";
    addr->country = "US";
    o->ship_to = addr;
    for (int i = 0; i < 2; i++) {
        waybill__v1__order_line__init(&lines[i]);
        waybill__v1__money__init(&prices[i]);
        lines[i].line_id = i ? "2" : "1";
        lines[i].sku = i ? "SKU-B" : "SKU-A";
        lines[i].quantity = i + 1;
        prices[i].minor_units = 1999;
        prices[i].currency = "USD";
        lines[i].unit_price = &prices[i];
        line_ptrs[i] = &lines[i];
    }
    o->lines = line_ptrs;
    o->n_lines = 2;
}

/* ---------------------------------------------------------------- capture */

static void h_capture(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *env = expect_request(fd, "/waybill.v1.OrderService/CaptureOrder");
    if (!env) return;
    CHECK(env->timeout_ms == CALL_TIMEOUT_MS);
    CHECK(!env->cancel);
    Waybill__V1__CaptureOrderRequest *req =
        waybill__v1__capture_order_request__unpack(NULL, env->payload.len, env->payload.data);
    CHECK(req && req->order);
    if (req && req->order) {
        Waybill__V1__Order *o = req->order;
        CHECK(o->channel == WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS);
        CHECK(strcmp(o->external_order_id, "pos-0001") == 0);
        CHECK(o->n_lines == 2 && o->lines[1]->quantity == 2);
        CHECK(o->ship_to && strcmp(o->ship_to->country, "US") == 0);
        o->order_id = strdup("W-00000001");
        o->status = WAYBILL__V1__ORDER_STATUS__ORDER_STATUS_CAPTURED;
        o->version = 1;
        Waybill__V1__CaptureOrderResponse resp = WAYBILL__V1__CAPTURE_ORDER_RESPONSE__INIT;
        resp.order = o;
        fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
    }
    if (req) waybill__v1__capture_order_request__free_unpacked(req, NULL);
    free_request(env);
    fs_wait_close(fd);
}

static void test_capture_round_trip(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_capture, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 0);
    Waybill__V1__Order o;
    Waybill__V1__Address addr;
    Waybill__V1__OrderLine lines[2], *lp[2];
    Waybill__V1__Money prices[2];
    sample_order(&o, &addr, lines, lp, prices);
    Waybill__V1__CaptureOrderResponse *resp = NULL;
    waybill_status st;
    int rc = waybill_capture_order(c, &o, &resp, &st);
    CHECK(rc == 0);
    CHECK_CODE(st, 0);
    CHECK(resp && resp->order);
    if (resp && resp->order) {
        CHECK(strcmp(resp->order->order_id, "W-00000001") == 0);
        CHECK(resp->order->status == WAYBILL__V1__ORDER_STATUS__ORDER_STATUS_CAPTURED);
        CHECK(resp->order->n_lines == 2);
        CHECK(strcmp(resp->order->lines[0]->sku, "SKU-A") == 0);
        CHECK(!resp->replayed);
    }
    if (resp) waybill__v1__capture_order_response__free_unpacked(resp, NULL);
    waybill_close(c);
    fs_join(&s);
}

/* ---------------------------------------------------------------- server error status */

static void h_not_found(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *env = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (!env) return;
    Waybill__V1__StatusDetails d = WAYBILL__V1__STATUS_DETAILS__INIT;
    d.field = "order_id";
    Waybill__V1__Status status = WAYBILL__V1__STATUS__INIT;
    status.code = WAYBILL__V1__STATUS_CODE__NOT_FOUND;
    status.message = "order W-404 not found";
    status.details = &d;
    Waybill__V1__ResponseEnvelope resp = WAYBILL__V1__RESPONSE_ENVELOPE__INIT;
    resp.call_id = env->call_id;
    resp.status = &status;
    resp.end_of_stream = 1;
    uint8_t buf[256];
    size_t n = waybill__v1__response_envelope__pack(&resp, buf);
    fs_send_frame(fd, buf, n);
    free_request(env);
    /* then an out-of-range status code */
    env = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (env) fs_send_response(fd, env->call_id, 99, "odd", NULL, 1);
    free_request(env);
    fs_wait_close(fd);
}

static void test_server_error_status(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_not_found, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 0);
    Waybill__V1__Order *o = (Waybill__V1__Order *)1;
    waybill_status st;
    CHECK(waybill_get_order(c, "W-404", &o, &st) == WAYBILL__V1__STATUS_CODE__NOT_FOUND);
    CHECK(o == NULL);
    CHECK(strcmp(st.message, "order W-404 not found") == 0);
    CHECK(strcmp(st.field, "order_id") == 0);
    CHECK(waybill_get_order(c, "W-405", &o, &st) == WAYBILL__V1__STATUS_CODE__UNKNOWN);
    CHECK(strstr(st.message, "99") != NULL);
    /* argument errors */
    CHECK(waybill_get_order(c, "", &o, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_get_order(NULL, "W-1", &o, NULL) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_capture_order(c, NULL, NULL, NULL) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_next_events(c, 0, NULL, &st) == WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION);
    CHECK(waybill_cancel_subscription(c, &st) == WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION);
    waybill_close(c);
    waybill_close(NULL);
    fs_join(&s);
}

/* ---------------------------------------------------------------- availability */

static void h_availability(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *env =
        expect_request(fd, "/waybill.v1.InventoryService/GetAvailability");
    if (!env) return;
    Waybill__V1__GetAvailabilityRequest *req =
        waybill__v1__get_availability_request__unpack(NULL, env->payload.len, env->payload.data);
    CHECK(req && req->n_skus == 2 && strcmp(req->skus[1], "SKU-B") == 0);
    CHECK(req && req->channel == WAYBILL__V1__CHANNEL__CHANNEL_WEB);
    Waybill__V1__InventoryPosition p = WAYBILL__V1__INVENTORY_POSITION__INIT;
    p.sku = "SKU-A";
    p.location_id = "DC-1";
    p.on_hand = 10;
    p.available = 7;
    Waybill__V1__InventoryPosition *pp[1] = {&p};
    Waybill__V1__GetAvailabilityResponse resp = WAYBILL__V1__GET_AVAILABILITY_RESPONSE__INIT;
    resp.positions = pp;
    resp.n_positions = 1;
    fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
    if (req) waybill__v1__get_availability_request__free_unpacked(req, NULL);
    free_request(env);
    fs_wait_close(fd);
}

static void test_availability(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_availability, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 0);
    const char *skus[] = {"SKU-A", "SKU-B"};
    Waybill__V1__GetAvailabilityResponse *resp = NULL;
    waybill_status st;
    waybill_get_availability(c, skus, 2, WAYBILL__V1__CHANNEL__CHANNEL_WEB, &resp, &st);
    CHECK_CODE(st, 0);
    CHECK(resp && resp->n_positions == 1 && resp->positions[0]->available == 7);
    if (resp) waybill__v1__get_availability_response__free_unpacked(resp, NULL);
    waybill_close(c);
    fs_join(&s);
}

/* ---------------------------------------------------------------- fulfillment options */

#define OPTIONS_METHOD "/waybill.v1.CheckoutService/GetFulfillmentOptions"
enum { DAY_MS = 86400000 };
static const int64_t OPTIONS_DAY = 20000; /* 2024-10-04 */

/* What the client sent for the two carts of test_fulfillment_options. */
static void check_options_request(const Waybill__V1__GetFulfillmentOptionsRequest *req) {
    CHECK(req && req->n_queries == 2);
    if (!req || req->n_queries != 2) return;
    const Waybill__V1__FulfillmentOptionsQuery *q = req->queries[0];
    CHECK(strcmp(q->query_id, "cart-1") == 0);
    CHECK(q->channel == WAYBILL__V1__CHANNEL__CHANNEL_WEB);
    CHECK(q->n_lines == 2 && strcmp(q->lines[1]->sku, "SKU-B") == 0 && q->lines[1]->quantity == 2);
    CHECK(q->n_lines == 2 && q->lines[0]->unit_price && q->lines[0]->unit_price->minor_units == 1999);
    CHECK(q->ship_to && strcmp(q->ship_to->postal_code, "10001") == 0);
    CHECK(q->ship_to && q->ship_to->coordinates && q->ship_to->coordinates->latitude == 40.75);
    CHECK(q->n_service_levels == 2 &&
          q->service_levels[0] == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED &&
          q->service_levels[1] == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_STANDARD);
    CHECK(q->n_pickup_location_ids == 1 && strcmp(q->pickup_location_ids[0], "STORE-1") == 0);
    CHECK(q->nearby_pickup_stores == 3);
    CHECK(!q->pickup_only);
    q = req->queries[1];
    CHECK(strcmp(q->query_id, "cart-2") == 0);
    CHECK(q->n_lines == 0 && q->n_service_levels == 0 && q->ship_to == NULL);
    CHECK(q->pickup_only);
}

typedef enum { OPTIONS_ANSWER, OPTIONS_WRONG_COUNT, OPTIONS_CALL_ERROR, OPTIONS_GARBAGE } options_kind;

/* Answers the two carts: cart-1 with a SHIP option (two shipments, one line short) and a PICKUP
 * option the store cannot serve; cart-2 with its own INVALID_ARGUMENT. Then the same request
 * answered with one result only, refused as a whole, and with a payload that does not parse. */
static void h_options(int fd, void *arg) {
    (void)arg;
    for (options_kind kind = OPTIONS_ANSWER; kind <= OPTIONS_GARBAGE; kind++) {
        Waybill__V1__RequestEnvelope *env = expect_request(fd, OPTIONS_METHOD);
        if (!env) return;
        CHECK(env->timeout_ms == CALL_TIMEOUT_MS);
        Waybill__V1__GetFulfillmentOptionsRequest *req =
            waybill__v1__get_fulfillment_options_request__unpack(NULL, env->payload.len, env->payload.data);
        check_options_request(req);

        Waybill__V1__Money cost[3];
        for (int i = 0; i < 3; i++) {
            waybill__v1__money__init(&cost[i]);
            cost[i].currency = "USD";
        }
        cost[0].minor_units = 799;
        cost[1].minor_units = 450;
        cost[2].minor_units = 1249; /* the option's total */
        Waybill__V1__FulfillmentLine fl[2];
        Waybill__V1__FulfillmentLine *flp[2] = {&fl[0], &fl[1]};
        for (int i = 0; i < 2; i++) {
            waybill__v1__fulfillment_line__init(&fl[i]);
            fl[i].line_id = i ? "2" : "1";
            fl[i].sku = i ? "SKU-B" : "SKU-A";
            fl[i].quantity = 1;
        }
        Waybill__V1__OptionShipment sh[2];
        Waybill__V1__OptionShipment *shp[2] = {&sh[0], &sh[1]};
        for (int i = 0; i < 2; i++) {
            waybill__v1__option_shipment__init(&sh[i]);
            sh[i].location_id = i ? "DC-2" : "DC-1";
            sh[i].lines = &flp[i];
            sh[i].n_lines = 1;
            sh[i].carrier_id = "UPS";
            sh[i].carrier_service = "2DAY";
            sh[i].shipping_cost = &cost[i];
            sh[i].transit_days = 2;
            sh[i].processing_day = OPTIONS_DAY;
            sh[i].promised_delivery_unix_ms = (OPTIONS_DAY + 2 + i) * DAY_MS;
        }
        Waybill__V1__LineQuantity shortfall = WAYBILL__V1__LINE_QUANTITY__INIT;
        shortfall.line_id = "2";
        shortfall.quantity = 1;
        Waybill__V1__LineQuantity *shortp = &shortfall;
        Waybill__V1__FulfillmentOption ship = WAYBILL__V1__FULFILLMENT_OPTION__INIT;
        ship.method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_SHIP;
        ship.service_level = WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED;
        ship.outcome = WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_PARTIAL;
        ship.promised_delivery_unix_ms = (OPTIONS_DAY + 3) * DAY_MS;
        ship.shipping_cost = &cost[2];
        ship.shipment_count = 2;
        ship.shipments = shp;
        ship.n_shipments = 2;
        ship.unallocated = &shortp;
        ship.n_unallocated = 1;
        ship.reason = "insufficient stock: line 2 short by 1";
        Waybill__V1__FulfillmentOption pickup = WAYBILL__V1__FULFILLMENT_OPTION__INIT;
        pickup.method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP;
        pickup.pickup_location_id = "STORE-1";
        pickup.outcome = WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_UNAVAILABLE;
        pickup.reason = "STORE-1 does not serve store pickup";
        pickup.distance_kilometres = 2.5;
        Waybill__V1__FulfillmentOption *opts[2] = {&ship, &pickup};

        Waybill__V1__FulfillmentOptionsResult r[2];
        Waybill__V1__FulfillmentOptionsResult *rp[2] = {&r[0], &r[1]};
        waybill__v1__fulfillment_options_result__init(&r[0]);
        waybill__v1__fulfillment_options_result__init(&r[1]);
        r[0].query_id = "cart-1";
        r[0].options = opts;
        r[0].n_options = 2;
        r[0].policy_version = 7;
        Waybill__V1__StatusDetails d = WAYBILL__V1__STATUS_DETAILS__INIT;
        d.field = "queries[1].lines";
        Waybill__V1__Status bad = WAYBILL__V1__STATUS__INIT;
        bad.code = WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT;
        bad.message = "a cart needs at least one line";
        bad.details = &d;
        r[1].query_id = "cart-2";
        r[1].status = &bad;
        Waybill__V1__GetFulfillmentOptionsResponse resp = WAYBILL__V1__GET_FULFILLMENT_OPTIONS_RESPONSE__INIT;
        resp.results = rp;
        resp.n_results = kind == OPTIONS_WRONG_COUNT ? 1 : 2;
        resp.evaluated_at_unix_ms = OPTIONS_DAY * DAY_MS + 3600000;
        static const uint8_t garbage[] = {0x0a, 0x7f, 0x01};
        if (kind == OPTIONS_CALL_ERROR)
            fs_send_response(fd, env->call_id, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT,
                             "at most 100 queries per call", NULL, 1);
        else if (kind == OPTIONS_GARBAGE)
            fs_send_response_bytes(fd, env->call_id, 0, NULL, garbage, sizeof garbage, 1);
        else
            fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
        if (req) waybill__v1__get_fulfillment_options_request__free_unpacked(req, NULL);
        free_request(env);
    }
    /* The connection is still usable after all of that. */
    Waybill__V1__RequestEnvelope *get = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (get) answer_get_order(fd, get);
    free_request(get);
    fs_wait_close(fd);
}

static void test_fulfillment_options(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_options, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 0);
    Waybill__V1__Order o;
    Waybill__V1__Address addr;
    Waybill__V1__OrderLine lines[2], *lp[2];
    Waybill__V1__Money prices[2];
    sample_order(&o, &addr, lines, lp, prices);
    Waybill__V1__Coordinates where = WAYBILL__V1__COORDINATES__INIT;
    where.latitude = 40.75;
    where.longitude = -74;
    addr.coordinates = &where;
    Waybill__V1__ServiceLevel levels[] = {WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED,
                                          WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_STANDARD};
    char *stores[] = {"STORE-1"};
    Waybill__V1__FulfillmentOptionsQuery q1 = WAYBILL__V1__FULFILLMENT_OPTIONS_QUERY__INIT;
    q1.query_id = "cart-1";
    q1.channel = WAYBILL__V1__CHANNEL__CHANNEL_WEB;
    q1.lines = o.lines;
    q1.n_lines = o.n_lines;
    q1.ship_to = &addr;
    q1.service_levels = levels;
    q1.n_service_levels = 2;
    q1.pickup_location_ids = stores;
    q1.n_pickup_location_ids = 1;
    q1.nearby_pickup_stores = 3;
    Waybill__V1__FulfillmentOptionsQuery q2 = WAYBILL__V1__FULFILLMENT_OPTIONS_QUERY__INIT;
    q2.query_id = "cart-2";
    q2.channel = WAYBILL__V1__CHANNEL__CHANNEL_WEB;
    q2.pickup_only = 1;
    const Waybill__V1__FulfillmentOptionsQuery *queries[] = {&q1, &q2};

    Waybill__V1__GetFulfillmentOptionsResponse *resp = NULL;
    waybill_status st;
    CHECK(waybill_get_fulfillment_options(c, queries, 2, &resp, &st) == 0);
    CHECK_CODE(st, 0);
    CHECK(resp && resp->n_results == 2);
    if (resp && resp->n_results == 2) {
        CHECK(resp->evaluated_at_unix_ms == OPTIONS_DAY * DAY_MS + 3600000);
        const Waybill__V1__FulfillmentOptionsResult *r = resp->results[0];
        CHECK(waybill_result_status(r->status, &st) == 0); /* absent: OK */
        CHECK_CODE(st, 0);
        CHECK(st.field[0] == '\0');
        CHECK(strcmp(r->query_id, "cart-1") == 0 && r->policy_version == 7 && r->n_options == 2);
        if (r->n_options == 2) {
            const Waybill__V1__FulfillmentOption *ship = r->options[0], *pickup = r->options[1];
            CHECK(ship->method == WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_SHIP);
            CHECK(ship->service_level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED);
            CHECK(ship->outcome == WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_PARTIAL);
            CHECK(ship->promised_delivery_unix_ms == (OPTIONS_DAY + 3) * DAY_MS);
            CHECK(ship->shipping_cost && ship->shipping_cost->minor_units == 1249 &&
                  strcmp(ship->shipping_cost->currency, "USD") == 0);
            CHECK(ship->shipment_count == 2 && ship->n_shipments == 2);
            if (ship->n_shipments == 2) {
                const Waybill__V1__OptionShipment *s2 = ship->shipments[1];
                CHECK(strcmp(s2->location_id, "DC-2") == 0 && strcmp(s2->carrier_service, "2DAY") == 0);
                CHECK(s2->n_lines == 1 && strcmp(s2->lines[0]->sku, "SKU-B") == 0);
                CHECK(s2->shipping_cost && s2->shipping_cost->minor_units == 450);
                CHECK(s2->processing_day == OPTIONS_DAY && s2->transit_days == 2);
                CHECK(s2->promised_delivery_unix_ms == (OPTIONS_DAY + 3) * DAY_MS);
            }
            CHECK(ship->n_unallocated == 1 && ship->unallocated[0]->quantity == 1);
            CHECK(strcmp(ship->reason, "insufficient stock: line 2 short by 1") == 0);
            CHECK(pickup->method == WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP);
            CHECK(strcmp(pickup->pickup_location_id, "STORE-1") == 0);
            CHECK(pickup->outcome == WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_UNAVAILABLE);
            CHECK(pickup->distance_kilometres == 2.5 && pickup->promised_delivery_unix_ms == 0);
            CHECK(pickup->shipping_cost == NULL && pickup->n_shipments == 0);
        }
        /* The second cart failed on its own. */
        r = resp->results[1];
        CHECK(strcmp(r->query_id, "cart-2") == 0 && r->n_options == 0);
        CHECK(waybill_result_status(r->status, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
        CHECK(strcmp(st.message, "a cart needs at least one line") == 0);
        CHECK(strcmp(st.field, "queries[1].lines") == 0);
        CHECK(waybill_result_status(r->status, NULL) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
        /* waybill-c's rendering of the first cart. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            options_print(f, resp->results[0], resp->evaluated_at_unix_ms);
            fclose(f);
            static const char *const expected[] = {
                "options for cart-1 (routing policy 7)\n",
                "  evaluated at 2024-10-04T01:00:00Z\n",
                "option SHIP EXPEDITED\n  outcome      PARTIAL\n  promised     2024-10-07\n"
                "  cost         12.49 USD\n  shipments    2\n",
                "  shipment     DC-2 UPS 2DAY, cost 4.50 USD, transit 2 days, promised 2024-10-07 [2 SKU-B x1]\n",
                "  unallocated  line 2 x1\n  reason       insufficient stock: line 2 short by 1\n",
                "option PICKUP STORE-1 (2.5 km)\n  outcome      UNAVAILABLE\n  ready        -\n"
                "  cost         -\n  shipments    0\n  reason       STORE-1 does not serve store pickup\n",
            };
            for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
                if (!strstr(text, expected[i])) {
                    fprintf(stderr, "  options output lacks '%s':\n%s", expected[i], text);
                    CHECK(0);
                }
            free(text);
        }
    }
    if (resp) waybill__v1__get_fulfillment_options_response__free_unpacked(resp, NULL);

    /* One result for two queries: refused, nothing handed out; the connection stays usable. */
    resp = (Waybill__V1__GetFulfillmentOptionsResponse *)1;
    CHECK(waybill_get_fulfillment_options(c, queries, 2, &resp, &st) == WAYBILL__V1__STATUS_CODE__INTERNAL);
    CHECK(resp == NULL);
    CHECK_MESSAGE(st, "1 fulfillment options results for 2 queries");
    /* A refusal of the whole call passes through. out NULL is allowed. */
    CHECK(waybill_get_fulfillment_options(c, queries, 2, NULL, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "at most 100 queries");
    CHECK(waybill_get_fulfillment_options(c, queries, 2, &resp, &st) == WAYBILL__V1__STATUS_CODE__INTERNAL);
    CHECK(resp == NULL);
    CHECK_MESSAGE(st, "malformed waybill.v1.GetFulfillmentOptionsResponse payload");
    /* Argument errors: nothing is sent. */
    CHECK(waybill_get_fulfillment_options(c, queries, 0, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_get_fulfillment_options(c, NULL, 1, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    const Waybill__V1__FulfillmentOptionsQuery *with_null[] = {&q1, NULL};
    CHECK(waybill_get_fulfillment_options(c, with_null, 2, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "query 1 is NULL");
    CHECK(resp == NULL);
    CHECK(waybill_get_fulfillment_options(NULL, queries, 2, &resp, NULL) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    Waybill__V1__Order *got = NULL;
    CHECK(waybill_get_order(c, "W-3", &got, &st) == 0);
    CHECK(got && strcmp(got->order_id, "W-3") == 0);
    if (got) waybill__v1__order__free_unpacked(got, NULL);
    waybill_close(c);
    fs_join(&s);
}

static void test_result_status(void) {
    waybill_status st;
    CHECK(waybill_result_status(NULL, &st) == 0);
    CHECK_CODE(st, 0);
    Waybill__V1__Status s = WAYBILL__V1__STATUS__INIT;
    s.code = WAYBILL__V1__STATUS_CODE__PERMISSION_DENIED;
    s.message = "channel MARKETPLACE not allowed";
    CHECK(waybill_result_status(&s, &st) == WAYBILL__V1__STATUS_CODE__PERMISSION_DENIED);
    CHECK(strcmp(st.message, "channel MARKETPLACE not allowed") == 0 && st.field[0] == '\0');
    s.code = (Waybill__V1__StatusCode)42;
    CHECK(waybill_result_status(&s, &st) == WAYBILL__V1__STATUS_CODE__UNKNOWN);
    CHECK_MESSAGE(st, "server status code 42");
}

/* ---------------------------------------------------------------- carts */

#define CART_METHOD(name) "/waybill.v1.CheckoutService/" name
static const int64_t CART_DAY = 20000; /* 2024-10-04 */

typedef enum {
    CART_RESERVE_FULL, CART_EXTEND_OK, CART_RELEASE_OK, CART_GET_NOT_FOUND, CART_GET_NO_CART,
    CART_RESERVE_GARBAGE, CART_RELEASE_DISCARDED, CART_STEPS
} cart_step;

/* What the client sent for the reserve of test_carts: every field. */
static void check_reserve_request(const Waybill__V1__ReserveCartRequest *req) {
    CHECK(req != NULL);
    if (!req) return;
    CHECK(strcmp(req->cart_id, "cart-1") == 0);
    CHECK(req->channel == WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS);
    CHECK(req->n_lines == 2 && strcmp(req->lines[1]->line_id, "2") == 0 &&
          strcmp(req->lines[1]->sku, "SKU-B") == 0 && req->lines[1]->quantity == 2);
    CHECK(req->n_lines == 2 && req->lines[0]->unit_price &&
          req->lines[0]->unit_price->minor_units == 1999 &&
          strcmp(req->lines[0]->unit_price->currency, "USD") == 0);
    CHECK(req->ship_to && strcmp(req->ship_to->postal_code, "10001") == 0 &&
          strcmp(req->ship_to->country, "US") == 0);
    CHECK(req->fulfillment &&
          req->fulfillment->method == WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP &&
          strcmp(req->fulfillment->pickup_location_id, "STORE-1") == 0 &&
          req->fulfillment->service_level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED);
    CHECK(req->ttl_seconds == 900);
}

/* Answers, in order: the reserve with a cart carrying every field (replayed); the extend and
 * the release with a small cart; a get NOT_FOUND; a get answered OK without a cart; a reserve
 * answered with a payload that does not parse; a release whose answer the caller discards. */
static void h_carts(int fd, void *arg) {
    (void)arg;
    static const char *const methods[CART_STEPS] = {
        CART_METHOD("ReserveCart"), CART_METHOD("ExtendCart"), CART_METHOD("ReleaseCart"),
        CART_METHOD("GetCart"),     CART_METHOD("GetCart"),    CART_METHOD("ReserveCart"),
        CART_METHOD("ReleaseCart")};
    for (cart_step step = 0; step < CART_STEPS; step++) {
        Waybill__V1__RequestEnvelope *env = expect_request(fd, methods[step]);
        if (!env) return;
        CHECK(env->timeout_ms == CALL_TIMEOUT_MS);
        Waybill__V1__Cart cart = WAYBILL__V1__CART__INIT;
        cart.cart_id = "cart-1";
        cart.channel = WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS;
        Waybill__V1__CartResponse resp = WAYBILL__V1__CART_RESPONSE__INIT;
        resp.cart = &cart;
        if (step == CART_RESERVE_FULL || step == CART_RESERVE_GARBAGE) {
            Waybill__V1__ReserveCartRequest *req =
                waybill__v1__reserve_cart_request__unpack(NULL, env->payload.len, env->payload.data);
            check_reserve_request(req);
            if (req) waybill__v1__reserve_cart_request__free_unpacked(req, NULL);
        } else if (step == CART_EXTEND_OK) {
            Waybill__V1__ExtendCartRequest *req =
                waybill__v1__extend_cart_request__unpack(NULL, env->payload.len, env->payload.data);
            CHECK(req && strcmp(req->cart_id, "cart-1") == 0 &&
                  req->channel == WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS && req->ttl_seconds == 1800);
            if (req) waybill__v1__extend_cart_request__free_unpacked(req, NULL);
        } else {
            Waybill__V1__CartRequest *req =
                waybill__v1__cart_request__unpack(NULL, env->payload.len, env->payload.data);
            CHECK(req && strcmp(req->cart_id, step == CART_GET_NOT_FOUND ? "cart-9" : "cart-1") == 0 &&
                  req->channel == WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS);
            if (req) waybill__v1__cart_request__free_unpacked(req, NULL);
        }
        /* The full cart of the first answer. */
        Waybill__V1__Money price = WAYBILL__V1__MONEY__INIT, cost = WAYBILL__V1__MONEY__INIT,
                           total = WAYBILL__V1__MONEY__INIT;
        price.minor_units = 1999;
        price.currency = "USD";
        cost.minor_units = 450;
        cost.currency = "USD";
        total.minor_units = 450;
        total.currency = "USD";
        Waybill__V1__OrderLine line = WAYBILL__V1__ORDER_LINE__INIT, *linep = &line;
        line.line_id = "1";
        line.sku = "SKU-A";
        line.quantity = 3;
        line.unit_price = &price;
        char *addr_lines[] = {"1 Main St"};
        Waybill__V1__Address addr = WAYBILL__V1__ADDRESS__INIT;
        addr.lines = addr_lines;
        addr.n_lines = 1;
        addr.postal_code = "10001";
        addr.country = "US";
        Waybill__V1__RequestedFulfillment rf = WAYBILL__V1__REQUESTED_FULFILLMENT__INIT;
        rf.method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_SHIP;
        rf.service_level = WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED;
        Waybill__V1__FulfillmentLine fl = WAYBILL__V1__FULFILLMENT_LINE__INIT, *flp = &fl;
        fl.line_id = "1";
        fl.sku = "SKU-A";
        fl.quantity = 2;
        Waybill__V1__OptionShipment sh = WAYBILL__V1__OPTION_SHIPMENT__INIT, *shp = &sh;
        sh.location_id = "DC-2";
        sh.lines = &flp;
        sh.n_lines = 1;
        sh.carrier_id = "UPS";
        sh.carrier_service = "2DAY";
        sh.shipping_cost = &cost;
        sh.transit_days = 2;
        sh.processing_day = CART_DAY;
        sh.promised_delivery_unix_ms = (CART_DAY + 2) * DAY_MS;
        Waybill__V1__LineQuantity shortfall = WAYBILL__V1__LINE_QUANTITY__INIT, *shortp = &shortfall;
        shortfall.line_id = "1";
        shortfall.quantity = 1;
        Waybill__V1__RoutingDecision rd = WAYBILL__V1__ROUTING_DECISION__INIT;
        rd.policy_version = 7;
        rd.decided_at_unix_ms = CART_DAY * DAY_MS + 1000;
        rd.trigger = "cart";
        rd.shipments = 1;
        rd.total_cost_estimate = &total;
        rd.backordered_units = 1;
        if (step == CART_RESERVE_FULL) {
            cart.lines = &linep;
            cart.n_lines = 1;
            cart.ship_to = &addr;
            cart.fulfillment = &rf;
            cart.status = WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE;
            cart.reservations = &shp;
            cart.n_reservations = 1;
            cart.unallocated = &shortp;
            cart.n_unallocated = 1;
            cart.promised_delivery_unix_ms = (CART_DAY + 2) * DAY_MS;
            cart.created_at_unix_ms = CART_DAY * DAY_MS + 1000;
            cart.updated_at_unix_ms = CART_DAY * DAY_MS + 2000;
            cart.expires_at_unix_ms = CART_DAY * DAY_MS + 901000;
            cart.order_id = "W-7"; /* not so in life (ACTIVE), but every field is decoded */
            cart.version = 4;
            cart.routing_decision = &rd;
            resp.replayed = 1;
        } else if (step == CART_EXTEND_OK) {
            cart.status = WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE;
            cart.expires_at_unix_ms = CART_DAY * DAY_MS + 1801000;
            cart.version = 5;
        } else {
            cart.status = WAYBILL__V1__CART_STATUS__CART_STATUS_RELEASED;
            cart.version = 6;
        }
        static const uint8_t garbage[] = {0x0a, 0x7f, 0x01};
        if (step == CART_GET_NOT_FOUND) {
            Waybill__V1__StatusDetails d = WAYBILL__V1__STATUS_DETAILS__INIT;
            d.field = "cart_id";
            Waybill__V1__Status status = WAYBILL__V1__STATUS__INIT;
            status.code = WAYBILL__V1__STATUS_CODE__NOT_FOUND;
            status.message = "cart cart-9 not found";
            status.details = &d;
            Waybill__V1__ResponseEnvelope r = WAYBILL__V1__RESPONSE_ENVELOPE__INIT;
            r.call_id = env->call_id;
            r.status = &status;
            r.end_of_stream = 1;
            uint8_t buf[256];
            fs_send_frame(fd, buf, waybill__v1__response_envelope__pack(&r, buf));
        } else if (step == CART_GET_NO_CART) {
            resp.cart = NULL;
            fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
        } else if (step == CART_RESERVE_GARBAGE) {
            fs_send_response_bytes(fd, env->call_id, 0, NULL, garbage, sizeof garbage, 1);
        } else {
            fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
        }
        free_request(env);
    }
    /* The connection is still usable after all of that. */
    Waybill__V1__RequestEnvelope *get = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (get) answer_get_order(fd, get);
    free_request(get);
    fs_wait_close(fd);
}

static void test_carts(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_carts, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 0);
    Waybill__V1__Order o;
    Waybill__V1__Address addr;
    Waybill__V1__OrderLine lines[2], *lp[2];
    Waybill__V1__Money prices[2];
    sample_order(&o, &addr, lines, lp, prices);
    Waybill__V1__RequestedFulfillment rf = WAYBILL__V1__REQUESTED_FULFILLMENT__INIT;
    rf.method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP;
    rf.pickup_location_id = "STORE-1";
    rf.service_level = WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED;
    Waybill__V1__ReserveCartRequest req = WAYBILL__V1__RESERVE_CART_REQUEST__INIT;
    req.cart_id = "cart-1";
    req.channel = o.channel;
    req.lines = o.lines;
    req.n_lines = o.n_lines;
    req.ship_to = &addr;
    req.fulfillment = &rf;
    req.ttl_seconds = 900;
    const Waybill__V1__Channel pos = WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS;

    Waybill__V1__CartResponse *resp = NULL;
    waybill_status st;
    CHECK(waybill_reserve_cart(c, &req, &resp, &st) == 0);
    CHECK_CODE(st, 0);
    CHECK(resp && resp->cart && resp->replayed);
    if (resp && resp->cart) {
        const Waybill__V1__Cart *k = resp->cart;
        CHECK(strcmp(k->cart_id, "cart-1") == 0 && k->channel == pos);
        CHECK(k->n_lines == 1 && strcmp(k->lines[0]->sku, "SKU-A") == 0 && k->lines[0]->quantity == 3 &&
              k->lines[0]->unit_price && k->lines[0]->unit_price->minor_units == 1999);
        CHECK(k->ship_to && k->ship_to->n_lines == 1 && strcmp(k->ship_to->lines[0], "1 Main St") == 0 &&
              strcmp(k->ship_to->postal_code, "10001") == 0);
        CHECK(k->fulfillment &&
              k->fulfillment->method == WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_SHIP &&
              k->fulfillment->service_level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED);
        CHECK(k->status == WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE);
        CHECK(k->n_reservations == 1);
        if (k->n_reservations == 1) {
            const Waybill__V1__OptionShipment *r = k->reservations[0];
            CHECK(strcmp(r->location_id, "DC-2") == 0 && strcmp(r->carrier_id, "UPS") == 0 &&
                  strcmp(r->carrier_service, "2DAY") == 0);
            CHECK(r->n_lines == 1 && strcmp(r->lines[0]->line_id, "1") == 0 && r->lines[0]->quantity == 2);
            CHECK(r->shipping_cost && r->shipping_cost->minor_units == 450);
            CHECK(r->transit_days == 2 && r->processing_day == CART_DAY &&
                  r->promised_delivery_unix_ms == (CART_DAY + 2) * DAY_MS);
        }
        CHECK(k->n_unallocated == 1 && strcmp(k->unallocated[0]->line_id, "1") == 0 &&
              k->unallocated[0]->quantity == 1);
        CHECK(k->promised_delivery_unix_ms == (CART_DAY + 2) * DAY_MS);
        CHECK(k->created_at_unix_ms == CART_DAY * DAY_MS + 1000);
        CHECK(k->updated_at_unix_ms == CART_DAY * DAY_MS + 2000);
        CHECK(k->expires_at_unix_ms == CART_DAY * DAY_MS + 901000);
        CHECK(strcmp(k->order_id, "W-7") == 0 && k->version == 4);
        CHECK(k->routing_decision && k->routing_decision->policy_version == 7 &&
              strcmp(k->routing_decision->trigger, "cart") == 0 &&
              k->routing_decision->backordered_units == 1 && k->routing_decision->total_cost_estimate &&
              k->routing_decision->total_cost_estimate->minor_units == 450);
        /* waybill-c's rendering. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            cart_print(f, resp);
            fclose(f);
            static const char *const expected[] = {
                "cart cart-1 (replayed)\n  status       ACTIVE\n  version      4\n  channel      STORE_POS\n"
                "  requested    SHIP EXPEDITED\n  promised     2024-10-06\n"
                "  expires at   2024-10-04T00:15:01Z\n  created at   2024-10-04T00:00:01Z\n"
                "  updated at   2024-10-04T00:00:02Z\n  order        W-7\n",
                "  line 1       SKU-A qty 3 @ 19.99 USD\n  reservations 1\n",
                "  shipment     DC-2 UPS 2DAY, cost 4.50 USD, transit 2 days, promised 2024-10-06 [1 SKU-A x2]\n",
                "  unallocated  line 1 x1\n  routing      cart\n",
            };
            for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
                if (!strstr(text, expected[i])) {
                    fprintf(stderr, "  cart output lacks '%s':\n%s", expected[i], text);
                    CHECK(0);
                }
            free(text);
        }
    }
    if (resp) waybill__v1__cart_response__free_unpacked(resp, NULL);

    resp = NULL;
    CHECK(waybill_extend_cart(c, "cart-1", pos, 1800, &resp, &st) == 0);
    CHECK(resp && resp->cart && !resp->replayed && resp->cart->version == 5 &&
          resp->cart->expires_at_unix_ms == CART_DAY * DAY_MS + 1801000);
    if (resp) waybill__v1__cart_response__free_unpacked(resp, NULL);
    resp = NULL;
    CHECK(waybill_release_cart(c, "cart-1", pos, &resp, &st) == 0);
    CHECK(resp && resp->cart && resp->cart->status == WAYBILL__V1__CART_STATUS__CART_STATUS_RELEASED &&
          resp->cart->n_reservations == 0);
    if (resp) waybill__v1__cart_response__free_unpacked(resp, NULL);
    resp = (Waybill__V1__CartResponse *)1;
    CHECK(waybill_get_cart(c, "cart-9", pos, &resp, &st) == WAYBILL__V1__STATUS_CODE__NOT_FOUND);
    CHECK(resp == NULL);
    CHECK_MESSAGE(st, "cart cart-9 not found");
    CHECK(strcmp(st.field, "cart_id") == 0);
    /* An OK answer without a cart is not handed out. */
    resp = (Waybill__V1__CartResponse *)1;
    CHECK(waybill_get_cart(c, "cart-1", pos, &resp, &st) == WAYBILL__V1__STATUS_CODE__INTERNAL);
    CHECK(resp == NULL);
    CHECK_MESSAGE(st, "cart response without a cart");
    CHECK(waybill_reserve_cart(c, &req, &resp, &st) == WAYBILL__V1__STATUS_CODE__INTERNAL);
    CHECK(resp == NULL);
    CHECK_MESSAGE(st, "malformed waybill.v1.CartResponse payload");
    CHECK(waybill_release_cart(c, "cart-1", pos, NULL, &st) == 0); /* out NULL: discarded */
    CHECK_CODE(st, 0);
    /* Argument errors: nothing is sent. */
    resp = (Waybill__V1__CartResponse *)1;
    CHECK(waybill_reserve_cart(c, NULL, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(resp == NULL);
    CHECK_MESSAGE(st, "request is NULL");
    req.cart_id = "";
    CHECK(waybill_reserve_cart(c, &req, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "cart id is empty");
    req.cart_id = NULL;
    CHECK(waybill_reserve_cart(c, &req, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_extend_cart(c, "", pos, 60, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_release_cart(c, NULL, pos, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_get_cart(c, "", pos, &resp, NULL) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(resp == NULL);
    CHECK(waybill_get_cart(NULL, "cart-1", pos, &resp, &st) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_extend_cart(NULL, "cart-1", pos, 60, NULL, NULL) == WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    Waybill__V1__Order *got = NULL;
    CHECK(waybill_get_order(c, "W-3", &got, &st) == 0);
    CHECK(got && strcmp(got->order_id, "W-3") == 0);
    if (got) waybill__v1__order__free_unpacked(got, NULL);
    waybill_close(c);
    fs_join(&s);
}

/* ---------------------------------------------------------------- change feed */

static void send_events(int fd, uint64_t call_id, uint64_t first, int n) {
    Waybill__V1__ChangeEvent ev[4], *evp[4];
    char ids[4][16];
    for (int i = 0; i < n; i++) {
        waybill__v1__change_event__init(&ev[i]);
        ev[i].offset = first + (uint64_t)i;
        snprintf(ids[i], sizeof ids[i], "evt-%llu", (unsigned long long)(first + (uint64_t)i));
        ev[i].event_id = ids[i];
        ev[i].type = "order.captured";
        evp[i] = &ev[i];
    }
    Waybill__V1__SubscribeResponse r = WAYBILL__V1__SUBSCRIBE_RESPONSE__INIT;
    r.events = evp;
    r.n_events = (size_t)n;
    r.head_offset = 10;
    fs_send_response(fd, call_id, 0, NULL, &r.base, 0);
}

static void h_feed(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *sub = expect_request(fd, "/waybill.v1.ChangeFeedService/Subscribe");
    if (!sub) return;
    CHECK(sub->timeout_ms == 0);
    Waybill__V1__SubscribeRequest *sr =
        waybill__v1__subscribe_request__unpack(NULL, sub->payload.len, sub->payload.data);
    CHECK(sr && strcmp(sr->consumer, "pos-1") == 0 && sr->window_events == 10 && sr->from_offset == 0);
    if (sr) waybill__v1__subscribe_request__free_unpacked(sr, NULL);
    uint64_t sid = sub->call_id;
    send_events(fd, sid, 1, 1);
    send_events(fd, sid, 2, 2);

    /* The ack's answer comes between stream frames. */
    Waybill__V1__RequestEnvelope *ack = expect_request(fd, "/waybill.v1.ChangeFeedService/Acknowledge");
    if (ack) {
        CHECK(ack->call_id != sid);
        Waybill__V1__AcknowledgeRequest *ar =
            waybill__v1__acknowledge_request__unpack(NULL, ack->payload.len, ack->payload.data);
        CHECK(ar && strcmp(ar->consumer, "pos-1") == 0 && ar->offset == 1);
        if (ar) waybill__v1__acknowledge_request__free_unpacked(ar, NULL);
        send_events(fd, sid, 4, 1);
        Waybill__V1__ConsumerInfo ci = WAYBILL__V1__CONSUMER_INFO__INIT;
        ci.consumer = "pos-1";
        ci.acknowledged_offset = 1;
        Waybill__V1__AcknowledgeResponse resp = WAYBILL__V1__ACKNOWLEDGE_RESPONSE__INIT;
        resp.consumer = &ci;
        fs_send_response(fd, ack->call_id, 0, NULL, &resp.base, 1);
        send_events(fd, sid, 5, 1);
    }
    free_request(ack);

    /* Cancel, then answer a unary call after the stream's final frame. */
    Waybill__V1__RequestEnvelope *cancel = expect_request(fd, "/waybill.v1.ChangeFeedService/Subscribe");
    CHECK(cancel && cancel->cancel && cancel->call_id == sid);
    free_request(cancel);
    send_events(fd, sid, 6, 1); /* already in flight when the cancel arrived */
    fs_send_response(fd, sid, WAYBILL__V1__STATUS_CODE__CANCELLED, "cancelled", NULL, 1);
    Waybill__V1__RequestEnvelope *get = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (get) answer_get_order(fd, get);
    free_request(get);

    /* A second subscription that the server ends with an error. */
    Waybill__V1__RequestEnvelope *sub2 = expect_request(fd, "/waybill.v1.ChangeFeedService/Subscribe");
    if (sub2) {
        CHECK(sub2->call_id != sid);
        fs_send_response(fd, sub2->call_id, WAYBILL__V1__STATUS_CODE__OUT_OF_RANGE,
                         "offset 3 is no longer available", NULL, 1);
    }
    free_request(sub2);
    /* A third one that the server closes in the middle of. */
    Waybill__V1__RequestEnvelope *sub3 = expect_request(fd, "/waybill.v1.ChangeFeedService/Subscribe");
    if (sub3) send_events(fd, sub3->call_id, 1, 1);
    free_request(sub3);
    free_request(sub);
}

static uint64_t first_offset(Waybill__V1__SubscribeResponse *r) {
    return r && r->n_events ? r->events[0]->offset : 0;
}

static void test_feed_demultiplexing(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_feed, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 0);
    waybill_status st;
    Waybill__V1__SubscribeResponse *r = NULL;
    CHECK(waybill_subscribe(c, "pos-1", 0, 10, 0, &st) == 0);
    CHECK(waybill_subscribe(c, "pos-1", 0, 10, 0, &st) == WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION);

    CHECK(waybill_next_events(c, CALL_TIMEOUT_MS, &r, &st) == 0);
    CHECK(first_offset(r) == 1 && r->n_events == 1 && strcmp(r->events[0]->event_id, "evt-1") == 0);
    waybill__v1__subscribe_response__free_unpacked(r, NULL);

    Waybill__V1__AcknowledgeResponse *ack = NULL;
    CHECK(waybill_acknowledge(c, "pos-1", 1, &ack, &st) == 0);
    CHECK(ack && ack->consumer && ack->consumer->acknowledged_offset == 1);
    if (ack) waybill__v1__acknowledge_response__free_unpacked(ack, NULL);

    /* Frames buffered while waiting for the ack come out in order. */
    uint64_t expect[] = {2, 4, 5};
    for (int i = 0; i < 3; i++) {
        CHECK(waybill_next_events(c, CALL_TIMEOUT_MS, &r, &st) == 0);
        CHECK(first_offset(r) == expect[i]);
        if (i == 0) CHECK(r && r->n_events == 2 && r->head_offset == 10);
        if (r) waybill__v1__subscribe_response__free_unpacked(r, NULL);
    }
    /* Nothing more: a timeout, and the subscription stays open. */
    CHECK(waybill_next_events(c, 0, &r, &st) == WAYBILL__V1__STATUS_CODE__DEADLINE_EXCEEDED);
    CHECK(r == NULL);
    CHECK(waybill_next_events(c, 100, &r, &st) == WAYBILL__V1__STATUS_CODE__DEADLINE_EXCEEDED);

    CHECK(waybill_cancel_subscription(c, &st) == 0);
    CHECK(waybill_next_events(c, 0, &r, &st) == WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION);
    /* The cancelled stream's last frames are dropped; the unary call gets its answer. */
    Waybill__V1__Order *o = NULL;
    CHECK(waybill_get_order(c, "W-7", &o, &st) == 0);
    CHECK(o && strcmp(o->order_id, "W-7") == 0);
    if (o) waybill__v1__order__free_unpacked(o, NULL);

    CHECK(waybill_subscribe(c, "pos-1", 3, 0, 0, &st) == 0);
    CHECK(waybill_next_events(c, CALL_TIMEOUT_MS, &r, &st) == WAYBILL__V1__STATUS_CODE__OUT_OF_RANGE);
    CHECK(strstr(st.message, "no longer available") != NULL);
    CHECK(waybill_next_events(c, 0, &r, &st) == WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION);

    CHECK(waybill_subscribe(c, "pos-1", 0, 0, 0, &st) == 0);
    CHECK(waybill_next_events(c, CALL_TIMEOUT_MS, NULL, &st) == 0); /* out NULL: discarded */
    CHECK(waybill_next_events(c, CALL_TIMEOUT_MS, &r, &st) == WAYBILL__V1__STATUS_CODE__UNAVAILABLE);
    CHECK(r == NULL);
    waybill_close(c);
    fs_join(&s);
}

/* ---------------------------------------------------------------- bad responses */

typedef enum {
    BAD_TRUNCATED,
    BAD_OVERSIZED,
    BAD_HUGE_LENGTH,
    BAD_FLAG_ONE,
    BAD_GARBAGE_ENVELOPE,
    BAD_NOT_A_FRAME,
    BAD_UNKNOWN_CALL_ID,
    BAD_PAYLOAD,
    BAD_CLOSE_MID_CALL,
    BAD_CONNECTION_ERROR,
    BAD_NOT_END_OF_STREAM,
    BAD_TOO_BIG_FOR_CLIENT,
} bad_kind;

static void h_bad(int fd, void *arg) {
    bad_kind kind = *(bad_kind *)arg;
    Waybill__V1__RequestEnvelope *env = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (!env) return;
    uint64_t id = env->call_id;
    static const uint8_t garbage_env[] = {0x1a, 0x50, 0x01, 0x02}; /* bytes field, 80 long, 2 there */
    static const uint8_t garbage_payload[] = {0x0a, 0xff};
    switch (kind) {
    case BAD_TRUNCATED: {
        uint8_t part[15] = {0, 0, 0, 0, 100, 0x08, 0x01};
        fs_send_raw(fd, part, sizeof part);
        break; /* and close */
    }
    case BAD_OVERSIZED: {
        uint8_t h[5] = {0, 0x00, 0x40, 0x00, 0x01}; /* 4 MiB + 1 */
        fs_send_raw(fd, h, 5);
        fs_wait_close(fd);
        break;
    }
    case BAD_HUGE_LENGTH: {
        uint8_t h[5] = {0, 0xff, 0xff, 0xff, 0xff};
        fs_send_raw(fd, h, 5);
        fs_wait_close(fd);
        break;
    }
    case BAD_FLAG_ONE: {
        Waybill__V1__ResponseEnvelope r = WAYBILL__V1__RESPONSE_ENVELOPE__INIT;
        r.call_id = id;
        r.end_of_stream = 1;
        uint8_t buf[64];
        buf[0] = 1;
        size_t n = waybill__v1__response_envelope__pack(&r, buf + 5);
        buf[1] = buf[2] = buf[3] = 0;
        buf[4] = (uint8_t)n;
        fs_send_raw(fd, buf, 5 + n);
        fs_wait_close(fd);
        break;
    }
    case BAD_GARBAGE_ENVELOPE:
        fs_send_frame(fd, garbage_env, sizeof garbage_env);
        fs_wait_close(fd);
        break;
    case BAD_NOT_A_FRAME:
        fs_send_raw(fd, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        fs_wait_close(fd);
        break;
    case BAD_UNKNOWN_CALL_ID:
        fs_send_response(fd, id + 1000, 0, NULL, NULL, 1);
        fs_wait_close(fd);
        break;
    case BAD_PAYLOAD: /* then a good answer to a second call on the same connection */
        fs_send_response_bytes(fd, id, 0, NULL, garbage_payload, sizeof garbage_payload, 1);
        free_request(env);
        env = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
        if (env) answer_get_order(fd, env);
        fs_wait_close(fd);
        break;
    case BAD_CLOSE_MID_CALL:
        break;
    case BAD_CONNECTION_ERROR:
        fs_send_response(fd, 0, WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED, "too many connections",
                         NULL, 1);
        break;
    case BAD_NOT_END_OF_STREAM:
        answer_get_order(fd, env); /* eos = 1 ... */
        free_request(env);
        env = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
        if (env) fs_send_response(fd, env->call_id, 0, NULL, NULL, 0); /* ... then eos = 0 */
        fs_wait_close(fd);
        break;
    case BAD_TOO_BIG_FOR_CLIENT: { /* a valid 2000-byte answer to a client limited to 1024 */
        char *big = malloc(2001);
        memset(big, 'x', 2000);
        big[2000] = '\0';
        Waybill__V1__Order o = WAYBILL__V1__ORDER__INIT;
        o.order_id = big;
        fs_send_response(fd, id, 0, NULL, &o.base, 1);
        free(big);
        fs_wait_close(fd);
        break;
    }
    }
    free_request(env);
}

static void bad_case(bad_kind kind, uint32_t max_frame, int expected, const char *fragment) {
    fake_server s;
    CHECK(start_server(&s, 1, h_bad, &kind) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, max_frame);
    Waybill__V1__Order *o = NULL;
    waybill_status st;
    int rc = waybill_get_order(c, "W-1", &o, &st);
    CHECK(rc == st.code);
    CHECK_CODE(st, expected);
    CHECK(expected == 0 || o == NULL);
    if (fragment && !strstr(st.message, fragment)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", st.message, fragment);
        CHECK(0);
    }
    if (kind == BAD_PAYLOAD || kind == BAD_NOT_END_OF_STREAM) {
        /* The framing is intact: the connection stays usable. */
        if (kind == BAD_NOT_END_OF_STREAM) {
            CHECK_CODE(st, 0);
            if (o) waybill__v1__order__free_unpacked(o, NULL);
            o = NULL;
            rc = waybill_get_order(c, "W-2", &o, &st);
            CHECK_CODE(st, WAYBILL__V1__STATUS_CODE__INTERNAL);
            CHECK(strstr(st.message, "end_of_stream") != NULL);
        } else {
            rc = waybill_get_order(c, "W-2", &o, &st);
            CHECK_CODE(st, 0);
            CHECK(o && strcmp(o->order_id, "W-2") == 0);
        }
        if (o) waybill__v1__order__free_unpacked(o, NULL);
    } else {
        /* The connection is closed; later calls say so without touching the socket. */
        rc = waybill_get_order(c, "W-2", &o, &st);
        CHECK_CODE(st, WAYBILL__V1__STATUS_CODE__UNAVAILABLE);
        CHECK(strstr(st.message, "connection is closed") != NULL);
        CHECK(waybill_subscribe(c, "x", 0, 0, 0, &st) == WAYBILL__V1__STATUS_CODE__UNAVAILABLE);
        CHECK(waybill_next_events(c, 0, NULL, &st) == WAYBILL__V1__STATUS_CODE__UNAVAILABLE);
    }
    waybill_close(c);
    fs_join(&s);
}

static void test_bad_responses(void) {
    const int INTERNAL = WAYBILL__V1__STATUS_CODE__INTERNAL;
    const int UNAVAILABLE = WAYBILL__V1__STATUS_CODE__UNAVAILABLE;
    const int EXHAUSTED = WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED;
    struct { bad_kind kind; uint32_t max; int code; const char *fragment; const char *name; } cases[] = {
        {BAD_TRUNCATED, 0, UNAVAILABLE, "mid-frame", "truncated frame, then close"},
        {BAD_OVERSIZED, 0, EXHAUSTED, "4194305 bytes", "declared length over 4 MiB"},
        {BAD_HUGE_LENGTH, 0, EXHAUSTED, "exceeds the limit", "declared length 0xffffffff"},
        {BAD_TOO_BIG_FOR_CLIENT, 1024, EXHAUSTED, "exceeds the limit", "frame over a 1 KiB client limit"},
        {BAD_FLAG_ONE, 0, INTERNAL, "flag byte 1", "flag byte 1"},
        {BAD_GARBAGE_ENVELOPE, 0, INTERNAL, "malformed response envelope", "garbage envelope"},
        {BAD_NOT_A_FRAME, 0, INTERNAL, "flag byte 72", "not a frame at all"},
        {BAD_UNKNOWN_CALL_ID, 0, INTERNAL, "unknown call id", "unknown call id"},
        {BAD_PAYLOAD, 0, INTERNAL, "malformed waybill.v1.Order payload", "unparseable payload"},
        {BAD_CLOSE_MID_CALL, 0, UNAVAILABLE, "closed by the server", "closed mid-call"},
        {BAD_CONNECTION_ERROR, 0, EXHAUSTED, "too many connections", "connection-level error"},
        {BAD_NOT_END_OF_STREAM, 0, 0, NULL, "unary answer without end_of_stream"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  - %s\n", cases[i].name);
        bad_case(cases[i].kind, cases[i].max, cases[i].code, cases[i].fragment);
    }
}

/* ---------------------------------------------------------------- timeouts */

static void h_slow(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *first = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    /* No answer until the client has given up and sent its next call. */
    Waybill__V1__RequestEnvelope *second = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (first) answer_get_order(fd, first); /* late: must be dropped */
    if (second) answer_get_order(fd, second);
    free_request(first);
    free_request(second);
    Waybill__V1__RequestEnvelope *third = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    free_request(third); /* never answered */
    fs_wait_close(fd);
}

static void test_timeout(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_slow, NULL) == 0);
    waybill_client *c = connect_to(&s, 300, 0);
    Waybill__V1__Order *o = NULL;
    waybill_status st;
    int64_t t0 = now_ms();
    CHECK(waybill_get_order(c, "W-1", &o, &st) == WAYBILL__V1__STATUS_CODE__DEADLINE_EXCEEDED);
    int64_t took = now_ms() - t0;
    CHECK(took >= 290 && took < 3000);
    CHECK(o == NULL);
    CHECK(waybill_get_order(c, "W-2", &o, &st) == 0);
    CHECK(o && strcmp(o->order_id, "W-2") == 0);
    if (o) waybill__v1__order__free_unpacked(o, NULL);
    o = NULL;
    CHECK(waybill_get_order(c, "W-3", &o, &st) == WAYBILL__V1__STATUS_CODE__DEADLINE_EXCEEDED);
    waybill_close(c);
    fs_join(&s);
}

/* ---------------------------------------------------------------- request limits, connect */

static void h_one_get(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *env = expect_request(fd, "/waybill.v1.OrderService/GetOrder");
    if (env) answer_get_order(fd, env);
    free_request(env);
    fs_wait_close(fd);
}

static void test_request_too_large(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_one_get, NULL) == 0);
    waybill_client *c = connect_to(&s, CALL_TIMEOUT_MS, 1024);
    char *big = malloc(3000);
    memset(big, 'x', 2999);
    big[2999] = '\0';
    Waybill__V1__Order o = WAYBILL__V1__ORDER__INIT;
    o.external_order_id = big;
    waybill_status st;
    Waybill__V1__CaptureOrderResponse *resp = NULL;
    CHECK(waybill_capture_order(c, &o, &resp, &st) == WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED);
    CHECK(resp == NULL);
    free(big);
    Waybill__V1__Order *got = NULL;
    CHECK(waybill_get_order(c, "W-9", &got, &st) == 0); /* nothing was sent: still usable */
    if (got) waybill__v1__order__free_unpacked(got, NULL);
    waybill_close(c);
    fs_join(&s);
}

/* ---------------------------------------------------------------- large frames */

enum { LARGE_BYTES = 3 * 1024 * 1024 };

static char *large_text(char seed) {
    char *t = malloc(LARGE_BYTES + 1);
    if (!t) abort();
    for (size_t i = 0; i < LARGE_BYTES; i++) t[i] = (char)('a' + (seed + i % 251) % 26);
    t[LARGE_BYTES] = '\0';
    return t;
}

/* Reads only after a pause: the client's 3 MiB Subscribe (which does not wait for an answer)
 * and 3 MiB capture overflow the socket buffers (4 MiB at most here), so its writes must wait
 * (with TLS: SSL_write wants to write, again and again). Then answers with 3 MiB: many TLS
 * records and many reads. */
static void h_large(int fd, void *arg) {
    (void)arg;
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL);
    Waybill__V1__RequestEnvelope *sub = expect_request(fd, "/waybill.v1.ChangeFeedService/Subscribe");
    if (!sub) return;
    Waybill__V1__SubscribeRequest *sr =
        waybill__v1__subscribe_request__unpack(NULL, sub->payload.len, sub->payload.data);
    char *consumer = large_text(3);
    CHECK(sr && strcmp(sr->consumer, consumer) == 0);
    free(consumer);
    if (sr) waybill__v1__subscribe_request__free_unpacked(sr, NULL);
    free_request(sub);
    Waybill__V1__RequestEnvelope *env = expect_request(fd, "/waybill.v1.OrderService/CaptureOrder");
    if (!env) return;
    Waybill__V1__CaptureOrderRequest *req =
        waybill__v1__capture_order_request__unpack(NULL, env->payload.len, env->payload.data);
    char *expected = large_text(1);
    CHECK(req && req->order && strcmp(req->order->external_order_id, expected) == 0);
    free(expected);
    if (req) waybill__v1__capture_order_request__free_unpacked(req, NULL);
    char *answer = large_text(2);
    Waybill__V1__Order o = WAYBILL__V1__ORDER__INIT;
    o.order_id = answer;
    Waybill__V1__CaptureOrderResponse resp = WAYBILL__V1__CAPTURE_ORDER_RESPONSE__INIT;
    resp.order = &o;
    fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
    free(answer);
    free_request(env);
    fs_wait_close(fd);
}

static void test_large_frames(void) {
    fake_server s;
    CHECK(start_server(&s, 1, h_large, NULL) == 0);
    waybill_client *c = connect_to(&s, 20000, 0);
    waybill_status st;
    char *consumer = large_text(3);
    waybill_subscribe(c, consumer, 0, 0, 0, &st);
    CHECK_CODE(st, 0);
    free(consumer);
    Waybill__V1__Order o = WAYBILL__V1__ORDER__INIT;
    o.external_order_id = large_text(1);
    Waybill__V1__CaptureOrderResponse *resp = NULL;
    waybill_capture_order(c, &o, &resp, &st);
    CHECK_CODE(st, 0);
    char *expected = large_text(2);
    CHECK(resp && resp->order && strcmp(resp->order->order_id, expected) == 0);
    free(expected);
    free(o.external_order_id);
    if (resp) waybill__v1__capture_order_response__free_unpacked(resp, NULL);
    waybill_close(c);
    fs_join(&s);
}

static void test_connect_errors(void) {
    waybill_status st;
    /* A port nobody listens on: bind one, note it, close it. */
    fake_server s;
    CHECK(fs_start(&s, 0, 0, h_one_get, NULL) == 0);
    int port = s.port;
    fs_join(&s);
    waybill_options o = {.connect_timeout_ms = 1000};
    CHECK(waybill_connect("127.0.0.1", port, &o, &st) == NULL);
    CHECK_CODE(st, WAYBILL__V1__STATUS_CODE__UNAVAILABLE);
    CHECK(waybill_connect("", 1, NULL, &st) == NULL);
    CHECK_CODE(st, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_connect("127.0.0.1", 70000, NULL, &st) == NULL);
    CHECK_CODE(st, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT);
    CHECK(waybill_connect("no-such-host.invalid", 1, &o, &st) == NULL);
    CHECK_CODE(st, WAYBILL__V1__STATUS_CODE__UNAVAILABLE);
}

/* ---------------------------------------------------------------- CLI order file */

static void test_order_file(void) {
    char err[256];
    const char *text =
        "# a POS sale\n"
        "channel = store_pos\n"
        "external_order_id = pos-42\n"
        "cart_id = checkout-7\n"
        "customer.name = Ada Lovelace\n"
        "ship_to.line = 1 Main St\n"
        "ship_to.line = Apt 2\n"
        "ship_to.postal_code = 10001\n"
        "ship_to.country = US\n"
        "ship_to.latitude = 40.7506\n"
        "ship_to.longitude = -73.9972\n"
        "  service_level = EXPEDITED  \n"
        "attribute.payment_ref = PAY-1=2\n"
        "line = 1 SKU-1 2 1999 USD\n"
        "line = 2 SKU-2 1 500 USD\n";
    Waybill__V1__Order *o = order_file_parse(text, err, sizeof err);
    CHECK(o != NULL);
    if (o) {
        CHECK(o->channel == WAYBILL__V1__CHANNEL__CHANNEL_STORE_POS);
        CHECK(strcmp(o->external_order_id, "pos-42") == 0);
        CHECK(strcmp(o->cart_id, "checkout-7") == 0);
        CHECK(o->customer && strcmp(o->customer->name, "Ada Lovelace") == 0);
        CHECK(o->ship_to && o->ship_to->n_lines == 2 && strcmp(o->ship_to->lines[1], "Apt 2") == 0);
        CHECK(o->ship_to && o->ship_to->coordinates && o->ship_to->coordinates->latitude == 40.7506 &&
              o->ship_to->coordinates->longitude == -73.9972);
        CHECK(o->fulfillment && o->fulfillment->service_level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED);
        CHECK(o->n_attributes == 1 && strcmp(o->attributes[0]->value, "PAY-1=2") == 0);
        CHECK(o->n_lines == 2 && o->lines[0]->quantity == 2 && o->lines[0]->unit_price->minor_units == 1999);
        CHECK(strcmp(o->lines[1]->unit_price->currency, "USD") == 0);
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            order_print(devnull, o);
            fclose(devnull);
        }
        waybill__v1__order__free_unpacked(o, NULL);
    }
    struct { const char *text; const char *fragment; } bad[] = {
        {"channel = WEB\nnonsense\n", "line 2: expected KEY = VALUE"},
        {"channel = TELEPATHY\n", "bad value for 'channel'"},
        {"line = 1 SKU 2 USD\n", "line 1: expected line ="},
        {"line = 1 SKU two 100 USD\n", "expected line ="},
        {"ship_to.country = US\ncolour = red\n", "line 2: unknown key 'colour'"},
        {"ship_to.latitude = 91\nship_to.longitude = 0\n", "line 1: bad value for 'ship_to.latitude'"},
        {"ship_to.latitude = 40\nship_to.longitude = -181\n", "line 2: bad value for 'ship_to.longitude'"},
        {"ship_to.latitude = 40.7x\n", "line 1: bad value for 'ship_to.latitude'"},
        {"ship_to.latitude = nan\n", "line 1: bad value for 'ship_to.latitude'"},
        {"ship_to.latitude = 40.7\n", "ship_to.latitude and ship_to.longitude go together"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(order_file_parse(bad[i].text, err, sizeof err) == NULL);
        if (!strstr(err, bad[i].fragment)) {
            fprintf(stderr, "  order file error '%s' lacks '%s'\n", err, bad[i].fragment);
            CHECK(0);
        }
    }
    CHECK(strcmp(enum_name(&waybill__v1__order_status__descriptor, 1), "CAPTURED") == 0);
    CHECK(strcmp(waybill_code_name(14), "UNAVAILABLE") == 0);
    CHECK(strcmp(waybill_code_name(-1), "UNKNOWN_CODE") == 0);
}

typedef struct { void (*fn)(void); const char *name; } test_case;

static void run(const test_case *t, const char *suffix) {
    int before = atomic_load(&failures);
    fprintf(stderr, "%s%s\n", t->name, suffix);
    t->fn();
    fprintf(stderr, "  %s\n", atomic_load(&failures) == before ? "ok" : "FAILED");
}

/* test_waybill [CERT_DIR]: CERT_DIR holds test/make-certs.sh's files (default build/test-certs). */
int main(int argc, char **argv) {
    if (argc > 1) cert_dir = argv[1];
    /* Transport-neutral: run over plaintext, then again over TLS. */
    const test_case both[] = {
        {test_capture_round_trip, "capture round trip"},
        {test_server_error_status, "server error status passes through"},
        {test_availability, "availability round trip"},
        {test_fulfillment_options, "fulfillment options: request, results, per-query status"},
        {test_carts, "carts: reserve/extend/release/get, every field, errors"},
        {test_feed_demultiplexing, "change feed: stream frames and ack demultiplexed"},
        {test_bad_responses, "bad responses become clean errors"},
        {test_timeout, "server never answers: timeout, late answer dropped"},
        {test_request_too_large, "request over the frame limit is refused"},
        {test_large_frames, "3 MiB requests to a server slow to read, 3 MiB answer"},
    };
    const test_case once[] = {
        {test_connect_errors, "connect errors"},
        {test_token, "bearer token: validated, sent only when set, never echoed"},
        {test_tls_verification, "TLS: server certificate and name verification"},
        {test_tls_mutual, "TLS: mutual TLS with a client certificate"},
        {test_tls_versions, "TLS: 1.2 accepted, a server limited to 1.1 refused"},
        {test_tls_wrong_transport, "TLS: TLS to a plaintext server and plaintext to a TLS server"},
        {test_tls_handshake_timeout, "TLS: a server that never answers the handshake"},
        {test_tls_no_sigpipe, "TLS: writing to a closed connection raises no SIGPIPE"},
        {test_result_status, "a result's status as a waybill_status"},
        {test_order_file, "CLI order file format"},
    };
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) run(&both[i], "");
    over_tls = 1;
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) run(&both[i], " (TLS)");
    over_tls = 0;
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) run(&once[i], "");
    int f = atomic_load(&failures);
    fprintf(stderr, "%d checks, %d failures\n", atomic_load(&checks), f);
    return f ? 1 : 0;
}
