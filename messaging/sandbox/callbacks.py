"""Status callbacks: each accepted message moves queued -> sent -> final and is posted, signed
like Twilio's, to its StatusCallback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from urllib.parse import quote_plus

from messaging.sandbox.common import API_VERSION, StoredMessage

log = logging.getLogger("messaging.sandbox")


def form_body(params: dict[str, str]) -> bytes:
    """urlencode(params), byte for byte, without quoting what needs none (sids, statuses, the
    names): urlencode quotes every key and value, a third of a callback's CPU in the profile."""
    return "&".join(
        f"{key}={value if value.isascii() and value.isalnum() else quote_plus(value)}" for key, value in params.items()
    ).encode("ascii")


def signature(token: bytes, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as twilio's RequestValidator.compute_signature makes it (the URL, then
    each name and value in name order, HMAC-SHA1 with the auth token, base64), for single values."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    return base64.b64encode(hmac.new(token, payload.encode("utf-8"), hashlib.sha1).digest()).decode("ascii")


class CallbacksMixin:
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
                signed = signature(self._token, msg.status_callback, params)
                status_code = await self._poster.post(
                    msg.status_callback, form_body(params), {"X-Twilio-Signature": signed}
                )
                self.stats["callbacks_sent" if status_code < 400 else "callbacks_failed"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # target down or slow: Twilio does not crash either
                self.stats["callbacks_failed"] += 1
                log.debug("status callback to %s failed: %r", msg.status_callback, exc)
            finally:
                self._cb_queue.task_done()
