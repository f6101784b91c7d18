/* order_file.c - parse the CLI's order file format, print orders readably. */
#define _POSIX_C_SOURCE 200809L

#include "order_file.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* Appends p to a malloc'ed pointer array. */
static void push(void *arr_field, size_t *n, void *p) {
    void ***arr = arr_field;
    void **grown = realloc(*arr, (*n + 1) * sizeof **arr);
    if (!grown) {
        fputs("out of memory\n", stderr);
        exit(1);
    }
    grown[(*n)++] = p;
    *arr = grown;
}

static void set_str(char **field, const char *v) {
    if (*field && *field != protobuf_c_empty_string) free(*field);
    *field = xstrdup(v);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* Enum value by name, with or without its prefix, case-insensitive. */
static int parse_enum(const ProtobufCEnumDescriptor *d, const char *prefix, const char *v,
                      int *out) {
    char name[128];
    size_t plen = strlen(prefix);
    if (strlen(v) + plen + 1 > sizeof name) return -1;
    for (int pass = 0; pass < 2; pass++) {
        size_t k = 0;
        if (pass == 1) {
            memcpy(name, prefix, plen);
            k = plen;
        }
        for (const char *p = v; *p; p++) name[k++] = (char)toupper((unsigned char)*p);
        name[k] = '\0';
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(d, name);
        if (ev) {
            *out = ev->value;
            return 0;
        }
    }
    return -1;
}

int enum_value(const ProtobufCEnumDescriptor *d, const char *prefix, const char *name, int *out) {
    return parse_enum(d, prefix, name, out);
}

static int parse_i64(const char *v, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) return -1;
    *out = x;
    return 0;
}

const char *enum_name(const ProtobufCEnumDescriptor *d, int value) {
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, value);
    if (!ev) return "?";
    /* Strip the prefix shared with the first value, e.g. "ORDER_STATUS_" of
     * "ORDER_STATUS_UNSPECIFIED". */
    const char *first = d->values[0].name;
    const char *u = strstr(first, "UNSPECIFIED");
    size_t plen = u ? (size_t)(u - first) : 0;
    if (plen && strncmp(ev->name, first, plen) == 0) return ev->name + plen;
    return ev->name;
}

static Waybill__V1__Address *ship_to(Waybill__V1__Order *o) {
    if (!o->ship_to) {
        o->ship_to = xmalloc(sizeof *o->ship_to);
        waybill__v1__address__init(o->ship_to);
    }
    return o->ship_to;
}

static Waybill__V1__Coordinates *coordinates(Waybill__V1__Order *o) {
    Waybill__V1__Address *a = ship_to(o);
    if (!a->coordinates) {
        a->coordinates = xmalloc(sizeof *a->coordinates);
        waybill__v1__coordinates__init(a->coordinates);
    }
    return a->coordinates;
}

/* Decimal degrees within [min, max]; "nan", "inf" and trailing junk are refused. */
static int parse_degrees(const char *v, double min, double max, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= min && x <= max)) return -1;
    *out = x;
    return 0;
}

static Waybill__V1__Customer *customer(Waybill__V1__Order *o) {
    if (!o->customer) {
        o->customer = xmalloc(sizeof *o->customer);
        waybill__v1__customer__init(o->customer);
    }
    return o->customer;
}

static Waybill__V1__RequestedFulfillment *fulfillment(Waybill__V1__Order *o) {
    if (!o->fulfillment) {
        o->fulfillment = xmalloc(sizeof *o->fulfillment);
        waybill__v1__requested_fulfillment__init(o->fulfillment);
    }
    return o->fulfillment;
}

/* "line = LINE_ID SKU QUANTITY UNIT_PRICE_MINOR CURRENCY" */
static int parse_line(Waybill__V1__Order *o, char *v) {
    char *tok[6], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(v, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 6) return -1;
        tok[n++] = t;
    }
    int64_t qty, price;
    if (n != 5 || parse_i64(tok[2], INT32_MIN, INT32_MAX, &qty) ||
        parse_i64(tok[3], INT64_MIN, INT64_MAX, &price))
        return -1;
    Waybill__V1__OrderLine *l = xmalloc(sizeof *l);
    waybill__v1__order_line__init(l);
    set_str(&l->line_id, tok[0]);
    set_str(&l->sku, tok[1]);
    l->quantity = (int32_t)qty;
    l->unit_price = xmalloc(sizeof *l->unit_price);
    waybill__v1__money__init(l->unit_price);
    l->unit_price->minor_units = price;
    set_str(&l->unit_price->currency, tok[4]);
    push(&o->lines, &o->n_lines, l);
    return 0;
}

