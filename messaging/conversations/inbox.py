"""Inbox selectors: folders, search, filters, keyset pages and capped counts (issue 13).

Each folder is one range of an index that leads with (talent, status) or (talent, assignee,
status), ordered by (last_message_at, id) descending, so a page costs the same at 100,000 open
conversations as at ten: keyset pagination (a cursor "after this row"), never OFFSET, and counts
capped at COUNT_CAP (an index range scan that stops), never a full COUNT(*).

Search: message text, fan name and phone. On PostgreSQL full-text search over GIN indexes on
to_tsvector('simple', ...) of the texts and of the fan's name (created in migration
0009_conversations, no extension needed); on SQLite a plain case-insensitive match. A query that
parses as a phone number (any format: "(415) 555-0101", "4155550101", "+1 415...") also matches
the fan's number exactly.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import phones
from accounts.models import Fan
from messaging.audience.models import ContactListMember, FanTag
from messaging.conversations.models import Conversation
from messaging.sms.models import InboundMessage

Status = Conversation.Status
COUNT_CAP = 10_000
PAGE_SIZE = 50

# (key, title): the folders in the order the page shows them.
FOLDERS = [
    ("unassigned", "Unassigned"),
    ("mine", "Mine"),
    ("open", "All open"),
    ("pending", "Waiting on the fan"),
    ("snoozed", "Snoozed"),
    ("done", "Done"),
]
FOLDER_TITLES = dict(FOLDERS)


def _base(talent_ids: set[int] | None) -> QuerySet[Conversation]:
    qs = Conversation.objects.all()
    if talent_ids is not None:
        qs = qs.filter(talent_id__in=talent_ids)
    return qs


def folder_queryset(
    folder: str, *, talent_ids: set[int] | None, user, campaign_id: int | None = None
) -> QuerySet[Conversation]:
    qs = _base(talent_ids)
    if folder == "campaign" and campaign_id is not None:
        return qs.filter(campaign_id=campaign_id)
    if folder == "unassigned":
        return qs.filter(status=Status.OPEN, assignee__isnull=True)
    if folder == "mine":
        return qs.filter(status=Status.OPEN, assignee_id=user.pk)
    if folder in (Status.PENDING, Status.SNOOZED, Status.DONE):
        return qs.filter(status=folder)
    return qs.filter(status=Status.OPEN)


@dataclass
class Filters:
    q: str = ""
    has_media: bool = False
    campaign_id: int | None = None
    list_id: int | None = None
    tag_id: int | None = None
    waiting_hours: int | None = None
    unread: bool = False
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, params) -> Filters:
        """Read the page's query string; a bad value becomes a message and is ignored (never a 500)."""
        f = cls(q=(params.get("q") or "").strip()[:200], has_media=params.get("media") == "1")
        f.unread = params.get("unread") == "1"
        for name, attr, label in (
            ("campaign", "campaign_id", "campaign"),
            ("list", "list_id", "list"),
            ("tag", "tag_id", "tag"),
            ("waiting", "waiting_hours", "waiting longer than (hours)"),
        ):
            raw = (params.get(name) or "").strip()
            if not raw:
                continue
            if raw.isdigit() and int(raw) < 10**9:
                setattr(f, attr, int(raw))
            else:
                f.errors.append(f"Ignored the {label} filter: {raw[:20]!r} is not a number.")
        return f

    @property
    def active(self) -> bool:
        return bool(
            self.q or self.has_media or self.campaign_id or self.list_id or self.tag_id or self.waiting_hours
        ) or (self.unread)


def apply_filters(
    qs: QuerySet[Conversation], f: Filters, *, talent_ids: set[int] | None, folder: str, user
) -> QuerySet[Conversation]:
    if f.has_media:
        qs = qs.filter(has_media=True)
    if f.campaign_id:
        qs = qs.filter(campaign_id=f.campaign_id)
    if f.list_id:
        qs = qs.filter(fan_id__in=ContactListMember.objects.filter(contact_list_id=f.list_id).values("fan_id"))
    if f.tag_id:
        qs = qs.filter(fan_id__in=FanTag.objects.filter(tag_id=f.tag_id).values("fan_id"))
    if f.waiting_hours:
        qs = qs.filter(waiting_since__lte=timezone.now() - dt.timedelta(hours=f.waiting_hours))
    if f.unread:
        qs = qs.filter(unread_filter(folder, user))
    if f.q:
        qs = qs.filter(search_q(f.q, talent_ids=talent_ids))
    return qs


