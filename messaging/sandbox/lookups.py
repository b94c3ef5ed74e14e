"""Lookup v2 (issue 17): GET /v2/PhoneNumbers/{n} with line type intelligence, answered from the
number itself."""

from __future__ import annotations

import hmac

from aiohttp import web

from messaging.sandbox.common import twilio_error


class LookupsMixin:
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
