"""Helpers for the join/consent tests: Twilio-shaped inbound payloads signed with the real
RequestValidator, terms documents, and running on-commit callbacks (sends) inside a test."""

from __future__ import annotations

import itertools
import re
import uuid

from django.conf import settings
from django.test import TestCase
from django.urls import reverse
from twilio.request_validator import RequestValidator

from accounts.models import Talent
from consent.models import TermsDocument
from tests.factories import create_terms

_seq = itertools.count(1)
# A talent whose form asks the whole profile (what every form asked before issue 15).
ASK_EVERYTHING = {
    "first_name": "required", "last_name": "required", "email": "required", "birth_date": "required",
    "city": "required", "region": "optional", "postal_code": "required", "country": "required",
    "time_zone": "optional",
}  # fmt: skip
INBOUND_PATH = "/webhooks/twilio/inbound/"


def message_sid() -> str:
    return "SM" + uuid.uuid4().hex


def twilio_inbound_payload(*, talent: Talent, body: str, from_: str, sid: str | None = None, **extra) -> dict:
    """The form fields Twilio posts for an inbound SMS (as documented and seen in production)."""
    sid = sid or message_sid()
    payload = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": str(talent.sender_number),
        "ToZip": "94105",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "From": str(from_),
        "ApiVersion": "2010-04-01",
    }
    if talent.messaging_service_sid:
        payload["MessagingServiceSid"] = talent.messaging_service_sid
    payload.update(extra)
    return payload


def sign(payload: dict, path: str = INBOUND_PATH, token: str | None = None) -> str:
    url = settings.PUBLIC_BASE_URL + path
    return RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(url, payload)


def post_inbound(client, payload: dict, *, signature: str | None = None, path: str = INBOUND_PATH, **headers):
    """POST like Twilio does, running on-commit callbacks (the priority-lane sends) afterwards."""
    signature = sign(payload, path) if signature is None else signature
    if signature:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, payload, **headers)


def text_in(client, talent: Talent, body: str, from_: str, **extra):
    return post_inbound(client, twilio_inbound_payload(talent=talent, body=body, from_=from_, **extra))


def publish_documents(talent: Talent | None, version: int = 1) -> tuple[TermsDocument, TermsDocument]:
    terms = create_terms(
        talent, TermsDocument.Kind.TERMS, version, title="Terms of Use", summary="Be kind; we text you."
    )
    privacy = create_terms(
        talent, TermsDocument.Kind.PRIVACY, version, title="Privacy Policy", summary="We never sell your data."
    )
    return terms, privacy


def link_in(text: str) -> str:
    """The path+query of the first link in a text (links point at PUBLIC_BASE_URL)."""
    found = re.search(r"https?://\S+", text)
    assert found, f"no link in {text!r}"
    return found.group(0).replace(settings.PUBLIC_BASE_URL, "")


def join_url(talent: Talent) -> str:
    return reverse("accounts:join", args=[talent.slug])


def committing(callable_, *args, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return callable_(*args, **kwargs)


def signup_data(terms: TermsDocument, privacy: TermsDocument, **overrides) -> dict:
    data = {
        "first_name": "Rosa",
        "last_name": "Diaz",
        "email": "rosa@example.com",
        "birth_date": "1999-04-02",
        "city": "Oakland",
        "region": "CA",
        "postal_code": "94607",
        "country": "US",
        "time_zone": "",
        "consent_messaging": "on",
        "terms_version": str(terms.version),
        "privacy_version": str(privacy.version),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def open_data_link(client, link: str):
    """Open a /me/?t= link like a fan: the GET shows a button (link previews stop there), the
    POST uses the link up. Returns the /me/ page."""
    from urllib.parse import parse_qs, urlsplit

    token = parse_qs(urlsplit(link).query)["t"][0]
    landing = client.get(link)
    assert landing.status_code == 200, landing.status_code
    opened = client.post("/me/", {"t": token})
    assert opened.status_code == 302 and opened["Location"] == "/me/", opened.status_code
    return client.get("/me/")
