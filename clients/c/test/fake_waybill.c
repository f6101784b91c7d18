/* fake_waybill.c - a tiny in-memory stand-in for the Waybill server, for the CLI tests.
 *   fake_waybill [PORT] [--tls CERT KEY]
 *                         listens on 127.0.0.1:PORT (default: any free port; with --tls over
 *                         TLS), prints the port on stdout, then serves connections one at a
 *                         time until killed. With $FAKE_WAYBILL_TOKEN set, a call without
 *                         "authorization: Bearer $FAKE_WAYBILL_TOKEN" is UNAUTHENTICATED.
 * It implements CaptureOrder (idempotent on channel + external id), GetOrder,
 * GetAvailability (10 on hand at DC-1, minus what captured orders reserved),
 * GetFulfillmentOptions (canned options, see fulfillment_options), carts (ReserveCart,
 * ExtendCart, ReleaseCart, GetCart: see reserve_cart; a capture naming an active cart converts
 * it), and a change feed (one order.captured event per capture) with window-based flow
 * control. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"

#define ORDERS_MAX 64
#define CONSUMERS_MAX 8

static Waybill__V1__Order *orders[ORDERS_MAX];
static size_t n_orders;
static struct { char name[64]; uint64_t acked; } consumers[CONSUMERS_MAX];
static size_t n_consumers;

/* The open subscription of the current connection. */
static struct { uint64_t call_id, next, window; size_t consumer; } sub;

static uint64_t *acked_of(const char *name, size_t *index) {
    for (size_t i = 0; i < n_consumers; i++)
        if (!strcmp(consumers[i].name, name)) {
            if (index) *index = i;
            return &consumers[i].acked;
        }
    if (n_consumers == CONSUMERS_MAX) return NULL;
    snprintf(consumers[n_consumers].name, sizeof consumers[0].name, "%s", name);
    consumers[n_consumers].acked = 0;
    if (index) *index = n_consumers;
    return &consumers[n_consumers++].acked;
}

static void reply_error(int fd, uint64_t id, int code, const char *msg, const char *field) {
    Waybill__V1__StatusDetails d = WAYBILL__V1__STATUS_DETAILS__INIT;
    d.field = (char *)field;
    Waybill__V1__Status st = WAYBILL__V1__STATUS__INIT;
    st.code = (Waybill__V1__StatusCode)code;
    st.message = (char *)msg;
    if (field) st.details = &d;
    Waybill__V1__ResponseEnvelope env = WAYBILL__V1__RESPONSE_ENVELOPE__INIT;
    env.call_id = id;
    env.status = &st;
    env.end_of_stream = 1;
    size_t n = waybill__v1__response_envelope__get_packed_size(&env);
    uint8_t *b = malloc(n);
    if (!b) return;
    waybill__v1__response_envelope__pack(&env, b);
    fs_send_frame(fd, b, n);
    free(b);
}

/* Sends what the window allows, one event per frame. */
static void feed_pump(int fd) {
    if (!sub.call_id) return;
    uint64_t acked = consumers[sub.consumer].acked;
    while (sub.next <= n_orders && sub.next <= acked + sub.window) {
        Waybill__V1__Order *o = orders[sub.next - 1];
        char event_id[32];
        snprintf(event_id, sizeof event_id, "evt-%llu", (unsigned long long)sub.next);
        Waybill__V1__ChangeEvent ev = WAYBILL__V1__CHANGE_EVENT__INIT;
        ev.offset = sub.next;
        ev.event_id = event_id;
        ev.type = "order.captured";
        ev.aggregate_type = "order";
        ev.aggregate_id = o->order_id;
        ev.aggregate_sequence = 1;
        ev.order_id = o->order_id;
        ev.order = o;
        Waybill__V1__ChangeEvent *evp = &ev;
        Waybill__V1__SubscribeResponse r = WAYBILL__V1__SUBSCRIBE_RESPONSE__INIT;
        r.events = &evp;
        r.n_events = 1;
        r.head_offset = n_orders;
        fs_send_response(fd, sub.call_id, 0, NULL, &r.base, 0);
        sub.next++;
    }
}

static void cart_converted(const Waybill__V1__Order *o);

