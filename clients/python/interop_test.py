#!/usr/bin/env python3
"""Interop: grpcio stubs generated from proto/ (nobody here wrote them) against a live `waybill serve`.

Calls every service over standard gRPC: capture, lifecycle, availability, the network, the change
feed stream with resume from an acknowledged offset, ERP messages, an error with its details
(waybill-status-details-bin and grpc-status-details-bin), and a deadline. Prints one line per check
and closes with "N passed, N failed"; exits 1 when any check failed.

Usage: interop_test.py HOST:PORT EXAMPLES_DIR   (the stubs on PYTHONPATH: see interop-test.sh)
"""
import sys
import time

import grpc
from google.protobuf import any_pb2, json_format

from waybill.v1 import common_pb2, erp_pb2, feed_pb2, feed_pb2_grpc, inventory_pb2, inventory_pb2_grpc
from waybill.v1 import erp_pb2_grpc, orders_pb2, orders_pb2_grpc, system_pb2, system_pb2_grpc

CLIENT_ID = "python-interop"
METADATA = (("client-id", CLIENT_ID),)
passed = 0
failed = 0


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


def main():
    target, examples = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=30)
    orders = orders_pb2_grpc.OrderServiceStub(channel)
    inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
    network = inventory_pb2_grpc.NetworkServiceStub(channel)
    feed = feed_pb2_grpc.ChangeFeedServiceStub(channel)
    erp = erp_pb2_grpc.ErpServiceStub(channel)
    system = system_pb2_grpc.SystemServiceStub(channel)

    # System and network.
    info = system.GetServerInfo(system_pb2.GetServerInfoRequest(), metadata=METADATA, timeout=10)
    check("GetServerInfo names frameBytesMax", any(limit.name == "frameBytesMax" for limit in info.limits))
    loaded = network.LoadNetwork(read_json(f"{examples}/network.json", inventory_pb2.NetworkModel()), metadata=METADATA, timeout=30)
    check("LoadNetwork loads the example network", loaded.locations > 0 and loaded.items > 0, str(loaded))
    locations = network.ListLocations(inventory_pb2.ListRequest(), metadata=METADATA, timeout=10)
    check("ListLocations lists DC-NEWARK", any(l.location_id == "DC-NEWARK" for l in locations.locations))

    # Capture, read back, lifecycle.
    order = read_json(f"{examples}/orders/web.json", orders_pb2.Order())
    captured = orders.CaptureOrder(orders_pb2.CaptureOrderRequest(order=order), metadata=METADATA, timeout=10)
    order_id = captured.order.order_id
    check("CaptureOrder allocates the web order",
          captured.order.status == orders_pb2.ORDER_STATUS_ALLOCATED and not captured.replayed,
          orders_pb2.OrderStatus.Name(captured.order.status))
    again = orders.CaptureOrder(orders_pb2.CaptureOrderRequest(order=order), metadata=METADATA, timeout=10)
    check("CaptureOrder again replays the same order", again.replayed and again.order.order_id == order_id)
    fetched = orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), metadata=METADATA, timeout=10)
    check("GetOrder reads it back", fetched.external_order_id == order.external_order_id)
    history = orders.GetOrderHistory(orders_pb2.GetOrderHistoryRequest(order_id=order_id), metadata=METADATA, timeout=10)
    check("the client-id metadata is recorded as the order's client", history.entries[0].client_id == CLIENT_ID,
          history.entries[0].client_id)
    held = orders.HoldOrder(orders_pb2.HoldOrderRequest(request_id="py-hold", order_id=order_id,
                                                        reason=orders_pb2.HOLD_REASON_PAYMENT), metadata=METADATA, timeout=10)
    check("HoldOrder puts it on hold", held.order.status == orders_pb2.ORDER_STATUS_ON_HOLD)
    released = orders.ReleaseHold(orders_pb2.ReleaseHoldRequest(request_id="py-release", order_id=order_id),
                                  metadata=METADATA, timeout=10)
    check("ReleaseHold allocates it again", released.order.status == orders_pb2.ORDER_STATUS_ALLOCATED)
    cancelled = orders.CancelOrder(orders_pb2.CancelOrderRequest(request_id="py-cancel", order_id=order_id, reason="interop"),
                                   metadata=METADATA, timeout=10)
    check("CancelOrder cancels it", cancelled.order.status == orders_pb2.ORDER_STATUS_CANCELLED)

    # Availability and ERP messages.
    def on_hand(sku, location):
        answer = inventory.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=[sku], location_ids=[location]),
                                           metadata=METADATA, timeout=10)
        return next((p.on_hand for p in answer.positions if p.location_id == location), None)
    before = on_hand("TSHIRT-BLK-M", "DC-NEWARK")
    check("GetAvailability reports TSHIRT-BLK-M at DC-NEWARK", before is not None and before > 0, str(before))
    delta = erp_pb2.StockDeltaMessage(message_id="py-delta-1", changes=[inventory_pb2.InventoryChange(
        kind=inventory_pb2.INVENTORY_CHANGE_KIND_RECEIPT, sku="TSHIRT-BLK-M", location_id="DC-NEWARK", quantity=5)])
    applied = erp.ApplyStockDeltas(delta, metadata=METADATA, timeout=10)
    check("ApplyStockDeltas applies one change", applied.applied == 1 and not applied.replayed, str(applied))
    replayed = erp.ApplyStockDeltas(delta, metadata=METADATA, timeout=10)
    check("ApplyStockDeltas with the same message id replays", replayed.replayed)
    check("the receipt shows in availability", on_hand("TSHIRT-BLK-M", "DC-NEWARK") == before + 5)

    # An error with its details: a page size over listPageSizeMax.
    try:
        orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1_000_000), metadata=METADATA, timeout=10)
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

    # The change feed: stream, acknowledge, resume after the acknowledged offset.
    head = feed.GetFeedInfo(feed_pb2.GetFeedInfoRequest(), metadata=METADATA, timeout=10).head_offset
    check("the feed has events", head >= 5, str(head))
    stream = feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-reader", from_offset=1), metadata=METADATA, timeout=30)
    seen = []
    for response in stream:
        seen += [event.offset for event in response.events]
        if seen and seen[-1] >= head:
            break
    stream.cancel()
    check("Subscribe streams offsets 1..head in order", seen == list(range(1, head + 1)), str(seen[:10]))
    acknowledged = 3
    ack = feed.Acknowledge(feed_pb2.AcknowledgeRequest(consumer="py-reader", offset=acknowledged), metadata=METADATA, timeout=10)
    check("Acknowledge stores the offset", ack.consumer.acknowledged_offset == acknowledged, str(ack))
    resumed = feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-reader"), metadata=METADATA, timeout=30)
    first = next(iter(resumed))
    resumed.cancel()
    check("a new Subscribe resumes after the acknowledged offset", first.events[0].offset == acknowledged + 1,
          str(first.events[0].offset))

    # A deadline: a stream that has nothing more to send ends DEADLINE_EXCEEDED at its deadline.
    try:
        for _ in feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-deadline", from_offset=head + 100),
                                metadata=METADATA, timeout=1.0):
            pass
        check("a Subscribe past its deadline ends", False, "it ended OK")
    except grpc.RpcError as error:
        code = error.code()
        # from_offset beyond the head is refused at once (OUT_OF_RANGE); then the deadline case:
        check("Subscribe beyond the head is OUT_OF_RANGE", code == grpc.StatusCode.OUT_OF_RANGE, str(code))
    started = time.monotonic()
    try:
        for _ in feed.Subscribe(feed_pb2.SubscribeRequest(consumer="py-deadline", from_offset=head + 1),
                                metadata=METADATA, timeout=1.0):
            pass
        check("a Subscribe at the head ends at its deadline", False, "it ended OK")
    except grpc.RpcError as error:
        elapsed = time.monotonic() - started
        check("a Subscribe at the head ends DEADLINE_EXCEEDED after its 1 s deadline",
              error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and 0.9 <= elapsed < 10, f"{error.code()} {elapsed:.2f}s")

    channel.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
