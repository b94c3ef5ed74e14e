"""The fan's drops on /me/ (issue 14 §3): the ones they may join, the ones they joined, their code.

accounts/me_views.py is the fan's data page and knows nothing of drops (accounts sits below every
messaging layer): messaging/apps.py registers `me_drops_section` in its ME_SECTIONS, and the page
includes the template this returns. Joining stays the drop page's (automations/views.py): each
Join button is a plain form posting there, so it works without JavaScript and takes every rule of
`drop_join` (paused, capacity, waitlist, one entry per fan).

Three queries: the talent's open drops, the fan's entries with their drops, the fan's codes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Fan
from messaging.automations.drop_models import Drop, DropCode, DropEntry

Entry = DropEntry.Status
# A drop stays joinable after its release ("you made it"), but a fan's page lists it as open only
# for a week after: last year's presale is not news (its own page still takes a join).
OPEN_AFTER_RELEASE = dt.timedelta(days=7)
TEMPLATE = "automations/me_drops.html"


def _zone(fan: Fan) -> zoneinfo.ZoneInfo:
    try:
        return fan.tz
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # a zone name gone from the system
        return fan.talent.tz


def release_local(drop: Drop, zone: zoneinfo.ZoneInfo) -> str:
    """ "Friday 12 June 2026, 10:00 PDT": when the release reaches this fan, on their clock. A drop
    released "at each fan's local time" goes out at the talent's wall-clock time in the fan's zone."""
    at = drop.release_at.astimezone(drop.talent.tz)
    if drop.release_zone == Drop.Zone.FAN:
        at = at.replace(tzinfo=zone)
    else:
        at = at.astimezone(zone)
    return at.strftime("%A %d %B %Y, %H:%M ") + (at.tzname() or zone.key)


def _released(drop: Drop) -> bool:
    return drop.campaign is not None and drop.campaign.started_at is not None


def me_drops_section(fan: Fan) -> dict | None:
    """The /me/ section's context: `joined` (entered or waitlisted, with the code once the release
    went out) and `open` (not paused, not joined, room left or a waitlist; only for an active fan,
    the one the drop page lets join). None when there is nothing to show and nothing to join."""
    now = timezone.now()
    zone = _zone(fan)
    entries = list(
        DropEntry.objects.filter(fan=fan, drop__talent_id=fan.talent_id)
        .select_related("drop__talent", "drop__campaign")
        .order_by("-drop__release_at", "drop_id")
    )
    taken = {e.drop_id for e in entries}
    codes = dict(
        DropCode.objects.filter(
            fan=fan, drop_id__in=[e.drop_id for e in entries if e.status == Entry.ENTERED]
        ).values_list("drop_id", "code")
    )
    joined = []
    for entry in entries:
        if entry.status not in (Entry.ENTERED, Entry.WAITLISTED):
            continue  # turned away (full, no waitlist): nothing to hold
        released = _released(entry.drop)
        joined.append(
            {
                "name": entry.drop.name,
                "url": _url(entry.drop),
                "waitlisted": entry.status == Entry.WAITLISTED,
                "released": released,
                "release_local": release_local(entry.drop, zone),
                # The code is the box office's: shown here once the release is out, as the text said.
                "code": codes.get(entry.drop_id, "") if released else "",
            }
        )
    open_drops = []
    if fan.status == Fan.Status.ACTIVE:
        room = Q(capacity__isnull=True) | Q(entrants_count__lt=F("capacity")) | Q(waitlist=True)
        candidates = (
            Drop.objects.filter(talent_id=fan.talent_id, is_paused=False, release_at__gte=now - OPEN_AFTER_RELEASE)
            .filter(room)
            .exclude(pk__in=taken)
            .select_related("talent", "campaign")
            .order_by("release_at", "pk")
        )
        for drop in candidates:
            full = drop.capacity is not None and drop.entrants_count >= drop.capacity
            open_drops.append(
                {
                    "name": drop.name,
                    "url": _url(drop),
                    "waitlist_only": full,
                    "released": _released(drop),
                    "release_local": release_local(drop, zone),
                }
            )
    if not joined and not open_drops:
        return None
    return {"template": TEMPLATE, "joined": joined, "open": open_drops, "zone": zone.key}


def _url(drop: Drop) -> str:
    return reverse("messaging:drop", args=[drop.talent.slug, drop.pk])
