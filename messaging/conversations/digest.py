"""The email digest of waiting conversations (issue 13 §2: an answer never depends on someone
watching the console). Per member who opted in (MemberInbox.email_digest), per talent: the open
conversations nobody holds and the member's own, oldest wait first, with links to the console.

Sent by `manage.py inbox_digest` and the daily periodic task (messaging/tasks.py), through Django's
email backend (console by default in development, EMAIL_URL in production). A member gets at most
one digest a DIGEST_MIN_HOURS, so a re-run or a redelivered task does not mail twice, and none
when nothing waits. The email lists fan names (or numbers) and waiting times, never message text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts import permissions
from messaging.conversations.models import Conversation, MemberInbox

DIGEST_MIN_HOURS = 20
DIGEST_MAX_ROWS = 25


@dataclass
class DigestReport:
    sent: int = 0
    skipped_empty: int = 0
    skipped_recent: int = 0


def waiting_for(*, talent_id: int, user) -> tuple[int, list[Conversation]]:
    """(how many, the oldest DIGEST_MAX_ROWS): open, waiting, unassigned or the member's own."""
    qs = Conversation.objects.filter(
        Q(assignee__isnull=True) | Q(assignee_id=user.pk),
        talent_id=talent_id,
        status=Conversation.Status.OPEN,
        waiting_since__isnull=False,
    )
    total = qs.order_by()[:10_001].count()
    return total, list(qs.select_related("fan").order_by("waiting_since", "id")[:DIGEST_MAX_ROWS])


def _body(*, talent, total: int, rows: list[Conversation], user, now: dt.datetime) -> str:
    base = settings.PUBLIC_BASE_URL
    lines = [
        f"{total} conversation{'s' if total != 1 else ''} of {talent.display_name} wait for an answer "
        "(unassigned or yours), oldest first:",
        "",
    ]
    for c in rows:
        hours = int((now - c.waiting_since).total_seconds() // 3600) if c.waiting_since else 0
        who = "yours" if c.assignee_id == user.pk else "unassigned"
        url = base + reverse("admin:messaging_conversation_change", args=[c.pk])
        lines.append(f"- {c} ({who}), waiting {hours} h: {url}")
    if total > len(rows):
        lines.append(f"... and {total - len(rows)} more.")
    lines += [
        "",
        f"The inbox: {base}{reverse('admin:messaging_conversation_changelist')}",
        "You get this because you asked for it in the inbox; the same button there stops it.",
    ]
    return "\n".join(lines) + "\n"


def digests_send(*, now: dt.datetime | None = None) -> DigestReport:
    """Send every due digest. Each member row is marked as it is sent, so a crash halfway resends
    nobody who already got theirs."""
    now = now or timezone.now()
    report = DigestReport()
    due = (
        MemberInbox.objects.filter(email_digest=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "talent")
        .order_by("pk")
    )
    for row in due:
        if row.digest_sent_at and now - row.digest_sent_at < dt.timedelta(hours=DIGEST_MIN_HOURS):
            report.skipped_recent += 1
            continue
        if not permissions.can(row.user, "reply", row.talent_id):
            continue  # no longer answers fans of this talent
        total, rows = waiting_for(talent_id=row.talent_id, user=row.user)
        if not total:
            report.skipped_empty += 1
            continue
        send_mail(
            f"{total} fan conversation{'s' if total != 1 else ''} waiting for {row.talent.display_name}",
            _body(talent=row.talent, total=total, rows=rows, user=row.user, now=now),
            None,
            [row.user.email],
        )
        MemberInbox.objects.filter(pk=row.pk).update(digest_sent_at=now)
        report.sent += 1
    return report
