"""The sandbox server: the slice of Twilio's REST API the project uses, plus signed status callbacks.

One asyncio process (aiohttp). Every simulated delay is an asyncio.sleep, so a 20 ms latency does
not limit throughput. The ledger (one JSON line per accepted message, written and flushed before
the answer leaves) is the ground truth of "how many times was this sent" for crash tests: lines
are written from the single event-loop thread, so they never interleave.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import random
import re
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from messaging.sandbox.parts import count_parts

log = logging.getLogger("messaging.sandbox")

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MAX_BODY = 1600
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"

# Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials), as To ...
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (
        21612,
        "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number via SMS.",
    ),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
# ... and as From.
MAGIC_FROM = {
    "+15005550001": (
        21212,
        "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
    ),
    "+15005550007": (
        21606,
        "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
    ),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages."),
}
# What an accepted message ends in when --callback-fail-rate picks it (status, ErrorCode).
CALLBACK_FAILURES = [("undelivered", "30003"), ("undelivered", "30005"), ("undelivered", "30007"), ("failed", "30008")]
STATUS_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "undelivered": 4, "failed": 4}


@dataclass
class SandboxConfig:
    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    latency_ms: float = 20.0  # before every API answer
    fail_rate: float = 0.0  # fraction of creates answered 5xx or 429/20429, nothing created
    callback_fail_rate: float = 0.0  # fraction of accepted messages ending undelivered/failed
    slow_after_accept_ms: float = 0.0  # accepted and ledgered, then the answer is held back
    ledger: str | Path | None = None
    sent_delay_ms: float = 50.0  # accepted -> "sent" callback
    delivered_delay_ms: float = 200.0  # "sent" -> final callback
    callback_concurrency: int = 64  # callbacks in flight at once
    callback_queue_size: int = 100_000  # beyond this, callbacks are dropped (and counted)
    callback_timeout_s: float = 5.0
    max_stored: int = 1_000_000  # messages kept for GET/list; the oldest are forgotten beyond it
    seed: int | None = None


@dataclass(slots=True)
class StoredMessage:
    sid: str
    to: str
    from_: str
    body: str
    messaging_service_sid: str
    status: str
    num_segments: int
    num_media: int
    date_created: datetime
    status_callback: str
    final_status: str = "delivered"
    final_error: str = ""
    date_sent: datetime | None = None
    date_updated: datetime | None = None
    error_code: str = ""


def rfc2822(dt: datetime | None) -> str | None:
    return format_datetime(dt) if dt else None


def twilio_error(status: int, code: int, message: str, headers: dict | None = None) -> web.Response:
    payload = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(payload, status=status, headers=headers)


def _parse_when(value: str) -> datetime | date | None:
    value = value.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _on_or_after(dt: datetime, bound: datetime | date) -> bool:
    return dt.date() >= bound if type(bound) is date else dt >= bound


def _on_or_before(dt: datetime, bound: datetime | date) -> bool:
    return dt.date() <= bound if type(bound) is date else dt <= bound


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.validator = RequestValidator(config.auth_token)
        token = base64.b64encode(f"{config.account_sid}:{config.auth_token}".encode()).decode()
        self._expected_auth = f"Basic {token}"
        self.messages: dict[str, StoredMessage] = {}
        self._by_to: dict[str, list[str]] = defaultdict(list)
        self._ledger: IO[str] | None = None
        self._cb_queue: asyncio.Queue | None = None
        self._cb_workers: list[asyncio.Task] = []
        self._cb_session: aiohttp.ClientSession | None = None
        self._pending_timers = 0
        # Inbound MMS media the sandbox serves, {(message sid, media sid): (content type, bytes)}.
        self.media: dict[tuple[str, str], tuple[str, bytes]] = {}
        # Counters, for tests and the command's shutdown summary.
        self.stats = {
            "accepted": 0,
            "rejected": 0,
            "injected_failures": 0,
            "callbacks_sent": 0,
            "callbacks_failed": 0,
            "callbacks_dropped": 0,
        }

    # --- app ---------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        app.router.add_post(f"{base}/Messages.json", self.create_message)
        app.router.add_get(f"{base}/Messages.json", self.list_messages)
        app.router.add_get(f"{base}/Messages/{{message_sid}}.json", self.fetch_message)
        app.router.add_get(f"{base}/Messages/{{message_sid}}/Media/{{media_sid}}", self.fetch_media)
        app.router.add_get("/health", self.health)
        app.router.add_get("/v2/PhoneNumbers/{phone_number}", self.lookup_phone_number)  # issue 17
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _startup(self, app: web.Application) -> None:
        if self.config.ledger:
            # Append-only; each line is flushed before the answer leaves (see _accept).
            self._ledger = open(self.config.ledger, "a", encoding="utf-8")  # noqa: SIM115
        self._cb_queue = asyncio.Queue(maxsize=self.config.callback_queue_size)
        self._cb_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.callback_timeout_s))
        self._cb_workers = [
            asyncio.create_task(self._callback_worker()) for _ in range(self.config.callback_concurrency)
        ]

    async def _cleanup(self, app: web.Application) -> None:
        for task in self._cb_workers:
            task.cancel()
        await asyncio.gather(*self._cb_workers, return_exceptions=True)
        if self._cb_session:
            await self._cb_session.close()
        if self._ledger:
            self._ledger.close()
            self._ledger = None

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, **self.stats, "callbacks_pending": self.callbacks_pending()})

    def callbacks_pending(self) -> int:
        # Queue._unfinished_tasks counts items queued plus items a worker is still posting.
        queued = getattr(self._cb_queue, "_unfinished_tasks", 0) if self._cb_queue else 0
        return self._pending_timers + queued

    # --- auth --------------------------------------------------------------------------------
    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if hmac.compare_digest(header.encode(), self._expected_auth.encode()):
            if request.match_info["account_sid"] != self.config.account_sid:
                return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
            return None
        return twilio_error(401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})

    async def _latency(self) -> None:
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000)

    # --- POST Messages.json ------------------------------------------------------------------
    async def create_message(self, request: web.Request) -> web.Response:
        denied = self._check_auth(request)
        if denied:
            return denied
        form = await request.post()
        await self._latency()
        if self.config.fail_rate and self.random.random() < self.config.fail_rate:
            self.stats["injected_failures"] += 1
            if self.random.random() < 0.5:
                return twilio_error(429, 20429, "Too Many Requests", headers={"Retry-After": "1"})
            if self.random.random() < 0.5:
                return twilio_error(503, 20503, "Service unavailable")
            return twilio_error(500, 20500, "An internal server error has occurred")

        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip()
        service = form.get("MessagingServiceSid", "").strip()
        body = form.get("Body", "")
        media = form.getall("MediaUrl", [])
        error = self._validate(to=to, from_=from_, service=service, body=body, media=media)
        if error:
            self.stats["rejected"] += 1
            return twilio_error(400, *error)

        msg = self._accept(form, to=to, from_=from_, service=service, body=body, media=media)
        if self.config.slow_after_accept_ms > 0:
            # Accepted and in the ledger, but the answer is late: the client may time out and
            # must reconcile rather than resend.
            await asyncio.sleep(self.config.slow_after_accept_ms / 1000)
        return web.json_response(self.resource(msg), status=201)

    def _validate(self, *, to: str, from_: str, service: str, body: str, media: list) -> tuple[int, str] | None:
        if not to:
            return 21604, "A 'To' phone number is required."
        if not from_ and not service:
            return 21603, "A 'From' phone number is required."
        if not body and not media:
            return 21602, "Message body is required."
        if len(body) > MAX_BODY:
            return 21617, "The concatenated message body exceeds the 1600 character limit."
        if not E164.match(to) or to in MAGIC_TO:
            return MAGIC_TO.get(to, (21211, f"The 'To' number {to} is not a valid phone number."))
        if from_ in MAGIC_FROM:
            return MAGIC_FROM[from_]
        return None

    def _accept(self, form, *, to: str, from_: str, service: str, body: str, media: list) -> StoredMessage:
        now = datetime.now(UTC).replace(microsecond=0)
        final_status, final_error = "delivered", ""
        if self.config.callback_fail_rate and self.random.random() < self.config.callback_fail_rate:
            final_status, final_error = self.random.choice(CALLBACK_FAILURES)
        msg = StoredMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=from_,
            body=body,
            messaging_service_sid=service,
            status="accepted" if service else "queued",
            num_segments=count_parts(body) if body else 1,
            num_media=len(media),
            date_created=now,
            date_updated=now,
            status_callback=form.get("StatusCallback", ""),
            final_status=final_status,
            final_error=final_error,
        )
        if self._ledger:
            record: dict[str, Any] = {}
            for key in form:
                values = form.getall(key)
                record[key] = list(values) if key == "MediaUrl" or len(values) > 1 else values[0]
            record["sid"] = msg.sid
            record["date_created"] = now.isoformat()
            # Written and flushed before the answer: the ledger must never miss an accepted message.
            self._ledger.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._ledger.flush()
        self.messages[msg.sid] = msg
        self._by_to[to].append(msg.sid)
        if len(self.messages) > self.config.max_stored:
            # Bounded memory for long benchmarks; the ledger keeps the full record.
            oldest = self.messages.pop(next(iter(self.messages)))
            same_to = self._by_to[oldest.to]
            same_to.remove(oldest.sid)
            if not same_to:
                del self._by_to[oldest.to]
        self.stats["accepted"] += 1
        self._schedule(msg, self.config.sent_delay_ms)
        return msg

    def resource(self, msg: StoredMessage) -> dict:
        uri = f"/{API_VERSION}/Accounts/{self.config.account_sid}/Messages/{msg.sid}.json"
        return {
            "account_sid": self.config.account_sid,
            "api_version": API_VERSION,
            "body": msg.body,
            "date_created": rfc2822(msg.date_created),
            "date_sent": rfc2822(msg.date_sent),
            "date_updated": rfc2822(msg.date_updated),
            "direction": "outbound-api",
            "error_code": int(msg.error_code) if msg.error_code else None,
            "error_message": None,
            "from": msg.from_ or None,
            "messaging_service_sid": msg.messaging_service_sid or None,
            "num_media": str(msg.num_media),
            "num_segments": str(msg.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": msg.sid,
            "status": msg.status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": msg.to,
            "uri": uri,
        }

    # --- GET /v2/PhoneNumbers/{n}: Lookup v2 (issue 17) --------------------------------------
    async def lookup_phone_number(self, request: web.Request) -> web.Response:
        """Twilio Lookup v2 with Fields=line_type_intelligence, answered from the number itself
        (lookup_answer), so tests and the dev setup know each fan's carrier in advance."""
        header = request.headers.get("Authorization", "")
        if not hmac.compare_digest(header.encode(), self._expected_auth.encode()):
            return twilio_error(401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        await self._latency()
        fields = request.query.get("Fields", "")
        return web.json_response(lookup_answer(request.match_info["phone_number"], fields))

    # --- GET Messages/{sid}.json and Messages.json -------------------------------------------
    async def fetch_message(self, request: web.Request) -> web.Response:
        denied = self._check_auth(request)
        if denied:
            return denied
        await self._latency()
        msg = self.messages.get(request.match_info["message_sid"])
        if msg is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(self.resource(msg))

    # --- GET Messages/{sid}/Media/{sid}: an inbound MMS's file (Twilio's MediaUrlN) ------------
    def add_media(self, message_sid: str, media_sid: str, content_type: str, body: bytes) -> str:
        """Register a file for a simulated inbound MMS; returns its path (MediaUrlN minus the host)."""
        self.media[(message_sid, media_sid)] = (content_type, body)
        return f"/{API_VERSION}/Accounts/{self.config.account_sid}/Messages/{message_sid}/Media/{media_sid}"

    async def fetch_media(self, request: web.Request) -> web.Response:
        # Like Twilio with "HTTP basic auth for media" on: the account's credentials are required.
        denied = self._check_auth(request)
        if denied:
            return denied
        await self._latency()
        found = self.media.get((request.match_info["message_sid"], request.match_info["media_sid"]))
        if found is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return web.Response(body=found[1], content_type=found[0])

    async def list_messages(self, request: web.Request) -> web.Response:
        denied = self._check_auth(request)
        if denied:
            return denied
        await self._latency()
        query = request.query
        try:
            page_size = min(max(int(query.get("PageSize", "50")), 1), 1000)
            page = max(int(query.get("Page", "0")), 0)
        except ValueError:
            return twilio_error(400, 20001, "PageSize and Page must be integers")
        bounds = {}
        for key in ("DateSent", "DateSent>", "DateSent<"):
            if key in query:
                bounds[key] = _parse_when(query[key])
                if bounds[key] is None:
                    return twilio_error(400, 20001, f"Invalid {key}: {query[key]!r}")
        to, from_ = query.get("To", ""), query.get("From", "")
        sids = self._by_to.get(to, []) if to else list(self.messages)
        matches = []
        for sid in reversed(sids):  # newest first, like Twilio
            msg = self.messages[sid]
            when = msg.date_sent or msg.date_created
            if from_ and msg.from_ != from_:
                continue
            if "DateSent" in bounds and not (
                _on_or_after(when, bounds["DateSent"]) and _on_or_before(when, bounds["DateSent"])
            ):
                continue
            if "DateSent>" in bounds and not _on_or_after(when, bounds["DateSent>"]):
                continue
            if "DateSent<" in bounds and not _on_or_before(when, bounds["DateSent<"]):
                continue
            matches.append(msg)
        start = page * page_size
        chunk = matches[start : start + page_size]
        path = request.path
        params = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
        params["PageSize"] = str(page_size)
        next_uri = None
        if start + page_size < len(matches):
            next_uri = f"{path}?{urlencode({**params, 'Page': page + 1, 'PageToken': f'PA{start + page_size}'})}"
        return web.json_response(
            {
                "messages": [self.resource(m) for m in chunk],
                "end": start + len(chunk) - 1 if chunk else 0,
                "first_page_uri": f"{path}?{urlencode({**params, 'Page': 0})}",
                "next_page_uri": next_uri,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": f"{path}?{urlencode({**params, 'Page': page - 1})}" if page else None,
                "start": start,
                "uri": f"{path}?{request.query_string}",
            }
        )

    # --- status callbacks --------------------------------------------------------------------
    def _schedule(self, msg: StoredMessage, delay_ms: float) -> None:
        self._pending_timers += 1
        asyncio.get_running_loop().call_later(delay_ms / 1000, self._advance, msg)

    def _advance(self, msg: StoredMessage) -> None:
        """Moves a message one step (queued/accepted -> sent -> final) and queues its callback."""
        self._pending_timers -= 1
        now = datetime.now(UTC).replace(microsecond=0)
        if msg.status in ("queued", "accepted"):
            msg.status = "failed" if msg.final_status == "failed" else "sent"
            msg.date_sent = now
        else:
            msg.status = msg.final_status
        if msg.status in ("failed", "undelivered"):
            msg.error_code = msg.final_error
        msg.date_updated = now
        if msg.status == "sent":
            self._schedule(msg, self.config.delivered_delay_ms)
        if msg.status_callback:
            try:
                self._cb_queue.put_nowait((msg, msg.status))
            except asyncio.QueueFull:
                self.stats["callbacks_dropped"] += 1

    def callback_params(self, msg: StoredMessage, status: str) -> dict[str, str]:
        params = {
            "AccountSid": self.config.account_sid,
            "ApiVersion": API_VERSION,
            "From": msg.from_,
            "MessageSid": msg.sid,
            "MessageStatus": status,
            "SmsSid": msg.sid,
            "SmsStatus": status,
            "To": msg.to,
        }
        if msg.messaging_service_sid:
            params["MessagingServiceSid"] = msg.messaging_service_sid
        if status in ("failed", "undelivered") and msg.final_error:
            params["ErrorCode"] = msg.final_error
        return params

    async def _callback_worker(self) -> None:
        while True:
            msg, status = await self._cb_queue.get()
            try:
                params = self.callback_params(msg, status)
                signature = self.validator.compute_signature(msg.status_callback, params)
                async with self._cb_session.post(
                    msg.status_callback, data=params, headers={"X-Twilio-Signature": signature}
                ) as resp:
                    await resp.read()
                    self.stats["callbacks_sent" if resp.status < 400 else "callbacks_failed"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # target down or slow: Twilio does not crash either
                self.stats["callbacks_failed"] += 1
                log.debug("status callback to %s failed: %r", msg.status_callback, exc)
            finally:
                self._cb_queue.task_done()


# --- running it --------------------------------------------------------------------------------
def read_ledger(path: str | Path) -> list[dict]:
    """The ledger's records, one per accepted message (an absent file is an empty ledger)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def serve(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 8799, print_fn=print) -> None:
    """Runs the sandbox in the foreground until interrupted (the management command calls this)."""
    sandbox = Sandbox(config)
    app = sandbox.make_app()

    async def announce(app: web.Application) -> None:
        print_fn(
            f"Twilio sandbox on http://{host}:{port} (account {config.account_sid}); set TWILIO_API_BASE_URL=http://{host}:{port}"
        )

    app.on_startup.append(announce)
    web.run_app(app, host=host, port=port, access_log=None, print=None, handle_signals=True)
    print_fn(f"Twilio sandbox stopped: {sandbox.stats}")


class SandboxURL(str):
    """The base URL of a running in-thread sandbox, with the Sandbox attached for inspection."""

    sandbox: Sandbox
    loop: asyncio.AbstractEventLoop

    def call(self, fn, *args):
        """Runs fn(*args) on the sandbox's loop thread and returns its result (for safe inspection)."""
        return asyncio.run_coroutine_threadsafe(_as_coro(fn, *args), self.loop).result(timeout=10)

    def wait_callbacks(self, timeout: float = 5.0) -> bool:
        """Waits until no status callback is scheduled or in flight; True if it got there."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(self.sandbox.callbacks_pending) == 0:
                return True
            time.sleep(0.02)
        return False


async def _as_coro(fn, *args):
    return fn(*args)


@contextlib.contextmanager
def run_sandbox_in_thread(
    *, account_sid: str | None = None, auth_token: str | None = None, host: str = "127.0.0.1", **options: Any
) -> Iterator[SandboxURL]:
    """Runs a sandbox on a free loopback port in a background thread, for tests.

    Credentials default to Django's TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN when settings are
    configured; other keyword arguments are SandboxConfig fields (latency_ms defaults to 0 here,
    callback delays to 10 ms).
    """
    if account_sid is None or auth_token is None:
        try:
            from django.conf import settings

            account_sid = account_sid or settings.TWILIO_ACCOUNT_SID or DEFAULT_ACCOUNT_SID
            auth_token = auth_token or settings.TWILIO_AUTH_TOKEN or DEFAULT_AUTH_TOKEN
        except Exception:  # Django absent or not configured
            account_sid = account_sid or DEFAULT_ACCOUNT_SID
            auth_token = auth_token or DEFAULT_AUTH_TOKEN
    options.setdefault("latency_ms", 0)
    options.setdefault("sent_delay_ms", 10)
    options.setdefault("delivered_delay_ms", 10)
    config = SandboxConfig(account_sid=account_sid, auth_token=auth_token, **options)
    sandbox = Sandbox(config)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(sandbox.make_app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(state["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="twilio-sandbox", daemon=True)
    thread.start()
    ready.wait(10)
    if "error" in state:
        raise state["error"]
    url = SandboxURL(f"http://{host}:{state['port']}")
    url.sandbox = sandbox
    url.loop = loop
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- Lookup v2 answers (issue 17) -------------------------------------------------------------------
# By the number's last digit: 0-3 AT&T, 4-6 T-Mobile, 7-8 Verizon, 9 a VoIP number of another carrier.
LOOKUP_CARRIERS = (
    *[("AT&T Wireless", "310", "410", "mobile")] * 4,
    *[("T-Mobile USA, Inc.", "310", "260", "mobile")] * 3,
    *[("Verizon Wireless", "311", "480", "mobile")] * 2,
    ("Bandwidth/13 - Bandwidth.com - SVR", None, None, "nonFixedVoip"),
)


def lookup_answer(phone_number: str, fields: str = "") -> dict:
    """Twilio's Lookup v2 PhoneNumber resource for `phone_number`, deterministic."""
    digits = "".join(ch for ch in phone_number if ch.isdigit())
    valid = phone_number.startswith("+") and 8 <= len(digits) <= 15
    answer: dict = {
        "calling_country_code": "1" if digits.startswith("1") else digits[:2],
        "country_code": "US" if digits.startswith("1") else None,
        "phone_number": phone_number,
        "national_format": phone_number,
        "valid": valid,
        "validation_errors": [] if valid else ["INVALID_LENGTH"],
        "caller_name": None,
        "sim_swap": None,
        "call_forwarding": None,
        "line_status": None,
        "line_type_intelligence": None,
        "identity_match": None,
        "reassigned_number": None,
        "sms_pumping_risk": None,
        "phone_number_quality_score": None,
        "pre_fill": None,
        "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{phone_number}",
    }
    if valid and "line_type_intelligence" in fields.split(","):
        name, mcc, mnc, kind = LOOKUP_CARRIERS[int(digits[-1])]
        answer["line_type_intelligence"] = {
            "carrier_name": name,
            "error_code": None,
            "mobile_country_code": mcc,
            "mobile_network_code": mnc,
            "type": kind,
        }
    return answer