def unread_filter(folder: str, user) -> Q:
    """Mine counts the assignee's own mark; every other folder the team's shared one."""
    return Q(unread_assignee=True, assignee_id=user.pk) if folder == "mine" else Q(unread_team=True)


_DIGITS = re.compile(r"\d")


def phone_of(query: str) -> str:
    """The E.164 number a search means, in any format, or "" when it is no phone number."""
    if len(_DIGITS.findall(query)) < 7 or re.search(r"[A-Za-z]", query):
        return ""
    try:
        return phones.parse(query)
    except phones.PhoneError:
        digits = "".join(_DIGITS.findall(query))
        # Test and fictional numbers (555-01xx) do not validate; the team still searches for them.
        if len(digits) == 10:
            return "+1" + digits
        if len(digits) == 11 and digits.startswith("1"):
            return "+" + digits
        return "+" + digits if query.strip().startswith("+") else ""


def search_q(query: str, *, talent_ids: set[int] | None) -> Q:
    """Conversations whose fan wrote the words, is named so, or has the number typed.

    The text and name matches carry no talent filter on purpose: a fan belongs to one talent, and
    the outer query is scoped to the current talent's conversations, so another talent's fan can
    never match. With a talent filter inside, PostgreSQL walked the talent's index (every one of
    its million texts) and computed to_tsvector per row instead of asking the GIN index (bench:
    0.44-1.1 s). The phone is resolved to fan ids first (one unique-index lookup), so no join to
    the fan table runs per conversation.
    """
    condition = _fans_in(text_matches(InboundMessage.objects.all(), query).order_by().values_list("fan_id", flat=True))
    condition |= _fans_in(name_matches(Fan.objects.all(), query).order_by().values_list("id", flat=True))
    phone = phone_of(query)
    if phone:
        fans = Fan.objects.filter(phone=phone)
        if talent_ids is not None:
            fans = fans.filter(talent_id__in=talent_ids)
        ids = list(fans.values_list("id", flat=True)[:20])
        if ids:
            condition |= Q(fan_id__in=ids)
    return condition


FEW_MATCHES = 2000  # up to this many matching rows, the search passes the fan ids themselves


def _fans_in(fan_ids: QuerySet) -> Q:
    """A rare word (or none) is resolved to its fans first, one GIN lookup stopping at FEW_MATCHES
    rows, so the page reads those fans' conversations by index. Left as a subquery, PostgreSQL
    walked every open conversation newest first testing each against it, to find ten or none
    (bench_inbox at 1M texts: 0.6-0.8 s for a rare word or no match). A common word keeps the
    subquery: that walk meets fifty matches within its first rows."""
    rows = list(fan_ids[: FEW_MATCHES + 1])
    if len(rows) > FEW_MATCHES:
        return Q(fan_id__in=fan_ids)
    return Q(fan_id__in=sorted({r for r in rows if r is not None}))


def text_matches(inbound: QuerySet[InboundMessage], query: str) -> QuerySet[InboundMessage]:
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # The same expression as the GIN index inbound_body_fts (migration 0009), or the planner cannot use it.
        words = SearchQuery(query, config="simple", search_type="plain")
        return inbound.annotate(fts=SearchVector("body", config="simple")).filter(fts=words)
    return inbound.filter(body__icontains=query)


def name_matches(fans: QuerySet[Fan], query: str) -> QuerySet[Fan]:
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # The same expression as the GIN index fan_name_fts (migration 0009).
        words = SearchQuery(query, config="simple", search_type="plain")
        return fans.annotate(fts=SearchVector("first_name", "last_name", config="simple")).filter(fts=words)
    every_word = Q()
    for word in query.split()[:5]:
        every_word &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return fans.filter(every_word)


# --- keyset pages ------------------------------------------------------------------------------
def cursor_of(conversation: Conversation) -> str:
    return f"{conversation.last_message_at.isoformat()}_{conversation.pk}"


