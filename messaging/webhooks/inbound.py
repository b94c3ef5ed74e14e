"""POST /webhooks/twilio/inbound/: Twilio's inbound-message webhook.

A few milliseconds a text: verify the signature, clean the fields, store the text once (idempotent
on MessageSid), answer. A STOP is applied before the answer; every other rule runs in batches
(messaging/conversations/inbound.py), so a celebrity burst never backs up past Twilio's 15 s.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import phones
from accounts.models import Talent
from accounts.ratelimit import client_ip, hit
from consent.keywords import Rule, classify
from messaging.conversations.inbound import inbound_receive, inbound_store, talent_for
from messaging.conversations.stop import inbound_stop
from messaging.webhooks.signature import signature_is_valid

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _twiml(status: int = 200) -> HttpResponse:
    return HttpResponse(TWIML_EMPTY, content_type="text/xml", status=status)


def _refuse(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", content_type="text/plain; charset=utf-8", status=status)


# Twilio's inbound bodies are at most 1,600 characters; anything longer is not from a phone.
MAX_BODY = 1600
MAX_FIELD = 2000
_TALENTS: dict[tuple[str, str], tuple[float, Talent | None]] = {}
_TALENT_TTL = 10.0  # seconds a process trusts its routing lookup (a deactivation takes this long)


def _clean(value: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; a "STOP\x00" must still read as STOP.
    return value.replace("\x00", "")[:limit]


def _talent(to: str, messaging_service_sid: str) -> Talent | None:
    """talent_for, remembered briefly: a burst sends every text to the same number."""
    key = (to, messaging_service_sid)
    now = time.monotonic()
    hit_ = _TALENTS.get(key)
    if hit_ is not None and hit_[0] > now:
        return hit_[1]
    talent = talent_for(to=to, messaging_service_sid=messaging_service_sid)
    if len(_TALENTS) > 1000:
        _TALENTS.clear()
    _TALENTS[key] = (now + _TALENT_TTL, talent)
    return talent


def forget_talents() -> None:
    _TALENTS.clear()


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """Verify, store once, answer. Opt-outs are applied before the answer; everything else is
    applied by the rule processor in batches (messaging/conversations/inbound.py)."""
    if not signature_is_valid(request):  # over the raw fields, exactly as Twilio signed them
        # Only unsigned traffic counts against the per-IP limit: signed requests all come from
        # Twilio's few addresses, and a reply wave after a blast must never drop a STOP.
        if not hit("webhook-ip", client_ip(request), settings.RATELIMIT_WEBHOOK_PER_IP):
            return _refuse(429, "Too many requests from this address; slow down.")
        return _refuse(403, "Missing or invalid X-Twilio-Signature.")
    fields = {_clean(key, 64): _clean(request.POST.get(key, ""), MAX_FIELD) for key in list(request.POST)[:100]}
    sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or ""
    raw_from = fields.get("From", "").strip()
    if not sid or len(sid) > 64 or not sid.isascii() or not sid.isalnum() or not raw_from:
        return _refuse(400, "MessageSid (letters and digits) and From are required.")
    # A sender that is not a valid number is stored as given and answered with nothing.
    from_number = phones.normalise(raw_from) or raw_from[:20]
    talent = _talent(fields.get("To", ""), fields.get("MessagingServiceSid", ""))
    if talent is None or not talent.is_active:
        return _refuse(404, "No active talent receives texts at this number.")
    # Whitespace around a text is never part of a rule: stripped before the cut, so 100 KB of
    # padding before or after a "STOP" cannot push the word out of the 1,600 characters kept.
    body = request.POST.get("Body", "").replace("\x00", "").strip()[:MAX_BODY]
    fields["Body"] = body
    # The one order of rules (consent/keywords.py), its first rule decided here: no lookup needed.
    classified = classify(body, data_keyword=talent.data_keyword)
    rule = classified.rule
    opt_out = rule is Rule.OPT_OUT
    # STOP always works, even from a number that is flooding us.
    if not opt_out and not hit("webhook-phone", f"{talent.pk}:{from_number}", settings.RATELIMIT_WEBHOOK_PER_PHONE):
        return _refuse(429, "Too many messages from this number; slow down.")
    if opt_out:
        # Applied before Twilio gets its answer: a STOP mid-blast is seen by the campaign's claim
        # and in-flight re-checks at once; in a few plain statements (messaging/conversations/stop.py).
        inbound_stop(
            talent=talent, sid=sid, from_number=from_number, body=body, payload=fields, language=classified.language
        )
    elif rule is Rule.POSSIBLE_OPT_OUT:
        # A hold, applied before the answer too, through the rules' one path (rare).
        inbound_receive(talent=talent, sid=sid, from_number=from_number, body=body, payload=fields)
    else:
        inbound_store(talent=talent, sid=sid, from_number=from_number, body=body, payload=fields)
    return _twiml()
