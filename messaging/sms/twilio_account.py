"""The talent's Twilio account settings through the twilio SDK (issue 17 §1): a number's or a
Messaging Service's webhook URLs, and a 10DLC campaign's registration status.

TWILIO_API_BASE_URL points every domain used here (api, messaging) at the sandbox, which answers
these endpoints like Twilio (messaging/sandbox/numbers.py, services.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

# Twilio's A2P 10DLC statuses: a campaign sends only when VERIFIED under an APPROVED brand.
CAMPAIGN_OK = "VERIFIED"
BRAND_OK = "APPROVED"
STATUS_WORDS = {
    "VERIFIED": "approved",
    "APPROVED": "approved",
    "IN_PROGRESS": "in review",
    "IN_REVIEW": "in review",
    "PENDING": "pending",
    "FAILED": "rejected",
    "DELETED": "deleted",
    "SUSPENDED": "suspended",
    "EXPIRED": "expired",
}


class AccountError(Exception):
    """Twilio refused (or could not be reached); the message says what to fix."""


def _unreachable(address: str, exc: OSError) -> AccountError:
    # requests' errors are OSErrors: connection refused, DNS, timeouts.
    return AccountError(f"{address}: Twilio could not be reached ({type(exc).__name__})")


def account_client() -> Client:
    from messaging.sms.backends.twilio import make_client

    client = make_client()
    if settings.TWILIO_API_BASE_URL:
        client.messaging.base_url = settings.TWILIO_API_BASE_URL
    return client


@dataclass(frozen=True)
class WebhookUrls:
    inbound: str
    fallback: str  # "" leaves the fallback as it is
    status: str


def webhook_urls(base_url: str = "", fallback_base_url: str = "") -> WebhookUrls:
    """The project's webhook endpoints under its public URL (and the fallback web process's)."""
    base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
    fallback = fallback_base_url.rstrip("/")
    return WebhookUrls(
        inbound=f"{base}/webhooks/twilio/inbound/",
        fallback=f"{fallback}/webhooks/twilio/inbound/" if fallback else "",
        status=f"{base}/webhooks/twilio/status/",
    )


@dataclass
class Change:
    address: str  # the number or the MG sid
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (was, now)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _diff(current: dict[str, str | None], wanted: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {key: (current.get(key) or "", value) for key, value in wanted.items() if (current.get(key) or "") != value}


def configure_number(client: Client, phone_number: str, urls: WebhookUrls, *, apply: bool = True) -> Change:
    """Point a number's incoming-message webhook (and fallback) at the project.

    A number's own StatusCallback is for calls; message statuses come from the callback URL each
    send names (backends/twilio.py), so it is left alone."""
    try:
        found = client.incoming_phone_numbers.list(phone_number=phone_number, limit=2)
    except TwilioRestException as exc:
        raise AccountError(f"{phone_number}: Twilio answered {exc.status} ({exc.code}): {exc.msg}") from exc
    except OSError as exc:
        raise _unreachable(phone_number, exc) from exc
    number = next((n for n in found if n.phone_number == phone_number), None)
    if number is None:
        raise AccountError(f"{phone_number} is not a number of this Twilio account ({settings.TWILIO_ACCOUNT_SID}).")
    wanted = {"sms_url": urls.inbound, "sms_method": "POST"}
    if urls.fallback:
        wanted |= {"sms_fallback_url": urls.fallback, "sms_fallback_method": "POST"}
    current = {key: getattr(number, key, None) for key in wanted}
    change = Change(phone_number, _diff(current, wanted))
    if apply and change.changed:
        try:
            client.incoming_phone_numbers(number.sid).update(**wanted)
        except TwilioRestException as exc:
            raise AccountError(f"{phone_number}: Twilio refused the update ({exc.code}): {exc.msg}") from exc
        except OSError as exc:
            raise _unreachable(phone_number, exc) from exc
    return change


def configure_service(client: Client, service_sid: str, urls: WebhookUrls, *, apply: bool = True) -> Change:
    """Point a Messaging Service's incoming webhook, fallback and status callback at the project."""
    try:
        service = client.messaging.v1.services(service_sid).fetch()
    except TwilioRestException as exc:
        raise AccountError(f"{service_sid}: Twilio answered {exc.status} ({exc.code}): {exc.msg}") from exc
    except OSError as exc:
        raise _unreachable(service_sid, exc) from exc
    wanted = {"inbound_request_url": urls.inbound, "inbound_method": "POST", "status_callback": urls.status}
    if urls.fallback:
        wanted |= {"fallback_url": urls.fallback, "fallback_method": "POST"}
    current = {key: getattr(service, key, None) for key in wanted}
    change = Change(service_sid, _diff(current, wanted))
    # The service's webhook, not each number's, must answer: numbers in a service otherwise
    # keep their own (Twilio's use_inbound_webhook_on_number).
    if service.use_inbound_webhook_on_number:
        change.changes["use_inbound_webhook_on_number"] = ("true", "false")
    if apply and change.changed:
        try:
            client.messaging.v1.services(service_sid).update(**wanted, use_inbound_webhook_on_number=False)
        except TwilioRestException as exc:
            raise AccountError(f"{service_sid}: Twilio refused the update ({exc.code}): {exc.msg}") from exc
        except OSError as exc:
            raise _unreachable(service_sid, exc) from exc
    return change


@dataclass(frozen=True)
class Registration:
    """A Messaging Service's 10DLC brand and campaign as Twilio reports them."""

    brand_status: str  # Twilio's word, "" when no campaign names a brand
    campaign_status: str  # "" when no campaign is registered on the service
    reason: str  # why it cannot send yet, in the team's words ("" when it can)

    @property
    def approved(self) -> bool:
        return self.campaign_status == CAMPAIGN_OK and self.brand_status == BRAND_OK


def fetch_registration(client: Client, service_sid: str) -> Registration:
    """The service's A2P campaign (Compliance/Usa2p) and its brand (BrandRegistrations)."""
    try:
        campaigns = client.messaging.v1.services(service_sid).us_app_to_person.list(limit=5)
        if not campaigns:
            return Registration("", "", "No 10DLC campaign is registered on this Messaging Service.")
        campaign = campaigns[0]
        brand_status = ""
        if campaign.brand_registration_sid:
            brand = client.messaging.v1.brand_registrations(campaign.brand_registration_sid).fetch()
            brand_status = str(brand.status or "")
    except TwilioRestException as exc:
        raise AccountError(f"{service_sid}: Twilio answered {exc.status} ({exc.code}): {exc.msg}") from exc
    except OSError as exc:
        raise _unreachable(service_sid, exc) from exc
    campaign_status = str(campaign.campaign_status or "")
    reason = ""
    if brand_status != BRAND_OK:
        reason = f"The 10DLC brand is {STATUS_WORDS.get(brand_status, brand_status.lower() or 'unknown')}."
    elif campaign_status != CAMPAIGN_OK:
        errors = "; ".join(
            str(e.get("message") or e.get("code")) for e in (campaign.errors or []) if isinstance(e, dict)
        )
        word = STATUS_WORDS.get(campaign_status, campaign_status.lower() or "unknown")
        reason = f"The 10DLC campaign is {word}." + (f" Twilio says: {errors}" if errors else "")
    return Registration(brand_status, campaign_status, reason)
