"""Tracked links: /l/<code> redirects, records a click per recipient, dies after 90 days."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from messaging.campaigns.services import campaign_report, campaign_schedule
from messaging.models import Click, TrackedLink
from messaging.sending import engine as cs
from messaging.sending import worker
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_campaign(personas, backend, monkeypatch):
    now = timezone.now().replace(hour=18)
    monkeypatch.setattr(timezone, "now", lambda: now)
    create_fan(personas.talent, "+14156667000", first_name="Bo")
    campaign = create_campaign(personas.talent, body="Tickets: {link:https://tickets.example.com/nova?x=1} see you")
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=5)
    return campaign


def _link_in(body: str) -> str:
    return re.search(r"https://fans\.example\.com(/l/\S+)", body).group(1)


def test_each_recipient_gets_their_own_link_and_clicks_count_once_per_recipient(client, sent_campaign, backend):
    paths = [_link_in(m.body) for m in backend.sent]
    assert len(set(paths)) == 2
    for path in [paths[0], paths[0], paths[1]]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == "https://tickets.example.com/nova?x=1"
    assert Click.objects.count() == 3
    report = campaign_report(campaign=sent_campaign)
    assert report["clicks"] == 2 and report["click_rate"] == 1.0


def test_forged_or_unknown_codes_are_404(client, sent_campaign, backend):
    path = _link_in(backend.sent[0].body)
    assert client.get(path[:-1] + ("A" if path[-1] != "A" else "B")).status_code == 404
    assert client.get("/l/nothing").status_code == 404
    assert Click.objects.count() == 0


def test_codes_expire_after_90_days(client, sent_campaign, backend):
    link = TrackedLink.objects.get(campaign=sent_campaign)
    assert link.expires_at - link.created_at >= dt.timedelta(days=90) - dt.timedelta(seconds=1)
    TrackedLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(_link_in(backend.sent[0].body))
    assert response.status_code == 410
    assert b"expired" in response.content
    assert Click.objects.count() == 0
