"""Date-relative messages (issue 14 §4): birthdays (only with the form's stated use, Feb 29),
N days after joining, at a local hour, once per year or per date, no back-fill."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from accounts.profile import BIRTHDAY_WHY
from accounts.tokens import join_tokens
from messaging.automations import dates
from messaging.automations.series import automations_upcoming
from messaging.campaigns import scheduling
from messaging.models import DateEnrolment, DateMessage, DateSend, OutboundMessage
from tests.accounts.join_support import join_url, publish_documents
from tests.messaging.automations.support import join, run

pytestmark = pytest.mark.django_db
LA = scheduling.zone("America/Los_Angeles")
TEN = dt.time(10, 0)


def _live(personas, kind=DateMessage.Kind.BIRTHDAY, body="Happy birthday {first_name}!", **fields) -> DateMessage:
    message = DateMessage.objects.create(
        talent=personas.talent, name=str(kind), kind=kind, local_time=TEN, body=body, **fields
    )
    return dates.date_message_go_live(message=message, actor=personas.manager)


def _local(day: dt.date, at: dt.time = TEN) -> dt.datetime:
    return scheduling.local_instant(day, at, LA)


def test_feb_29_birthdays_are_on_feb_28_in_other_years():
    leap = dt.date(2000, 2, 29)
    assert dates.birthday_on(2027, leap) == dt.date(2027, 2, 28)
    assert dates.birthday_on(2028, leap) == dt.date(2028, 2, 29)
    assert dates.birthday_on(2027, dt.date(1990, 3, 1)) == dt.date(2027, 3, 1)
    after = _local(dt.date(2027, 1, 1))
    assert dates.next_birthday(leap, TEN, LA, after) == _local(dt.date(2027, 2, 28))


def test_a_birthday_text_goes_at_the_local_hour_once_per_year(personas, backend, clock):
    clock.at(_local(dt.date(2026, 6, 1)))
    _live(personas)
    fan = join(personas, "+14155550401", birth_date=dt.date(1999, 6, 3), first_name="Rosa")
    enrolment = DateEnrolment.objects.get(fan=fan)
    assert enrolment.birthday_use_stated and enrolment.next_due_at == _local(dt.date(2026, 6, 3))
    clock.at(_local(dt.date(2026, 6, 3), dt.time(9, 59)))
    assert run(clock, backend) == []
    clock.at(_local(dt.date(2026, 6, 3), dt.time(10, 1)))
    assert run(clock, backend) == ["Happy birthday Rosa!"]
    clock.advance(hours=3)
    assert run(clock, backend) == []
    enrolment.refresh_from_db()
    assert enrolment.next_due_at == _local(dt.date(2027, 6, 3))
    assert list(DateSend.objects.filter(fan=fan).values_list("occurrence", flat=True)) == ["2026"]
    # The same year never twice, even if the birth date is moved later in the year.
    type(fan).objects.filter(pk=fan.pk).update(birth_date=dt.date(1999, 11, 20))
    DateEnrolment.objects.filter(pk=enrolment.pk).update(next_due_at=_local(dt.date(2026, 11, 20)))
    clock.at(_local(dt.date(2026, 11, 20), dt.time(10, 5)))
    assert run(clock, backend) == []
    enrolment.refresh_from_db()
    assert enrolment.next_due_at == _local(dt.date(2027, 11, 20))


def test_a_feb_29_fan_is_texted_on_feb_28_in_a_common_year(personas, backend, clock):
    clock.at(_local(dt.date(2027, 1, 10)))
    _live(personas)
    fan = join(personas, "+14155550402", birth_date=dt.date(2004, 2, 29))
    assert DateEnrolment.objects.get(fan=fan).next_due_at == _local(dt.date(2027, 2, 28))
    clock.at(_local(dt.date(2027, 2, 28), dt.time(10, 1)))
    assert len(run(clock, backend)) == 1
    assert DateEnrolment.objects.get(fan=fan).next_due_at == _local(dt.date(2028, 2, 29))


def test_birthday_only_when_the_signup_form_said_so(client, personas, clock):
    talent = personas.talent
    terms, privacy = publish_documents(talent)
    url = join_url(talent) + "?t=" + join_tokens.make_token(talent=talent, phone="+14155552671")
    message = DateMessage.objects.create(talent=talent, name="Bday", kind="birthday", local_time=TEN, body="Happy!")
    assert BIRTHDAY_WHY not in client.get(url).content.decode()  # a draft changes nothing on the form
    dates.date_message_go_live(message=message, actor=personas.manager)
    talent.refresh_from_db()
    assert talent.birth_date_for_birthday
    assert BIRTHDAY_WHY.replace("'", "&#x27;") in client.get(url).content.decode()
    # The privacy page's "what we ask and why" says the same.
    assert BIRTHDAY_WHY.replace("'", "&#x27;") in client.get(f"/privacy/{talent.slug}/").content.decode()
    # A fan who joins while the form does not say it (the flag off) is never enrolled.
    type(talent).objects.filter(pk=talent.pk).update(birth_date_for_birthday=False)
    silent = join(personas, "+14155550403")
    assert not DateEnrolment.objects.filter(fan=silent).exists()
    type(talent).objects.filter(pk=talent.pk).update(birth_date_for_birthday=True)
    told = join(personas, "+14155550404")
    assert DateEnrolment.objects.get(fan=told).birthday_use_stated
    # Cancelling the last birthday text takes the sentence off the form again.
    dates.date_message_cancel(message=message, actor=personas.manager)
    talent.refresh_from_db()
    assert not talent.birth_date_for_birthday
    assert set(DateEnrolment.objects.values_list("status", flat=True)) == {"cancelled"}


def test_fans_who_joined_before_the_message_existed_are_not_back_filled(personas, backend, clock):
    clock.at(_local(dt.date(2026, 6, 1)))
    early = join(personas, "+14155550405", birth_date=dt.date(1999, 6, 2))
    _live(personas)
    _live(personas, kind=DateMessage.Kind.DAYS_AFTER_JOIN, days=1, body="One day in")
    assert not DateEnrolment.objects.filter(fan=early).exists()
    clock.advance(days=3)
    assert run(clock, backend) == []
    assert not OutboundMessage.objects.filter(fan=early).exists()


def test_n_days_after_joining_at_the_fans_local_hour_once(personas, backend, clock):
    clock.at(_local(dt.date(2026, 6, 10), dt.time(22, 30)))  # joined late in the evening, local
    _live(personas, kind=DateMessage.Kind.DAYS_AFTER_JOIN, days=3, body="Three days with us")
    fan = join(personas, "+14155550406")
    due = DateEnrolment.objects.get(fan=fan).next_due_at
    assert due == _local(dt.date(2026, 6, 13))
    clock.at(due - dt.timedelta(minutes=1))
    assert run(clock, backend) == []
    clock.at(due + dt.timedelta(minutes=1))
    assert run(clock, backend) == ["Three days with us"]
    clock.advance(days=1)
    assert run(clock, backend) == []
    enrolment = DateEnrolment.objects.get(fan=fan)
    assert enrolment.status == "done"
    assert list(DateSend.objects.filter(fan=fan).values_list("occurrence", flat=True)) == ["2026-06-13"]


def test_a_missed_day_is_skipped_not_sent_late(personas, backend, clock):
    clock.at(_local(dt.date(2026, 6, 1)))
    _live(personas)
    join(personas, "+14155550407", birth_date=dt.date(1999, 6, 2))
    clock.at(_local(dt.date(2026, 6, 3), dt.time(12, 0)))  # the system was down for a day
    assert run(clock, backend) == []
    assert DateEnrolment.objects.get().next_due_at == _local(dt.date(2027, 6, 2))


def test_paused_sends_nothing_a_stopped_fan_gets_nothing(personas, backend, clock):
    clock.at(_local(dt.date(2026, 6, 1)))
    message = _live(personas)
    fan = join(personas, "+14155550408", birth_date=dt.date(1999, 6, 2))
    other = join(personas, "+14155550409", birth_date=dt.date(1999, 6, 2))
    dates.date_message_pause(message=message, actor=personas.manager)
    clock.at(_local(dt.date(2026, 6, 2), dt.time(10, 1)))
    assert run(clock, backend) == []
    assert automations_upcoming(talent_ids={personas.talent.pk})[0]["note"].startswith("paused")
    dates.date_message_resume(message=message, actor=personas.manager)
    type(fan).objects.filter(pk=other.pk).update(status="opted_out")
    assert len(run(clock, backend)) == 1
    assert DateEnrolment.objects.get(fan=other).status == "stopped"
    assert backend.sent[0].to == str(fan.phone)


def test_days_after_joining_needs_a_number_of_days():
    with pytest.raises(ValidationError):
        dates.date_message_check(kind=DateMessage.Kind.DAYS_AFTER_JOIN, days=None)
    dates.date_message_check(kind=DateMessage.Kind.BIRTHDAY, days=None)