/* Which of ship_to.latitude / ship_to.longitude a file gave: both or neither. */
enum { HAS_LATITUDE = 1, HAS_LONGITUDE = 2 };

static int parse_pair(Waybill__V1__Order *o, const char *k, char *v, int *coordinates_given) {
    int e;
    int64_t x;
    double degrees;
    if (!strcmp(k, "channel")) {
        if (parse_enum(&waybill__v1__channel__descriptor, "CHANNEL_", v, &e)) return -1;
        o->channel = (Waybill__V1__Channel)e;
    } else if (!strcmp(k, "external_order_id")) set_str(&o->external_order_id, v);
    else if (!strcmp(k, "cart_id")) set_str(&o->cart_id, v);
    else if (!strcmp(k, "created_at_unix_ms")) {
        if (parse_i64(v, 0, INT64_MAX, &x)) return -1;
        o->created_at_unix_ms = x;
    } else if (!strcmp(k, "customer.id")) set_str(&customer(o)->customer_id, v);
    else if (!strcmp(k, "customer.name")) set_str(&customer(o)->name, v);
    else if (!strcmp(k, "customer.email")) set_str(&customer(o)->email, v);
    else if (!strcmp(k, "customer.phone")) set_str(&customer(o)->phone, v);
    else if (!strcmp(k, "ship_to.name")) set_str(&ship_to(o)->name, v);
    else if (!strcmp(k, "ship_to.line")) {
        Waybill__V1__Address *a = ship_to(o);
        push(&a->lines, &a->n_lines, xstrdup(v));
    } else if (!strcmp(k, "ship_to.city")) set_str(&ship_to(o)->city, v);
    else if (!strcmp(k, "ship_to.region")) set_str(&ship_to(o)->region, v);
    else if (!strcmp(k, "ship_to.postal_code")) set_str(&ship_to(o)->postal_code, v);
    else if (!strcmp(k, "ship_to.country")) set_str(&ship_to(o)->country, v);
    else if (!strcmp(k, "ship_to.phone")) set_str(&ship_to(o)->phone, v);
    else if (!strcmp(k, "ship_to.latitude")) {
        if (parse_degrees(v, -90, 90, &degrees)) return -1;
        coordinates(o)->latitude = degrees;
        *coordinates_given |= HAS_LATITUDE;
    } else if (!strcmp(k, "ship_to.longitude")) {
        if (parse_degrees(v, -180, 180, &degrees)) return -1;
        coordinates(o)->longitude = degrees;
        *coordinates_given |= HAS_LONGITUDE;
    }
    else if (!strcmp(k, "fulfillment")) {
        if (parse_enum(&waybill__v1__fulfillment_method__descriptor, "FULFILLMENT_METHOD_", v, &e))
            return -1;
        fulfillment(o)->method = (Waybill__V1__FulfillmentMethod)e;
    } else if (!strcmp(k, "pickup_location_id")) set_str(&fulfillment(o)->pickup_location_id, v);
    else if (!strcmp(k, "service_level")) {
        if (parse_enum(&waybill__v1__service_level__descriptor, "SERVICE_LEVEL_", v, &e))
            return -1;
        fulfillment(o)->service_level = (Waybill__V1__ServiceLevel)e;
    } else if (!strncmp(k, "attribute.", 10) && k[10]) {
        Waybill__V1__Order__AttributesEntry *a = xmalloc(sizeof *a);
        waybill__v1__order__attributes_entry__init(a);
        set_str(&a->key, k + 10);
        set_str(&a->value, v);
        push(&o->attributes, &o->n_attributes, a);
    } else if (!strcmp(k, "line")) {
        return parse_line(o, v);
    } else {
        return -2;
    }
    return 0;
}

