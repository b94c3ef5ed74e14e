"""What every resource of the sandbox shares: Twilio's constants and magic numbers, the
configuration, the stored message and Twilio's error shape."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

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


@functools.lru_cache(maxsize=256)
def rfc2822(dt: datetime | None) -> str | None:
    # Cached: dates have whole seconds, and every answer of a second formats the same ones.
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
