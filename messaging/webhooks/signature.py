"""X-Twilio-Signature, checked the same way for every webhook we take."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator


def signature_is_valid(request: HttpRequest) -> bool:
    if not settings.TWILIO_VALIDATE_WEBHOOKS:
        return True  # development only: settings refuse this when DEBUG is off
    signature = request.headers.get("X-Twilio-Signature", "")
    # Without a token anyone could sign with the empty key: refuse rather than accept.
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    # The URL Twilio called, as the public sees it (not the Host header behind a proxy). The
    # whole POST is validated, never a whitelist: Twilio adds fields.
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, request.POST, signature)