Waybill__V1__Order *order_file_parse(const char *text, char *err, size_t err_size) {
    Waybill__V1__Order *o = xmalloc(sizeof *o);
    waybill__v1__order__init(o);
    char *copy = xstrdup(text);
    int lineno = 0, rc = 0, coordinates_given = 0;
    char *line = copy, *next;
    for (; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, err_size, "line %d: expected KEY = VALUE", lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        int r = parse_pair(o, k, v, &coordinates_given);
        if (r == -2) snprintf(err, err_size, "line %d: unknown key '%s'", lineno, k);
        else if (r && !strcmp(k, "line"))
            snprintf(err, err_size,
                     "line %d: expected line = LINE_ID SKU QUANTITY UNIT_PRICE_MINOR CURRENCY",
                     lineno);
        else if (r) snprintf(err, err_size, "line %d: bad value for '%s'", lineno, k);
        rc = r;
    }
    if (rc == 0 && coordinates_given && coordinates_given != (HAS_LATITUDE | HAS_LONGITUDE)) {
        snprintf(err, err_size, "ship_to.latitude and ship_to.longitude go together: give both or neither");
        rc = -1;
    }
    free(copy);
    if (rc) {
        waybill__v1__order__free_unpacked(o, NULL);
        return NULL;
    }
    return o;
}

Waybill__V1__Order *order_file_read(const char *path, char *err, size_t err_size) {
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *text = xmalloc(cap);
    size_t r;
    while ((r = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 2) {
            char *grown = realloc(text, cap * 2);
            if (!grown) {
                fputs("out of memory\n", stderr);
                exit(1);
            }
            text = grown;
            cap *= 2;
        }
    }
    text[len] = '\0';
    int failed = ferror(f);
    if (f != stdin) fclose(f);
    Waybill__V1__Order *o = NULL;
    if (failed) snprintf(err, err_size, "%s: read error", path);
    else if (memchr(text, '\0', len)) snprintf(err, err_size, "%s: not a text file", path);
    else o = order_file_parse(text, err, err_size);
    free(text);
    return o;
}

/* ---- printing ---- */

static void print_money(FILE *f, const Waybill__V1__Money *m) {
    if (!m) {
        fputs("-", f);
        return;
    }
    static const char *const zero_decimal[] = {"JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX"};
    for (size_t i = 0; i < sizeof zero_decimal / sizeof *zero_decimal; i++) {
        if (m->currency && !strcmp(m->currency, zero_decimal[i])) {
            fprintf(f, "%" PRId64 " %s", m->minor_units, m->currency);
            return;
        }
    }
    int64_t u = m->minor_units;
    uint64_t a = u < 0 ? 0 - (uint64_t)u : (uint64_t)u;
    fprintf(f, "%s%" PRIu64 ".%02" PRIu64 " %s", u < 0 ? "-" : "", a / 100, a % 100,
            m->currency ? m->currency : "");
}

static void print_time(FILE *f, const char *label, int64_t ms) {
    if (ms <= 0) return;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        fprintf(f, "  %-12s %s\n", label, buf);
}

static int set(const char *s) { return s && *s; }

