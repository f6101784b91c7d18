/* cli.c - waybill-c, a small command-line client built on libwaybill. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "order_file.h"
#include "waybill.h"

static const char usage[] =
    "usage: waybill-c [--server HOST:PORT] [--client-id NAME] [--timeout MS]\n"
    "                 [--token-file FILE] [--tls] [--tls-ca FILE] [--tls-server-name NAME]\n"
    "                 [--tls-cert FILE --tls-key FILE] COMMAND ...\n"
    "  capture-order FILE                  capture the order in FILE (see README; - = stdin)\n"
    "  get-order ORDER_ID                  print an order\n"
    "  availability [--channel CH] SKU...  inventory positions (and network availability)\n"
    "  options FILE [--service-level L]... [--pickup STORE]... [--nearby N] [--pickup-only]\n"
    "                                      fulfillment options for the cart in FILE (its channel,\n"
    "                                      lines and ship_to), reserving nothing\n"
    "  reserve-cart FILE --cart-id ID --ttl SECONDS [--pickup STORE]\n"
    "                                      hold stock for the cart in FILE (its channel, lines,\n"
    "                                      ship_to and fulfillment) for SECONDS\n"
    "  extend-cart --cart-id ID --channel CH --ttl SECONDS\n"
    "                                      hold a cart's stock until SECONDS from now\n"
    "  release-cart --cart-id ID --channel CH   give a cart's stock back\n"
    "  get-cart --cart-id ID --channel CH  print a cart\n"
    "  subscribe CONSUMER [--from OFFSET] [--count N] [--window N]\n"
    "                                      print change-feed events, acknowledging as it goes\n"
    "The server defaults to $WAYBILL_SERVER. The bearer token comes from --token-file, else\n"
    "$WAYBILL_TOKEN, else the file $WAYBILL_TOKEN_FILE (never from the command line, where\n"
    "other users could read it). --tls connects with TLS, verifying the server against the\n"
    "system's CAs; --tls-ca FILE (default $WAYBILL_TLS_CA) verifies it against FILE instead,\n"
    "and any --tls-* option implies --tls.\n";

static int usage_error(const char *msg) {
    if (msg) fprintf(stderr, "waybill-c: %s\n", msg);
    fputs(usage, stderr);
    return 2;
}

static int fail(const waybill_status *st) {
    fprintf(stderr, "%s: %s", waybill_code_name(st->code), st->message);
    if (st->field[0]) fprintf(stderr, " (field %s)", st->field);
    fputc('\n', stderr);
    return 1;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (!s || *s == '-' || !*s) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* "host:port" or "[v6]:port". */
static int split_server(const char *s, char *host, size_t host_size, int *port) {
    const char *colon = strrchr(s, ':');
    uint64_t p;
    if (!colon || colon == s || parse_u64(colon + 1, &p) || p == 0 || p > 65535) return -1;
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= host_size) return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return 0;
}

/* Reads a bearer token file: only its owner may read it (as `waybill` requires), one line,
 * trailing whitespace dropped. Returns 0, or 2 with a message (which never quotes the file's
 * content). */
static int read_token_file(const char *path, char *token, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "waybill-c: token file %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct stat info;
    if (fstat(fileno(f), &info) == 0 && (info.st_mode & 077)) {
        fprintf(stderr,
                "waybill-c: token file %s: mode %o lets others read it; make it 0600 (chmod 600 %s)\n",
                path, (unsigned)(info.st_mode & 0777), path);
        fclose(f);
        return 2;
    }
    size_t n = fread(token, 1, size - 1, f);
    int too_long = n == size - 1 && fgetc(f) != EOF;
    int failed = ferror(f);
    fclose(f);
    token[n] = '\0';
    while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' ' ||
                     token[n - 1] == '\t'))
        token[--n] = '\0';
    if (failed || too_long || n == 0 || memchr(token, '\n', n)) {
        fprintf(stderr, "waybill-c: token file %s: %s\n", path,
                failed     ? "read error"
                : too_long ? "longer than a token can be"
                : n == 0   ? "empty"
                           : "more than one line");
        OPENSSL_cleanse(token, size);
        return 2;
    }
    return 0;
}

