/*
 * waybill.h - C client for the Waybill order management service.
 *
 * Waybill speaks protobuf envelopes in gRPC-style length-prefixed frames over TCP
 * (see proto/waybill/v1/envelope.proto). This library opens one connection, makes
 * blocking calls on it and hands back the protoc-c generated message structs.
 *
 * Building against it: compile with -I<clients/c/include> -I<clients/c/build/gen>,
 * link build/libwaybill.a, -lprotobuf-c and OpenSSL (-lssl -lcrypto).
 *
 * ---- Security ----
 * With waybill_options.tls the connection is TLS (server certificate and name verified,
 * optional client certificate); waybill_options.token authenticates every call as the
 * credential it belongs to. Waybill answers UNAUTHENTICATED (16) for a missing, unknown,
 * revoked or expired token, PERMISSION_DENIED (7) for a call the credential's role may not
 * make, and NOT_FOUND for another channel's order.
 *
 * ---- Ownership rules ----
 *  - waybill_connect() returns a client you own; release it with waybill_close().
 *  - Request messages you pass in (Order, skus, strings) stay yours: the library only
 *    reads them during the call and keeps no pointer to them.
 *  - Every response returned through an `out` pointer is yours and must be released
 *    with the generated free function of its type and a NULL allocator, e.g.
 *      waybill__v1__capture_order_response__free_unpacked(resp, NULL);
 *      waybill__v1__order__free_unpacked(order, NULL);
 *    On any error *out is set to NULL and there is nothing to free.
 *    Where documented, `out` may be NULL: the response is then discarded.
 *  - waybill_status is a plain value struct; nothing in it needs freeing.
 *
 * ---- Errors ----
 * Every call returns its status code (0 = OK) and, when `st` is not NULL, fills *st.
 * Codes are gRPC canonical codes (Waybill__V1__StatusCode, waybill_code_name()). Server
 * errors are passed through with the server's message. Client-side failures use:
 *   UNAVAILABLE (14)        cannot connect, connection lost or closed (also mid-frame)
 *   DEADLINE_EXCEEDED (4)   connect / call / next-events timeout
 *   RESOURCE_EXHAUSTED (8)  a frame (either direction) larger than max_frame_bytes
 *   INTERNAL (13)           malformed response: bad flag byte, unparseable envelope or
 *                           payload, response for an unknown call id, protocol violation
 *   INVALID_ARGUMENT (3)    bad arguments (NULL client, empty host...)
 *   FAILED_PRECONDITION (9) subscription misuse (already subscribed / none active)
 * After an error that leaves the byte stream unusable (I/O failure, bad frame, unknown
 * call id, a connection-level error from the server, a timeout while sending) the
 * connection is closed and every later call returns UNAVAILABLE: close the client and
 * connect again. Timeouts while waiting for an answer, server status errors and
 * unparseable payloads leave the connection usable; a late answer to a timed-out call is
 * recognised and dropped (the last 32 such calls are remembered).
 * A timed-out or failed CaptureOrder may still have been committed: retry it with the
 * same (channel, external_order_id), which is idempotent (the answer says replayed).
 *
 * ---- Threads ----
 * A client is not thread-safe: use it from one thread at a time (one client per thread
 * is the simple way). Different clients are independent.
 */
#ifndef WAYBILL_H
#define WAYBILL_H

#include <stddef.h>
#include <stdint.h>

#include "waybill/v1/common.pb-c.h"
#include "waybill/v1/envelope.pb-c.h"
#include "waybill/v1/orders.pb-c.h"
#include "waybill/v1/inventory.pb-c.h"
#include "waybill/v1/feed.pb-c.h"
#include "waybill/v1/checkout.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WAYBILL_DEFAULT_MAX_FRAME_BYTES (4u * 1024u * 1024u)

typedef struct waybill_status {
    int code;            /* gRPC canonical code; 0 = OK */
    char message[256];   /* human-readable, NUL-terminated, possibly truncated */
    char field[128];     /* request field at fault (server StatusDetails.field), or "" */
} waybill_status;

/* Longest bearer token accepted (Waybill's own tokens are 47 characters). */
#define WAYBILL_TOKEN_BYTES_MAX 1024

/* Zero-initialise and set what you need ({0} or designated initialisers): every field's zero
 * value is its default, and fields added later keep that rule. */
