"""Twilio's inbound-message webhook and the keyword rules it applies (text-to-join, STOP/START/HELP).

The webhook does the cheap, decisive part in its own request (store the message, apply
opt-out/opt-in so it takes effect before the next campaign message is claimed) and leaves
every send to the priority lane after commit, so it answers Twilio fast.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import phones
from accounts.models import Fan, Talent
from accounts.services import fan_get_or_create_pending
from accounts.tokens import join_tokens, self_service_tokens
from consent import texts
from consent.keywords import Keyword, match
from consent.models import ConsentRecord
from consent.services import Evidence, fan_opt_in, fan_opt_out
from messaging.conversations.priority import priority_message_queue
from messaging.sms.models import InboundMessage

logger = logging.getLogger(__name__)

Action = InboundMessage.Action
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def talent_for(*, to: str, messaging_service_sid: str) -> Talent | None:
    """The talent a text was sent to: by its number, else by its Messaging Service."""
    to = phones.normalise(to)
    if to:
        talent = Talent.objects.filter(sender_number=to).first()
        if talent is not None:
            return talent
    if messaging_service_sid:
        matches = list(Talent.objects.filter(messaging_service_sid=messaging_service_sid, is_active=True)[:2])
        # A service shared by several talents cannot tell whose fan this is: refuse rather than
        # apply a STOP (or a signup) to the wrong talent.
        return matches[0] if len(matches) == 1 else None
    return None


@dataclass
class InboundResult:
    message: InboundMessage | None  # None when this MessageSid was already stored
    action: str = ""


def inbound_receive(*, talent: Talent, sid: str, from_number: str, body: str, payload: dict) -> InboundResult:
    """Store one inbound text idempotently and apply the keyword rules, in one transaction."""
    try:
        with transaction.atomic():
            message = InboundMessage.objects.create(
                talent=talent,
                message_sid=sid,
                from_number=from_number,
                to_number=str(payload.get("To", ""))[:20],
                body=body,
                payload=payload,
            )
            action = _apply_rules(talent=talent, message=message)
            message.action = action
            message.processed_at = timezone.now()
            message.needs_reply = action == Action.INBOX
            message.save(update_fields=["fan", "action", "processed_at", "needs_reply"])
    except IntegrityError:
        # The same MessageSid committed by a concurrent delivery of this webhook: nothing to do.
        if InboundMessage.objects.filter(message_sid=sid).exists():
            return InboundResult(message=None)
        raise
    return InboundResult(message=message, action=action)


def _reply(talent: Talent, fan: Fan | None, to: str, body: str) -> None:
    priority_message_queue(talent=talent, fan=fan, to=to, body=body)


def _apply_rules(*, talent: Talent, message: InboundMessage) -> str:
    phone = message.from_number
    if not phones.is_possible_e164(phone):
        # A short code or alphanumeric sender (carrier notices, spam): keep the text, answer nothing.
        return Action.IGNORED
    fan = Fan.objects.select_for_update().filter(talent=talent, phone=phone).first()
    message.fan = fan
    evidence = Evidence(method=ConsentRecord.Method.SMS_KEYWORD, evidence=message.message_sid)
    keyword = match(
        message.body,
        talent_data_keyword=talent.data_keyword,
        fan_is_active=bool(fan and fan.status == Fan.Status.ACTIVE),
    )

    if keyword is Keyword.OPT_OUT:
        if fan is None:
            # Record the wish even from a stranger, so an import or signup cannot text them first.
            fan, _ = fan_get_or_create_pending(talent=talent, phone=phone)
            message.fan = fan
        fan_opt_out(fan=fan, evidence=evidence)
        _reply(talent, fan, phone, texts.opt_out_confirmation(talent))
        return Action.OPT_OUT

    if keyword is Keyword.OPT_IN and fan is not None:
        fan_opt_in(fan=fan, evidence=evidence)  # an already active fan just gets the confirmation
        _reply(talent, fan, phone, texts.opt_in_confirmation(talent))
        return Action.OPT_IN

    if keyword is Keyword.HELP:
        _reply(talent, fan, phone, texts.help_reply(talent))
        return Action.HELP

    if keyword is Keyword.MY_DATA and fan is not None:
        url = settings.PUBLIC_BASE_URL + reverse("accounts:me") + "?t=" + self_service_tokens.make_token(fan=fan)
        _reply(talent, fan, phone, texts.data_link(talent, url))
        return Action.MY_DATA

    if fan is not None and fan.status == Fan.Status.ACTIVE:
        Fan.objects.filter(pk=fan.pk).update(last_reply_at=timezone.now())
        return Action.INBOX

    if fan is not None and fan.status == Fan.Status.OPTED_OUT:
        # After STOP only the confirmation may be sent (carriers and Twilio block the rest,
        # error 21610) until the fan texts START: no signup link, no reply.
        return Action.IGNORED

    # Not a member yet: one signup link per link lifetime, however many texts arrive.
    if fan is None:
        fan, _ = fan_get_or_create_pending(talent=talent, phone=phone)
        fan = Fan.objects.select_for_update().get(pk=fan.pk)  # serialise concurrent texts from one number
        message.fan = fan
    since = timezone.now() - dt.timedelta(seconds=settings.JOIN_LINK_MAX_AGE)
    already = InboundMessage.objects.filter(
        talent=talent, fan=fan, action=Action.JOIN_LINK, received_at__gte=since
    ).exists()
    if already:
        return Action.JOIN_LINK_SKIPPED
    token = join_tokens.make_token(talent=talent, phone=phone)
    url = settings.PUBLIC_BASE_URL + reverse("accounts:join", args=[talent.slug]) + "?t=" + token
    _reply(talent, fan, phone, texts.join_link(talent, url))
    return Action.JOIN_LINK