static void capture(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__CaptureOrderRequest *req =
        waybill__v1__capture_order_request__unpack(NULL, env->payload.len, env->payload.data);
    if (!req || !req->order) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT, "order is required", "order");
    } else if (!req->order->external_order_id[0]) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT,
                    "external_order_id is required", "order.external_order_id");
    } else if (req->order->n_lines == 0) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT,
                    "an order needs at least one line", "order.lines");
    } else {
        Waybill__V1__Order *o = req->order;
        Waybill__V1__CaptureOrderResponse resp = WAYBILL__V1__CAPTURE_ORDER_RESPONSE__INIT;
        for (size_t i = 0; i < n_orders; i++)
            if (orders[i]->channel == o->channel &&
                !strcmp(orders[i]->external_order_id, o->external_order_id)) {
                resp.order = orders[i];
                resp.replayed = 1;
            }
        if (!resp.order && n_orders == ORDERS_MAX) {
            reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED, "full", NULL);
        } else {
            if (!resp.order) {
                char id[16];
                snprintf(id, sizeof id, "W-%08zu", n_orders + 1);
                o->order_id = strdup(id);
                o->status = WAYBILL__V1__ORDER_STATUS__ORDER_STATUS_CAPTURED;
                o->captured_at_unix_ms = 1700000000000;
                o->version = 1;
                for (size_t i = 0; i < o->n_lines; i++)
                    o->lines[i]->status = WAYBILL__V1__LINE_STATUS__LINE_STATUS_CAPTURED;
                orders[n_orders++] = o;
                cart_converted(o);
                req->order = NULL; /* kept */
                resp.order = o;
            }
            fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
            feed_pump(fd);
        }
    }
    if (req) waybill__v1__capture_order_request__free_unpacked(req, NULL);
}

static void get_order(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__GetOrderRequest *req =
        waybill__v1__get_order_request__unpack(NULL, env->payload.len, env->payload.data);
    Waybill__V1__Order *found = NULL;
    for (size_t i = 0; req && i < n_orders; i++)
        if (!strcmp(orders[i]->order_id, req->order_id)) found = orders[i];
    if (found) {
        fs_send_response(fd, env->call_id, 0, NULL, &found->base, 1);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "order %s not found", req ? req->order_id : "?");
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__NOT_FOUND, msg, "order_id");
    }
    if (req) waybill__v1__get_order_request__free_unpacked(req, NULL);
}

static void availability(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__GetAvailabilityRequest *req =
        waybill__v1__get_availability_request__unpack(NULL, env->payload.len, env->payload.data);
    size_t n = req ? req->n_skus : 0;
    Waybill__V1__InventoryPosition *pos = calloc(n + 1, sizeof *pos);
    Waybill__V1__InventoryPosition **pp = calloc(n + 1, sizeof *pp);
    for (size_t i = 0; pos && pp && i < n; i++) {
        waybill__v1__inventory_position__init(&pos[i]);
        pos[i].sku = req->skus[i];
        pos[i].location_id = "DC-1";
        pos[i].on_hand = 10;
        for (size_t k = 0; k < n_orders; k++)
            for (size_t l = 0; l < orders[k]->n_lines; l++)
                if (!strcmp(orders[k]->lines[l]->sku, req->skus[i]))
                    pos[i].reserved += orders[k]->lines[l]->quantity;
        pos[i].available = pos[i].on_hand > pos[i].reserved ? pos[i].on_hand - pos[i].reserved : 0;
        pp[i] = &pos[i];
    }
    Waybill__V1__GetAvailabilityResponse resp = WAYBILL__V1__GET_AVAILABILITY_RESPONSE__INIT;
    resp.positions = pp;
    resp.n_positions = pos && pp ? n : 0;
    fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
    free(pos);
    free(pp);
    if (req) waybill__v1__get_availability_request__free_unpacked(req, NULL);
}

