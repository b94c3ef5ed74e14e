"""Date-relative messages (issue 14 §4): the fan's birthday, N days after joining.

Both are sent at a wall-clock time in each fan's own zone, through the campaign engine (quiet
hours and the frequency cap apply). Fans are enrolled when they join while the message is live,
so fans who joined before it existed are never back-filled. A birthday text goes only to fans
whose signup form said the birth date is used for one (Talent.birth_date_for_birthday, set while
a birthday message is live or paused; recorded per fan as `birthday_use_stated` when they join).
Feb 29 birthdays are texted on Feb 28 in other years. Once per fan per year (a birthday) or per
date (days after joining): the DateSend unique (enrolment, occurrence).
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Fan, Talent
from messaging.automations.occurrences import automation_transition, fan_zone, occurrence_start
from messaging.automations.series_models import AutomationStatus, DateEnrolment, DateMessage, DateSend
from messaging.campaigns import scheduling

D = DateEnrolment.Status
K = DateMessage.Kind
AS = AutomationStatus
BATCH = 2000
# A birthday text days late is worse than none: an occurrence missed by more than this (the
# system was down) is skipped and the fan's next one planned.
LATE_LIMIT = dt.timedelta(hours=12)


def birthday_on(year: int, birth_date: dt.date) -> dt.date:
    """The day a birthday is celebrated in `year`: Feb 29 becomes Feb 28 outside leap years."""
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return birth_date.replace(year=year)


def next_birthday(birth_date: dt.date, at: dt.time, tz: zoneinfo.ZoneInfo, after: dt.datetime) -> dt.datetime:
    """The first birthday instant (wall-clock `at` in `tz`) later than `after`."""
    year = after.astimezone(tz).year
    for candidate in (year, year + 1):
        instant = scheduling.local_instant(birthday_on(candidate, birth_date), at, tz)
        if instant > after:
            return instant
    return scheduling.local_instant(birthday_on(year + 2, birth_date), at, tz)


def _first_due(message: DateMessage, fan: Fan, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    if message.kind == K.BIRTHDAY:
        return next_birthday(fan.birth_date, message.local_time, tz, now) if fan.birth_date else None
    joined = (fan.joined_at or now).astimezone(tz).date()
    return scheduling.local_instant(joined + dt.timedelta(days=message.days or 0), message.local_time, tz)


def dates_enrol(*, fan: Fan, now: dt.datetime | None = None) -> list[DateEnrolment]:
    """Enrol a fan who just joined in the talent's live date messages."""
    if fan.status != Fan.Status.ACTIVE:
        return []
    now = now or timezone.now()
    talent = Talent.objects.only("id", "default_time_zone", "birth_date_for_birthday").get(pk=fan.talent_id)
    tz = fan_zone(fan, talent)
    made = []
    for message in DateMessage.objects.filter(talent_id=fan.talent_id, status=AS.LIVE):
        stated = message.kind == K.BIRTHDAY and talent.birth_date_for_birthday
        if message.kind == K.BIRTHDAY and not stated:
            continue  # the form this fan joined on did not say the birth date is used for this
        enrolment, created = DateEnrolment.objects.get_or_create(
            message=message,
            fan=fan,
            defaults={
                "talent_id": fan.talent_id,
                "birthday_use_stated": stated,
                "next_due_at": _first_due(message, fan, tz, now),
            },
        )
        if created:
            made.append(enrolment)
    return made


@dataclass
class DatesResult:
    campaigns: list[int] = field(default_factory=list)
    handed: int = 0
    skipped: int = 0


def dates_run_due(*, now: dt.datetime | None = None) -> DatesResult:
    now = now or timezone.now()
    result = DatesResult()
    for message in DateMessage.objects.filter(status=AS.LIVE).select_related("talent"):
        while _dates_batch(message, now, result):
            pass
    return result


def _occurrence(message: DateMessage, enrolment: DateEnrolment, tz: zoneinfo.ZoneInfo) -> tuple[str, bool]:
    """The occurrence key of the due instant, and whether it still matches the fan's data."""
    assert enrolment.next_due_at is not None
    day = enrolment.next_due_at.astimezone(tz).date()
    if message.kind == K.BIRTHDAY:
        birth = enrolment.fan.birth_date
        return str(day.year), birth is not None and birthday_on(day.year, birth) == day
    return day.isoformat(), True


