"""Twilio Lookup v2 line type intelligence through the twilio SDK: which carrier a number is on
(issue 17: 10DLC senders are metered per carrier). TWILIO_API_BASE_URL points it at the sandbox,
which answers lookups deterministically (messaging/sandbox/server.py, lookup_answer).

Lookups cost money at Twilio, so the caller asks only for numbers it has never looked up, and
only for talents that opted in (messaging/sending/carriers.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from django.conf import settings
from twilio.base.exceptions import TwilioRestException

logger = logging.getLogger(__name__)

LOOKUP_CONCURRENCY = 20


@dataclass(frozen=True)
class CarrierInfo:
    carrier: str  # att | tmobile | verizon | other | unknown (Twilio had no answer)
    carrier_name: str
    line_type: str


# Carrier names as Twilio reports them (with the networks they absorbed), to our lanes.
_NAMES = (
    ("tmobile", ("t-mobile", "sprint", "metropcs", "metro by t-mobile", "omnipoint")),
    ("att", ("at&t", "cingular", "new cingular")),
    ("verizon", ("verizon", "cellco")),
)


def carrier_from_name(name: str | None) -> str:
    lowered = (name or "").lower()
    for carrier, names in _NAMES:
        if any(n in lowered for n in names):
            return carrier
    return "other" if lowered else "unknown"


def lookups_configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)


async def lookup_carriers_async(numbers: list[str]) -> dict[str, CarrierInfo]:
    """Each number's carrier; a number whose lookup failed is left out (asked again next time)."""
    from messaging.sms.backends.twilio import AsyncHttpClient, make_client

    http = AsyncHttpClient(timeout=settings.TWILIO_HTTP_TIMEOUT, max_connections=LOOKUP_CONCURRENCY)
    client = make_client(http_client=http)
    if settings.TWILIO_API_BASE_URL:
        client.lookups.base_url = settings.TWILIO_API_BASE_URL
    limit = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(number: str) -> tuple[str, CarrierInfo | None]:
        async with limit:
            try:
                found = await client.lookups.v2.phone_numbers(number).fetch_async(fields="line_type_intelligence")
            except (TimeoutError, TwilioRestException, OSError) as exc:
                logger.warning("carrier lookup failed: %s", exc)
                return number, None
        info = found.line_type_intelligence or {}
        name = info.get("carrier_name") or ""
        return number, CarrierInfo(carrier_from_name(name), name[:120], (info.get("type") or "")[:24])

    try:
        answers = await asyncio.gather(*(one(n) for n in numbers))
    finally:
        await http.session.close()
    return {number: info for number, info in answers if info is not None}


def lookup_carriers(numbers: list[str]) -> dict[str, CarrierInfo]:
    if not numbers or not lookups_configured():
        return {}
    return asyncio.run(lookup_carriers_async(numbers))
