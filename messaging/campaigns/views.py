"""GET /l/<code>: a recipient's tracked link. Records the click, then redirects."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe
from django.views.static import serve

from accounts.models import Fan
from messaging.campaigns.render import parse_recipient_code
from messaging.models import Click, OutboundMessage, TrackedLink


def link_click(*, code: str) -> tuple[TrackedLink | None, str]:
    """(link, outcome): outcome is "ok", "expired" or "unknown". Records a click when ok."""
    parsed = parse_recipient_code(code)
    if parsed is None:
        return None, "unknown"
    link_code, message_id = parsed
    link = TrackedLink.objects.filter(code=link_code).first()
    if link is None:
        return None, "unknown"
    if link.expires_at <= timezone.now():
        return link, "expired"
    message = OutboundMessage.objects.filter(pk=message_id, campaign_id=link.campaign_id).only("id", "fan_id").first()
    if message is None:
        return None, "unknown"
    with transaction.atomic():
        Click.objects.create(link=link, message=message, fan_id=message.fan_id)
        if message.fan_id:
            Fan.objects.filter(pk=message.fan_id).update(last_click_at=timezone.now())
    return link, "ok"


@require_safe
def tracked_link(request: HttpRequest, code: str) -> HttpResponse:
    link, outcome = link_click(code=code)
    if outcome == "ok":
        response = HttpResponseRedirect(link.url)
        response["Cache-Control"] = "no-store"  # every visit must reach us to be counted
        response["Referrer-Policy"] = "no-referrer"  # the code identifies a recipient: keep it here
        return response
    status = 410 if outcome == "expired" else 404
    return render(request, "messaging/link_gone.html", {"outcome": outcome}, status=status)


def campaign_media(request, path: str):
    """A campaign image, public so Twilio can fetch it as MediaUrl (only this folder of MEDIA_ROOT)."""
    return serve(request, path, document_root=Path(settings.MEDIA_ROOT) / "campaign-media")
