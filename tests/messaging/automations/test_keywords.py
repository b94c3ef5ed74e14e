"""Keyword automations (issue 14 §1), played through the signed inbound webhook and the real signup."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Fan
from messaging.automations.keyword_models import FanKeyword, Keyword, KeywordReply
from messaging.automations.keywords import (
    keyword_index,
    keyword_play,
    keyword_send_to_me,
    keyword_text,
    keyword_words_clean,
    qr_svg,
    share_link,
)
from messaging.models import ContactList, FanTag, InboundMessage, OutboundMessage, Tag
from messaging.privacy.services import fan_erase
from tests.accounts.join_support import ASK_EVERYTHING, committing, link_in, publish_documents, signup_data, text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db
STRANGER = "+14155552671"


@pytest.fixture
def tour(personas):
    talent = personas.talent
    keyword = Keyword.objects.create(
        talent=talent,
        word="tour",
        aliases="tours, gira",
        add_to_list=ContactList.objects.create(talent=talent, name="Tour fans"),
        reply="Tour dates: nova.example.com/tour",
    )
    keyword.tags.set([Tag.objects.create(talent=talent, name="tour-2027")])
    return keyword


def _bodies(outbox, to):
    return [m.body for m in outbox if m.to == str(to)]


# --- the order of rules: the platform's words always win -------------------------------------------
@pytest.mark.parametrize("word", ["STOP", "stop all", "Unsubscribe", "START", "help", "INFO", "MYDATA", "baja", "end"])
def test_reserved_words_cannot_be_keywords(personas, word):
    with pytest.raises(ValidationError) as caught:
        keyword_words_clean(talent=personas.talent, word=word, aliases="")
    assert "platform's own words" in str(caught.value)


def test_a_reserved_alias_and_another_keywords_word_are_refused_by_field(personas, tour):
    with pytest.raises(ValidationError) as caught:
        keyword_words_clean(talent=personas.talent, word="merch", aliases="shop, HELP, gira")
    errors = caught.value.message_dict
    assert "HELP is one of the platform's own words" in errors["aliases"][0]
    assert "GIRA is already used by the keyword TOUR" in errors["aliases"][1]
    # Its own words are not a collision when the keyword is edited.
    assert keyword_words_clean(talent=personas.talent, word="Tour", aliases="TOURS", keyword_id=tour.pk) == [
        "tour",
        "tours",
    ]


def test_stop_tour_is_an_opt_out_even_with_a_tour_keyword(client, personas, tour, sms_outbox):
    text_in(client, personas.talent, "STOP TOUR", personas.fan.phone)
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert InboundMessage.objects.get().action == InboundMessage.Action.OPT_OUT
    assert not KeywordReply.objects.exists()
    bodies = _bodies(sms_outbox, personas.fan.phone)
    assert len(bodies) == 1 and "Tour dates" not in bodies[0]  # the opt-out confirmation only


# --- a member texts the keyword ---------------------------------------------------------------------
@pytest.mark.parametrize("body", ["TOUR", "  tour ", "Tour please!", "tours", "GIRA"])
def test_a_member_texting_the_keyword_runs_it(client, personas, tour, sms_outbox, body):
    text_in(client, personas.talent, body, personas.fan.phone)
    fan = personas.fan
    assert InboundMessage.objects.get().action == InboundMessage.Action.KEYWORD
    assert tour.add_to_list.fans.filter(pk=fan.pk).exists()
    assert FanTag.objects.filter(fan=fan, tag__name="tour-2027").exists()
    assert _bodies(sms_outbox, fan.phone) == ["Tour dates: nova.example.com/tour"]
    reply = OutboundMessage.objects.get(fan=fan)
    assert reply.lane == OutboundMessage.Lane.PERSONAL and reply.campaign_id is None  # the priority lane
    tour.refresh_from_db()
    assert tour.uses_count == 1 and tour.joins_count == 0


def test_the_auto_reply_goes_at_most_once_a_day_per_fan(client, personas, tour, sms_outbox):
    for _ in range(3):
        text_in(client, personas.talent, "TOUR", personas.fan.phone)
    assert len(_bodies(sms_outbox, personas.fan.phone)) == 1
    tour.refresh_from_db()
    assert tour.uses_count == 3
    # The fan's next local day: the reply goes again (one row per (keyword, fan, local date)).
    tomorrow = timezone.now() + dt.timedelta(days=1)
    outcome = committing(keyword_text, talent=personas.talent, fan=personas.fan, keyword_id=tour.pk, now=tomorrow)
    assert outcome.replies == [tour.reply]
    assert KeywordReply.objects.filter(keyword=tour, fan=personas.fan).count() == 2


def test_capacity_takes_the_first_fans_then_answers_full(client, personas, tour, sms_outbox):
    tour.capacity, tour.full_reply = 1, "Sorry, all places are taken."
    tour.save()
    second = create_fan(personas.talent, "+14155550177")
    text_in(client, personas.talent, "TOUR", personas.fan.phone)
    text_in(client, personas.talent, "TOUR", second.phone)
    text_in(client, personas.talent, "TOUR", personas.fan.phone)  # the first fan keeps their place
    assert _bodies(sms_outbox, second.phone) == ["Sorry, all places are taken."]
    assert not tour.add_to_list.fans.filter(pk=second.pk).exists()
    tour.refresh_from_db()
    assert tour.entrants_count == 1


def test_a_paused_or_ended_keyword_does_nothing(client, personas, tour, sms_outbox):
    tour.is_paused = True
    tour.save()
    text_in(client, personas.talent, "TOUR", personas.fan.phone)
    tour.is_paused, tour.ends_at = False, timezone.now() - dt.timedelta(minutes=1)
    tour.save()
    text_in(client, personas.talent, "TOUR", personas.fan.phone)
    assert set(InboundMessage.objects.values_list("action", flat=True)) == {InboundMessage.Action.INBOX}
    assert sms_outbox == [] and not tour.add_to_list.fans.exists()
    assert keyword_index(talent=personas.talent) == {}


def test_an_opted_out_or_held_fan_gets_nothing(client, personas, tour, sms_outbox):
    gone = create_fan(personas.talent, "+14155550178", status=Fan.Status.OPTED_OUT)
    held = create_fan(personas.talent, "+14155550179", status=Fan.Status.HELD)
    text_in(client, personas.talent, "TOUR", gone.phone)
    text_in(client, personas.talent, "TOUR", held.phone)
    assert sms_outbox == []
    assert not tour.add_to_list.fans.exists() and not FanTag.objects.exists()
    assert not FanKeyword.objects.exists()
    # Called directly, the service refuses too.
    assert keyword_text(talent=personas.talent, fan=gone, keyword_id=tour.pk).replies == []


# --- a number that has not joined -------------------------------------------------------------------
def test_an_unjoined_keyword_gets_the_link_is_remembered_and_runs_on_join(client, personas, tour, sms_outbox):
    personas.talent.signup_fields = ASK_EVERYTHING
    personas.talent.save()
    docs = publish_documents(personas.talent)
    text_in(client, personas.talent, "tour", STRANGER)
    text_in(client, personas.talent, "TOUR", STRANGER)
    assert len(sms_outbox) == 1 and "Join here" in sms_outbox[0].body  # one link per link lifetime
    fan = Fan.objects.get(talent=personas.talent, phone=STRANGER)
    assert fan.status == Fan.Status.PENDING
    assert FanKeyword.objects.get(fan=fan).word == "tour"
    assert not tour.add_to_list.fans.exists()  # nothing runs before joining

    response = committing(client.post, link_in(sms_outbox[0].body), signup_data(*docs), REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302
    fan.refresh_from_db()
    assert fan.status == Fan.Status.ACTIVE
    assert tour.add_to_list.fans.filter(pk=fan.pk).exists()
    assert "Tour dates: nova.example.com/tour" in _bodies(sms_outbox, STRANGER)
    kept = FanKeyword.objects.get(fan=fan)
    assert kept.joined_at is not None and kept.keyword == tour  # the keyword the fan joined with
    tour.refresh_from_db()
    assert tour.uses_count == 2 and tour.joins_count == 1


def test_a_join_runs_the_remembered_keyword_once(personas, tour, sms_outbox):
    from messaging.automations.joins import on_fan_joined

    fan = create_fan(personas.talent, "+14155550180")
    FanKeyword.objects.create(fan=fan, keyword=tour, word="tour")
    committing(on_fan_joined, fan=fan, source="console")
    committing(on_fan_joined, fan=fan, source="console")
    assert _bodies(sms_outbox, fan.phone) == [tour.reply]
    tour.refresh_from_db()
    assert tour.joins_count == 1


# --- the console's helpers -------------------------------------------------------------------------
def test_share_link_and_qr_code(personas, tour):
    link = share_link(tour)
    assert link == f"sms:{personas.talent.sender_number}?&body=TOUR"
    svg = qr_svg(link)
    assert svg.startswith("<svg") and "<script" not in svg


def test_play_as_a_fan_sends_and_stores_nothing(personas, tour, sms_outbox):
    play = keyword_play(keyword=tour)
    assert play.as_member == [tour.reply]
    assert "Join here: <signup link>" in play.as_stranger[0]
    assert sms_outbox == [] and not OutboundMessage.objects.exists() and not KeywordReply.objects.exists()


def test_send_to_me_needs_a_number_and_marks_the_text_as_a_test(personas, tour, sms_outbox):
    with pytest.raises(ValidationError, match="We do not know your phone number"):
        keyword_send_to_me(keyword=tour, to_number="", actor=personas.manager)
    committing(keyword_send_to_me, keyword=tour, to_number="+14155550199", actor=personas.manager)
    assert _bodies(sms_outbox, "+14155550199") == ["[TEST] " + tour.reply]


def test_erasure_removes_the_keyword_the_fan_joined_with(personas, tour):
    FanKeyword.objects.create(fan=personas.fan, keyword=tour, word="tour")
    committing(keyword_text, talent=personas.talent, fan=personas.fan, keyword_id=tour.pk)
    fan_erase(fan=personas.fan)
    assert not FanKeyword.objects.exists() and not KeywordReply.objects.exists()


def test_a_reply_for_a_fan_no_longer_active_when_the_lane_claims_it_is_not_sent(personas, tour, sms_outbox):
    from django.db import transaction

    def run():
        with transaction.atomic():
            keyword_text(talent=personas.talent, fan=personas.fan, keyword_id=tour.pk)
            Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.HELD)  # a possible opt-out meanwhile

    committing(run)
    assert sms_outbox == []
    assert OutboundMessage.objects.get(fan=personas.fan).status == OutboundMessage.Status.SUPPRESSED
