"""Twilio through the official SDK. TWILIO_API_BASE_URL points it at the local sandbox.

The SDK's HTTP clients are used without max_retries on purpose: their retry re-POSTs on 5xx and
timeouts, and a timeout after Twilio accepted a message would become a duplicate SMS. There is no
idempotency key for creating messages, so every failure is classified instead:
- TwilioRestException: Twilio answered; the code says permanent or retryable (tables below);
- nothing left this machine (connection refused, DNS, connect timeout): retryable;
- the request left and no answer came (read timeout, connection dropped): uncertain, to be
  reconciled with find_message() (did Twilio create it?), never resent blindly.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from messaging.sms.backends.base import BaseSmsBackend, SendResult, SmsError, SmsMessage
from messaging.sms.errors import PERMANENT_CODES, RETRYABLE_CODES


def error_from_exception(exc: TwilioRestException) -> SmsError:
    code = str(exc.code or "")
    status = exc.status
    permanent = code in PERMANENT_CODES or (
        status is not None and 400 <= status < 500 and status != 429 and code not in RETRYABLE_CODES
    )
    # A 5xx or 429 answer means Twilio did not create the message: retryable, not uncertain.
    return SmsError(exc.msg or str(exc), code=code, status=status, permanent=permanent)


def message_params(message: SmsMessage) -> dict:
    params: dict = {"to": message.to, "body": message.body}
    if message.messaging_service_sid:
        params["messaging_service_sid"] = message.messaging_service_sid
    if message.from_:
        params["from_"] = message.from_
    if message.media_urls:
        params["media_url"] = list(message.media_urls)
    if message.status_callback:
        params["status_callback"] = message.status_callback
    if message.validity_period:
        params["validity_period"] = message.validity_period
    return params


def make_client(*, http_client=None) -> Client:
    if http_client is None:
        http_client = TwilioHttpClient(timeout=settings.TWILIO_HTTP_TIMEOUT)  # no max_retries: see above
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL
    return client


def _result(created) -> SendResult:
    segments = int(created.num_segments) if created.num_segments else None
    return SendResult(sid=created.sid, status=created.status or "queued", parts=segments)


# --- async: one aiohttp session per event loop -------------------------------------------------
@dataclass
class _RequestState:
    sent: bool = False  # set once the request headers were written to the socket


_request_state: contextvars.ContextVar[_RequestState | None] = contextvars.ContextVar("twilio_request", default=None)


async def _on_headers_sent(session, ctx, params) -> None:
    # Trace callbacks run inside the request's own task, so the context variable is the caller's.
    state = _request_state.get()
    if state is not None:
        state.sent = True


class AsyncHttpClient(AsyncTwilioHttpClient):
    """The SDK's aiohttp client, with a real default timeout, a connection cap, no retries and a
    lean request path.

    - The SDK passes timeout=None per request, which aiohttp reads as "no timeout at all": a hung
      connection would hang the batch. Here the session's own timeout applies instead.
    - The SDK hands aiohttp the form fields as a dict; aiohttp then builds a FormData and a
      multipart writer (with a uuid4) per request only to url-encode it, and the stock client keeps
      a copy of every request and response "for tests". Profiled on the campaign send, that was
      a quarter of the worker's CPU per message; the body is url-encoded here instead (the same
      bytes: aiohttp also uses urlencode(doseq=True)).
    """

    def __init__(self, *, timeout: float, max_connections: int) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_on_headers_sent)
        super().__init__(pool_connections=False, timeout=timeout)  # no max_retries, on purpose
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
            trace_configs=[trace],
        )
        self._auth_headers: dict[tuple[str, str], str] = {}

    def _authorization(self, auth: tuple[str, str]) -> str:
        # As a header: aiohttp 3.14 deprecates BasicAuth objects (the SDK still builds one).
        value = self._auth_headers.get(auth)
        if value is None:
            value = self._auth_headers[auth] = aiohttp.encode_basic_auth(auth[0], auth[1])
        return value

    async def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ):
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = self._authorization(tuple(auth))
        body = None
        if data:
            body = form_encode(data)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        options = {} if timeout is None else {"timeout": aiohttp.ClientTimeout(total=timeout)}
        async with self.session.request(
            method.upper(), url, params=params, data=body, headers=headers, allow_redirects=allow_redirects, **options
        ) as response:
            text = await response.text()
        return Response(response.status, text, response.headers)


# quote_plus() of each byte as a table: urlencode() calls a Python function per byte of every value
# (~40 us a link, a 140-character body and its callback URL); str.translate does it in C.
_ALWAYS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_QUOTE = {b: chr(b) if b in _ALWAYS_SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in range(256)}


def _quote_plus(value) -> str:
    return str(value).encode("utf-8").decode("latin-1").translate(_FORM_QUOTE)


def form_encode(data: dict) -> bytes:
    """urlencode(data, doseq=True).encode(), byte for byte (tests/messaging/sms/test_form_encode.py),
    for the str, number and list values the SDK hands over."""
    pairs = []
    for key, value in data.items():
        name = _quote_plus(key)
        if isinstance(value, list | tuple):
            pairs += [f"{name}={_quote_plus(v)}" for v in value]
        else:
            pairs.append(f"{name}={_quote_plus(value)}")
    return "&".join(pairs).encode("ascii")


def _not_sent_async(exc: BaseException, state: _RequestState) -> bool:
    """True when the failure proves the request never reached the server."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return True  # refused, DNS, or no connection within the connect timeout
    return not state.sent


