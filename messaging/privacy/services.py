"""The fan's own data: everything held about them (export) and erasure across every table.

What each table holds and what erasure does to it is listed once, in inventory.py (a test checks
this code against it)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts import outbox
from accounts.audit import audit
from accounts.integration_models import IdempotencyKey
from accounts.models import Fan
from accounts.services import PROFILE_FIELDS
from consent.models import TermsDocument
from consent.services import phone_hash
from messaging.automations.codes import fill_bodies
from messaging.automations.keyword_models import KeywordEntrant
from messaging.automations.privacy import automation_data, automation_data_erase
from messaging.automations.series_models import DateEnrolment, DateSend, WelcomeEnrolment, WelcomeStepSend
from messaging.conversations.media import media_erase_for_fan
from messaging.conversations.models import ConversationEvent, InboundMedia, Note, Vote
from messaging.sending.models import FanCarrier, UndeliverableNumber


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)


def _document(doc: TermsDocument | None) -> dict | None:
    if doc is None:
        return None
    return {"kind": doc.kind, "version": doc.version, "title": doc.title, "published_at": _iso(doc.published_at)}


def fan_data_export(*, fan: Fan) -> dict:
    """Everything held about the fan, as JSON-ready data (the /me/ page and its download)."""
    consents = fan.consents.select_related("terms", "privacy").order_by("created_at", "pk")
    # Reverse relations: messaging's models are read without importing them (dependency direction).
    inbound = fan.inbound_messages.order_by("received_at", "pk")
    outbound = list(fan.outbound_messages.order_by("created_at", "pk"))
    # A drop's confirmation is stored with a reference, not the code (automations/codes.py): the fan
    # reads their own texts as they got them, with their own code in it.
    as_sent = [
        fill or m.body for m, fill in zip(outbound, fill_bodies([(fan.pk, m.body) for m in outbound]), strict=True)
    ]
    return {
        "talent": {"name": fan.talent.display_name, "program": fan.talent.program_name},
        "profile": {
            "phone": str(fan.phone) if fan.phone else None,
            **{name: _iso(getattr(fan, name)) for name in PROFILE_FIELDS},
        },
        "status": fan.status,
        "shares_with_partners": fan.shares_with_partners,
        "source": fan.source,
        "joined_at": _iso(fan.joined_at),
        "opted_out_at": _iso(fan.opted_out_at),
        "consents": [
            {
                "purpose": c.purpose,
                "action": c.action,
                "method": c.method,
                "at": _iso(c.created_at),
                "terms": _document(c.terms),
                "privacy": _document(c.privacy),
                "wording": c.disclosure,
                "ip_address": c.ip_address,
                "user_agent": c.user_agent,
            }
            for c in consents
        ],
        "messages": sorted(
            [{"direction": "from_you", "at": _iso(m.received_at), "body": m.body} for m in inbound]
            + [
                {"direction": "to_you", "at": _iso(m.created_at), "body": body, "status": m.status}
                for m, body in zip(outbound, as_sent, strict=True)
            ],
            key=lambda m: m["at"],
        ),
        "automations": automation_data(fan=fan),  # issue 14
        **_audience_and_automation_export(fan),
        **_conversation_export(fan),
    }


def _audience_and_automation_export(fan: Fan) -> dict:
    """What the team's tools hold about the fan beyond the texts (issue 15 audit: an access request
    covers every table inventory.py ties to the fan; tests/messaging/privacy/test_inventory.py checks
    each one shows here): lists and tags, keywords used, welcome series and date messages, the
    carrier looked up for the number, poll answers."""
    carrier = FanCarrier.objects.filter(fan=fan).first()
    keyword_uses = KeywordEntrant.objects.filter(fan=fan).select_related("keyword").order_by("created_at", "pk")
    return {
        "lists": sorted(fan.list_memberships.values_list("contact_list__name", flat=True)),
        "tags": sorted(fan.fan_tags.values_list("tag__name", flat=True)),
        "keywords_used": [{"keyword": u.keyword.word.upper(), "at": _iso(u.created_at)} for u in keyword_uses],
        "welcome_series": _enrolments(fan, WelcomeEnrolment, "series", WelcomeStepSend),
        "date_messages": _enrolments(fan, DateEnrolment, "message", DateSend),
        "carrier": None
        if carrier is None
        else {"carrier": carrier.carrier_name or carrier.carrier, "line": carrier.line_type},
        "poll_answers": [
            {"question": v.poll.question, "answer": v.option, "at": _iso(v.voted_at)}
            for v in Vote.objects.filter(fan=fan).select_related("poll").order_by("voted_at", "pk")
        ],
    }


def _enrolments(fan: Fan, enrolment_model, automation: str, send_model) -> list[dict]:
    """A welcome series' or a date message's enrolments of the fan, oldest first: which one (under
    the key `automation`, its name), where it stands, since when and how many texts it sent."""
    enrolments = enrolment_model.objects.filter(fan=fan).select_related(automation).order_by("created_at", "pk")
    return [
        {
            automation: getattr(e, automation).name,
            "status": e.get_status_display(),
            "since": _iso(e.created_at),
            "texts_sent": send_model.objects.filter(enrolment=e).count(),
        }
        for e in enrolments
    ]


def _conversation_export(fan: Fan) -> dict:
    """The inbox's data about the fan (issue 13): a data-subject access right covers the team's
    private notes too (they are about the fan, and "private" means never texted, not secret from
    the person they describe), the history of who handled the conversation, and the files they
    sent. Team members appear by role only ("the team"): their names are their own personal data."""
    conversation = fan.conversations.first()
    if conversation is None:
        return {"conversation": None}
    notes = Note.objects.filter(conversation=conversation).order_by("created_at", "pk")
    events = ConversationEvent.objects.filter(conversation=conversation).order_by("created_at", "pk")
    media = InboundMedia.objects.filter(fan=fan).order_by("created_at", "pk")
    return {
        "conversation": {
            "status": conversation.status,
            "assigned": conversation.assignee_id is not None,
            "notes": [{"at": _iso(n.created_at), "by": "the team", "text": n.body} for n in notes],
            "history": [{"at": _iso(e.created_at), "what": e.get_kind_display()} for e in events],
            "attachments_you_sent": [
                {"at": _iso(m.created_at), "type": m.content_type, "bytes": m.size, "status": m.status} for m in media
            ],
        }
    }


def fan_erase(*, fan: Fan, actor=None, reason: str = "fan_request") -> None:
    """Erasure: wipe personal fields and message bodies; keep the phone only as a keyed hash.

    The row stays (status erased) so consent evidence keeps its subject and an import can see,
    by phone_hash, that this number asked to be forgotten. The audit row holds no personal data.
    """
    with transaction.atomic():
        locked = Fan.objects.select_for_update().get(pk=fan.pk)
        if locked.status == Fan.Status.ERASED:
            return
        old_phone = str(locked.phone) if locked.phone else ""
        if old_phone:
            locked.phone_hash = phone_hash(talent=locked.talent, e164=old_phone)
        locked.phone = None
        for name in PROFILE_FIELDS:
            setattr(locked, name, None if name == "birth_date" else "")
        locked.status = Fan.Status.ERASED
        locked.shares_with_partners = False
        locked.sharing_reconsent_requested_at = None
        locked.opted_out_at = locked.opted_out_at or timezone.now()
        locked.rotate_link_nonce()
        locked.save()
        inbound = locked.inbound_messages.update(body="", from_number="", payload={})
        outbound = locked.outbound_messages.update(body="", to_number="", media_url="")
        if old_phone:
            # Texts from before the fan row existed (a HELP from a stranger, the signup code) are
            # tied to the number only: wipe those too.
            inbound += locked.talent.inbound_messages.filter(from_number=old_phone).update(
                body="", from_number="", payload={}
            )
            outbound += locked.talent.outbound_messages.filter(to_number=old_phone).update(
                body="", to_number="", media_url=""
            )
            # A number the provider called dead is personal data tied by the number alone.
            UndeliverableNumber.objects.filter(talent=locked.talent, phone=old_phone).delete()
        locked.fan_tags.all().delete()
        # Conversations, their private notes and assignment history are about the fan: they go
        # (notes and events cascade). Episodes keep only timings, for the reply figures.
        locked.conversations.all().delete()
        media_erase_for_fan(fan_id=locked.pk)  # MMS files the fan sent: rows now, files after commit
        Vote.objects.filter(fan=locked).delete()  # poll answers: no reverse relation (related_name "+")
        automation_data_erase(fan=locked)  # issue 14: keywords used, drops joined, codes got
        FanCarrier.objects.filter(fan=locked).delete()  # issue 17: the number's carrier, from Lookup

        # Automations (issue 14): enrolments go, and with them which texts the fan got (cascade).
        locked.welcome_enrolments.all().delete()
        locked.date_enrolments.all().delete()
        # Consent evidence keeps purpose, versions and time; the device details are personal.
        locked.consents.update(ip_address=None, user_agent="")
        locked.list_memberships.all().delete()
        audit(
            "fan.erased",
            talent=locked.talent,
            actor=actor,
            obj=locked,
            reason=reason,
            inbound_wiped=inbound,
            outbound_wiped=outbound,
        )
        # Outgoing webhooks (issue 16): stored events about the fan keep only its id, and the
        # fan.erased event itself carries nothing else.
        outbox.events_scrub_fan(fan_id=locked.pk)
        IdempotencyKey.objects.filter(fan_id=locked.pk).delete()  # a stored API answer with the profile
        outbox.emit_fan(locked, "fan.erased")
    fan.refresh_from_db()
