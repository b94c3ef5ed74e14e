"""The HTTP client that posts status callbacks: HTTP/1.1 on asyncio protocols, connections kept
alive in one pool an origin (scheme, host, port).

Why not aiohttp's ClientSession, which the sandbox used before: the sandbox stands in for Twilio's
machines but, in the celebrity benchmark, runs on the two cores it measures, and each signup link
brings two callbacks. A ClientSession request builds a URL object, a header multidict, a
ClientRequest and a ClientResponse, a payload writer, a timer context and trace hooks for a POST
whose whole job is "send these bytes, read a status line". This writes one pre-built request and
reads the answer with a few `find`s (bench/sandbox_cpu.py has the before and after; ARCHITECTURE.md
"The sandbox's CPU (issue 10)").

What it keeps of a real client: keep-alive by the HTTP version and `Connection` (an HTTP/1.0 or a
`Connection: close` answer closes the connection), bodies by Content-Length, chunked or read to the
close, HTTPS with the default certificate checks, host names resolved by the loop, percent-encoded
non-ASCII in the target, a deadline for the whole exchange. Like aiohttp for a POST, it never
resends a request: a connection that breaks before the answer is a failed callback, as it is at
Twilio (which retries a status callback only when asked to with #rc= on the URL).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import quote, unquote, urlsplit

MAX_HEAD = 64 * 1024  # an answer's status line and headers; beyond it the answer is refused
IDLE_S = 15.0  # an idle connection older than this is closed rather than reused (aiohttp's default)
_SAFE = "/?&=%:@!$'()*+,;~-._"  # what stays as it is when a non-ASCII target is percent-encoded


class BadAnswer(Exception):
    """The peer's answer is not HTTP this client can read."""


