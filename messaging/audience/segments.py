"""Segment rules compiled to one Django Q (one SQL query over accounts_fan).

Conditions on lists and tags compile to EXISTS subqueries, so the whole tree never returns a fan
twice. Relative conditions (age, "within N days") are evaluated against the current date every time
the segment is used: a segment is live. Rules are validated first (messaging.audience.models).
"""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from messaging.audience.models import ContactListMember, FanTag

_ENGAGEMENT_COLUMN = {
    "replied_within": "last_reply_at",
    "clicked_within": "last_click_at",
    "received_within": "last_sent_at",
}


# --- compilation ----------------------------------------------------------------------------------
def compile_definition(definition: dict, *, today: dt.date | None = None) -> Q:
    """The Q for an already validated definition (use validate_definition first on untrusted input)."""
    now = timezone.now()
    today = today or timezone.localdate()
    return _compile(definition, today, now)


def _compile(node: dict, today: dt.date, now: dt.datetime) -> Q:
    if "all" in node:
        q = Q()
        for child in node["all"]:
            q &= _compile(child, today, now)
        return q
    if "any" in node:
        first, *rest = node["any"]  # validation guarantees at least one
        q = _compile(first, today, now)
        for child in rest:
            q |= _compile(child, today, now)
        return q
    if "not" in node:
        return ~_compile(node["not"], today, now)
    return _compile_condition(node, today, now)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def _compile_condition(cond: dict, today: dt.date, now: dt.datetime) -> Q:
    field, op, value = cond["field"], cond["op"], cond["value"]
    if field in ("country", "region", "city", "time_zone", "source", "status"):
        return Q(**{f"{field}__in": value})
    if field == "postal_code":
        # LIKE 'prefix%' served by the varchar_pattern_ops index on (talent, postal_code).
        return Q(postal_code__startswith=value)
    if field == "age":
        q = Q(birth_date__isnull=False)
        if "min" in value:  # at least `min` years old today
            q &= Q(birth_date__lte=_years_before(today, value["min"]))
        if "max" in value:  # not yet max + 1
            q &= Q(birth_date__gt=_years_before(today, value["max"] + 1))
        return q
    if field == "joined_at":
        day = dt.date.fromisoformat(value)
        start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        return Q(joined_at__lt=start) if op == "before" else Q(joined_at__gte=start + dt.timedelta(days=1))
    if field == "list":
        return Q(Exists(ContactListMember.objects.filter(fan_id=OuterRef("pk"), contact_list_id__in=value)))
    if field == "tag":
        return Q(Exists(FanTag.objects.filter(fan_id=OuterRef("pk"), tag_id__in=value)))
    if field == "shares_with_partners":
        return Q(shares_with_partners=value)
    if field == "engagement":
        if op == "never_messaged":
            return Q(last_sent_at__isnull=True)
        return Q(**{f"{_ENGAGEMENT_COLUMN[op]}__gte": now - dt.timedelta(days=value)})
    if field == "poll":
        # The votes live with the polls in the conversations layer (above this one); the table is
        # read by its model label, never imported (tests/fancommunity/test_layering.py). One EXISTS
        # over the (poll, fan) unique index: a fan counts once, with their current (last) vote.
        votes = apps.get_model("messaging", "Vote").objects.filter(fan_id=OuterRef("pk"), poll_id=value["poll"])
        if value["answers"]:
            votes = votes.filter(option__in=value["answers"])
        return Q(Exists(votes))
    raise AssertionError(field)  # pragma: no cover