void order_print(FILE *f, const Waybill__V1__Order *o) {
    fprintf(f, "order %s\n", set(o->order_id) ? o->order_id : "(no id)");
    fprintf(f, "  %-12s %s\n", "status", enum_name(&waybill__v1__order_status__descriptor, o->status));
    fprintf(f, "  %-12s %" PRId64 "\n", "version", o->version);
    fprintf(f, "  %-12s %s\n", "channel", enum_name(&waybill__v1__channel__descriptor, o->channel));
    fprintf(f, "  %-12s %s\n", "external id", o->external_order_id ? o->external_order_id : "");
    if (set(o->cart_id)) fprintf(f, "  %-12s %s\n", "cart", o->cart_id);
    const Waybill__V1__Customer *cu = o->customer;
    if (cu) {
        fprintf(f, "  %-12s", "customer");
        if (set(cu->customer_id)) fprintf(f, " %s", cu->customer_id);
        if (set(cu->name)) fprintf(f, " %s", cu->name);
        if (set(cu->email)) fprintf(f, " <%s>", cu->email);
        if (set(cu->phone)) fprintf(f, " %s", cu->phone);
        fputc('\n', f);
    }
    const Waybill__V1__Address *a = o->ship_to;
    if (a) {
        fprintf(f, "  %-12s", "ship to");
        if (set(a->name)) fprintf(f, " %s,", a->name);
        for (size_t i = 0; i < a->n_lines; i++) fprintf(f, " %s,", a->lines[i]);
        if (set(a->city)) fprintf(f, " %s", a->city);
        if (set(a->region)) fprintf(f, " %s", a->region);
        fprintf(f, " %s %s", a->postal_code ? a->postal_code : "", a->country ? a->country : "");
        if (a->coordinates) fprintf(f, " (%.4f, %.4f)", a->coordinates->latitude, a->coordinates->longitude);
        fputc('\n', f);
    }
    const Waybill__V1__RequestedFulfillment *rf = o->fulfillment;
    if (rf) {
        fprintf(f, "  %-12s %s", "requested",
                rf->method ? enum_name(&waybill__v1__fulfillment_method__descriptor, rf->method)
                           : "SHIP");
        if (set(rf->pickup_location_id)) fprintf(f, " at %s", rf->pickup_location_id);
        if (rf->service_level)
            fprintf(f, " %s", enum_name(&waybill__v1__service_level__descriptor, rf->service_level));
        fputc('\n', f);
    }
    print_time(f, "created at", o->created_at_unix_ms);
    print_time(f, "captured at", o->captured_at_unix_ms);
    print_time(f, "updated at", o->updated_at_unix_ms);
    for (size_t i = 0; i < o->n_attributes; i++)
        fprintf(f, "  %-12s %s=%s\n", "attribute", o->attributes[i]->key, o->attributes[i]->value);
    for (size_t i = 0; i < o->n_lines; i++) {
        const Waybill__V1__OrderLine *l = o->lines[i];
        fprintf(f, "  line %-7s %s qty %d @ ", l->line_id, l->sku, (int)l->quantity);
        print_money(f, l->unit_price);
        fprintf(f, "  %s", enum_name(&waybill__v1__line_status__descriptor, l->status));
        const Waybill__V1__LineQuantities *q = l->quantities;
        if (q)
            fprintf(f, " (allocated %d, backordered %d, shipped %d, cancelled %d)", (int)q->allocated,
                    (int)q->backordered, (int)q->shipped, (int)q->cancelled);
        fputc('\n', f);
    }
    for (size_t i = 0; i < o->n_holds; i++)
        fprintf(f, "  %-12s %s %s\n", "hold",
                enum_name(&waybill__v1__hold_reason__descriptor, o->holds[i]->reason),
                o->holds[i]->note ? o->holds[i]->note : "");
    for (size_t i = 0; i < o->n_fulfillments; i++) {
        const Waybill__V1__Fulfillment *fu = o->fulfillments[i];
        fprintf(f, "  %-12s %s at %s %s", "fulfillment", fu->fulfillment_id, fu->location_id,
                enum_name(&waybill__v1__fulfillment_status__descriptor, fu->status));
        for (size_t j = 0; j < fu->n_lines; j++)
            fprintf(f, "%s%s x%d", j ? ", " : " [", fu->lines[j]->sku, (int)fu->lines[j]->quantity);
        fputs(fu->n_lines ? "]\n" : "\n", f);
    }
}

/* ---- fulfillment options ---- */