class _Connection(asyncio.Protocol):
    """One connection: one request in flight at a time; the answer's status when it is complete."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.keep = False
        self.idle_since = 0.0
        self.deadline = 0.0
        self._status = 0
        self._length = -1  # the body's length once the head is in; -1: reading the head; -2: chunked; -3: to the close

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self._close()  # bytes nobody asked for: the connection cannot be trusted with a request
            return
        self.buffer += data
        try:
            self._parse()
        except (BadAnswer, ValueError, UnicodeDecodeError) as exc:
            self._fail(BadAnswer(f"unreadable answer: {exc}"))

    def eof_received(self) -> bool:
        self._finish_on_close()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish_on_close()
        self._fail(ConnectionResetError("the connection closed before the answer"))

    # --- one exchange -------------------------------------------------------------------------
    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        self._status, self._length = 0, -1
        self.transport.write(request)
        return self.waiter

    def _parse(self) -> None:
        buf = self.buffer
        while self._length == -1:  # the head (a 1xx answer's, then the real one's)
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise BadAnswer("headers too long")
                return
            lines = buf[:end].decode("latin-1").split("\r\n")
            del buf[: end + 4]
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1."):
                raise BadAnswer(f"not an HTTP/1 status line: {lines[0][:80]!r}")
            status = int(rest[:3])
            if 100 <= status < 200:
                continue  # informational: the answer follows
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            self.keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            self._status = status
            if status in (204, 304):
                self._length = 0
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self._length = -2
            elif "content-length" in headers:
                self._length = int(headers["content-length"])
                if self._length < 0:
                    raise BadAnswer("negative Content-Length")
            else:
                self._length, self.keep = -3, False
        if self._length >= 0:
            if len(buf) < self._length:
                return
            if len(buf) > self._length:
                self.keep = False  # more than was announced: never reuse what follows
            self._done()
        elif self._length == -2:
            self._chunks()

    def _chunks(self) -> None:
        buf = self.buffer
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(buf[:line_end]).split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                # The last chunk, then trailers (if any) and an empty line.
                end = buf.find(b"\r\n\r\n", line_end) if buf[line_end + 2 : line_end + 4] != b"\r\n" else line_end
                if end < 0:
                    return
                del buf[: end + 4]
                if buf:
                    self.keep = False
                self._done()
                return
            if len(buf) < line_end + 2 + size + 2:
                return
            del buf[: line_end + 2 + size + 2]

    def _finish_on_close(self) -> None:
        if self._length == -3 and self.waiter is not None and not self.waiter.done():
            self._done()  # a body read to the close ends here

    def _done(self) -> None:
        self._length = -1
        if not self.keep:
            self._close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self._status)

    def _fail(self, exc: Exception) -> None:
        self._close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def time_out(self) -> None:
        self._fail(TimeoutError("no answer before the deadline"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class CallbackPoster:
    """Posts url-encoded forms; `post` returns the answer's HTTP status or raises (connection,
    timeout, unreadable answer: OSError, TimeoutError, BadAnswer, ValueError for a URL that is not
    http(s)). Connections are reused while the peer keeps them alive."""

    def __init__(self, *, timeout_s: float, user_agent: str = "TwilioProxy/1.1") -> None:
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._bases: dict[str, tuple[tuple[str, str, int], str, bytes]] = {}  # URL before "?" -> parsed
        self._ssl: ssl.SSLContext | None = None
        self.connections_opened = 0  # for tests: reuse is visible
        self._busy: set[_Connection] = set()  # connections waiting for an answer
        self._sweeper: asyncio.TimerHandle | None = None
        # A deadline is late by at most this: 1 s for the sandbox's 5 s (Twilio's own is 15 s).
        self._sweep_every = min(1.0, timeout_s / 4)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POSTs `body` (already url-encoded) with these extra headers; the answer's status."""
        origin, request_line, fixed = self._target(url)
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")
        request = b"%b%b%bContent-Length: %d\r\n\r\n%b" % (request_line, fixed, extra, len(body), body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        connection = self._take(origin)
        if connection is None:
            async with asyncio.timeout_at(deadline):  # a new connection only: the rare case
                connection = await self._connect(origin)
        # The deadline of the answer is kept by one sweep a second over the connections in flight,
        # not by a timer a request: a cancelled timer stays in the loop's heap until its time, and
        # at 200 callbacks a second those 5 s timers made every timer push and pop dearer.
        connection.deadline = deadline
        self._busy.add(connection)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._sweep_every, self._sweep)
        try:
            status = await connection.send(request)
        except BaseException:
            connection.abort()  # broken, timed out or cancelled mid-answer: never reused
            raise
        finally:
            self._busy.discard(connection)
        if connection.keep and not connection.closed:
            connection.idle_since = loop.time()
            self._idle.setdefault(origin, []).append(connection)
        return status

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for connection in [c for c in self._busy if c.deadline <= now]:
            connection.time_out()
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every, self._sweep) if self._busy else None

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes, bytes]:
        """(origin, request line, the fixed headers) of a URL; the part before the query is
        parsed once (every message's URL differs only by its ?m= hint)."""
        url = url.partition("#")[0]  # a fragment (Twilio's #rc= overrides) is never sent
        base, _, query = url.partition("?")
        known = self._bases.get(base)
        if known is None:
            known = self._bases[base] = self._parse_base(base)
        origin, path, fixed = known
        target = f"{path}?{query}" if query else path
        if not target.isascii():
            target = quote(target, safe=_SAFE)
        return origin, f"POST {target} HTTP/1.1\r\n".encode("ascii"), fixed

    def _parse_base(self, base: str) -> tuple[tuple[str, str, int], str, bytes]:
        if len(self._bases) > 1000:  # a sandbox asked for many callback hosts: stay bounded
            self._bases.clear()
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname.encode("idna").decode("ascii")
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal goes in brackets
        host_header = shown if port == default else f"{shown}:{port}"
        fixed = (
            f"Host: {host_header}\r\nUser-Agent: {self.user_agent}\r\nAccept: */*\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        )
        if parts.username is not None:  # https://user:pass@host/...: Twilio sends them as HTTP basic auth
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            fixed += f"Authorization: Basic {base64.b64encode(credentials).decode()}\r\n"
        return (parts.scheme, host, port), parts.path or "/", fixed.encode("ascii")

    def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()  # the most recent: the least likely to have been closed by the peer
            if not connection.closed and now - connection.idle_since < IDLE_S:
                return connection
            connection.abort()
        return None

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        _, connection = await asyncio.get_running_loop().create_connection(
            _Connection, host, port, ssl=tls, server_hostname=host if tls else None
        )
        self.connections_opened += 1
        return connection

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
