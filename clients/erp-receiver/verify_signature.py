#!/usr/bin/env python3
"""The receiver's side of Waybill's signed webhooks, with the Python standard library only.

Every POST of `waybill erp-bridge --webhook URL` carries

    Waybill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]
    Waybill-Delivery-Id: <unique per attempt>
    Idempotency-Key: <event id>

`verify()` is the check to copy into an ERP's endpoint: it recomputes the HMAC over the raw body
bytes (before any JSON parsing), compares in constant time against every v1 (two while the bridge
rotates its secret), and refuses a timestamp more than five minutes from now, so a captured
request cannot be replayed later. Dedupe on the body's `eventId` (it is signed; headers other than
the signature are not).

Run as a small receiver (docs/ERP.md; the ERP tests run it against real bridge deliveries):

    WAYBILL_WEBHOOK_SECRET=... python3 verify_signature.py --port 8080 --record deliveries.jsonl
    python3 verify_signature.py --port 8080 --secret-file /etc/erp/waybill.secret

It answers 200 to a verified delivery (also to a duplicate event id), 401 to a missing or failing
signature (the bridge then pauses delivery and retries: a wrong secret loses nothing), 400 to a
verified body that is not a JSON object, 413 to a body over the size limit. It prints
"listening on PORT" once it listens, and one line per request; it never prints a secret.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURE_HEADER = "Waybill-Signature"
DELIVERY_ID_HEADER = "Waybill-Delivery-Id"
SCHEME = "v1"
# How far t may be from this machine's clock, either way (keep the clocks in sync with NTP).
TOLERANCE_SECONDS = 300
# Bounds on work per request.
HEADER_BYTES_MAX = 1024
BODY_BYTES_MAX = 1024 * 1024
SECRET_ENVIRONMENT_VARIABLE = "WAYBILL_WEBHOOK_SECRET"


class SignatureError(Exception):
    """Why a delivery is refused (never contains a secret)."""


def verify(header, body, secrets, now=None, tolerance=TOLERANCE_SECONDS):
    """Raises SignatureError unless `header` signs the raw `body` bytes with one of `secrets`
    (strings) at a time within `tolerance` seconds of `now` (default: this machine's clock)."""
    if header is None:
        raise SignatureError("no %s header" % SIGNATURE_HEADER)
    if len(header.encode("utf-8")) > HEADER_BYTES_MAX:
        raise SignatureError("%s header longer than %d bytes" % (SIGNATURE_HEADER, HEADER_BYTES_MAX))
    timestamp = None
    signatures = []
    for element in header.split(","):
        name, separator, value = element.strip().partition("=")
        if not separator:
            raise SignatureError("malformed %s header" % SIGNATURE_HEADER)
        if name == "t":
            if timestamp is not None:
                raise SignatureError("more than one timestamp")
            try:
                timestamp = int(value, 10)
            except ValueError:
                raise SignatureError("malformed timestamp") from None
        elif name == SCHEME:
            signatures.append(value)
        # Other schemes are ignored: a later version may add them beside v1.
    if timestamp is None:
        raise SignatureError("no timestamp")
    if not signatures:
        raise SignatureError("no %s signature" % SCHEME)
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp %d s from now: outside the %d s tolerance" % (now - timestamp, tolerance))
    signed = str(timestamp).encode("ascii") + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        for signature in signatures:
            if hmac.compare_digest(expected, signature):
                return
    raise SignatureError("no signature matches")


def load_secrets(path):
    """The secrets of a file only its owner may read (one per line: two while rotating)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise SystemExit("secret file %s: not a regular file" % path)
        if mode & 0o077:
            raise SystemExit("secret file %s: mode %o lets others read it; chmod 600 it" % (path, mode & 0o777))
        text = os.read(descriptor, 4096).decode("utf-8")
    finally:
        os.close(descriptor)
    return text.split()


class Receiver(BaseHTTPRequestHandler):
    secrets = []
    tolerance = TOLERANCE_SECONDS
    record = None
    seen = set()
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self.answer(411, "Content-Length required")
        if length < 0 or length > BODY_BYTES_MAX:
            return self.answer(413, "body over %d bytes" % BODY_BYTES_MAX, close=True)
        body = self.rfile.read(length)
        header = self.headers.get(SIGNATURE_HEADER)
        delivery = self.headers.get(DELIVERY_ID_HEADER, "-")
        try:
            verify(header, body, self.secrets, tolerance=self.tolerance)
        except SignatureError as error:
            self.log("refused delivery %s: %s" % (delivery, error))
            return self.answer(401, "signature refused")
        try:
            message = json.loads(body)
            event_id = message["eventId"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, "not a Waybill message")
        with self.lock:
            duplicate = event_id in self.seen
            self.seen.add(event_id)
            if self.record:
                with open(self.record, "a") as out:
                    out.write(json.dumps({"eventId": event_id, "deliveryId": delivery, "duplicate": duplicate,
                                          "signature": header, "body": body.decode("utf-8")}) + "\n")
        self.log("accepted %s (delivery %s%s)" % (event_id, delivery, ", duplicate" if duplicate else ""))
        self.answer(200, "ok")

    def answer(self, status, text, close=False):
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log(self, line):
        print(line, flush=True)

    def log_message(self, format, *args):
        pass  # One line per request is printed by log(); the default would print to stderr too.


def main():
    parser = argparse.ArgumentParser(description="Receive and verify Waybill's signed webhooks.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--secret-file", help="secrets, one per line (default: $%s)" % SECRET_ENVIRONMENT_VARIABLE)
    parser.add_argument("--tolerance-seconds", type=int, default=TOLERANCE_SECONDS)
    parser.add_argument("--record", help="append every accepted delivery to this JSON-lines file")
    arguments = parser.parse_args()
    if arguments.secret_file:
        secrets = load_secrets(arguments.secret_file)
    else:
        secrets = os.environ.get(SECRET_ENVIRONMENT_VARIABLE, "").split()
    if not secrets:
        raise SystemExit("no secret: give --secret-file or $%s" % SECRET_ENVIRONMENT_VARIABLE)
    Receiver.secrets = secrets
    Receiver.tolerance = arguments.tolerance_seconds
    Receiver.record = arguments.record
    # A parent may have blocked SIGTERM in the mask this process inherited: stop on it either way.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    server = ThreadingHTTPServer((arguments.host, arguments.port), Receiver)
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
