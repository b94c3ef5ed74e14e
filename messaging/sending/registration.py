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
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from messaging.sending.models import Sender
from messaging.sms.lookup import lookups_configured
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


def registration_line(sender: Sender) -> str:
    """The Senders page's words on a sender's 10DLC registration."""
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