static void subscribe(int fd, const Waybill__V1__RequestEnvelope *env) {
    if (env->cancel) {
        if (sub.call_id == env->call_id) {
            fs_send_response(fd, sub.call_id, WAYBILL__V1__STATUS_CODE__CANCELLED, "cancelled", NULL, 1);
            sub.call_id = 0;
        }
        return;
    }
    Waybill__V1__SubscribeRequest *req =
        waybill__v1__subscribe_request__unpack(NULL, env->payload.len, env->payload.data);
    size_t ci;
    uint64_t *acked = req ? acked_of(req->consumer, &ci) : NULL;
    if (!acked || sub.call_id) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED, "no subscription", NULL);
    } else {
        sub.call_id = env->call_id;
        sub.consumer = ci;
        sub.next = req->from_offset ? req->from_offset : *acked + 1;
        sub.window = req->window_events ? req->window_events : 4096;
        feed_pump(fd);
    }
    if (req) waybill__v1__subscribe_request__free_unpacked(req, NULL);
}

static void acknowledge(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__AcknowledgeRequest *req =
        waybill__v1__acknowledge_request__unpack(NULL, env->payload.len, env->payload.data);
    uint64_t *acked = req ? acked_of(req->consumer, NULL) : NULL;
    if (!acked) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT, "bad consumer", NULL);
    } else {
        if (req->offset > *acked) *acked = req->offset;
        Waybill__V1__ConsumerInfo ci = WAYBILL__V1__CONSUMER_INFO__INIT;
        ci.consumer = req->consumer;
        ci.acknowledged_offset = *acked;
        ci.lag_events = n_orders - *acked;
        Waybill__V1__AcknowledgeResponse resp = WAYBILL__V1__ACKNOWLEDGE_RESPONSE__INIT;
        resp.consumer = &ci;
        fs_send_response(fd, env->call_id, 0, NULL, &resp.base, 1);
        feed_pump(fd);
    }
    if (req) waybill__v1__acknowledge_request__free_unpacked(req, NULL);
}

/* Fulfillment options: a SHIP option per level (every level when none is named, none with
 * pickup_only or without ship_to) from DC-1, COMPLETE, promised 5/2/1 days after the evaluation
 * day, costing 1.00 per unit; a PICKUP option per store (STORE-1 COMPLETE, any other UNAVAILABLE)
 * and per nearby store (NEAR-k, k km away). A query without a channel fails on its own. */
enum { DAY_MS = 86400000 };
#define EVALUATED_AT 1700000000000LL

static const char *enum_name_short(Waybill__V1__ServiceLevel level) {
    return level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_NEXT_DAY    ? "NEXT_DAY"
           : level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED ? "EXPEDITED"
                                                                          : "STANDARD";
}

static Waybill__V1__FulfillmentOption *option_new(void) {
    Waybill__V1__FulfillmentOption *o = calloc(1, sizeof *o);
    waybill__v1__fulfillment_option__init(o);
    return o;
}

static Waybill__V1__Money *money_new(int64_t minor) {
    Waybill__V1__Money *m = calloc(1, sizeof *m);
    waybill__v1__money__init(m);
    m->minor_units = minor;
    m->currency = strdup("USD");
    return m;
}