/* The day a promise names ("2025-01-03": promises are the start, UTC, of a day), or "-". */
static void print_day(FILE *f, int64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    if (ms > 0 && gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d", &tm)) fputs(buf, f);
    else fputs("-", f);
}

static void print_shipment(FILE *f, const Waybill__V1__OptionShipment *s) {
    fprintf(f, "  %-12s %s", "shipment", set(s->location_id) ? s->location_id : "?");
    if (set(s->carrier_id)) fprintf(f, " %s", s->carrier_id);
    if (set(s->carrier_service)) fprintf(f, " %s", s->carrier_service);
    fputs(", cost ", f);
    print_money(f, s->shipping_cost);
    fprintf(f, ", transit %d day%s, promised ", (int)s->transit_days, s->transit_days == 1 ? "" : "s");
    print_day(f, s->promised_delivery_unix_ms);
    for (size_t j = 0; j < s->n_lines; j++)
        fprintf(f, "%s%s %s x%d", j ? ", " : " [", s->lines[j]->line_id, s->lines[j]->sku,
                (int)s->lines[j]->quantity);
    fputs(s->n_lines ? "]\n" : "\n", f);
}

void options_print(FILE *f, const Waybill__V1__FulfillmentOptionsResult *r, int64_t evaluated_at_unix_ms) {
    fprintf(f, "options for %s", set(r->query_id) ? r->query_id : "(cart)");
    if (r->policy_version) fprintf(f, " (routing policy %" PRId64 ")", r->policy_version);
    fputc('\n', f);
    print_time(f, "evaluated at", evaluated_at_unix_ms);
    if (r->n_options == 0) fprintf(f, "  no options\n");
    for (size_t i = 0; i < r->n_options; i++) {
        const Waybill__V1__FulfillmentOption *o = r->options[i];
        int pickup = o->method == WAYBILL__V1__FULFILLMENT_METHOD__FULFILLMENT_METHOD_PICKUP;
        fprintf(f, "option %s %s",
                o->method ? enum_name(&waybill__v1__fulfillment_method__descriptor, o->method) : "SHIP",
                pickup ? (set(o->pickup_location_id) ? o->pickup_location_id : "?")
                       : enum_name(&waybill__v1__service_level__descriptor, o->service_level));
        if (pickup && o->distance_kilometres > 0) fprintf(f, " (%.1f km)", o->distance_kilometres);
        fputc('\n', f);
        fprintf(f, "  %-12s %s\n", "outcome",
                enum_name(&waybill__v1__fulfillment_option_outcome__descriptor, o->outcome));
        fprintf(f, "  %-12s ", pickup ? "ready" : "promised");
        print_day(f, o->promised_delivery_unix_ms);
        fprintf(f, "\n  %-12s ", "cost");
        print_money(f, o->shipping_cost);
        fprintf(f, "\n  %-12s %d\n", "shipments", (int)o->shipment_count);
        for (size_t j = 0; j < o->n_shipments; j++) print_shipment(f, o->shipments[j]);
        for (size_t j = 0; j < o->n_unallocated; j++)
            fprintf(f, "  %-12s line %s x%d\n", "unallocated", o->unallocated[j]->line_id,
                    (int)o->unallocated[j]->quantity);
        if (set(o->reason)) fprintf(f, "  %-12s %s\n", "reason", o->reason);
    }
}

/* ---- carts ---- */

void cart_print(FILE *f, const Waybill__V1__CartResponse *r) {
    const Waybill__V1__Cart *c = r->cart;
    fprintf(f, "cart %s%s\n", set(c->cart_id) ? c->cart_id : "(no id)", r->replayed ? " (replayed)" : "");
    fprintf(f, "  %-12s %s\n", "status", enum_name(&waybill__v1__cart_status__descriptor, c->status));
    fprintf(f, "  %-12s %" PRId64 "\n", "version", c->version);
    fprintf(f, "  %-12s %s\n", "channel", enum_name(&waybill__v1__channel__descriptor, c->channel));
    const Waybill__V1__RequestedFulfillment *rf = c->fulfillment;
    if (rf) {
        fprintf(f, "  %-12s %s", "requested",
                rf->method ? enum_name(&waybill__v1__fulfillment_method__descriptor, rf->method)
                           : "SHIP");
        if (set(rf->pickup_location_id)) fprintf(f, " at %s", rf->pickup_location_id);
        if (rf->service_level)
            fprintf(f, " %s", enum_name(&waybill__v1__service_level__descriptor, rf->service_level));
        fputc('\n', f);
    }
    fprintf(f, "  %-12s ", "promised");
    print_day(f, c->promised_delivery_unix_ms);
    fputc('\n', f);
    print_time(f, "expires at", c->expires_at_unix_ms);
    print_time(f, "created at", c->created_at_unix_ms);
    print_time(f, "updated at", c->updated_at_unix_ms);
    if (set(c->order_id)) fprintf(f, "  %-12s %s\n", "order", c->order_id);
    for (size_t i = 0; i < c->n_lines; i++) {
        const Waybill__V1__OrderLine *l = c->lines[i];
        fprintf(f, "  line %-7s %s qty %d @ ", l->line_id, l->sku, (int)l->quantity);
        print_money(f, l->unit_price);
        fputc('\n', f);
    }
    fprintf(f, "  %-12s %zu\n", "reservations", c->n_reservations);
    for (size_t i = 0; i < c->n_reservations; i++) print_shipment(f, c->reservations[i]);
    for (size_t i = 0; i < c->n_unallocated; i++)
        fprintf(f, "  %-12s line %s x%d\n", "unallocated", c->unallocated[i]->line_id,
                (int)c->unallocated[i]->quantity);
    if (c->routing_decision && set(c->routing_decision->trigger))
        fprintf(f, "  %-12s %s\n", "routing", c->routing_decision->trigger);
}
