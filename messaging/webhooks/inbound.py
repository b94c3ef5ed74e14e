"""POST /webhooks/twilio/inbound/: Twilio's inbound-message webhook.

The cheap, decisive part happens in the request (signature, dedupe, limits); the text is stored and
its rules applied by messaging.conversations.inbound.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import phones
from accounts.ratelimit import client_ip, hit
from consent.keywords import Keyword, match
from messaging.conversations.inbound import inbound_receive, talent_for
from messaging.models import InboundMessage
from messaging.webhooks.signature import signature_is_valid

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _twiml(status: int = 200) -> HttpResponse:
    return HttpResponse(TWIML_EMPTY, content_type="text/xml", status=status)


def _refuse(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", content_type="text/plain; charset=utf-8", status=status)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not signature_is_valid(request):
        # Only unsigned traffic counts against the per-IP limit: signed requests all come from
        # Twilio's few addresses, and a reply wave after a blast must never drop a STOP.
        if not hit("webhook-ip", client_ip(request), settings.RATELIMIT_WEBHOOK_PER_IP):
            return _refuse(429, "Too many requests from this address; slow down.")
        return _refuse(403, "Missing or invalid X-Twilio-Signature.")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsMessageSid") or ""
    from_number = phones.normalise(request.POST.get("From", ""))
    if not sid or len(sid) > 64 or not from_number or len(from_number) > 20:
        return _refuse(400, "MessageSid and From are required.")
    talent = talent_for(
        to=request.POST.get("To", ""), messaging_service_sid=request.POST.get("MessagingServiceSid", "")
    )
    if talent is None or not talent.is_active:
        return _refuse(404, "No active talent receives texts at this number.")
    if InboundMessage.objects.filter(message_sid=sid).exists():
        return _twiml()  # Twilio retried: already stored and answered
    body = request.POST.get("Body", "")
    if not hit("webhook-phone", f"{talent.pk}:{from_number}", settings.RATELIMIT_WEBHOOK_PER_PHONE):
        # STOP always works, even from a number that is flooding us.
        if match(body, talent_data_keyword=talent.data_keyword) is not Keyword.OPT_OUT:
            return _refuse(429, "Too many messages from this number; slow down.")
    payload = {key: request.POST.get(key) for key in request.POST}
    inbound_receive(talent=talent, sid=sid, from_number=from_number, body=body, payload=payload)
    return _twiml()