static void options_for(const Waybill__V1__FulfillmentOptionsQuery *q, size_t index,
                        Waybill__V1__FulfillmentOptionsResult *r) {
    r->query_id = strdup(q->query_id);
    char field[64];
    snprintf(field, sizeof field, "queries[%zu].channel", index);
    if (q->channel == WAYBILL__V1__CHANNEL__CHANNEL_UNSPECIFIED) {
        r->status = calloc(1, sizeof *r->status);
        waybill__v1__status__init(r->status);
        r->status->code = WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT;
        r->status->message = strdup("channel is required");
        r->status->details = calloc(1, sizeof *r->status->details);
        waybill__v1__status_details__init(r->status->details);
        r->status->details->field = strdup(field);
        return;
    }
    static const Waybill__V1__ServiceLevel all[] = {WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_STANDARD,
                                                    WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED,
                                                    WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_NEXT_DAY};
    const Waybill__V1__ServiceLevel *levels = q->n_service_levels ? q->service_levels : all;
    size_t n_levels = q->pickup_only || !q->ship_to ? 0 : q->n_service_levels ? q->n_service_levels : 3;
    size_t n = n_levels + q->n_pickup_location_ids + (size_t)(q->nearby_pickup_stores > 0 ? q->nearby_pickup_stores : 0);
    r->options = calloc(n + 1, sizeof *r->options);
    int64_t units = 0;
    for (size_t i = 0; i < q->n_lines; i++) units += q->lines[i]->quantity;
    int64_t today = EVALUATED_AT / DAY_MS * DAY_MS;
    for (size_t i = 0; i < n_levels; i++) {
        Waybill__V1__FulfillmentOption *o = r->options[r->n_options++] = option_new();
        o->method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_SHIP;
        o->service_level = levels[i];
        o->outcome = WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_COMPLETE;
        int days = levels[i] == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_NEXT_DAY    ? 1
                   : levels[i] == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED ? 2
                                                                                      : 5;
        o->promised_delivery_unix_ms = today + days * (int64_t)DAY_MS;
        o->shipping_cost = money_new(units * 100);
        o->shipment_count = 1;
        Waybill__V1__OptionShipment *sh = calloc(1, sizeof *sh);
        waybill__v1__option_shipment__init(sh);
        sh->location_id = strdup("DC-1");
        sh->carrier_id = strdup("FAKE");
        sh->carrier_service = strdup(enum_name_short(levels[i]));
        sh->shipping_cost = money_new(units * 100);
        sh->transit_days = days;
        sh->processing_day = today / DAY_MS;
        sh->promised_delivery_unix_ms = o->promised_delivery_unix_ms;
        sh->lines = calloc(q->n_lines + 1, sizeof *sh->lines);
        for (size_t l = 0; l < q->n_lines; l++) {
            Waybill__V1__FulfillmentLine *fl = sh->lines[sh->n_lines++] = calloc(1, sizeof *fl);
            waybill__v1__fulfillment_line__init(fl);
            fl->line_id = strdup(q->lines[l]->line_id);
            fl->sku = strdup(q->lines[l]->sku);
            fl->quantity = q->lines[l]->quantity;
        }
        o->shipments = calloc(1, sizeof *o->shipments);
        o->shipments[o->n_shipments++] = sh;
    }
    for (size_t i = 0; i < n - n_levels; i++) { /* named stores, then nearby ones */
        Waybill__V1__FulfillmentOption *o = r->options[r->n_options++] = option_new();
        o->method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP;
        char near[32];
        int nearby = i >= q->n_pickup_location_ids;
        snprintf(near, sizeof near, "NEAR-%zu", i - q->n_pickup_location_ids + 1);
        o->pickup_location_id = strdup(nearby ? near : q->pickup_location_ids[i]);
        if (nearby) o->distance_kilometres = (double)(i - q->n_pickup_location_ids + 1);
        if (nearby || !strcmp(o->pickup_location_id, "STORE-1")) {
            o->outcome = WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_COMPLETE;
            o->promised_delivery_unix_ms = today + DAY_MS;
            o->shipping_cost = money_new(0);
            o->shipment_count = 1;
        } else {
            o->outcome = WAYBILL__V1__FULFILLMENT_OPTION_OUTCOME__FULFILLMENT_OPTION_OUTCOME_UNAVAILABLE;
            char reason[300];
            snprintf(reason, sizeof reason, "%s does not serve store pickup", o->pickup_location_id);
            o->reason = strdup(reason);
        }
    }
    r->policy_version = 1;
}

static void fulfillment_options(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__GetFulfillmentOptionsRequest *req =
        waybill__v1__get_fulfillment_options_request__unpack(NULL, env->payload.len, env->payload.data);
    if (!req || req->n_queries == 0) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT, "no queries", "queries");
    } else {
        /* Built with malloc throughout, so free_unpacked releases it. */
        Waybill__V1__GetFulfillmentOptionsResponse *resp = calloc(1, sizeof *resp);
        waybill__v1__get_fulfillment_options_response__init(resp);
        resp->evaluated_at_unix_ms = EVALUATED_AT;
        resp->results = calloc(req->n_queries, sizeof *resp->results);
        for (size_t i = 0; i < req->n_queries; i++) {
            Waybill__V1__FulfillmentOptionsResult *r = resp->results[resp->n_results++] = calloc(1, sizeof *r);
            waybill__v1__fulfillment_options_result__init(r);
            options_for(req->queries[i], i, r);
        }
        fs_send_response(fd, env->call_id, 0, NULL, &resp->base, 1);
        waybill__v1__get_fulfillment_options_response__free_unpacked(resp, NULL);
    }
    if (req) waybill__v1__get_fulfillment_options_request__free_unpacked(req, NULL);
}

