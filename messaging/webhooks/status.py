"""POST /webhooks/twilio/status/: Twilio's message status callbacks.

Validated with X-Twilio-Signature against PUBLIC_BASE_URL + the path and query Twilio called (never
the Host header, which a proxy rewrites). Processed inline rather than queued: the work is one
conditional UPDATE on an indexed column, cheaper than storing the payload and enqueuing a task,
and idempotent because statuses only move forward. Unknown sids get 200 so Twilio stops retrying.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import outbox
from messaging.models import OutboundMessage
from messaging.sending.engine import apply_error_effects
from messaging.sms.backends.base import SmsError
from messaging.webhooks.signature import signature_is_valid

logger = logging.getLogger(__name__)
S = OutboundMessage.Status

# Twilio's MessageStatus -> our status. accepted/queued/sending add nothing to what the send
# recorded; read implies delivered; canceled is final.
TWILIO_STATUS = {
    "accepted": S.QUEUED,
    "scheduled": S.QUEUED,
    "queued": S.QUEUED,
    "sending": S.QUEUED,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "canceled": S.FAILED,
}


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    if not signature_is_valid(request):
        return HttpResponseForbidden("Invalid X-Twilio-Signature.")
    sid = request.POST.get("MessageSid", "").strip()
    raw_status = request.POST.get("MessageStatus", "").strip().lower()
    if not sid or raw_status not in TWILIO_STATUS:
        return HttpResponseBadRequest("MessageSid and a known MessageStatus are required.")
    error_code = request.POST.get("ErrorCode", "").strip()
    message_status_callback(
        sid=sid, status=TWILIO_STATUS[raw_status], error_code=error_code, row_hint=request.GET.get("m")
    )
    return HttpResponse(status=200)


def message_status_callback(*, sid: str, status: str, error_code: str = "", row_hint: str | None = None) -> bool:
    """Apply one callback. The `m` hint (our row id, put in the StatusCallback URL) finds a row
    whose sid the sender has not recorded yet, when the callback outruns the bulk write."""
    with transaction.atomic():
        row = OutboundMessage.objects.filter(provider_sid=sid).first()
        if row is None and row_hint and row_hint.isascii() and row_hint.isdigit() and len(row_hint) < 19:
            row = OutboundMessage.objects.filter(pk=int(row_hint), provider_sid__isnull=True).first()
            if row is not None:
                OutboundMessage.objects.filter(pk=row.pk, provider_sid__isnull=True).update(provider_sid=sid)
        if row is None:
            logger.info("status callback for unknown sid %s", sid)
            return False
        moved = row.advance_status(status, error_code=error_code)
        if moved:  # outgoing webhooks (issue 16): only endpoints that asked for message.status get rows
            data = {"id": row.pk, "campaign_id": row.campaign_id, "fan_id": row.fan_id, "status": status}
            data["error_code"] = error_code
            outbox.webhook_emit(
                talent_id=row.talent_id, type="message.status", data={"message": data}, fan_id=row.fan_id
            )
    if moved and error_code and status in (S.FAILED, S.UNDELIVERED):
        error = SmsError(f"status callback {status}", code=error_code, permanent=True)
        apply_error_effects(
            talent_id=row.talent_id, campaign_id=row.campaign_id, errors=[(row.fan_id, row.to_number, error)]
        )
    return moved
