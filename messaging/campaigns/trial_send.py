"""A test send: the campaign's text to a number the sender types, marked [TEST], never counted."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from messaging.campaigns.models import Campaign, TrackedLink
from messaging.campaigns.render import (
    FanFields,
    Framing,
    link_urls,
    render_body,
    validate_body,
)
from messaging.sms.backends import SmsError, SmsMessage, get_backend
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

S = OutboundMessage.Status
CS = Campaign.Status


def _sender_fields(actor: Any) -> FanFields:
    """The sender's own name in the merge fields, so a test shows how a real name reads."""
    name = (getattr(actor, "first_name", "") or getattr(actor, "get_username", lambda: "")() or "").strip()
    return FanFields(name or "Alex", "")


def campaign_send_test(*, campaign: Campaign, to_number: str, actor: Any) -> OutboundMessage:
    """Send the text, as the sender would receive it, to a number the sender types.

    The row belongs to the campaign (so its tracked link resolves and works) but is kind SYSTEM and
    has no fan: every report figure counts kind CAMPAIGN rows only, so a test and its clicks are
    never counted. The text starts with [TEST].
    """
    from phonenumbers import NumberParseException, PhoneNumberFormat, format_number, is_valid_number, parse

    try:
        parsed = parse(to_number, settings.PHONENUMBER_DEFAULT_REGION)
    except NumberParseException:
        parsed = None
    if parsed is None or not is_valid_number(parsed):
        raise ValidationError(f"{to_number!r} is not a valid phone number; write it as +14155550123.")
    e164 = format_number(parsed, PhoneNumberFormat.E164)
    validate_body(campaign.body)
    talent = campaign.talent
    with transaction.atomic():
        links = {
            url: TrackedLink.objects.get_or_create(campaign=campaign, url=url)[0].code
            for url in link_urls(campaign.body)
        }
        row = OutboundMessage.objects.create(
            talent=talent,
            campaign=campaign,
            kind=OutboundMessage.Kind.SYSTEM,
            to_number=e164,
            body="",
            media_url=campaign.media,
            status=S.QUEUED,  # never pending or claimed: the claim, the sweeper and completion skip it
            sent_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        text = render_body(campaign.body, _sender_fields(actor), link_codes=links, message_id=row.pk)
        body = "[TEST] " + Framing.of(talent).apply(text)
        row.body, row.parts = body, max(1, sms_parts(body).parts)
        row.save(update_fields=["body", "parts", "updated_at"])
    message = SmsMessage(
        to=e164,
        body=body,
        from_=str(talent.sender_number or "") if not talent.messaging_service_sid else "",
        messaging_service_sid=talent.messaging_service_sid,
        media_urls=(campaign.media,) if campaign.media else (),
    )
    try:
        result = get_backend().send(message)
    except SmsError as error:
        row.status = S.FAILED
        row.error_code = error.code[:16]
        row.error_message = str(error)[:300]
        row.save(update_fields=["status", "error_code", "error_message", "updated_at"])
        raise ValidationError(f"The test text was not sent: {error}") from error
    row.status = S.QUEUED
    row.provider_sid = result.sid
    row.sent_at = timezone.now()
    row.save(update_fields=["status", "provider_sid", "sent_at", "updated_at"])
    audit("campaign.test_sent", talent=talent, actor=actor, obj=campaign)
    return row