/* Carts, on a fixed clock (EVALUATED_AT). ReserveCart holds every unit: one reservation at
 * DC-1 (SHIP: promised 5/2/1 days out for STANDARD/EXPEDITED/NEXT_DAY) or at the pickup store
 * (ready the next day), expiring ttl_seconds after EVALUATED_AT. The same content again on an
 * active cart is replayed; a converted cart is FAILED_PRECONDITION. */
#define CARTS_MAX 16
static struct { Waybill__V1__Cart *cart; uint8_t *content; size_t content_len; } carts[CARTS_MAX];
static size_t n_carts;

static int find_cart(const char *id, Waybill__V1__Channel channel) {
    for (size_t i = 0; i < n_carts; i++)
        if (carts[i].cart->channel == channel && !strcmp(carts[i].cart->cart_id, id)) return (int)i;
    return -1;
}

static void cart_free_reservations(Waybill__V1__Cart *c) {
    for (size_t i = 0; i < c->n_reservations; i++)
        waybill__v1__option_shipment__free_unpacked(c->reservations[i], NULL);
    free(c->reservations);
    c->reservations = NULL;
    c->n_reservations = 0;
    c->promised_delivery_unix_ms = 0;
}

static void send_cart(int fd, uint64_t call_id, Waybill__V1__Cart *c, int replayed) {
    Waybill__V1__CartResponse resp = WAYBILL__V1__CART_RESPONSE__INIT;
    resp.cart = c;
    resp.replayed = replayed;
    fs_send_response(fd, call_id, 0, NULL, &resp.base, 1);
}