typedef struct waybill_options {
    const char *client_id;      /* sent as "client-id" metadata; NULL = "waybill-c" */
    int connect_timeout_ms;     /* <= 0: 5000; covers the TLS handshake too */
    int call_timeout_ms;        /* per unary call (send + wait); <= 0: 10000 */
    uint32_t max_frame_bytes;   /* largest envelope sent or accepted; 0: 4 MiB */

    /* ---- authentication ----
     * token: the credential's bearer token ("wbt_..."), sent as "authorization: Bearer TOKEN"
     * metadata on every call. Copied at connect (the copy is wiped at close); never printed or
     * put in a status message. Visible ASCII, 1..WAYBILL_TOKEN_BYTES_MAX bytes, else
     * INVALID_ARGUMENT. NULL = no token (a server that checks callers answers
     * UNAUTHENTICATED). Read it from a file or the environment, not from argv. */
    const char *token;

    /* ---- TLS (OpenSSL) ----
     * TLS is on when `tls` is non-zero or any tls_* field is set (so a CA bundle never
     * silently goes unused on a plaintext connection). TLS 1.2 minimum. The server's
     * certificate is always verified and its name checked; there is no switch to skip that.
     * A failed handshake is UNAVAILABLE naming the reason (e.g. "server certificate not
     * verified: certificate has expired"); unusable files are INVALID_ARGUMENT. */
    int tls;
    const char *tls_ca_file;     /* PEM CA bundle to verify the server with; NULL: the system's
                                    default CA paths (Debian: /etc/ssl/certs) */
    const char *tls_server_name; /* name to verify and send as SNI; NULL: the host given to
                                    waybill_connect. DNS names and IP addresses (checked
                                    against the certificate's IP subjectAltNames) */
    const char *tls_cert_file;   /* mutual TLS: client certificate chain (PEM) and its key   */
    const char *tls_key_file;    /* (PEM, unencrypted); both or neither                      */
} waybill_options;

typedef struct waybill_client waybill_client;

/* Name of a status code ("NOT_FOUND"), "UNKNOWN_CODE" for values outside 0..16. */
const char *waybill_code_name(int code);

/* Connects (with TCP_NODELAY) and, with TLS, completes the handshake within
 * connect_timeout_ms. opts may be NULL for defaults (plaintext, no token). Returns NULL on
 * failure with *st set (UNAVAILABLE, DEADLINE_EXCEEDED or INVALID_ARGUMENT). */
waybill_client *waybill_connect(const char *host, int port, const waybill_options *opts,
                                waybill_status *st);

/* Closes the connection (sending TLS close_notify if it can without waiting) and frees the
 * client and anything it buffered. NULL is a no-op. */
void waybill_close(waybill_client *c);

/* The negotiated TLS protocol ("TLSv1.3"), or NULL for a plaintext or closed connection. */
const char *waybill_tls_protocol(const waybill_client *c);

/* OrderService/CaptureOrder. `order` is read only. */
int waybill_capture_order(waybill_client *c, const Waybill__V1__Order *order,
                          Waybill__V1__CaptureOrderResponse **out, waybill_status *st);

/* OrderService/GetOrder by Waybill order id ("W-00000042"). */
int waybill_get_order(waybill_client *c, const char *order_id,
                      Waybill__V1__Order **out, waybill_status *st);

/* InventoryService/GetAvailability for n_skus SKUs at every location. When channel is
 * not WAYBILL__V1__CHANNEL__CHANNEL_UNSPECIFIED, network availability for that channel
 * is reported too. */
int waybill_get_availability(waybill_client *c, const char *const *skus, size_t n_skus,
                             Waybill__V1__Channel channel,
                             Waybill__V1__GetAvailabilityResponse **out, waybill_status *st);

/* CheckoutService/GetFulfillmentOptions: what Waybill would promise now for n_queries carts
 * (one FulfillmentOptionsQuery each: channel, lines, ship_to, service levels, pickup stores,
 * nearby stores, pickup_only), routed as a capture would be. It reserves nothing: a capture
 * made at once on unchanged state gets the option's promise, but another order may take the
 * stock in between. The queries (and everything they point to) stay yours and are only read.
 * n_queries must be 1..the server's fulfillmentOptionQueriesPerCallMax (100; more is the
 * server's INVALID_ARGUMENT or RESOURCE_EXHAUSTED for the whole call).
 *
 * OK means the server answered: each query succeeds or fails ON ITS OWN. (*out)->results has
 * exactly n_queries entries, results[i] answering queries[i]; check each one's status with
 * waybill_result_status() (e.g. INVALID_ARGUMENT with field "queries[1].lines",
 * PERMISSION_DENIED for a channel the credential may not sell through). A failed query has no
 * options. An answer with another number of results is INTERNAL (nothing returned).
 * Free *out with waybill__v1__get_fulfillment_options_response__free_unpacked(*out, NULL).
 * out may be NULL. */
int waybill_get_fulfillment_options(waybill_client *c,
                                    const Waybill__V1__FulfillmentOptionsQuery *const *queries,
                                    size_t n_queries,
                                    Waybill__V1__GetFulfillmentOptionsResponse **out,
                                    waybill_status *st);