static int cmd_capture(waybill_client *c, int argc, char **argv) {
    if (argc != 1) return usage_error("capture-order takes one FILE");
    char err[256];
    Waybill__V1__Order *order = order_file_read(argv[0], err, sizeof err);
    if (!order) {
        fprintf(stderr, "waybill-c: %s\n", err);
        return 2;
    }
    Waybill__V1__CaptureOrderResponse *resp = NULL;
    waybill_status st;
    waybill_capture_order(c, order, &resp, &st);
    waybill__v1__order__free_unpacked(order, NULL);
    if (st.code) return fail(&st);
    if (resp->order) order_print(stdout, resp->order);
    if (resp->replayed) printf("  %-12s yes (already captured with the same content)\n", "replayed");
    waybill__v1__capture_order_response__free_unpacked(resp, NULL);
    return 0;
}

static int cmd_get_order(waybill_client *c, int argc, char **argv) {
    if (argc != 1) return usage_error("get-order takes one ORDER_ID");
    Waybill__V1__Order *order = NULL;
    waybill_status st;
    if (waybill_get_order(c, argv[0], &order, &st)) return fail(&st);
    order_print(stdout, order);
    waybill__v1__order__free_unpacked(order, NULL);
    return 0;
}

static int cmd_availability(waybill_client *c, int argc, char **argv) {
    Waybill__V1__Channel channel = WAYBILL__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    if (argc >= 2 && !strcmp(argv[0], "--channel")) {
        const ProtobufCEnumValue *v = NULL;
        char name[64];
        if (strlen(argv[1]) < sizeof name - 8) {
            snprintf(name, sizeof name, "CHANNEL_%s", argv[1]);
            v = protobuf_c_enum_descriptor_get_value_by_name(&waybill__v1__channel__descriptor, name);
            if (!v)
                v = protobuf_c_enum_descriptor_get_value_by_name(&waybill__v1__channel__descriptor,
                                                                 argv[1]);
        }
        if (!v) return usage_error("unknown channel (WEB, STORE_POS, ...)");
        channel = (Waybill__V1__Channel)v->value;
        argc -= 2;
        argv += 2;
    }
    if (argc < 1) return usage_error("availability takes at least one SKU");
    Waybill__V1__GetAvailabilityResponse *resp = NULL;
    waybill_status st;
    if (waybill_get_availability(c, (const char *const *)argv, (size_t)argc, channel, &resp, &st))
        return fail(&st);
    if (resp->n_positions == 0 && resp->n_network == 0) printf("no stock reported\n");
    for (size_t i = 0; i < resp->n_positions; i++) {
        const Waybill__V1__InventoryPosition *p = resp->positions[i];
        printf("%-16s %-12s on hand %" PRId64 "  reserved %" PRId64 "  safety %" PRId64
               "  available %" PRId64 "\n",
               p->sku, p->location_id, p->on_hand, p->reserved, p->safety_stock, p->available);
    }
    for (size_t i = 0; i < resp->n_network; i++) {
        const Waybill__V1__NetworkAvailability *n = resp->network[i];
        printf("%-16s network (%s)  available %" PRId64 " at %d locations\n", n->sku,
               enum_name(&waybill__v1__channel__descriptor, n->channel), n->available,
               (int)n->locations_with_stock);
    }
    waybill__v1__get_availability_response__free_unpacked(resp, NULL);
    return 0;
}

static const char options_usage[] =
    "options FILE [--service-level STANDARD|EXPEDITED|NEXT_DAY]... [--pickup STORE]... "
    "[--nearby N] [--pickup-only]";

/* CheckoutService/GetFulfillmentOptions for the cart of an order file: its channel, lines and
 * ship_to (external_order_id, if any, is the query id; its fulfillment keys are not used). */