static void reserve_cart(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__ReserveCartRequest *req =
        waybill__v1__reserve_cart_request__unpack(NULL, env->payload.len, env->payload.data);
    int code = 0;
    const char *msg = NULL, *field = NULL;
    if (!req || !req->cart_id[0]) code = 3, msg = "cart_id is required", field = "cart_id";
    else if (!req->channel) code = 3, msg = "channel is required", field = "channel";
    else if (req->n_lines == 0) code = 3, msg = "a cart needs at least one line", field = "lines";
    else if (req->ttl_seconds < 1 || req->ttl_seconds > 86400)
        code = 3, msg = "ttl_seconds must be 1 to 86400", field = "ttl_seconds";
    if (code) {
        reply_error(fd, env->call_id, code, msg, field);
        if (req) waybill__v1__reserve_cart_request__free_unpacked(req, NULL);
        return;
    }
    /* The content: the request without its ttl. */
    int32_t ttl = req->ttl_seconds;
    req->ttl_seconds = 0;
    size_t len = waybill__v1__reserve_cart_request__get_packed_size(req);
    uint8_t *content = malloc(len + 1);
    waybill__v1__reserve_cart_request__pack(req, content);
    int i = find_cart(req->cart_id, req->channel);
    Waybill__V1__Cart *c = i >= 0 ? carts[i].cart : NULL;
    if (c && c->status == WAYBILL__V1__CART_STATUS__CART_STATUS_CONVERTED) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION,
                    "cart was converted: use a new cart id", "cart_id");
    } else if (c && c->status == WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE &&
               carts[i].content_len == len && !memcmp(carts[i].content, content, len)) {
        send_cart(fd, env->call_id, c, 1);
    } else if (!c && n_carts == CARTS_MAX) {
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED, "too many carts", NULL);
    } else {
        if (!c) {
            i = (int)n_carts++;
            c = carts[i].cart = calloc(1, sizeof *c);
            waybill__v1__cart__init(c);
            c->cart_id = strdup(req->cart_id);
            c->channel = req->channel;
            c->created_at_unix_ms = EVALUATED_AT;
        }
        free(carts[i].content);
        carts[i].content = content;
        carts[i].content_len = len;
        content = NULL;
        /* Take the request's lines, ship_to and fulfillment. */
        for (size_t l = 0; l < c->n_lines; l++) waybill__v1__order_line__free_unpacked(c->lines[l], NULL);
        free(c->lines);
        if (c->ship_to) waybill__v1__address__free_unpacked(c->ship_to, NULL);
        if (c->fulfillment) waybill__v1__requested_fulfillment__free_unpacked(c->fulfillment, NULL);
        c->lines = req->lines, c->n_lines = req->n_lines;
        c->ship_to = req->ship_to;
        c->fulfillment = req->fulfillment;
        req->lines = NULL, req->n_lines = 0, req->ship_to = NULL, req->fulfillment = NULL;
        cart_free_reservations(c);
        int pickup = c->fulfillment &&
                     c->fulfillment->method == WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP;
        Waybill__V1__ServiceLevel level = c->fulfillment ? c->fulfillment->service_level : 0;
        int days = pickup ? 1
                   : level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_NEXT_DAY    ? 1
                   : level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_EXPEDITED ? 2
                                                                                  : 5;
        int64_t today = EVALUATED_AT / DAY_MS * DAY_MS;
        Waybill__V1__OptionShipment *sh = calloc(1, sizeof *sh);
        waybill__v1__option_shipment__init(sh);
        sh->location_id = strdup(pickup && c->fulfillment->pickup_location_id[0]
                                     ? c->fulfillment->pickup_location_id : "DC-1");
        if (!pickup) {
            sh->carrier_id = strdup("FAKE");
            sh->carrier_service = strdup(enum_name_short(level));
            sh->transit_days = days;
        }
        int64_t units = 0;
        sh->lines = calloc(c->n_lines + 1, sizeof *sh->lines);
        for (size_t l = 0; l < c->n_lines; l++) {
            Waybill__V1__FulfillmentLine *fl = sh->lines[sh->n_lines++] = calloc(1, sizeof *fl);
            waybill__v1__fulfillment_line__init(fl);
            fl->line_id = strdup(c->lines[l]->line_id);
            fl->sku = strdup(c->lines[l]->sku);
            fl->quantity = c->lines[l]->quantity;
            units += fl->quantity;
        }
        sh->shipping_cost = money_new(pickup ? 0 : units * 100);
        sh->processing_day = today / DAY_MS;
        sh->promised_delivery_unix_ms = today + days * (int64_t)DAY_MS;
        c->reservations = calloc(1, sizeof *c->reservations);
        c->reservations[c->n_reservations++] = sh;
        c->promised_delivery_unix_ms = sh->promised_delivery_unix_ms;
        c->status = WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE;
        c->updated_at_unix_ms = EVALUATED_AT;
        c->expires_at_unix_ms = EVALUATED_AT + ttl * 1000LL;
        c->version++;
        send_cart(fd, env->call_id, c, 0);
    }
    free(content);
    waybill__v1__reserve_cart_request__free_unpacked(req, NULL);
}

static void cart_not_found(int fd, uint64_t call_id, const char *id) {
    char msg[128];
    snprintf(msg, sizeof msg, "cart %.64s not found", id);
    reply_error(fd, call_id, WAYBILL__V1__STATUS_CODE__NOT_FOUND, msg, "cart_id");
}

static void extend_cart(int fd, const Waybill__V1__RequestEnvelope *env) {
    Waybill__V1__ExtendCartRequest *req =
        waybill__v1__extend_cart_request__unpack(NULL, env->payload.len, env->payload.data);
    int i = req ? find_cart(req->cart_id, req->channel) : -1;
    if (!req || req->ttl_seconds < 1 || req->ttl_seconds > 86400)
        reply_error(fd, env->call_id, 3, "ttl_seconds must be 1 to 86400", "ttl_seconds");
    else if (i < 0) cart_not_found(fd, env->call_id, req->cart_id);
    else if (carts[i].cart->status != WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE)
        reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION,
                    "cart is not active: reserve again", "cart_id");
    else {
        Waybill__V1__Cart *c = carts[i].cart;
        c->expires_at_unix_ms = EVALUATED_AT + req->ttl_seconds * 1000LL;
        c->version++;
        send_cart(fd, env->call_id, c, 0);
    }
    if (req) waybill__v1__extend_cart_request__free_unpacked(req, NULL);
}