/* CheckoutService carts (docs/PROTOCOL.md, "Carts that hold stock"). A cart holds, until its
 * deadline, what a capture with its lines, ship_to and fulfillment would reserve now. Carts are
 * keyed by (channel, cart_id); a channel credential reaches only its channels' carts.
 *
 * waybill_reserve_cart: ReserveCart. `req` (cart_id, channel, lines, ship_to, fulfillment,
 * ttl_seconds 1..cartTtlSecondsMax) is yours and only read. The same content again on an active
 * cart answers replayed (retries are safe); other content replaces what it holds. A converted
 * cart id is FAILED_PRECONDITION (current_state CONVERTED); too many open carts is
 * RESOURCE_EXHAUSTED; bad lines etc. are INVALID_ARGUMENT naming the field ("lines[0].sku").
 * waybill_extend_cart: ExtendCart, the deadline becomes now + ttl_seconds (a cart past its
 * deadline is FAILED_PRECONDITION, current_state EXPIRED: reserve again).
 * waybill_release_cart: ReleaseCart, gives the stock back (again: replayed).
 * waybill_get_cart: GetCart, a cart in any status (NOT_FOUND if never reserved).
 *
 * cart_id must be non-empty and req non-NULL (else INVALID_ARGUMENT, nothing sent). An OK answer
 * always has (*out)->cart (one without is INTERNAL, nothing returned); (*out)->replayed says
 * nothing changed. Free *out with waybill__v1__cart_response__free_unpacked(*out, NULL).
 * out may be NULL. */
int waybill_reserve_cart(waybill_client *c, const Waybill__V1__ReserveCartRequest *req,
                         Waybill__V1__CartResponse **out, waybill_status *st);
int waybill_extend_cart(waybill_client *c, const char *cart_id, Waybill__V1__Channel channel,
                        int32_t ttl_seconds, Waybill__V1__CartResponse **out, waybill_status *st);
int waybill_release_cart(waybill_client *c, const char *cart_id, Waybill__V1__Channel channel,
                         Waybill__V1__CartResponse **out, waybill_status *st);
int waybill_get_cart(waybill_client *c, const char *cart_id, Waybill__V1__Channel channel,
                     Waybill__V1__CartResponse **out, waybill_status *st);

/* The status a server put inside a response (a per-query or per-change result's `status`, e.g.
 * GetFulfillmentOptionsResponse.results[i].status) as a waybill_status: an absent status is
 * OK, the message and details.field are copied, a code outside 0..16 becomes UNKNOWN. Returns
 * the code. `s` is only read; st may be NULL. */
int waybill_result_status(const Waybill__V1__Status *s, waybill_status *st);

/* Any other unary method: `method` is the full name ("/waybill.v1.OrderService/HoldOrder"),
 * `request` a filled message, `response_type` the descriptor of the response message
 * (e.g. &waybill__v1__order_response__descriptor). *out must be freed with
 * protobuf_c_message_free_unpacked(*out, NULL). out may be NULL. */
int waybill_call(waybill_client *c, const char *method, const ProtobufCMessage *request,
                 const ProtobufCMessageDescriptor *response_type, ProtobufCMessage **out,
                 waybill_status *st);

/* ---- Change feed (one subscription per client at a time) ----
 * waybill_subscribe() sends ChangeFeedService/Subscribe and returns at once; errors from
 * the server (e.g. OUT_OF_RANGE) arrive through waybill_next_events(). The server sends at
 * most window_events events beyond the consumer's acknowledged offset, then waits for
 * waybill_acknowledge(): acknowledge as you process. Stream frames that arrive during
 * another call are buffered, so unary calls may be interleaved freely. */
int waybill_subscribe(waybill_client *c, const char *consumer, uint64_t from_offset,
                      uint32_t window_events, uint32_t max_events_per_frame,
                      waybill_status *st);

/* Next batch of events. timeout_ms: < 0 waits indefinitely, 0 only takes what has already
 * arrived. DEADLINE_EXCEEDED means nothing arrived in time; the subscription stays open.
 * When the server ends the stream the call returns its status (a stream ended with OK is
 * reported as CANCELLED) and the subscription is over. */
int waybill_next_events(waybill_client *c, int timeout_ms,
                        Waybill__V1__SubscribeResponse **out, waybill_status *st);

/* ChangeFeedService/Acknowledge: everything up to and including `offset` is processed.
 * Works with or without an open subscription. out may be NULL. */
int waybill_acknowledge(waybill_client *c, const char *consumer, uint64_t offset,
                        Waybill__V1__AcknowledgeResponse **out, waybill_status *st);

/* Cancels the open subscription (sends cancel for its call id) and discards buffered
 * events; frames still in flight for it are dropped when they arrive. */
int waybill_cancel_subscription(waybill_client *c, waybill_status *st);

#ifdef __cplusplus
}
#endif

#endif /* WAYBILL_H */