def _not_sent_sync(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        text = f"{reason!r} {exc!r}"
        return "NewConnectionError" in text or "NameResolutionError" in text or "Connection refused" in text
    return False


class TwilioBackend(BaseSmsBackend):
    def __init__(self) -> None:
        self.client = make_client()
        # The campaign sender runs asyncio.run() per batch: an aiohttp session belongs to the loop
        # that created it, so each loop gets its own client (closed by aclose() at the batch end).
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = weakref.WeakKeyDictionary()

    # --- sync ----------------------------------------------------------------------------------
    def send(self, message: SmsMessage) -> SendResult:
        try:
            created = self.client.messages.create(**message_params(message))
        except TwilioRestException as exc:
            raise error_from_exception(exc) from exc
        except requests.RequestException as exc:
            if _not_sent_sync(exc):
                raise SmsError(f"could not reach Twilio: {exc}") from exc
            raise SmsError(f"no answer from Twilio: {exc}", uncertain=True) from exc
        return _result(created)

    def find_message(self, *, to: str, body: str, since: datetime, limit: int = 100) -> SendResult | None:
        """Reconciles an uncertain send: the oldest message to `to` with this body created at or
        after `since`, or None when the provider has no such message (safe to send again)."""
        try:
            found = self.client.messages.list(to=to, limit=limit, page_size=min(limit, 1000))
        except TwilioRestException as exc:
            raise error_from_exception(exc) from exc
        except requests.RequestException as exc:
            raise SmsError(f"could not list messages on Twilio: {exc}") from exc
        return _match(found, body=body, since=since)

    # --- async ---------------------------------------------------------------------------------
    def async_client(self) -> Client:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            http = AsyncHttpClient(
                timeout=settings.TWILIO_HTTP_TIMEOUT, max_connections=settings.TWILIO_HTTP_MAX_CONNECTIONS
            )
            client = make_client(http_client=http)
            self._async_clients[loop] = client
        return client

    async def send_async(self, message: SmsMessage) -> SendResult:
        client = self.async_client()
        state = _RequestState()
        token = _request_state.set(state)
        try:
            created = await client.messages.create_async(**message_params(message))
        except TwilioRestException as exc:
            raise error_from_exception(exc) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if _not_sent_async(exc, state):
                raise SmsError(f"could not reach Twilio ({detail})") from exc
            raise SmsError(f"no answer from Twilio ({detail})", uncertain=True) from exc
        finally:
            _request_state.reset(token)
        return _result(created)

    async def find_message_async(self, *, to: str, body: str, since: datetime, limit: int = 100) -> SendResult | None:
        client = self.async_client()
        try:
            found = await client.messages.list_async(to=to, limit=limit, page_size=min(limit, 1000))
        except TwilioRestException as exc:
            raise error_from_exception(exc) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SmsError(f"could not list messages on Twilio ({type(exc).__name__}: {exc})") from exc
        return _match(found, body=body, since=since)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._async_clients.pop(loop, None)
        if client is not None:
            await client.http_client.close()


def _match(found, *, body: str, since: datetime) -> SendResult | None:
    # Listed by To only, then filtered here: Twilio's DateSent filter skips messages not yet sent,
    # and date_created has whole seconds, hence the one-second slack.
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    floor = since - timedelta(seconds=1)
    matches = [m for m in found if m.body == body and (m.date_created is None or m.date_created >= floor)]
    if not matches:
        return None
    return _result(min(matches, key=lambda m: m.date_created or since))
