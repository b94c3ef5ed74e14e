"""10DLC registration (issue 17 §1): each 10DLC sender's brand and campaign as Twilio reports them,
fetched through the SDK (messaging/sms/twilio_account.py) hourly and from the Senders page.

Carriers block texts from a 10DLC number whose campaign is not approved (Twilio error 30034),
so a sender with a problem is left out of the pool (senders.held_back) and the Senders page says
why. Only a Messaging Service has a campaign to ask about; a 10DLC number given without its
service is not checked (the page says so) and keeps sending. A check that fails (Twilio down,
wrong credentials) changes nothing: an outage must not stop every blast.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from messaging.sending.models import Sender
from messaging.sms.errors import UNREGISTERED_CODES
from messaging.sms.lookup import lookups_configured
from messaging.sms.models import OutboundMessage
from messaging.sms.twilio_account import AccountError, account_client, fetch_registration

logger = logging.getLogger(__name__)

REGISTERED_KINDS = (Sender.Kind.TEN_DLC, Sender.Kind.SOLE_PROPRIETOR)


@dataclass
class RegistrationReport:
    checked: int = 0
    held_back: int = 0
    errors: list[str] = field(default_factory=list)


def registered_senders(queryset: QuerySet[Sender] | None = None) -> QuerySet[Sender]:
    qs = queryset if queryset is not None else Sender.objects.all()
    return qs.filter(kind__in=REGISTERED_KINDS).exclude(messaging_service_sid="")


def check_registrations(*, senders: QuerySet[Sender] | None = None, client=None) -> RegistrationReport:
    """Ask Twilio for each 10DLC sender's registration and store it on the sender."""
    report = RegistrationReport()
    if client is None and not lookups_configured():
        return report  # no Twilio credentials (a demo on the console backend)
    client = client or account_client()
    for sender in registered_senders(senders).order_by("pk"):
        try:
            found = fetch_registration(client, sender.messaging_service_sid)
        except AccountError as exc:
            report.errors.append(str(exc))
            logger.warning("10DLC registration check failed: %s", exc)
            continue
        Sender.objects.filter(pk=sender.pk).update(
            brand_status=found.brand_status,
            campaign_status=found.campaign_status,
            registration_problem=found.reason[:300],
            registration_checked_at=timezone.now(),
        )
        report.checked += 1
        report.held_back += int(not found.approved)
    return report


def mark_unregistered(
    *, talent_id: int, from_number: str = "", messaging_service_sid: str = "", message_id: int | None = None
) -> int:
    """Twilio error 30034 on a text of this talent's (a send or a status callback): the sender it
    went from is marked "not registered" (when, and which message) and so held back from sending
    (senders.held_back). The first report is kept: later ones add nothing. Returns senders marked.

    Found by the talent and the address the text went from: its number, or the Messaging Service
    when the sender is one (Twilio then reports the service's number as From).

    Not cleared by a registration check: that asks about the Messaging Service's campaign, and a
    number can be missing from a VERIFIED campaign; 30034 is the carriers' own word on this number.
    A person clears it on the Senders page (clear_unregistered) once the number is registered."""
    match = Q()
    if from_number:
        match |= Q(phone_number=from_number)
    if messaging_service_sid:
        match |= Q(messaging_service_sid=messaging_service_sid)
    if not match:
        return 0
    marked = Sender.objects.filter(match, talent_id=talent_id, unregistered_at__isnull=True).update(
        unregistered_at=timezone.now(), unregistered_message_id=message_id
    )
    if marked:
        logger.warning("sender of talent %s held back: Twilio 30034 on message %s", talent_id, message_id)
    return marked


def note_status_callback(*, sid: str, error_code: str, post: Mapping[str, str]) -> int:
    """A status callback's 30034 (messaging/webhooks/status.py, after its signature was checked):
    mark the sender of that message, found among its own talent's senders by the callback's From
    or MessagingServiceSid. Any other code costs nothing (no query)."""
    if error_code not in UNREGISTERED_CODES or not sid:
        return 0
    row = OutboundMessage.objects.filter(provider_sid=sid).values("pk", "talent_id").first()
    if row is None:
        return 0
    return mark_unregistered(
        talent_id=row["talent_id"],
        from_number=str(post.get("From", "")).strip()[:20],
        messaging_service_sid=str(post.get("MessagingServiceSid", "")).strip()[:34],
        message_id=row["pk"],
    )


def clear_unregistered(senders: QuerySet[Sender]) -> int:
    """The team says the number is registered now: it may send again (the next 30034 marks it)."""
    return senders.exclude(unregistered_at=None).update(unregistered_at=None, unregistered_message_id=None)


def registration_line(sender: Sender) -> str:
    """The Senders page's words on a sender's 10DLC registration."""
    if sender.unregistered_at is not None:
        when = timezone.localtime(sender.unregistered_at, timezone.get_current_timezone())
        which = f" on message #{sender.unregistered_message_id}" if sender.unregistered_message_id else ""
        return (
            f"Not registered: Twilio reported error 30034{which} at {when:%b %-d, %H:%M %Z}. Carriers block this "
            "number's texts, so it is left out of sending until you register it and clear this."
        )
    if sender.kind not in REGISTERED_KINDS:
        return "Not needed"
    if not sender.messaging_service_sid:
        return "Not checked: add the Messaging Service SID of this number's 10DLC campaign to check it."
    if sender.registration_checked_at is None:
        return "Not checked yet"
    when = timezone.localtime(sender.registration_checked_at, timezone.get_current_timezone())
    checked = f"checked {when:%b %-d, %H:%M %Z}"
    if sender.registration_problem:
        return f"Not sending: {sender.registration_problem} ({checked})"
    return f"Approved: brand and campaign ({checked})"
