"""The sandbox server: the slice of Twilio's REST API the project uses, plus signed status callbacks.

One asyncio process (aiohttp). Every simulated delay is an asyncio.sleep, so a 20 ms latency does
not limit throughput. The ledger (one JSON line per accepted message, written and flushed before
the answer leaves) is the ground truth of "how many times was this sent" for crash tests: lines
are written from the single event-loop thread, so they never interleave.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import random
from collections import defaultdict
from typing import IO

from aiohttp import web
from twilio.request_validator import RequestValidator

from messaging.sandbox.callbacks import CallbacksMixin
from messaging.sandbox.common import API_VERSION, SandboxConfig, StoredMessage, twilio_error
from messaging.sandbox.lookups import LookupsMixin
from messaging.sandbox.messages import MessagesMixin
from messaging.sandbox.numbers import NumbersMixin
from messaging.sandbox.poster import CallbackPoster
from messaging.sandbox.services import ServicesMixin


class Sandbox(MessagesMixin, CallbacksMixin, LookupsMixin, NumbersMixin, ServicesMixin):
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.validator = RequestValidator(config.auth_token)
        self._token = config.auth_token.encode("utf-8")  # the callbacks' signing key (callbacks.signature)
        token = base64.b64encode(f"{config.account_sid}:{config.auth_token}".encode()).decode()
        self._expected_auth = f"Basic {token}"
        self.messages: dict[str, StoredMessage] = {}
        self._by_to: dict[str, list[str]] = defaultdict(list)
        self._ledger: IO[str] | None = None
        self._cb_queue: asyncio.Queue | None = None
        self._cb_workers: list[asyncio.Task] = []
        self._poster: CallbackPoster | None = None
        self._pending_timers = 0
        # Inbound MMS media the sandbox serves, {(message sid, media sid): (content type, bytes)}.
        self.media: dict[tuple[str, str], tuple[str, bytes]] = {}
        # The account's numbers, Messaging Services and 10DLC registrations (numbers.py, services.py).
        self.numbers: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.brands: dict[str, dict] = {}
        self.campaigns: dict[str, list[dict]] = {}
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
        app.router.add_get(f"{base}/IncomingPhoneNumbers.json", self.list_numbers)
        app.router.add_get(f"{base}/IncomingPhoneNumbers/{{number_sid}}.json", self.fetch_number)
        app.router.add_post(f"{base}/IncomingPhoneNumbers/{{number_sid}}.json", self.update_number)
        app.router.add_get("/v1/Services/{service_sid}", self.fetch_service)
        app.router.add_post("/v1/Services/{service_sid}", self.update_service)
        app.router.add_get("/v1/Services/{service_sid}/Compliance/Usa2p", self.list_usa2p)
        app.router.add_get("/v1/a2p/BrandRegistrations/{brand_sid}", self.fetch_brand)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _startup(self, app: web.Application) -> None:
        if self.config.ledger:
            # Append-only; each line is flushed before the answer leaves (see _accept).
            self._ledger = open(self.config.ledger, "a", encoding="utf-8")  # noqa: SIM115
        self._cb_queue = asyncio.Queue(maxsize=self.config.callback_queue_size)
        self._poster = CallbackPoster(timeout_s=self.config.callback_timeout_s)
        self._cb_workers = [
            asyncio.create_task(self._callback_worker()) for _ in range(self.config.callback_concurrency)
        ]

    async def _cleanup(self, app: web.Application) -> None:
        for task in self._cb_workers:
            task.cancel()
        await asyncio.gather(*self._cb_workers, return_exceptions=True)
        if self._poster:
            self._poster.close()
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
