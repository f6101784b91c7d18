#!/usr/bin/env python3
"""Interop: grpcio stubs generated from proto/ (nobody here wrote them) against a live `waybill serve`.

Calls every service over standard gRPC: capture, lifecycle, availability, the network, checkout
(fulfillment options, a cart converted by a capture), the change feed stream with resume from an
acknowledged offset, ERP messages (stock deltas, an expected receipt), an error with its details
(waybill-status-details-bin and grpc-status-details-bin), and a deadline. With --tokens every call is
made as the role it needs and the authentication checks run: no token and an unknown token are
UNAUTHENTICATED, a role's refusal is PERMISSION_DENIED, another channel's order is NOT_FOUND exactly
as a missing one, order history records the credential's name; with --ca the channel is TLS, and
--wrong-ca and a plaintext channel to the TLS port must fail. Prints one line per check and closes
with "N passed, N failed"; exits 1 when any check failed.

Usage: interop_test.py HOST:PORT EXAMPLES_DIR [--ca FILE] [--server-name NAME] [--wrong-ca FILE]
                       [--tokens FILE]
  --ca FILE           TLS, verifying the server against the PEM CA bundle FILE
  --server-name NAME  the name to verify the server certificate for (default: HOST)
  --wrong-ca FILE     a CA that did not sign the server's certificate: a channel using it must fail
  --tokens FILE       JSON {"admin", "web", "marketplace", "erp": TOKEN} of credentials of those
                      roles (web and marketplace: channel credentials of those channels)
The stubs must be on PYTHONPATH (see interop-test.sh).
"""
import argparse
import json
import secrets
import sys
import time

import grpc
from google.protobuf import any_pb2, json_format

from waybill.v1 import checkout_pb2, checkout_pb2_grpc
from waybill.v1 import common_pb2, erp_pb2, feed_pb2, feed_pb2_grpc, inventory_pb2, inventory_pb2_grpc
from waybill.v1 import erp_pb2_grpc, orders_pb2, orders_pb2_grpc, system_pb2, system_pb2_grpc

CLIENT_ID = "python-interop"
passed = 0
failed = 0


class Caller:
    """Stubs on one channel, authenticated as one credential (or none).

    Over TLS the token travels as call credentials (grpc.access_token_call_credentials: gRPC sends it
    only on a secure channel); over plaintext, as explicit "authorization: Bearer TOKEN" metadata."""

    def __init__(self, target, ca=None, server_name=None, token=None):
        self.metadata = (("client-id", CLIENT_ID),)
        if ca is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca)
            if token:
                credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
            options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
            self.channel = grpc.secure_channel(target, credentials, options)
        else:
            self.channel = grpc.insecure_channel(target)
            if token:
                self.metadata += (("authorization", f"Bearer {token}"),)
        self.orders = orders_pb2_grpc.OrderServiceStub(self.channel)
        self.inventory = inventory_pb2_grpc.InventoryServiceStub(self.channel)
        self.network = inventory_pb2_grpc.NetworkServiceStub(self.channel)
        self.feed = feed_pb2_grpc.ChangeFeedServiceStub(self.channel)
        self.checkout = checkout_pb2_grpc.CheckoutServiceStub(self.channel)
        self.erp = erp_pb2_grpc.ErpServiceStub(self.channel)
        self.system = system_pb2_grpc.SystemServiceStub(self.channel)

    def close(self):
        self.channel.close()


def error_of(call):
    """The grpc.RpcError a call raised, or None when it succeeded."""
    try:
        call()
        return None
    except grpc.RpcError as error:
        return error


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def read_json(path, message):
    with open(path, encoding="utf-8") as handle:
        return json_format.Parse(handle.read(), message)


def varint(data, index):
    value, shift = 0, 0
    while True:
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, index


def google_rpc_status(data):
    """google.rpc.Status {int32 code = 1; string message = 2; repeated Any details = 3}, decoded by hand."""
    code, message, details, index = 0, "", [], 0
    while index < len(data):
        key, index = varint(data, index)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, index = varint(data, index)
            if field == 1:
                code = value
        elif wire == 2:
            length, index = varint(data, index)
            chunk = data[index:index + length]
            index += length
            if field == 2:
                message = chunk.decode("utf-8")
            elif field == 3:
                packed = any_pb2.Any()
                packed.ParseFromString(chunk)
                details.append(packed)
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return code, message, details