static int cmd_options(waybill_client *c, int argc, char **argv) {
    const char *file = NULL;
    uint64_t nearby = 0;
    int pickup_only = 0;
    /* At most argc of each; the store names point into argv. */
    Waybill__V1__ServiceLevel *levels = calloc((size_t)argc + 1, sizeof *levels);
    char **stores = calloc((size_t)argc + 1, sizeof *stores);
    size_t n_levels = 0, n_stores = 0;
    int rc = 0;
    if (!levels || !stores) {
        fputs("out of memory\n", stderr);
        rc = 1;
    }
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        int level;
        if (!strcmp(a, "--pickup-only")) pickup_only = 1;
        else if (!strcmp(a, "--service-level") && i + 1 < argc) {
            if (enum_value(&waybill__v1__service_level__descriptor, "SERVICE_LEVEL_", argv[++i], &level) ||
                level == WAYBILL__V1__SERVICE_LEVEL__SERVICE_LEVEL_UNSPECIFIED)
                rc = usage_error("unknown service level (STANDARD, EXPEDITED, NEXT_DAY)");
            else levels[n_levels++] = (Waybill__V1__ServiceLevel)level;
        } else if (!strcmp(a, "--pickup") && i + 1 < argc && argv[i + 1][0]) {
            stores[n_stores++] = argv[++i];
        } else if (!strcmp(a, "--nearby") && i + 1 < argc) {
            if (parse_u64(argv[++i], &nearby) || nearby > INT32_MAX)
                rc = usage_error("--nearby takes a number of stores");
        } else if (a[0] == '-' && a[1]) {
            rc = usage_error(options_usage);
        } else if (file) {
            rc = usage_error("options takes one FILE");
        } else {
            file = a;
        }
    }
    if (rc == 0 && !file) rc = usage_error(options_usage);
    Waybill__V1__Order *order = NULL;
    if (rc == 0) {
        char err[256];
        order = order_file_read(file, err, sizeof err);
        if (!order) {
            fprintf(stderr, "waybill-c: %s\n", err);
            rc = 2;
        }
    }
    if (rc == 0) {
        /* The query borrows the order's fields and our arrays: nothing of it is freed alone. */
        Waybill__V1__FulfillmentOptionsQuery q = WAYBILL__V1__FULFILLMENT_OPTIONS_QUERY__INIT;
        q.query_id = order->external_order_id;
        q.channel = order->channel;
        q.lines = order->lines;
        q.n_lines = order->n_lines;
        q.ship_to = order->ship_to;
        q.service_levels = levels;
        q.n_service_levels = n_levels;
        q.pickup_location_ids = stores;
        q.n_pickup_location_ids = n_stores;
        q.nearby_pickup_stores = (int32_t)nearby;
        q.pickup_only = pickup_only;
        const Waybill__V1__FulfillmentOptionsQuery *queries[] = {&q};
        Waybill__V1__GetFulfillmentOptionsResponse *resp = NULL;
        waybill_status st;
        if (waybill_get_fulfillment_options(c, queries, 1, &resp, &st)) {
            rc = fail(&st);
        } else {
            const Waybill__V1__FulfillmentOptionsResult *r = resp->results[0];
            if (waybill_result_status(r->status, &st)) rc = fail(&st); /* this cart failed */
            else options_print(stdout, r, resp->evaluated_at_unix_ms);
            waybill__v1__get_fulfillment_options_response__free_unpacked(resp, NULL);
        }
        waybill__v1__order__free_unpacked(order, NULL);
    }
    free(levels);
    free(stores);
    return rc;
}

/* ---- carts ---- */

typedef enum { CART_RESERVE, CART_EXTEND, CART_RELEASE, CART_GET } cart_cmd;

static const char *const cart_usage[] = {
    "reserve-cart FILE --cart-id ID --ttl SECONDS [--pickup STORE]",
    "extend-cart --cart-id ID --channel CH --ttl SECONDS",
    "release-cart --cart-id ID --channel CH",
    "get-cart --cart-id ID --channel CH",
};

/* The four cart commands: options parsed alike, then one call and the cart printed. reserve-cart
 * takes the channel, lines, ship_to and fulfillment from an order file (its cart_id, if any, is
 * the default --cart-id); --pickup STORE asks for store pickup there instead. */