static void release_or_get_cart(int fd, const Waybill__V1__RequestEnvelope *env, int release) {
    Waybill__V1__CartRequest *req =
        waybill__v1__cart_request__unpack(NULL, env->payload.len, env->payload.data);
    int i = req ? find_cart(req->cart_id, req->channel) : -1;
    if (!req) reply_error(fd, env->call_id, 3, "bad request", NULL);
    else if (i < 0) cart_not_found(fd, env->call_id, req->cart_id);
    else {
        Waybill__V1__Cart *c = carts[i].cart;
        int replayed = 0;
        if (release && c->status == WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE) {
            c->status = WAYBILL__V1__CART_STATUS__CART_STATUS_RELEASED;
            cart_free_reservations(c);
            c->version++;
        } else if (release) {
            replayed = 1;
        }
        send_cart(fd, env->call_id, c, replayed);
    }
    if (req) waybill__v1__cart_request__free_unpacked(req, NULL);
}

/* A captured order naming an active cart of its channel converts it. */
static void cart_converted(const Waybill__V1__Order *o) {
    if (!o->cart_id || !o->cart_id[0]) return;
    int i = find_cart(o->cart_id, o->channel);
    if (i < 0 || carts[i].cart->status != WAYBILL__V1__CART_STATUS__CART_STATUS_ACTIVE) return;
    Waybill__V1__Cart *c = carts[i].cart;
    c->status = WAYBILL__V1__CART_STATUS__CART_STATUS_CONVERTED;
    c->order_id = strdup(o->order_id);
    cart_free_reservations(c);
    c->version++;
}

static const char *required_token;

static int authenticated(const Waybill__V1__RequestEnvelope *env) {
    if (!required_token) return 1;
    for (size_t i = 0; i < env->n_metadata; i++)
        if (!strcmp(env->metadata[i]->key, "authorization"))
            return !strncmp(env->metadata[i]->value, "Bearer ", 7) &&
                   !strcmp(env->metadata[i]->value + 7, required_token);
    return 0;
}

static void handle(int fd, void *arg) {
    (void)arg;
    memset(&sub, 0, sizeof sub);
    Waybill__V1__RequestEnvelope *env;
    while ((env = fs_read_request(fd)) != NULL) {
        const char *m = env->method;
        if (!authenticated(env))
            reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__UNAUTHENTICATED,
                        "unauthenticated", NULL);
        else if (!strcmp(m, "/waybill.v1.OrderService/CaptureOrder")) capture(fd, env);
        else if (!strcmp(m, "/waybill.v1.OrderService/GetOrder")) get_order(fd, env);
        else if (!strcmp(m, "/waybill.v1.InventoryService/GetAvailability")) availability(fd, env);
        else if (!strcmp(m, "/waybill.v1.CheckoutService/GetFulfillmentOptions"))
            fulfillment_options(fd, env);
        else if (!strcmp(m, "/waybill.v1.CheckoutService/ReserveCart")) reserve_cart(fd, env);
        else if (!strcmp(m, "/waybill.v1.CheckoutService/ExtendCart")) extend_cart(fd, env);
        else if (!strcmp(m, "/waybill.v1.CheckoutService/ReleaseCart")) release_or_get_cart(fd, env, 1);
        else if (!strcmp(m, "/waybill.v1.CheckoutService/GetCart")) release_or_get_cart(fd, env, 0);
        else if (!strcmp(m, "/waybill.v1.ChangeFeedService/Subscribe")) subscribe(fd, env);
        else if (!strcmp(m, "/waybill.v1.ChangeFeedService/Acknowledge")) acknowledge(fd, env);
        else reply_error(fd, env->call_id, WAYBILL__V1__STATUS_CODE__UNIMPLEMENTED, m, NULL);
        waybill__v1__request_envelope__free_unpacked(env, NULL);
    }
}

int main(int argc, char **argv) {
    fake_server s;
    int port = argc > 1 && argv[1][0] != '-' ? atoi(argv[1]) : 0;
    fs_tls_options tls = {0};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
            tls.cert_file = argv[i + 1];
            tls.key_file = argv[i + 2];
        }
    required_token = getenv("FAKE_WAYBILL_TOKEN");
    if (fs_start_tls(&s, port, 1 << 30, handle, NULL, tls.cert_file ? &tls : NULL)) {
        perror("fake_waybill");
        return 1;
    }
    printf("%d\n", s.port);
    fflush(stdout);
    fs_join(&s);
    return 0;
}
