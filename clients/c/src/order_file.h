/* order_file.h - the CLI's line-based order file format (see README.md). Not part of
 * the library API. */
#ifndef WAYBILL_ORDER_FILE_H
#define WAYBILL_ORDER_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "waybill.h"

/* Parses an order from `text`. Returns the order (free it with
 * waybill__v1__order__free_unpacked(order, NULL)) or NULL with a message in err. */
Waybill__V1__Order *order_file_parse(const char *text, char *err, size_t err_size);

/* Reads and parses a file ("-" = stdin). */
Waybill__V1__Order *order_file_read(const char *path, char *err, size_t err_size);

/* Readable multi-line rendering of an order. */
void order_print(FILE *f, const Waybill__V1__Order *o);

/* Readable rendering of one fulfillment options result (options for one cart). */
void options_print(FILE *f, const Waybill__V1__FulfillmentOptionsResult *r, int64_t evaluated_at_unix_ms);

/* Readable rendering of a cart (CheckoutService's CartResponse): status, promised day, expiry,
 * lines, reservations (one "shipment" line each), unallocated units. */
void cart_print(FILE *f, const Waybill__V1__CartResponse *r);

/* Enum value by name, with or without `prefix` ("EXPEDITED" or "SERVICE_LEVEL_EXPEDITED"),
 * case-insensitive. Returns 0 and the value in *out, or -1. */
int enum_value(const ProtobufCEnumDescriptor *d, const char *prefix, const char *name, int *out);

/* Enum value name without its prefix ("CAPTURED" for ORDER_STATUS_CAPTURED). */
const char *enum_name(const ProtobufCEnumDescriptor *d, int value);

#endif