static int cmd_cart(waybill_client *c, int argc, char **argv, cart_cmd which) {
    const char *file = NULL, *cart_id = NULL, *store = NULL;
    uint64_t ttl = 0;
    int have_ttl = 0, channel = 0, rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--cart-id") && i + 1 < argc && argv[i + 1][0]) cart_id = argv[++i];
        else if (!strcmp(a, "--ttl") && i + 1 < argc && which <= CART_EXTEND) {
            if (parse_u64(argv[++i], &ttl) || ttl == 0 || ttl > INT32_MAX)
                rc = usage_error("--ttl takes a number of seconds (at least 1)");
            have_ttl = 1;
        } else if (!strcmp(a, "--channel") && i + 1 < argc && which != CART_RESERVE) {
            if (enum_value(&waybill__v1__channel__descriptor, "CHANNEL_", argv[++i], &channel) ||
                channel == WAYBILL__V1__CHANNEL__CHANNEL_UNSPECIFIED)
                rc = usage_error("unknown channel");
        } else if (!strcmp(a, "--pickup") && i + 1 < argc && argv[i + 1][0] && which == CART_RESERVE) {
            store = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            rc = usage_error(cart_usage[which]);
        } else if (file || which != CART_RESERVE) {
            rc = usage_error(cart_usage[which]);
        } else {
            file = a;
        }
    }
    if (rc) return rc;
    if (which == CART_RESERVE ? !file : !cart_id || !channel) return usage_error(cart_usage[which]);
    if (which <= CART_EXTEND && !have_ttl) return usage_error(cart_usage[which]);
    Waybill__V1__CartResponse *resp = NULL;
    waybill_status st;
    if (which == CART_RESERVE) {
        char err[256];
        Waybill__V1__Order *order = order_file_read(file, err, sizeof err);
        if (!order) {
            fprintf(stderr, "waybill-c: %s\n", err);
            return 2;
        }
        if (!cart_id && order->cart_id && *order->cart_id) cart_id = order->cart_id;
        if (!cart_id) {
            waybill__v1__order__free_unpacked(order, NULL);
            return usage_error("reserve-cart needs --cart-id ID (or cart_id in FILE)");
        }
        /* The request borrows the order's fields: nothing of it is freed alone. */
        Waybill__V1__RequestedFulfillment pickup = WAYBILL__V1__REQUESTED_FULFILLMENT__INIT;
        pickup.method = WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP;
        pickup.pickup_location_id = (char *)store;
        Waybill__V1__ReserveCartRequest req = WAYBILL__V1__RESERVE_CART_REQUEST__INIT;
        req.cart_id = (char *)cart_id;
        req.channel = order->channel;
        req.lines = order->lines;
        req.n_lines = order->n_lines;
        req.ship_to = order->ship_to;
        req.fulfillment = store ? &pickup : order->fulfillment;
        req.ttl_seconds = (int32_t)ttl;
        rc = waybill_reserve_cart(c, &req, &resp, &st);
        waybill__v1__order__free_unpacked(order, NULL);
    } else if (which == CART_EXTEND) {
        rc = waybill_extend_cart(c, cart_id, (Waybill__V1__Channel)channel, (int32_t)ttl, &resp, &st);
    } else if (which == CART_RELEASE) {
        rc = waybill_release_cart(c, cart_id, (Waybill__V1__Channel)channel, &resp, &st);
    } else {
        rc = waybill_get_cart(c, cart_id, (Waybill__V1__Channel)channel, &resp, &st);
    }
    if (rc) return fail(&st);
    cart_print(stdout, resp);
    waybill__v1__cart_response__free_unpacked(resp, NULL);
    return 0;
}

static int cmd_reserve_cart(waybill_client *c, int argc, char **argv) { return cmd_cart(c, argc, argv, CART_RESERVE); }
static int cmd_extend_cart(waybill_client *c, int argc, char **argv) { return cmd_cart(c, argc, argv, CART_EXTEND); }
static int cmd_release_cart(waybill_client *c, int argc, char **argv) { return cmd_cart(c, argc, argv, CART_RELEASE); }
static int cmd_get_cart(waybill_client *c, int argc, char **argv) { return cmd_cart(c, argc, argv, CART_GET); }

static void print_event(const Waybill__V1__ChangeEvent *e) {
    printf("%-6" PRIu64 " %-28s %s %s seq %" PRId64, e->offset, e->type, e->aggregate_type,
           e->aggregate_id, e->aggregate_sequence);
    if (e->order)
        printf("  status %s", enum_name(&waybill__v1__order_status__descriptor, e->order->status));
    if (e->position)
        printf("  on hand %" PRId64 " reserved %" PRId64 " available %" PRId64,
               e->position->on_hand, e->position->reserved, e->position->available);
    if (e->detail && *e->detail) printf("  (%s)", e->detail);
    putchar('\n');
}

static int cmd_subscribe(waybill_client *c, int argc, char **argv) {
    if (argc < 1 || argv[0][0] == '-') return usage_error("subscribe takes a CONSUMER");
    const char *consumer = argv[0];
    uint64_t from = 0, count = 0, window = 0;
    for (int i = 1; i < argc; i += 2) {
        uint64_t *target = !strcmp(argv[i], "--from")     ? &from
                           : !strcmp(argv[i], "--count")  ? &count
                           : !strcmp(argv[i], "--window") ? &window
                                                          : NULL;
        if (!target || i + 1 >= argc || parse_u64(argv[i + 1], target))
            return usage_error("subscribe CONSUMER [--from OFFSET] [--count N] [--window N]");
    }
    if (window > UINT32_MAX) return usage_error("--window too large");
    waybill_status st;
    if (waybill_subscribe(c, consumer, from, (uint32_t)window, 0, &st)) return fail(&st);
    uint64_t seen = 0;
    while (count == 0 || seen < count) {
        Waybill__V1__SubscribeResponse *batch = NULL;
        if (waybill_next_events(c, -1, &batch, &st)) return fail(&st);
        uint64_t last = 0;
        for (size_t i = 0; i < batch->n_events && (count == 0 || seen < count); i++, seen++) {
            print_event(batch->events[i]);
            last = batch->events[i]->offset;
        }
        waybill__v1__subscribe_response__free_unpacked(batch, NULL);
        fflush(stdout);
        if (last && waybill_acknowledge(c, consumer, last, NULL, &st)) return fail(&st);
    }
    if (waybill_cancel_subscription(c, &st)) return fail(&st);
    return 0;
}

