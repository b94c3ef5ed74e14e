"""The front page with no current talent (a superuser, or anyone looking at "All talents").

Every talent the user may view, not the first twenty: one row each with the home page's own
figures (members now, joins and opt-outs over 30 days against the 30 before, unanswered
conversations, texts a burst left unread), and the totals over all of them. Each row is
`home_figures(talent)`, the talent's home page figures (rollup rows, indexed windows cached for a
minute, the member snapshot: no full count per view), so the two pages never disagree. The 30
days are each talent's own local days; the totals add those up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from accounts import permissions
from accounts.models import Talent
from messaging.console.dashboard import HomeFigures, change, home_figures

ROWS_PER_PAGE = 50  # a page of talents; the totals cover every talent the user may view


@dataclass
class TalentRow:
    home: HomeFigures

    @property
    def talent(self) -> Talent:
        return self.home.talent

    @property
    def joins_change(self) -> str:
        return change(self.home.joins_total, self.home.joins_before_total)

    @property
    def opt_outs_change(self) -> str:
        return change(self.home.opt_outs_total, self.home.opt_outs_before_total)

    @property
    def last_campaign(self) -> dict | None:
        return self.home.campaigns[0] if self.home.campaigns else None


@dataclass
class AllTalents:
    now: dt.datetime
    talents: int  # every talent the user may view
    rows: list[TalentRow]  # this page's talents
    members: int = 0
    joins: int = 0
    joins_before: int = 0
    opt_outs: int = 0
    opt_outs_before: int = 0
    unanswered: int = 0
    unread: int = 0  # texts a burst left unread (the rule processor's backlog)
    page: int = 1
    pages: int = 1

    @property
    def joins_change(self) -> str:
        return change(self.joins, self.joins_before)

    @property
    def opt_outs_change(self) -> str:
        return change(self.opt_outs, self.opt_outs_before)


def viewable_talents(user):
    ids = permissions.talent_ids(user, "view")
    talents = Talent.objects.filter(is_active=True)
    return (talents if ids is None else talents.filter(id__in=ids)).order_by("display_name", "id")


CACHE_SECONDS = 60  # the figures under it are cached for a minute too (today's windows)


def all_talents_home(user, *, page: int = 1, now: dt.datetime | None = None) -> AllTalents:
    """Totals over every talent the user may view, and one page of per-talent rows (cached a minute)."""
    talents = list(viewable_talents(user))
    key = "home:all:" + hashlib.sha1(",".join(str(t.pk) for t in talents).encode()).hexdigest() + f":{page}"
    if now is None and (cached := cache.get(key)) is not None:
        return cached
    value = _all_talents(talents, page=page, now=now or timezone.now())
    cache.set(key, value, CACHE_SECONDS)
    return value


def _all_talents(talents: list[Talent], *, page: int, now: dt.datetime) -> AllTalents:
    pages = max(1, -(-len(talents) // ROWS_PER_PAGE))
    page = min(max(1, page), pages)
    out = AllTalents(
        now=now,
        talents=len(talents),
        rows=[],
        page=page,
        pages=pages,
    )
    shown = {t.pk for t in talents[(page - 1) * ROWS_PER_PAGE : page * ROWS_PER_PAGE]}
    for talent in talents:
        home = home_figures(talent, now=now)
        out.members += home.members
        out.joins += home.joins_total
        out.joins_before += home.joins_before_total
        out.opt_outs += home.opt_outs_total
        out.opt_outs_before += home.opt_outs_before_total
        out.unanswered += home.unanswered["count"] or 0
        out.unread += home.backlog.get("unread") or 0
        if talent.pk in shown:
            out.rows.append(TalentRow(home))
    return out
