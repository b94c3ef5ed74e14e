"""Messaging Services and 10DLC registration (messaging.twilio.com/v1), as the SDK calls them:

- GET/POST /v1/Services/{MG}: a service's webhook URLs (`manage.py twilio_configure_numbers`)
- GET /v1/Services/{MG}/Compliance/Usa2p: the service's A2P 10DLC campaign and its status
- GET /v1/a2p/BrandRegistrations/{BN}: the brand's registration status

Like numbers, every well-formed MG sid is one of the account's services. Its registration is
set by a test (set_registration) or, by default, follows the sid's last hex digit so a
development setup shows every case: 0-b approved, c campaign in review, d campaign failed,
e brand pending, f no campaign registered.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from messaging.sandbox.common import twilio_error

SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
SERVICE_FIELDS = {
    "FriendlyName": "friendly_name",
    "InboundRequestUrl": "inbound_request_url",
    "InboundMethod": "inbound_method",
    "FallbackUrl": "fallback_url",
    "FallbackMethod": "fallback_method",
    "StatusCallback": "status_callback",
    "UseInboundWebhookOnNumber": "use_inbound_webhook_on_number",
}
BASE = "https://messaging.twilio.com/v1"
# (brand status, campaign status or None for no campaign, campaign errors) by the last hex digit.
DEFAULT_REGISTRATION = {
    **{digit: ("APPROVED", "VERIFIED", []) for digit in "0123456789ab"},
    "c": ("APPROVED", "IN_PROGRESS", []),
    "d": (
        "APPROVED",
        "FAILED",
        [{"code": 30896, "message": "The campaign's message samples do not match its use case."}],
    ),
    "e": ("PENDING", "PENDING", []),
    "f": ("APPROVED", None, []),
}


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _brand_sid(service_sid: str) -> str:
    return "BN" + hashlib.sha256(service_sid.encode()).hexdigest()[:32]


class ServicesMixin:
    services: dict[str, dict[str, Any]]  # by MG sid
    brands: dict[str, dict[str, Any]]  # by BN sid
    campaigns: dict[str, list[dict[str, Any]]]  # MG sid -> its Usa2p resources

    def _v1_denied(self, request: web.Request) -> web.Response | None:
        import hmac

        header = request.headers.get("Authorization", "")
        if not hmac.compare_digest(header.encode(), self._expected_auth.encode()):  # type: ignore[attr-defined]
            return twilio_error(401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        return None

    def add_service(self, service_sid: str, **fields: Any) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0)
        service = self.services.get(service_sid)
        if service is None:
            service = {
                "sid": service_sid,
                "friendly_name": f"Service {service_sid[-4:]}",
                "inbound_request_url": None,
                "inbound_method": "POST",
                "fallback_url": None,
                "fallback_method": "POST",
                "status_callback": None,
                "use_inbound_webhook_on_number": False,
                "date_created": now,
                "date_updated": now,
            }
            brand, campaign, errors = DEFAULT_REGISTRATION[service_sid[-1].lower()]
            self.set_registration(
                service_sid, brand_status=brand, campaign_status=campaign, errors=errors, _service=service
            )
        service.update(fields)
        self.services[service_sid] = service
        return service

    def set_registration(
        self,
        service_sid: str,
        *,
        brand_status: str = "APPROVED",
        campaign_status: str | None = "VERIFIED",
        errors: list | None = None,
        failure_reason: str | None = None,
        _service: dict[str, Any] | None = None,
    ) -> None:
        """The 10DLC brand and campaign behind a service (campaign_status None: none registered)."""
        if _service is None:
            self.add_service(service_sid)
        brand_sid = _brand_sid(service_sid)
        now = _iso(datetime.now(UTC))
        self.brands[brand_sid] = {
            "sid": brand_sid,
            "status": brand_status,
            "failure_reason": failure_reason if brand_status == "FAILED" else None,
            "brand_type": "STANDARD",
            "brand_score": 80,
            "identity_status": "VERIFIED" if brand_status == "APPROVED" else "UNVERIFIED",
            "errors": [],
            "date_created": now,
            "date_updated": now,
            "url": f"{BASE}/a2p/BrandRegistrations/{brand_sid}",
        }
        self.campaigns[service_sid] = (
            []
            if campaign_status is None
            else [
                {
                    "sid": "QE" + hashlib.sha256(service_sid.encode()).hexdigest()[:32],
                    "brand_registration_sid": brand_sid,
                    "messaging_service_sid": service_sid,
                    "description": "Fan updates from the talent",
                    "us_app_to_person_usecase": "MIXED",
                    "campaign_status": campaign_status,
                    "campaign_id": "C" + service_sid[-6:].upper(),
                    "errors": list(errors or []),
                    "is_externally_registered": False,
                    "mock": False,
                    "date_created": now,
                    "date_updated": now,
                    "url": f"{BASE}/Services/{service_sid}/Compliance/Usa2p/QE{service_sid[2:]}",
                }
            ]
        )

    def _service_or_404(self, request: web.Request) -> dict[str, Any] | web.Response:
        sid = request.match_info["service_sid"]
        if not SERVICE_SID.match(sid):
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return self.services.get(sid) or self.add_service(sid)

    def service_resource(self, service: dict[str, Any]) -> dict[str, Any]:
        return {
            **service,
            "account_sid": self.config.account_sid,  # type: ignore[attr-defined]
            "date_created": _iso(service["date_created"]),
            "date_updated": _iso(service["date_updated"]),
            "us_app_to_person_registered": bool(self.campaigns.get(service["sid"])),
            "url": f"{BASE}/Services/{service['sid']}",
            "links": {"us_app_to_person": f"{BASE}/Services/{service['sid']}/Compliance/Usa2p"},
        }

    async def _v1_service(self, request: web.Request) -> dict[str, Any] | web.Response:
        """What every Messaging Service request does first: the v1 auth, the simulated latency,
        then the service the path names (or the error response to answer instead)."""
        denied = self._v1_denied(request)
        if denied:
            return denied
        await self._latency()  # type: ignore[attr-defined]
        return self._service_or_404(request)

    async def fetch_service(self, request: web.Request) -> web.Response:
        service = await self._v1_service(request)
        return service if isinstance(service, web.Response) else web.json_response(self.service_resource(service))

    async def update_service(self, request: web.Request) -> web.Response:
        service = await self._v1_service(request)
        if isinstance(service, web.Response):
            return service
        form = await request.post()
        for name, key in SERVICE_FIELDS.items():
            if name not in form:
                continue
            value = str(form[name]).strip()
            if key.endswith(("_url", "callback")) and value and not value.startswith(("http://", "https://")):
                return twilio_error(400, 21502, f"{name} is not a valid URL: {value}")
            service[key] = value.lower() == "true" if key == "use_inbound_webhook_on_number" else value
        service["date_updated"] = datetime.now(UTC).replace(microsecond=0)
        return web.json_response(self.service_resource(service))

    async def list_usa2p(self, request: web.Request) -> web.Response:
        service = await self._v1_service(request)
        if isinstance(service, web.Response):
            return service
        url = f"{BASE}/Services/{service['sid']}/Compliance/Usa2p"
        return web.json_response(
            {
                "compliance": self.campaigns.get(service["sid"], []),
                "meta": {
                    "page": 0,
                    "page_size": 50,
                    "first_page_url": f"{url}?PageSize=50&Page=0",
                    "previous_page_url": None,
                    "url": f"{url}?PageSize=50&Page=0",
                    "next_page_url": None,
                    "key": "compliance",
                },
            }
        )

    async def fetch_brand(self, request: web.Request) -> web.Response:
        denied = self._v1_denied(request)
        if denied:
            return denied
        await self._latency()  # type: ignore[attr-defined]
        brand = self.brands.get(request.match_info["brand_sid"])
        if brand is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response({**brand, "account_sid": self.config.account_sid})  # type: ignore[attr-defined]
