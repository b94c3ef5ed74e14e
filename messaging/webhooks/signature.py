"""X-Twilio-Signature, checked the same way for every webhook we take."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator


class _Fields(dict):
    """The POST fields as twilio's compute_signature reads them, each key's values as a list.
    It asks `params.getall(name)` first (Flask's MultiDict), then `getlist` (Django's QueryDict):
    on a QueryDict the first ask raises AttributeError, once per field, which made the HMAC's
    string cost 4x the HMAC (63 us of a text's ~1 ms, measured); a dict that answers `getall`
    gives the same values, so the same signature, at 13 us."""

    getall = dict.__getitem__


def signature_is_valid(request: HttpRequest) -> bool:
    if not settings.TWILIO_VALIDATE_WEBHOOKS:
        return True  # development only: settings refuse this when DEBUG is off
    # META, not request.headers: that builds a dict of every header first (a tenth of a callback's CPU).
    signature = request.META.get("HTTP_X_TWILIO_SIGNATURE", "")
    # Without a token anyone could sign with the empty key: refuse rather than accept.
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    # The URL Twilio called, as the public sees it (not the Host header behind a proxy). The
    # whole POST is validated, never a whitelist: Twilio adds fields.
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    # validate() always signs twice (the URL with and without its port, as Twilio's back end is
    # inconsistent about ports). A text in a burst is signed over the URL as configured, so try that
    # once first: a valid request costs one HMAC; only a mismatch pays for validate()'s variants.
    fields = _Fields(request.POST.lists())
    if hmac.compare_digest(validator.compute_signature(url, fields).encode(), signature.encode()):
        return True
    return validator.validate(url, request.POST, signature)
