"""Polls: replies within the window that match an answer are votes (one per fan, the last wins)
and open no conversation; other replies go to the inbox; the tally and its CSV."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from messaging.conversations.models import Conversation, Poll, Vote
from messaging.conversations.polls import normalise, poll_tally
from messaging.models import OutboundMessage
from messaging.privacy.services import fan_erase
from tests.accounts.join_support import text_in
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def poll(personas):
    campaign = create_campaign(personas.talent, name="Where next?")
    poll = Poll.objects.create(
        campaign=campaign,
        question="Where should the tour go next?",
        options=[
            {"key": "1", "label": "Paris", "keywords": ["paris"]},
            {"key": "2", "label": "Tokyo", "keywords": ["tokyo"]},
        ],
        window_hours=48,
    )
    return poll


def _send(poll, fan):
    return OutboundMessage.objects.create(
        talent=poll.campaign.talent,
        fan=fan,
        campaign=poll.campaign,
        to_number=str(fan.phone),
        body="Where next? Reply 1 Paris, 2 Tokyo",
        status="delivered",
    )


def test_normalise():
    assert normalise("  2! ") == "2" and normalise("Paris.") == "paris" and normalise("🎉") == ""


def test_votes_one_per_fan_last_wins_and_open_nothing(client, personas, poll):
    fans = [personas.fan, create_fan(personas.talent), create_fan(personas.talent)]
    for fan in fans:
        _send(poll, fan)
    text_in(client, personas.talent, "1", str(fans[0].phone))
    text_in(client, personas.talent, "Tokyo!", str(fans[0].phone))  # changed their mind: the last one wins
    text_in(client, personas.talent, " paris ", str(fans[1].phone))
    text_in(client, personas.talent, "I'd love Berlin", str(fans[2].phone))  # not a vote: the inbox
    assert Vote.objects.count() == 2
    assert Vote.objects.get(fan=fans[0]).option == "2" and Vote.objects.get(fan=fans[0]).changes == 1
    assert list(Conversation.objects.values_list("fan_id", flat=True)) == [fans[2].pk]
    assert [(r["label"], r["votes"]) for r in poll_tally(poll)] == [("Paris", 1), ("Tokyo", 1)]


def test_keywords_are_not_votes_and_late_replies_go_to_the_inbox(client, personas, poll):
    sent = _send(poll, personas.fan)
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))
    assert not Vote.objects.exists()
    OutboundMessage.objects.filter(pk=sent.pk).update(created_at=sent.created_at - dt.timedelta(hours=49))
    text_in(client, personas.talent, "2", str(personas.fan.phone))
    assert not Vote.objects.exists() and Conversation.objects.filter(fan=personas.fan).exists()


def test_a_fan_who_did_not_get_the_poll_does_not_vote(client, personas, poll):
    text_in(client, personas.talent, "1", str(personas.fan.phone))
    assert not Vote.objects.exists() and Conversation.objects.exists()


def test_votes_are_erased_with_the_fan(client, personas, poll):
    _send(poll, personas.fan)
    text_in(client, personas.talent, "1", str(personas.fan.phone))
    fan_erase(fan=personas.fan)
    assert not Vote.objects.exists()


def test_the_poll_page_tally_and_csv(client, personas, poll):
    _send(poll, personas.fan)
    text_in(client, personas.talent, "=1", str(personas.fan.phone))
    client.force_login(personas.manager)
    html = client.get(reverse("admin:messaging_poll_change", args=[poll.pk])).content.decode()
    assert "Paris" in html and "Download the tally" in html
    csv = client.get(reverse("admin:messaging_poll_tally", args=[poll.pk])).content.decode()
    assert csv.splitlines() == ["answer,label,votes", '"1","Paris","1"', '"2","Tokyo","0"']
    client.force_login(personas.other_manager)
    assert client.get(reverse("admin:messaging_poll_tally", args=[poll.pk])).status_code == 404
    inbox = client.get(
        reverse("admin:messaging_conversation_changelist"), {"folder": "campaign", "campaign": poll.campaign_id}
    )
    assert inbox.context["folder"] == "open"  # another talent's campaign folder is not shown


def test_the_poll_form_reads_answers(client, personas, poll):
    client.force_login(personas.manager)
    campaign = create_campaign(personas.talent, name="Second")
    url = reverse("admin:messaging_poll_add")
    bad = client.post(url, {"campaign": campaign.pk, "question": "Q?", "answers": "1 = A", "window_hours": 24})
    assert bad.status_code == 200 and "at least two answers" in bad.content.decode()
    dup = client.post(
        url, {"campaign": campaign.pk, "question": "Q?", "answers": "1 = A | a\n2 = B | a", "window_hours": 24}
    )
    assert "already counts" in dup.content.decode()
    ok = client.post(
        url,
        {"campaign": campaign.pk, "question": "Q?", "answers": "1 = Yes | yes, y\n2 = No | no, n", "window_hours": 24},
    )
    assert ok.status_code == 302
    assert Poll.objects.get(campaign=campaign).options[0] == {"key": "1", "label": "Yes", "keywords": ["yes", "y"]}
