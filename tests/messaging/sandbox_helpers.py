"""Helpers for the sandbox and twilio-backend tests: a tiny webhook receiver and sandbox contexts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from django.test import override_settings

from messaging.sandbox import run_sandbox_in_thread


class Receiver:
    """Records every POST it gets: (path, headers, form as a dict), and the client's (host, port)
    of each (one port for several requests: the connection was kept alive)."""

    def __init__(self, status: int = 200, reply: bytes = b"") -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.peers: list[tuple[str, int]] = []
        self.status = status
        self.reply = reply
        self.event = threading.Event()
        self.url = ""


@contextlib.contextmanager
def webhook_receiver(status: int = 200, reply: bytes = b"", keep_alive: bool = False) -> Iterator[Receiver]:
    """A receiver on a free port. HTTP/1.0 (each answer closes its connection) unless keep_alive:
    then HTTP/1.1, connections kept open as the web's server keeps them."""
    receiver = Receiver(status, reply)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", 0))
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            receiver.requests.append((self.path, dict(self.headers), form))
            receiver.peers.append(self.client_address[:2])
            receiver.event.set()
            self.send_response(receiver.status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(receiver.reply)))
            self.end_headers()
            self.wfile.write(receiver.reply)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def sandbox_settings(tmp_path, *, http_timeout: float = 5.0, **options) -> Iterator[str]:
    """A sandbox in a thread, with a ledger in tmp_path, and settings pointing the SDK at it."""
    options.setdefault("ledger", tmp_path / "ledger.jsonl")
    with (
        run_sandbox_in_thread(**options) as url,
        override_settings(TWILIO_API_BASE_URL=url, TWILIO_HTTP_TIMEOUT=http_timeout),
    ):
        yield url
