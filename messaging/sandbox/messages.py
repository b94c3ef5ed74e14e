"""Messages: POST/GET Messages.json, GET Messages/{sid}.json and an inbound MMS's media."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from messaging.sandbox.common import (
    API_VERSION,
    CALLBACK_FAILURES,
    E164,
    MAGIC_FROM,
    MAGIC_TO,
    MAX_BODY,
    StoredMessage,
    _on_or_after,
    _on_or_before,
    _parse_when,
    rfc2822,
    twilio_error,
)
from messaging.sandbox.parts import count_parts


class MessagesMixin:
    # --- POST Messages.json ------------------------------------------------------------------
    async def create_message(self, request: web.Request) -> web.Response:
        # When the request reached "Twilio": taken before the body is read and the simulated
        # latency, so a sandbox whose loop is busy (it also posts every status callback) never
        # stamps a second's sends late and together. date_created and the ledger's received_at
        # come from this moment; the ledger's accepted_at says when the message was processed.
        received = time.time()
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

        msg = self._accept(form, to=to, from_=from_, service=service, body=body, media=media, received=received)
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

    def _accept(
        self, form, *, to: str, from_: str, service: str, body: str, media: list, received: float | None = None
    ) -> StoredMessage:
        accepted = time.time()
        received = accepted if received is None else received
        # Twilio's date_created has whole seconds.
        now = datetime.fromtimestamp(received, UTC).replace(microsecond=0)
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
            # The two clocks of the sandbox, to the microsecond (the bench's bound reads the first).
            record["received_at"] = round(received, 6)
            record["accepted_at"] = round(accepted, 6)
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
