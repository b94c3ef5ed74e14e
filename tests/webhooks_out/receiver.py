"""A webhook receiver for tests: a real HTTP server on a free loopback port, scripted answers,
Standard Webhooks verification (the reference library) and deduplication by webhook-id."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class Receiver:
    def __init__(self, secret: str | None = None):
        self.secret = secret
        self.requests: list[dict] = []  # every POST, duplicates included
        self.events: dict[str, dict] = {}  # by webhook-id: what an idempotent receiver keeps
        self.script: list[int | str] = []  # answers to give in order: a status, or "slow"; then 200
        self.slow_seconds = 2.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append({"headers": headers, "body": body})
                answer = receiver.script.pop(0) if receiver.script else 200
                if answer == "slow":
                    time.sleep(receiver.slow_seconds)
                    answer = 200
                if answer == 200 and receiver.secret:
                    Webhook(receiver.secret).verify(body, headers)  # raises on a bad signature or old timestamp
                    receiver.events.setdefault(headers["webhook-id"], json.loads(body))
                self.send_response(int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