int main(int argc, char **argv) {
    const char *server = getenv("WAYBILL_SERVER");
    const char *token_file = NULL;
    waybill_options opts = {.client_id = "waybill-c"};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--tls")) {
            opts.tls = 1;
            i--; /* no value */
            continue;
        }
        if (!strcmp(argv[i], "--token") || !strncmp(argv[i], "--token=", 8))
            return usage_error("a token on the command line is visible to other users: use "
                               "--token-file FILE or $WAYBILL_TOKEN");
        if (i + 1 >= argc) return usage_error("option needs a value");
        uint64_t ms;
        if (!strcmp(argv[i], "--server")) server = argv[i + 1];
        else if (!strcmp(argv[i], "--client-id")) opts.client_id = argv[i + 1];
        else if (!strcmp(argv[i], "--timeout") && !parse_u64(argv[i + 1], &ms) && ms > 0 &&
                 ms < 86400000)
            opts.call_timeout_ms = opts.connect_timeout_ms = (int)ms;
        else if (!strcmp(argv[i], "--token-file")) token_file = argv[i + 1];
        else if (!strcmp(argv[i], "--tls-ca")) opts.tls_ca_file = argv[i + 1];
        else if (!strcmp(argv[i], "--tls-server-name")) opts.tls_server_name = argv[i + 1];
        else if (!strcmp(argv[i], "--tls-cert")) opts.tls_cert_file = argv[i + 1];
        else if (!strcmp(argv[i], "--tls-key")) opts.tls_key_file = argv[i + 1];
        else return usage_error("unknown or bad option");
    }
    if (i >= argc) return usage_error(NULL);
    const char *cmd = argv[i++];
    int (*run)(waybill_client *, int, char **) =
        !strcmp(cmd, "capture-order") ? cmd_capture
        : !strcmp(cmd, "get-order")   ? cmd_get_order
        : !strcmp(cmd, "availability") ? cmd_availability
        : !strcmp(cmd, "options")     ? cmd_options
        : !strcmp(cmd, "reserve-cart") ? cmd_reserve_cart
        : !strcmp(cmd, "extend-cart") ? cmd_extend_cart
        : !strcmp(cmd, "release-cart") ? cmd_release_cart
        : !strcmp(cmd, "get-cart")    ? cmd_get_cart
        : !strcmp(cmd, "subscribe")   ? cmd_subscribe
                                      : NULL;
    if (!run) return usage_error("unknown command");
    if (!server || !*server) return usage_error("no server: pass --server HOST:PORT or set WAYBILL_SERVER");
    char host[256];
    int port;
    if (split_server(server, host, sizeof host, &port)) return usage_error("bad --server, expected HOST:PORT");

    /* The library copies the token at connect; our copy is wiped right after. */
    char token[WAYBILL_TOKEN_BYTES_MAX + 2];
    const char *env_token = getenv("WAYBILL_TOKEN"), *env_token_file = getenv("WAYBILL_TOKEN_FILE");
    if (!token_file && !(env_token && *env_token) && env_token_file && *env_token_file)
        token_file = env_token_file;
    if (token_file) {
        int rc = read_token_file(token_file, token, sizeof token);
        if (rc) return rc;
        opts.token = token;
    } else if (env_token && *env_token) {
        opts.token = env_token;
    }
    /* As `waybill call`: $WAYBILL_TLS_CA unless --tls-ca or --tls chose the trust roots. */
    const char *env_ca = getenv("WAYBILL_TLS_CA");
    if (!opts.tls_ca_file && !opts.tls && env_ca && *env_ca) opts.tls_ca_file = env_ca;
    waybill_status st;
    waybill_client *c = waybill_connect(host, port, &opts, &st);
    OPENSSL_cleanse(token, sizeof token);
    if (!c) return fail(&st);
    int rc = run(c, argc - i, argv + i);
    waybill_close(c);
    return rc;
}
