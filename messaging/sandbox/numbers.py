"""IncomingPhoneNumbers: list (by PhoneNumber), fetch and update a number's webhook URLs, what
`manage.py twilio_configure_numbers` calls through the SDK (issue 17 §1).

The sandbox's account owns every valid number it is asked about (created on first sight, like a
number bought in the console), except Twilio's magic invalid numbers: a development setup needs
no provisioning step, and tests can still add numbers with settings of their own (add_number).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from messaging.sandbox.common import API_VERSION, E164, MAGIC_FROM, rfc2822, twilio_error

# The SMS fields of an IncomingPhoneNumber an update may set (Twilio's form names -> resource keys).
NUMBER_FIELDS = {
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "FriendlyName": "friendly_name",
}
METHODS = ("GET", "POST")


def number_sid(phone_number: str) -> str:
    """A stable PN sid per number (the same across sandbox restarts)."""
    return "PN" + hashlib.sha256(phone_number.encode()).hexdigest()[:32]


class NumbersMixin:
    numbers: dict[str, dict[str, Any]]  # by PN sid

    def add_number(self, phone_number: str, **fields: Any) -> dict[str, Any]:
        """An IncomingPhoneNumber of the account (tests: pre-set fields, e.g. sms_url)."""
        sid = number_sid(phone_number)
        now = datetime.now(UTC).replace(microsecond=0)
        number = self.numbers.get(sid) or {
            "sid": sid,
            "phone_number": phone_number,
            "friendly_name": phone_number,
            "sms_url": "",
            "sms_method": "POST",
            "sms_fallback_url": "",
            "sms_fallback_method": "POST",
            "status_callback": "",
            "status_callback_method": "POST",
            "date_created": now,
            "date_updated": now,
        }
        number.update(fields)
        self.numbers[sid] = number
        return number

    def number_resource(self, number: dict[str, Any]) -> dict[str, Any]:
        account = self.config.account_sid  # type: ignore[attr-defined]
        uri = f"/{API_VERSION}/Accounts/{account}/IncomingPhoneNumbers/{number['sid']}.json"
        return {
            **{k: v for k, v in number.items() if not k.startswith("date_")},
            "account_sid": account,
            "api_version": API_VERSION,
            "capabilities": {"sms": True, "mms": True, "voice": True, "fax": False},
            "date_created": rfc2822(number["date_created"]),
            "date_updated": rfc2822(number["date_updated"]),
            "status": "in-use",
            "uri": uri,
        }

    async def list_numbers(self, request: web.Request) -> web.Response:
        denied = self._check_auth(request)  # type: ignore[attr-defined]
        if denied:
            return denied
        await self._latency()  # type: ignore[attr-defined]
        wanted = request.query.get("PhoneNumber", "").strip()
        if wanted and E164.match(wanted) and wanted not in MAGIC_FROM:
            self.add_number(wanted)  # the sandbox owns every valid number it is asked about
        found = [n for n in self.numbers.values() if not wanted or n["phone_number"] == wanted]
        path = request.path
        return web.json_response(
            {
                "incoming_phone_numbers": [self.number_resource(n) for n in found],
                "end": max(0, len(found) - 1),
                "first_page_uri": f"{path}?Page=0&PageSize=50",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{path}?{request.query_string}",
            }
        )

    async def _authed_number(self, request: web.Request) -> dict[str, Any] | web.Response:
        """What every request about one number does first: auth, the simulated latency, then the
        number the path names (or the error response to answer instead)."""
        denied = self._check_auth(request)  # type: ignore[attr-defined]
        if denied:
            return denied
        await self._latency()  # type: ignore[attr-defined]
        number = self.numbers.get(request.match_info["number_sid"])
        if number is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return number

    async def fetch_number(self, request: web.Request) -> web.Response:
        number = await self._authed_number(request)
        return number if isinstance(number, web.Response) else web.json_response(self.number_resource(number))

    async def update_number(self, request: web.Request) -> web.Response:
        number = await self._authed_number(request)
        if isinstance(number, web.Response):
            return number
        form = await request.post()
        changes = {}
        for name, key in NUMBER_FIELDS.items():
            if name not in form:
                continue
            value = str(form[name]).strip()
            if key.endswith("_method") and value.upper() not in METHODS:
                return twilio_error(400, 21200, f"{name} must be GET or POST")
            if key.endswith(("_url", "callback")) and value and not value.startswith(("http://", "https://")):
                return twilio_error(400, 21502, f"{name} is not a valid URL: {value}")
            changes[key] = value.upper() if key.endswith("_method") else value
        number.update(changes, date_updated=datetime.now(UTC).replace(microsecond=0))
        return web.json_response(self.number_resource(number))
