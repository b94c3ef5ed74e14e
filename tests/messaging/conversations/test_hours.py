"""Business hours per talent and the out-of-hours acknowledgement (issue 13 §2): once per
conversation per out-of-hours period, on the priority lane, only for real replies, never to a fan
who is not active, shown in the inbox."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.urls import reverse

from accounts.models import Fan
from messaging.conversations import assignment, hours
from messaging.conversations.models import Conversation, InboxSettings
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import text_in

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# Tuesday 1 December 2026; the talent works Monday-Friday 09:00-18:00 America/New_York (UTC-5).
TUESDAY_10_NY = dt.datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TUESDAY_1830_NY = dt.datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
TUESDAY_2200_NY = dt.datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
WEDNESDAY_1830_NY = dt.datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
SATURDAY_NOON_NY = dt.datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
AWAY = "Thanks! We're away until 9am and will answer then."


def at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


@pytest.fixture
def away(personas) -> InboxSettings:
    personas.talent.default_time_zone = "America/New_York"
    personas.talent.save()
    settings = assignment.inbox_settings_for(personas.talent.pk)
    settings.away_enabled, settings.away_text = True, AWAY
    settings.save()
    return settings


def _away_texts():
    return list(OutboundMessage.objects.filter(body=AWAY).order_by("pk"))


def test_hours_state_open_closed_and_next_opening(personas, away):
    talent = personas.talent
    assert hours.hours_state(away, talent=talent, now=TUESDAY_10_NY).open
    evening = hours.hours_state(away, talent=talent, now=TUESDAY_1830_NY)
    assert not evening.open
    assert evening.closed_since == dt.datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # Tue 18:00 New York
    assert evening.opens_at == dt.datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # Wed 09:00 New York
    weekend = hours.hours_state(away, talent=talent, now=SATURDAY_NOON_NY)
    assert weekend.closed_since == dt.datetime(2026, 12, 4, 23, 0, tzinfo=UTC)  # Friday's close
    assert weekend.opens_at == dt.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # Monday 09:00
    away.business_days = ""
    assert hours.hours_state(away, talent=talent, now=SATURDAY_NOON_NY).open  # no hours set: never "away"


def test_one_acknowledgement_per_out_of_hours_period(client, personas, away, sms_outbox):
    phone = str(personas.fan.phone)
    with at(TUESDAY_1830_NY):
        text_in(client, personas.talent, "Are you there?", phone)
    with at(TUESDAY_2200_NY):
        text_in(client, personas.talent, "Hello??", phone)  # the same night: nothing more
    sent = _away_texts()
    assert len(sent) == 1 and sent[0].kind == "reply" and sent[0].sent_by is None
    assert sent[0].lane == OutboundMessage.Lane.PERSONAL and sent[0].status == "queued"
    assert [m.body for m in sms_outbox].count(AWAY) == 1
    with at(TUESDAY_10_NY + dt.timedelta(days=1)):
        text_in(client, personas.talent, "Morning!", phone)  # within hours: none
    with at(WEDNESDAY_1830_NY):
        text_in(client, personas.talent, "Me again tonight", phone)  # a new out-of-hours period
    assert len(_away_texts()) == 2
    conversation = Conversation.objects.get(fan=personas.fan)
    assert conversation.last_reply_id is None  # an automatic text is not the team's answer
    assert conversation.waiting_since is not None  # the fan still waits for a person


def test_no_acknowledgement_within_hours_or_when_turned_off(client, personas, away):
    with at(TUESDAY_10_NY):
        text_in(client, personas.talent, "Hi", str(personas.fan.phone))
    away.away_enabled = False
    away.save()
    with at(TUESDAY_1830_NY):
        text_in(client, personas.talent, "Hi again", str(personas.fan.phone))
    assert _away_texts() == []


@pytest.mark.parametrize("body", ["STOP", "HELP", "START", "INFO"])
def test_keywords_get_no_acknowledgement(client, personas, away, body):
    with at(TUESDAY_1830_NY):
        text_in(client, personas.talent, body, str(personas.fan.phone))
    assert _away_texts() == []


def test_no_acknowledgement_to_strangers_or_fans_who_are_not_active(client, personas, away):
    with at(TUESDAY_1830_NY):
        text_in(client, personas.talent, "who is this", "+14155559111")  # a stranger: a join link only
        Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.OPTED_OUT)
        text_in(client, personas.talent, "hey", str(personas.fan.phone))
    assert _away_texts() == []
    # A held fan (a text that may mean stop) reaches the inbox but is never texted automatically.
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.HELD)
    message = InboundMessage.objects.filter(fan=personas.fan).first()
    conversation = Conversation.objects.create(talent=personas.talent, fan=personas.fan)
    with at(TUESDAY_1830_NY):
        assert hours.away_text_for(conversation, message, settings=away) is None


def test_a_conversation_blocked_as_spam_gets_no_acknowledgement(client, personas, away):
    from messaging.conversations import services

    with at(TUESDAY_10_NY):
        text_in(client, personas.talent, "buy followers", str(personas.fan.phone))
    conversation = Conversation.objects.get(fan=personas.fan)
    services.conversation_block_spam(conversation=conversation, user=personas.agent)
    with at(TUESDAY_1830_NY):
        text_in(client, personas.talent, "buy followers now", str(personas.fan.phone))
    assert _away_texts() == []


def test_the_inbox_shows_business_hours(client, personas, away):
    client.force_login(personas.agent)
    with at(TUESDAY_1830_NY):
        html = client.get(reverse("admin:messaging_conversation_changelist")).content.decode()
    assert "Outside business hours. Opens Wed 09:00 (America/New_York)." in html
    assert "acknowledgement text" in html
    with at(TUESDAY_10_NY):
        html = client.get(reverse("admin:messaging_conversation_changelist")).content.decode()
    assert "open until 18:00 (America/New_York)" in html


def test_the_settings_form_refuses_bad_hours_with_a_message(client, personas, away):
    client.force_login(personas.manager)
    response = client.get(reverse("admin:messaging_conversation_settings"))
    assert response.status_code == 302
    url = response["Location"]
    data = {
        "days": ["1", "2"],
        "opens_at": "18:00",
        "closes_at": "09:00",
        "member_cap": "5",
        "away_enabled": "on",
        "away_text": AWAY,
    }
    response = client.post(url, {**data, "closes_at": "18:00"})
    assert response.status_code == 200 and "leaves no hours" in response.content.decode()
    response = client.post(url, {**data, "opens_at": "08:00", "closes_at": "17:00", "holiday_dates": "Xmas"})
    assert response.status_code == 200 and "&#x27;Xmas&#x27; is not a date" in response.content.decode()
    response = client.post(url, {**data, "days": [], "opens_at": "08:00", "closes_at": "17:00"})
    assert "Tick the business days first" in response.content.decode()
    response = client.post(url, {**data, "opens_at": "08:00", "closes_at": "17:00", "auto_assign": "on"})
    assert response.status_code == 302
    away.refresh_from_db()
    assert (away.business_days, away.opens_at, away.member_cap, away.auto_assign) == ("1,2", dt.time(8), 5, True)
    response = client.post(url, {**data, "holiday_dates": "2026-12-25\n2026-12-24, 2026-12-25"})  # 18:00-09:00
    assert response.status_code == 302
    away.refresh_from_db()
    assert (away.opens_at, away.closes_at, away.holidays) == (dt.time(18), dt.time(9), ["2026-12-24", "2026-12-25"])
    client.force_login(personas.agent)  # agents answer fans; the rules are the managers'
    assert client.get(reverse("admin:messaging_conversation_settings")).status_code == 403
    assert client.post(url, data).status_code == 403


def test_an_overnight_shift_ends_the_next_morning(personas, away):
    away.opens_at, away.closes_at = dt.time(22), dt.time(2)  # Mon-Fri nights, New York
    talent = personas.talent
    assert hours.hours_state(away, talent=talent, now=TUESDAY_2200_NY).open  # Tue 22:00
    after_midnight = dt.datetime(2026, 12, 2, 6, 30, tzinfo=UTC)  # Wed 01:30: Tuesday's shift
    assert hours.hours_state(away, talent=talent, now=after_midnight).open
    morning = hours.hours_state(away, talent=talent, now=dt.datetime(2026, 12, 2, 8, 0, tzinfo=UTC))  # Wed 03:00
    assert not morning.open
    assert morning.closed_since == dt.datetime(2026, 12, 2, 7, 0, tzinfo=UTC)  # Wed 02:00
    assert morning.opens_at == dt.datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # Wed 22:00
    saturday_1am = dt.datetime(2026, 12, 5, 6, 0, tzinfo=UTC)  # Friday's shift runs into Saturday
    assert hours.hours_state(away, talent=talent, now=saturday_1am).open
    assert not hours.hours_state(away, talent=talent, now=SATURDAY_NOON_NY).open


def test_a_holiday_is_out_of_hours_all_day_and_fans_get_the_acknowledgement(client, personas, away):
    away.holidays = ["2026-12-01"]  # Tuesday
    away.save()
    talent = personas.talent
    state = hours.hours_state(away, talent=talent, now=TUESDAY_10_NY)
    assert not state.open
    assert state.closed_since == dt.datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # Monday 18:00
    assert state.opens_at == dt.datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # Wednesday 09:00
    with at(TUESDAY_10_NY):
        text_in(client, talent, "Are you there?", str(personas.fan.phone))
        client.force_login(personas.agent)
        html = client.get(reverse("admin:messaging_conversation_changelist")).content.decode()
    assert [m.fan_id for m in _away_texts()] == [personas.fan.pk]
    assert "Closed today (a holiday)." in html
    assert hours.hours_state(away, talent=talent, now=WEDNESDAY_1830_NY - dt.timedelta(hours=8)).open  # Wed 10:30