def _dates_batch(message: DateMessage, now: dt.datetime, result: DatesResult) -> bool:
    talent = message.talent
    with transaction.atomic():
        due = list(
            DateEnrolment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(message=message, status=D.ACTIVE, next_due_at__lte=now)
            .select_related("fan")
            .order_by("next_due_at")[:BATCH]
        )
        if not due:
            return False
        sent_keys = set(
            DateSend.objects.filter(enrolment__in=due).values_list("enrolment_id", "occurrence")
        )  # fmt: skip
        go: dict[int, tuple[DateEnrolment, str]] = {}
        for enrolment in due:
            fan = enrolment.fan
            tz = fan_zone(fan, talent)
            if fan.status != Fan.Status.ACTIVE:
                enrolment.status, enrolment.next_due_at = D.STOPPED, None
                continue
            if message.kind == K.BIRTHDAY and not enrolment.birthday_use_stated:
                enrolment.status, enrolment.next_due_at = D.STOPPED, None
                continue
            key, matches = _occurrence(message, enrolment, tz)
            late = now - (enrolment.next_due_at or now) > LATE_LIMIT
            if late or (enrolment.pk, key) in sent_keys:
                # The day was missed (the system was down), or this year's text went already.
                _advance(message, enrolment, tz, now)
                result.skipped += 1
                continue
            if not matches:  # the birth date changed since this was planned: plan the new one
                enrolment.next_due_at = _first_due(message, fan, tz, now)
                if enrolment.next_due_at is None:
                    enrolment.status = D.STOPPED
                continue
            go[fan.pk] = (enrolment, key)
        if go:
            handed = occurrence_start(
                talent=talent,
                name=f"Automation · {message.name} · {now:%Y-%m-%d %H:%M} UTC",
                body=message.body,
                not_marketing=False,
                fan_ids=list(go),
                now=now,
                link={"date_message": message},
            )
            sends = []
            for fan_id, (enrolment, key) in go.items():
                if fan_id in handed.leaves_at:
                    sends.append(DateSend(enrolment=enrolment, fan_id=fan_id, occurrence=key, campaign=handed.campaign))
                    _advance(message, enrolment, fan_zone(enrolment.fan, talent), now)
                elif fan_id in handed.capped_until:
                    enrolment.next_due_at = handed.capped_until[fan_id]  # waits for the cap, same day
                else:
                    enrolment.status, enrolment.next_due_at = D.STOPPED, None
            DateSend.objects.bulk_create(sends)  # unique (enrolment, occurrence): once per year / date
            result.handed += len(sends)
            if handed.campaign is not None:
                result.campaigns.append(handed.campaign.pk)
        DateEnrolment.objects.bulk_update(due, ["status", "next_due_at", "updated_at"])
    return len(due) == BATCH


def _advance(message: DateMessage, enrolment: DateEnrolment, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> None:
    if message.kind == K.BIRTHDAY and enrolment.fan.birth_date:
        # Next year's: once per fan per year, whatever happens to the birth date meanwhile.
        assert enrolment.next_due_at is not None
        year = enrolment.next_due_at.astimezone(tz).year
        new_year = scheduling.local_instant(dt.date(year + 1, 1, 1), dt.time(0), tz) - dt.timedelta(seconds=1)
        enrolment.next_due_at = next_birthday(enrolment.fan.birth_date, message.local_time, tz, max(now, new_year))
    else:
        enrolment.status, enrolment.next_due_at = D.DONE, None


def date_message_check(*, kind: str, days: int | None) -> None:
    if kind == K.DAYS_AFTER_JOIN and not days:
        raise ValidationError({"days": "Say how many days after joining."})


def _sync_birthday_flag(talent_id: int) -> None:
    """The signup form says "and to text you on your birthday" while a birthday text runs."""
    running = DateMessage.objects.filter(talent_id=talent_id, kind=K.BIRTHDAY, status__in=[AS.LIVE, AS.PAUSED])
    Talent.objects.filter(pk=talent_id).update(birth_date_for_birthday=running.exists())


def date_message_go_live(*, message: DateMessage, actor: Any) -> DateMessage:
    with transaction.atomic():
        automation_transition(obj=message, action="go_live", actor=actor)
        _sync_birthday_flag(message.talent_id)
    return message


def date_message_pause(*, message: DateMessage, actor: Any) -> DateMessage:
    return automation_transition(obj=message, action="pause", actor=actor)


def date_message_resume(*, message: DateMessage, actor: Any) -> DateMessage:
    return automation_transition(obj=message, action="resume", actor=actor)


def date_message_cancel(*, message: DateMessage, actor: Any) -> DateMessage:
    """Stop for everyone; the signup form stops mentioning birthdays once none runs."""
    with transaction.atomic():
        automation_transition(obj=message, action="cancel", actor=actor)
        _sync_birthday_flag(message.talent_id)
    return message
