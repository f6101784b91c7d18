#!/usr/bin/env python3
"""A stand-in ERP webhook for the console end-to-end test: answers 200 to every event, except the
first delivery of each event that mentions REFUSE (an order id), which it refuses with 422, as an
ERP refuses a message it cannot book. The bridge dead-letters that event (and parks the order's
later events behind it); a replay requested from the console then delivers it.

Usage: erp_webhook.py PORT REFUSE
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, refuse = int(sys.argv[1]), sys.argv[2]
refused = set()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Idempotency-Key", "")
        if refuse.encode() in body and key not in refused:
            refused.add(key)
            self.send_response(422)
            self.end_headers()
            self.wfile.write(b"unknown customer account for this order")
            return
        self.send_response(200)
        self.end_headers()

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