def arguments():
    parser = argparse.ArgumentParser(description="Waybill gRPC interop checks")
    parser.add_argument("target")
    parser.add_argument("examples")
    parser.add_argument("--ca")
    parser.add_argument("--server-name")
    parser.add_argument("--wrong-ca")
    parser.add_argument("--tokens")
    return parser.parse_args()


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def main():
    options = arguments()
    target, examples = options.target, options.examples
    ca = read_bytes(options.ca) if options.ca else None
    tokens = {}
    if options.tokens:
        with open(options.tokens, encoding="utf-8") as handle:
            tokens = json.load(handle)
    authenticated = bool(tokens)

    def caller(role):
        return Caller(target, ca, options.server_name, tokens.get(role))

    admin, web, erp = caller("admin"), caller("web"), caller("erp")
    callers = [admin, web, erp]
    for each in callers:
        grpc.channel_ready_future(each.channel).result(timeout=30)

    # System and network: the administrator's.
    info = admin.system.GetServerInfo(system_pb2.GetServerInfoRequest(), metadata=admin.metadata, timeout=10)
    check("GetServerInfo names frameBytesMax", any(limit.name == "frameBytesMax" for limit in info.limits))
    loaded = admin.network.LoadNetwork(read_json(f"{examples}/network.json", inventory_pb2.NetworkModel()),
                                       metadata=admin.metadata, timeout=30)
    check("LoadNetwork loads the example network", loaded.locations > 0 and loaded.items > 0, str(loaded))
    locations = web.network.ListLocations(inventory_pb2.ListRequest(), metadata=web.metadata, timeout=10)
    check("ListLocations lists DC-NEWARK", any(l.location_id == "DC-NEWARK" for l in locations.locations))

    # Capture, read back, lifecycle: the web channel's.
    orders, meta = web.orders, web.metadata
    order = read_json(f"{examples}/orders/web.json", orders_pb2.Order())
    captured = orders.CaptureOrder(orders_pb2.CaptureOrderRequest(order=order), metadata=meta, timeout=10)
    order_id = captured.order.order_id
    check("CaptureOrder allocates the web order",
          captured.order.status == orders_pb2.ORDER_STATUS_ALLOCATED and not captured.replayed,
          orders_pb2.OrderStatus.Name(captured.order.status))
    again = orders.CaptureOrder(orders_pb2.CaptureOrderRequest(order=order), metadata=meta, timeout=10)
    check("CaptureOrder again replays the same order", again.replayed and again.order.order_id == order_id)
    fetched = orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), metadata=meta, timeout=10)
    check("GetOrder reads it back", fetched.external_order_id == order.external_order_id)
    history = orders.GetOrderHistory(orders_pb2.GetOrderHistoryRequest(order_id=order_id), metadata=meta, timeout=10)
    if authenticated:
        # Who acted comes from the credential, never from the client-id metadata.
        check("order history records the credential's name, not the client-id metadata",
              history.entries[0].client_id == "py-web", history.entries[0].client_id)
    else:
        check("the client-id metadata is recorded as the order's client", history.entries[0].client_id == CLIENT_ID,
              history.entries[0].client_id)
    held = orders.HoldOrder(orders_pb2.HoldOrderRequest(request_id="py-hold", order_id=order_id,
                                                        reason=orders_pb2.HOLD_REASON_PAYMENT), metadata=meta, timeout=10)
    check("HoldOrder puts it on hold", held.order.status == orders_pb2.ORDER_STATUS_ON_HOLD)
    released = orders.ReleaseHold(orders_pb2.ReleaseHoldRequest(request_id="py-release", order_id=order_id),
                                  metadata=meta, timeout=10)
    check("ReleaseHold allocates it again", released.order.status == orders_pb2.ORDER_STATUS_ALLOCATED)
    cancelled = orders.CancelOrder(orders_pb2.CancelOrderRequest(request_id="py-cancel", order_id=order_id, reason="interop"),
                                   metadata=meta, timeout=10)
    check("CancelOrder cancels it", cancelled.order.status == orders_pb2.ORDER_STATUS_CANCELLED)

    # Availability and ERP messages: the ERP's.
    def on_hand(sku, location):
        answer = erp.inventory.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=[sku], location_ids=[location]),
                                               metadata=erp.metadata, timeout=10)
        return next((p.on_hand for p in answer.positions if p.location_id == location), None)
    before = on_hand("TSHIRT-BLK-M", "DC-NEWARK")
    check("GetAvailability reports TSHIRT-BLK-M at DC-NEWARK", before is not None and before > 0, str(before))
    delta = erp_pb2.StockDeltaMessage(message_id="py-delta-1", changes=[inventory_pb2.InventoryChange(
        kind=inventory_pb2.INVENTORY_CHANGE_KIND_RECEIPT, sku="TSHIRT-BLK-M", location_id="DC-NEWARK", quantity=5)])
    applied = erp.erp.ApplyStockDeltas(delta, metadata=erp.metadata, timeout=10)
    check("ApplyStockDeltas applies one change", applied.applied == 1 and not applied.replayed, str(applied))
    replayed = erp.erp.ApplyStockDeltas(delta, metadata=erp.metadata, timeout=10)
    check("ApplyStockDeltas with the same message id replays", replayed.replayed)
    check("the receipt shows in availability", on_hand("TSHIRT-BLK-M", "DC-NEWARK") == before + 5)

    # Checkout (the web channel's): options promise what a capture then gets; a cart holds stock and
    # converts into the order naming it.
    checkout = web.checkout
    query = checkout_pb2.FulfillmentOptionsQuery(query_id="py-cart", channel=order.channel, lines=order.lines,
                                                 ship_to=order.ship_to, service_levels=[orders_pb2.SERVICE_LEVEL_STANDARD])
    quoted = checkout.GetFulfillmentOptions(checkout_pb2.GetFulfillmentOptionsRequest(queries=[query]), metadata=meta, timeout=10)
    option = quoted.results[0].options[0] if quoted.results and quoted.results[0].options else None
    check("GetFulfillmentOptions answers a COMPLETE standard option with a promise",
          option is not None and option.outcome == checkout_pb2.FULFILLMENT_OPTION_OUTCOME_COMPLETE
          and option.promised_delivery_unix_ms > 0, str(quoted))
    cart = checkout.ReserveCart(checkout_pb2.ReserveCartRequest(cart_id="py-cart-1", channel=order.channel, lines=order.lines,
                                                                ship_to=order.ship_to, fulfillment=order.fulfillment,
                                                                ttl_seconds=900), metadata=meta, timeout=10).cart
    check("ReserveCart holds the cart's stock", cart.status == checkout_pb2.CART_STATUS_ACTIVE and len(cart.reservations) > 0,
          str(cart))
    check("the cart's promise is the options' promise", option is not None
          and cart.promised_delivery_unix_ms == option.promised_delivery_unix_ms,
          f"{cart.promised_delivery_unix_ms} vs {option.promised_delivery_unix_ms if option else None}")
    from_cart = orders_pb2.Order()
    from_cart.CopyFrom(order)
    from_cart.external_order_id = "WEB-PY-CART-1"
    from_cart.cart_id = "py-cart-1"
    converted = orders.CaptureOrder(orders_pb2.CaptureOrderRequest(order=from_cart), metadata=meta, timeout=10).order
    after = checkout.GetCart(checkout_pb2.CartRequest(cart_id="py-cart-1", channel=order.channel), metadata=meta, timeout=10).cart
    check("a capture naming the cart converts it", after.status == checkout_pb2.CART_STATUS_CONVERTED
          and after.order_id == converted.order_id and converted.cart_id == "py-cart-1", str(after))
    refused = error_of(lambda: checkout.ReleaseCart(checkout_pb2.CartRequest(cart_id="py-cart-1", channel=order.channel),
                                                    metadata=meta, timeout=10))
    check("ReleaseCart of a converted cart is FAILED_PRECONDITION naming the order",
          refused is not None and refused.code() == grpc.StatusCode.FAILED_PRECONDITION
          and converted.order_id in refused.details(), str(refused))

    # Expected supply (the ERP's): an expected receipt is future availability, not available stock.
    receipt = inventory_pb2.ExpectedReceipt(receipt_id="PO-PY-1", location_id="DC-NEWARK", expected_at_unix_ms=1_900_000_000_000,
                                            lines=[inventory_pb2.ExpectedReceiptLine(sku="MUG-CERAMIC", quantity=24)])
    expected = erp.erp.ApplyExpectedReceipts(erp_pb2.ExpectedReceiptsMessage(message_id="py-po-1", receipts=[receipt]),
                                             metadata=erp.metadata, timeout=10)
    check("ApplyExpectedReceipts applies the receipt", expected.applied == 1 and not expected.replayed, str(expected))
    supply = erp.inventory.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=["MUG-CERAMIC"], location_ids=["DC-NEWARK"]),
                                           metadata=erp.metadata, timeout=10)
    listed = [e.receipt_id for p in supply.positions for e in p.expected]
    check("GetAvailability lists the expected receipt apart from available", listed == ["PO-PY-1"], str(supply))

    # An error with its details: a page size over listPageSizeMax.
    try:
        orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1_000_000), metadata=meta, timeout=10)
        check("ListOrders over listPageSizeMax fails", False, "it succeeded")
    except grpc.RpcError as error:
        check("ListOrders over listPageSizeMax is INVALID_ARGUMENT", error.code() == grpc.StatusCode.INVALID_ARGUMENT,
              str(error.code()))
        check("the message names the limit", "listPageSizeMax" in error.details(), error.details())
        trailers = dict(error.trailing_metadata() or ())
        details = common_pb2.StatusDetails()
        details.ParseFromString(trailers.get("waybill-status-details-bin", b""))
        check("waybill-status-details-bin carries limit_name", details.limit_name == "listPageSizeMax", str(details))
        code, message, packed = google_rpc_status(trailers.get("grpc-status-details-bin", b""))
        unpacked = common_pb2.StatusDetails()
        ok = code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and len(packed) == 1 and packed[0].Unpack(unpacked)
        check("grpc-status-details-bin is a google.rpc.Status with the same StatusDetails",
              ok and unpacked == details and message == error.details(), f"{code} {packed}")

    # The change feed (the ERP's consumer): stream, acknowledge, resume after the acknowledged offset.
    feed, feed_meta = erp.feed, erp.metadata
    head = feed.GetFeedInfo(feed_pb2.GetFeedInfoRequest(), metadata=feed_meta, timeout=10).head_offset
    check("the feed has events", head >= 5, str(head))
    stream = feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-reader", from_offset=1), metadata=feed_meta, timeout=30)
    seen = []
    for response in stream:
        seen += [event.offset for event in response.events]
        if seen and seen[-1] >= head:
            break
    stream.cancel()
    check("Subscribe streams offsets 1..head in order", seen == list(range(1, head + 1)), str(seen[:10]))
    acknowledged = 3
    ack = feed.Acknowledge(feed_pb2.AcknowledgeRequest(consumer="py-reader", offset=acknowledged), metadata=feed_meta, timeout=10)
    check("Acknowledge stores the offset", ack.consumer.acknowledged_offset == acknowledged, str(ack))
    resumed = feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-reader"), metadata=feed_meta, timeout=30)
    first = next(iter(resumed))
    resumed.cancel()
    check("a new Subscribe resumes after the acknowledged offset", first.events[0].offset == acknowledged + 1,
          str(first.events[0].offset))

    # A deadline: a stream that has nothing more to send ends DEADLINE_EXCEEDED at its deadline.
    try:
        for _ in feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-deadline", from_offset=head + 100),
                                metadata=feed_meta, timeout=1.0):
            pass
        check("a Subscribe past its deadline ends", False, "it ended OK")
    except grpc.RpcError as error:
        code = error.code()
        # from_offset beyond the head is refused at once (OUT_OF_RANGE); then the deadline case:
        check("Subscribe beyond the head is OUT_OF_RANGE", code == grpc.StatusCode.OUT_OF_RANGE, str(code))
    started = time.monotonic()
    try:
        for _ in feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-deadline", from_offset=head + 1),
                                metadata=feed_meta, timeout=1.0):
            pass
        check("a Subscribe at the head ends at its deadline", False, "it ended OK")
    except grpc.RpcError as error:
        elapsed = time.monotonic() - started
        check("a Subscribe at the head ends DEADLINE_EXCEEDED after its 1 s deadline",
              error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and 0.9 <= elapsed < 10, f"{error.code()} {elapsed:.2f}s")

    if authenticated:
        authentication_checks(target, ca, options, tokens, admin, web, order_id)
    if ca is not None:
        transport_checks(target, options, tokens)

    for each in callers:
        each.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def authentication_checks(target, ca, options, tokens, admin, web, web_order_id):
    """Who may call what: missing and unknown tokens, a role's refusal, another channel's order."""
    get = orders_pb2.GetOrderRequest(order_id=web_order_id)
    anonymous = Caller(target, ca, options.server_name)
    error = error_of(lambda: anonymous.orders.GetOrder(get, metadata=anonymous.metadata, timeout=10))
    check("no token: UNAUTHENTICATED", error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED,
          str(error and error.code()))
    check("no token: the refusal names no order", error is not None and web_order_id not in error.details(),
          str(error and error.details()))
    anonymous.close()
    stranger = Caller(target, ca, options.server_name, "wbt_" + secrets.token_urlsafe(32))
    error = error_of(lambda: stranger.orders.GetOrder(get, metadata=stranger.metadata, timeout=10))
    check("an unknown token: UNAUTHENTICATED", error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED,
          str(error and error.code()))
    stranger.close()

    model = inventory_pb2.NetworkModel()
    error = error_of(lambda: web.network.LoadNetwork(model, metadata=web.metadata, timeout=10))
    check("a channel credential may not LoadNetwork: PERMISSION_DENIED",
          error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED, str(error and error.code()))

    # Another channel's order is NOT_FOUND, word for word as an order that does not exist.
    marketplace = Caller(target, ca, options.server_name, tokens["marketplace"])
    theirs = error_of(lambda: marketplace.orders.GetOrder(get, metadata=marketplace.metadata, timeout=10))
    missing_id = "W-99999999"
    missing = error_of(lambda: marketplace.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=missing_id),
                                                           metadata=marketplace.metadata, timeout=10))
    check("another channel's order: NOT_FOUND", theirs is not None and theirs.code() == grpc.StatusCode.NOT_FOUND,
          str(theirs and theirs.code()))
    check("another channel's order reads exactly as a missing one",
          theirs is not None and missing is not None and missing.code() == theirs.code()
          and theirs.details().replace(web_order_id, "ID") == missing.details().replace(missing_id, "ID"),
          f"{theirs and theirs.details()} / {missing and missing.details()}")
    error = error_of(lambda: marketplace.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(request_id="py-cross-cancel", order_id=web_order_id, reason="not mine"),
        metadata=marketplace.metadata, timeout=10))
    check("another channel's order cannot be cancelled: NOT_FOUND",
          error is not None and error.code() == grpc.StatusCode.NOT_FOUND, str(error and error.code()))
    listed = marketplace.orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=100), metadata=marketplace.metadata,
                                           timeout=10)
    check("another channel's order is not in its lists", all(o.order_id != web_order_id for o in listed.orders),
          str([o.order_id for o in listed.orders]))
    mine = admin.orders.GetOrder(get, metadata=admin.metadata, timeout=10)
    check("an admin reads every channel's order", mine.order_id == web_order_id)
    marketplace.close()


def transport_checks(target, options, tokens):
    """TLS is required where it is served: another CA, or plaintext, gets nothing."""
    if options.wrong_ca:
        wrong = Caller(target, read_bytes(options.wrong_ca), options.server_name, tokens.get("admin"))
        error = error_of(lambda: wrong.network.ListLocations(inventory_pb2.ListRequest(), metadata=wrong.metadata,
                                                             timeout=5))
        check("a server certificate another CA did not sign: UNAVAILABLE",
              error is not None and error.code() == grpc.StatusCode.UNAVAILABLE, str(error and error.code()))
        wrong.close()
    plaintext = Caller(target)  # no token: it would cross the wire in the clear
    error = error_of(lambda: plaintext.network.ListLocations(inventory_pb2.ListRequest(), metadata=plaintext.metadata,
                                                             timeout=5))
    check("plaintext to the TLS port: no answer (UNAVAILABLE)",
          error is not None and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
          str(error and error.code()))
    plaintext.close()


if __name__ == "__main__":
    sys.exit(main())