def page(qs: QuerySet[Conversation], *, after: str = "", size: int = PAGE_SIZE) -> tuple[list[Conversation], str]:
    """One page newest first, after the cursor; returns (rows, next cursor or "")."""
    qs = qs.order_by("-last_message_at", "-id")
    if after:
        at_text, _, pk_text = after.rpartition("_")
        at = parse_datetime(at_text) if at_text else None
        if at is not None and pk_text.isdigit():
            qs = qs.filter(Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=int(pk_text)))
    rows = list(qs.select_related("fan", "assignee", "campaign")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (cursor_of(rows[-1]) if more and rows else "")


def capped_count(qs: QuerySet) -> int:
    """At most COUNT_CAP + 1 (the page shows "10,000+"): a range scan that stops."""
    return qs.order_by()[: COUNT_CAP + 1].count()


def show_count(n: int) -> str:
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"


@dataclass
class FolderCount:
    key: str
    title: str
    total: int
    unread: int

    @property
    def total_text(self) -> str:
        return show_count(self.total)

    @property
    def unread_text(self) -> str:
        return show_count(self.unread)


def folder_counts(*, talent_ids: set[int] | None, user) -> list[FolderCount]:
    counts = []
    for key, title in FOLDERS:
        qs = folder_queryset(key, talent_ids=talent_ids, user=user)
        unread = 0 if key == Status.DONE else capped_count(qs.filter(unread_filter(key, user)))
        counts.append(FolderCount(key, title, capped_count(qs), unread))
    return counts


def unread_for(*, talent_ids: set[int] | None, user) -> int:
    """For the tab title and the menu badge: open conversations unread by the team, plus the
    user's own unread ones (assigned to them)."""
    team = capped_count(
        folder_queryset("unassigned", talent_ids=talent_ids, user=user).filter(unread_filter("unassigned", user))
    )
    mine = capped_count(folder_queryset("mine", talent_ids=talent_ids, user=user).filter(unread_filter("mine", user)))
    return team + mine


# --- the fan beside the thread -------------------------------------------------------------------
def fan_panel(fan: Fan) -> dict:
    """The fan's profile for the side panel: who they are, where and what time it is there now,
    what they agreed to, and the latest campaigns they got and clicked (each an indexed lookup)."""
    import zoneinfo

    from consent.models import ConsentRecord
    from messaging.campaigns.models import Click
    from messaging.sms.models import OutboundMessage

    zone_name = fan.time_zone or fan.talent.default_time_zone
    try:
        local_now = timezone.now().astimezone(zoneinfo.ZoneInfo(zone_name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local_now = None
    consents: dict[str, ConsentRecord] = {}
    for record in ConsentRecord.objects.filter(fan=fan).order_by("-created_at")[:20]:
        consents.setdefault(record.get_purpose_display(), record)
    return {
        "name": " ".join(p for p in (fan.first_name, fan.last_name) if p) or "No name given",
        "phone": str(fan.phone) if fan.phone else "",
        "place": ", ".join(p for p in (fan.city, fan.region, fan.country) if p),
        "zone": zone_name,
        "local_now": local_now,
        "status": fan.get_status_display(),
        "joined_at": fan.joined_at,
        "lists": list(fan.contact_lists.order_by("name").values_list("name", flat=True)[:20]),
        "tags": list(FanTag.objects.filter(fan=fan).order_by("tag__name").values_list("tag__name", flat=True)[:20]),
        "consents": consents,
        "received": list(
            OutboundMessage.objects.filter(fan=fan, campaign__isnull=False)
            .select_related("campaign")
            .order_by("-created_at")[:5]
        ),
        "clicked": list(Click.objects.filter(fan=fan).select_related("link__campaign").order_by("-clicked_at")[:5]),
    }


# --- browser notifications ---------------------------------------------------------------------
NOTIFY_MAX = 5


def notifications_for(*, talent_ids: set[int] | None, user, since: dt.datetime) -> list[dict]:
    """New texts since `since` that the member should hear about: open conversations nobody holds
    (the team's unread mark) and their own (their unread mark). Both are ranges of the folder
    indexes, newest first. The notification names the fan but carries no text: it shows on a
    desktop, a lock screen or a shared screen (the console opens the text)."""
    wanted = Q(assignee__isnull=True, unread_team=True) | Q(assignee_id=user.pk, unread_assignee=True)
    rows = (
        _base(talent_ids)
        .filter(wanted, status=Status.OPEN, last_inbound_at__gt=since)
        .select_related("fan")
        .order_by("-last_message_at", "-id")[:NOTIFY_MAX]
    )
    return [
        {
            "id": c.pk,
            "title": ("Your conversation: " if c.assignee_id == user.pk else "New text: ") + str(c),
            "mine": c.assignee_id == user.pk,
        }
        for c in rows
    ]
