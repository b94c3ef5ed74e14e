"""The reply figures count real replies only: STOP, HELP, START, data keyword and join texts never
count, and "done without a reply" is counted apart from answered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import TestCase
from django.utils import timezone

from messaging.conversations import services
from messaging.conversations.figures import reply_figures
from messaging.conversations.models import Conversation, Episode
from tests.accounts.join_support import text_in
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign, create_campaign_text

pytestmark = pytest.mark.django_db


def _window():
    now = timezone.now()
    return now - dt.timedelta(days=7), now + dt.timedelta(minutes=1)


def _answer(conversation, user):
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.conversation_reply(conversation=conversation, user=user, body="Thanks!", seen_reply_id=None)


def test_keywords_join_texts_and_strangers_never_count(client, personas):
    phone = str(personas.fan.phone)
    for body in ("STOP", "START", "HELP", "INFO", "MYDATA"):
        text_in(client, personas.talent, body, phone)
    for n in range(3):
        text_in(client, personas.talent, "join", f"+1415555{8000 + n}")
    figures = reply_figures(personas.talent, *_window())
    assert figures["opened"] == 0 and figures["real_replies"] == 0 and figures["unanswered_now"] == 0
    assert figures["median_seconds"] is None and figures["answered_within_1h"] is None
    text_in(client, personas.talent, "ok now a real question", phone)
    figures = reply_figures(personas.talent, *_window())
    assert figures["opened"] == 1 and figures["real_replies"] == 1 and figures["unanswered_now"] == 1


def test_answered_done_without_reply_and_waiting_are_apart(client, personas):
    fans = [create_fan(personas.talent) for _ in range(3)]
    for fan in fans:
        text_in(client, personas.talent, "hi", str(fan.phone))
    answered, closed, waiting = (Conversation.objects.get(fan=f) for f in fans)
    _answer(answered, personas.agent)
    services.conversation_done(conversation=closed, user=personas.agent)
    figures = reply_figures(personas.talent, *_window())
    assert (figures["opened"], figures["answered"], figures["done_without_reply"], figures["still_waiting"]) == (
        3,
        1,
        1,
        1,
    )
    assert figures["answered_within_1h"] == pytest.approx(1 / 3)
    assert figures["unanswered_now"] == 1 and figures["oldest_unanswered_at"] == waiting.waiting_since
    assert figures["per_member"][0]["username"] == "ada_agent" and figures["per_member"][0]["answered"] == 1


def test_median_p90_and_shares(personas):
    now = timezone.now()
    waits_minutes = [10, 20, 30, 40, 50, 60 * 2, 60 * 30, 60 * 5, 15, 25]
    for minutes in waits_minutes:
        Episode.objects.create(
            talent=personas.talent,
            opened_at=now - dt.timedelta(days=2),
            closed_at=now - dt.timedelta(days=2) + dt.timedelta(minutes=minutes),
            outcome="answered",
        )
    Episode.objects.create(talent=personas.talent, opened_at=now - dt.timedelta(days=30), outcome="waiting")  # outside
    figures = reply_figures(personas.talent, now - dt.timedelta(days=7), now)
    ordered = sorted(m * 60 for m in waits_minutes)
    assert figures["median_seconds"] == pytest.approx((ordered[4] + ordered[5]) / 2)
    assert figures["p90_seconds"] == pytest.approx(ordered[8] + (ordered[9] - ordered[8]) * 0.1)
    assert figures["opened"] == 10
    assert figures["answered_within_1h"] == pytest.approx(0.7)
    assert figures["answered_within_24h"] == pytest.approx(0.9)


def test_reply_rate_per_campaign(client, personas):
    campaign = create_campaign(personas.talent, name="Tour")
    fans = [create_fan(personas.talent) for _ in range(4)]
    for fan in fans:
        create_campaign_text(campaign, fan)
    text_in(client, personas.talent, "yes!!", str(fans[0].phone))
    text_in(client, personas.talent, "so excited", str(fans[0].phone))
    text_in(client, personas.talent, "STOP", str(fans[1].phone))  # an answer to the campaign, not a reply
    text_in(client, personas.talent, "where?", str(fans[2].phone))
    [row] = reply_figures(personas.talent, *_window())["per_campaign"]
    assert row["name"] == "Tour" and row["replying_fans"] == 2 and row["real_replies"] == 3
    assert row["recipients"] == 4 and row["reply_rate"] == pytest.approx(0.5)


def test_themes_of_the_replies_to_a_campaign(client, personas):
    from messaging.conversations.themes import campaign_themes

    campaign = create_campaign(personas.talent, name="Tour")
    bodies = ["The tickets are too expensive", "Where can I buy tickets?", "Tickets for Paris please", "love the song"]
    fans = [create_fan(personas.talent) for _ in bodies]
    for fan in fans:
        create_campaign_text(campaign, fan)
    for fan, body in zip(fans, bodies, strict=True):
        text_in(client, personas.talent, body, str(fan.phone))
    text_in(client, personas.talent, "STOP", str(fans[0].phone))  # never a theme
    themes = campaign_themes(campaign)
    assert themes[0].word == "tickets" and themes[0].replies == 3 and len(themes[0].samples) == 3
    words = {t.word for t in themes}
    assert "the" not in words and "stop" not in words and "song" in words
    client.force_login(personas.agent)
    page = client.get("/admin/messaging/conversation/", {"folder": "campaign", "campaign": campaign.pk})
    assert "q=tickets" in page.content.decode()
    found = client.get(
        "/admin/messaging/conversation/", {"folder": "campaign", "campaign": campaign.pk, "q": "tickets"}
    )
    assert len(found.context["rows"]) == 3


def test_a_campaign_that_sent_nothing_has_no_themes(personas):
    from messaging.conversations.themes import campaign_themes

    assert campaign_themes(create_campaign(personas.talent)) == []


def test_the_campaign_folder_reads_a_themes_snapshot_recounted_by_a_task(
    client, personas, monkeypatch, django_capture_on_commit_callbacks
):
    """The page never waits for the count: a small campaign is counted on first look, a stale
    snapshot is shown while one task (not one per viewer) recounts it, and samples are read live
    (an erased fan's text never shows from the snapshot)."""
    from django.core.cache import cache

    from messaging import tasks
    from messaging.conversations import themes as themes_module
    from messaging.conversations.models import CampaignThemes
    from messaging.privacy.services import fan_erase

    cache.clear()
    queued = []
    monkeypatch.setattr(themes_module, "_enqueue", queued.append)
    campaign = create_campaign(personas.talent, name="Tour")
    fans = [create_fan(personas.talent) for _ in range(3)]
    for fan in fans:
        create_campaign_text(campaign, fan, status="sent")
    text_in(client, personas.talent, "tickets please", str(fans[0].phone))
    text_in(client, personas.talent, "tickets for Oslo", str(fans[1].phone))
    view = themes_module.themes_for_page(campaign)
    assert not view.refreshing and view.themes[0].word == "tickets" and view.themes[0].replies == 2
    assert CampaignThemes.objects.get(campaign=campaign).replies == 2 and not queued

    text_in(client, personas.talent, "tickets tickets", str(fans[2].phone))
    later = timezone.now() + dt.timedelta(seconds=themes_module.THEMES_FRESH_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        stale = themes_module.themes_for_page(campaign, now=later)
        again = themes_module.themes_for_page(campaign, now=later)
    assert stale.refreshing and again.refreshing and stale.themes[0].replies == 2  # the old counts, shown
    assert queued == [campaign.pk]  # one recount queued for both looks
    tasks.refresh_campaign_themes(campaign.pk)
    assert themes_module.themes_for_page(campaign).themes[0].replies == 3

    fan_erase(fan=fans[1])
    samples = themes_module.themes_for_page(campaign).themes[0].samples
    assert "tickets for Oslo" not in samples and "tickets please" in samples

    big, newcomer = create_campaign(personas.talent, name="Big"), create_fan(personas.talent)
    create_campaign_text(big, newcomer, body="Big!", status="sent")
    text_in(client, personas.talent, "wow", str(newcomer.phone))
    monkeypatch.setattr(themes_module, "INLINE_REPLIES", 0)  # too many replies to count in the request
    with django_capture_on_commit_callbacks(execute=True):
        view = themes_module.themes_for_page(big)
    assert view.refreshing and view.themes == [] and queued[-1] == big.pk
    client.force_login(personas.agent)
    page = client.get("/admin/messaging/conversation/", {"folder": "campaign", "campaign": big.pk})
    assert "Counting the latest replies" in page.content.decode()
