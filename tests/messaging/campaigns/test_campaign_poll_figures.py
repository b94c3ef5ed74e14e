"""Issue 13, closing: a campaign's poll (each answer's votes and share as a bar, total votes, the
free-text themes) on the campaign page, its report (page, CSV, API) and its stored report once
archived. Campaigns sits below conversations: the poll registers a report section (apps.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.api_tokens import SCOPES, token_create
from accounts.models import TeamMember
from messaging.campaigns.reports import REPORT_SECTIONS, campaign_report
from messaging.conversations import themes as themes_module
from messaging.conversations.models import CampaignThemes, Poll, Vote
from messaging.conversations.polls import POLL_SECTION, poll_tally
from messaging.models import OutboundMessage
from messaging.privacy.retention import retention_apply
from messaging.privacy.services import fan_erase
from messaging.sending.archive import LocalStore, archive_messages
from tests.accounts.join_support import text_in
from tests.api.conftest import bearer
from tests.factories import create_fan, create_member
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
OPTIONS = [
    {"key": "1", "label": "Paris", "keywords": ["paris"]},
    {"key": "2", "label": "Tokyo", "keywords": ["tokyo"]},
    {"key": "3", "label": "Lima", "keywords": ["lima"]},
]


@pytest.fixture(autouse=True)
def _no_recount_tasks(monkeypatch):
    cache.clear()
    monkeypatch.setattr(themes_module, "_enqueue", lambda campaign_id: None)


def _poll_campaign(talent, name="Where next?"):
    campaign = create_campaign(talent, name=name, status="sending", started_at=timezone.now())
    return Poll.objects.create(campaign=campaign, question="Where should the tour go next?", options=OPTIONS)


def _send(poll, fan):
    OutboundMessage.objects.create(
        talent=poll.campaign.talent, fan=fan, campaign=poll.campaign, to_number=str(fan.phone),
        body="Where next? Reply 1 Paris, 2 Tokyo, 3 Lima", status="delivered", sent_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def voted(client, personas):
    """Four recipients: 1, 2 and 2 voted (one changed their mind to 2), one wrote free text."""
    poll = _poll_campaign(personas.talent)
    fans = [personas.fan] + [create_fan(personas.talent) for _ in range(3)]
    for fan in fans:
        _send(poll, fan)
    text_in(client, personas.talent, "1", str(fans[0].phone))
    text_in(client, personas.talent, "paris", str(fans[1].phone))
    text_in(client, personas.talent, "Tokyo!", str(fans[1].phone))  # the last one wins
    text_in(client, personas.talent, "2", str(fans[2].phone))
    text_in(client, personas.talent, "Berlin tickets please", str(fans[3].phone))  # free text: a theme
    return poll, fans


def _api(talent, owner):
    _, raw = token_create(talent=talent, actor=owner, name="test", scopes=sorted(SCOPES), expires_at=None)
    return bearer(raw)


def _sections(response):
    return [s["key"] for s in response.context["sections"]]


def test_the_campaign_page_and_report_show_the_tally_the_poll_page_shows(client, personas, voted):
    poll, fans = voted
    assert [(r["key"], r["votes"]) for r in poll_tally(poll)] == [("1", 1), ("2", 2), ("3", 0)]
    client.force_login(personas.agent)
    change = client.get(reverse("admin:messaging_campaign_change", args=[poll.campaign_id]))
    report = client.get(reverse("admin:messaging_campaign_report", args=[poll.campaign_id]))
    for response in (change, report):
        assert response.status_code == 200 and _sections(response) == ["poll"]
        html = response.content.decode()
        data = response.context["sections"][0]["data"]
        assert data["total_votes"] == 3 and "3 votes" in html and "Where should the tour go next?" in html
        assert [(a["key"], a["votes"], a["share_text"]) for a in data["answers"]] == [
            ("1", 1, "33%"), ("2", 2, "67%"), ("3", 0, "0%"),
        ]  # fmt: skip
        # The bar is a picture with words: its label says the share; its length is the share.
        assert 'role="img" aria-label="Tokyo: 67% of the votes"' in html and 'width="67"' in html
        # The free-text theme, linking to the campaign's inbox folder searched for it.
        link = f"?folder=campaign&amp;campaign={poll.campaign_id}&amp;q=berlin"
        assert link in html and {"word": "berlin", "replies": 1} in data["themes"]
        assert "Berlin tickets please" not in html  # themes are words and counts: no fan's text

    body = client.get(reverse("admin:messaging_campaign_report_csv", args=[poll.campaign_id])).content.decode()
    figures = dict(list(csv.reader(io.StringIO(body)))[1:])
    # The poll page's own CSV says the same.
    client.force_login(personas.manager)
    poll_csv = client.get(reverse("admin:messaging_poll_tally", args=[poll.pk])).content.decode().splitlines()
    assert poll_csv[1:] == ['"1","Paris","1"', '"2","Tokyo","2"', '"3","Lima","0"']
    assert figures["poll_total_votes"] == "3" and figures["poll_answer_2_votes"] == "2"
    assert figures["poll_answer_2_share"] == "0.6667" and figures["poll_theme_berlin"] == "1"

    api = _api(personas.talent, personas.owner).get(f"/api/v1/campaigns/{poll.campaign_id}/report/").json()
    assert api["poll"]["total_votes"] == 3 and [a["votes"] for a in api["poll"]["answers"]] == [1, 2, 0]
    assert {"word": "berlin", "replies": 1} in api["poll"]["themes"] and api["poll"]["themes_refreshing"] is False
    assert api["sent"] == 4  # the old keys are all still there


def test_a_stale_count_says_so_and_an_erased_fan_leaves_the_tally(client, personas, voted):
    poll, fans = voted
    themes_module.themes_refresh(poll.campaign_id)
    CampaignThemes.objects.filter(campaign=poll.campaign).update(computed_at=timezone.now() - dt.timedelta(hours=1))
    client.force_login(personas.agent)
    url = reverse("admin:messaging_campaign_report", args=[poll.campaign_id])
    assert "Counting the latest replies" in client.get(url).content.decode()
    fan_erase(fan=fans[2])
    assert client.get(url).context["sections"][0]["data"]["total_votes"] == 2


def test_a_campaign_without_a_poll_shows_nothing_extra(client, personas):
    campaign = create_campaign(personas.talent, name="Plain")
    client.force_login(personas.agent)
    for name in ("admin:messaging_campaign_change", "admin:messaging_campaign_report"):
        response = client.get(reverse(name, args=[campaign.pk]))
        assert response.context["sections"] == [] and "Poll:" not in response.content.decode()
    csv_text = client.get(reverse("admin:messaging_campaign_report_csv", args=[campaign.pk])).content.decode()
    assert "poll_" not in csv_text
    assert "poll" not in _api(personas.talent, personas.owner).get(f"/api/v1/campaigns/{campaign.pk}/report/").json()
    assert "poll" not in campaign_report(campaign=campaign)


def test_another_talents_campaign_answers_404(client, personas, voted):
    poll, _ = voted
    client.force_login(personas.other_manager)
    for name in (
        "admin:messaging_campaign_change", "admin:messaging_campaign_report", "admin:messaging_campaign_report_csv",
    ):  # fmt: skip
        assert client.get(reverse(name, args=[poll.campaign_id])).status_code == 404
    other_owner = create_member(personas.other_talent, TeamMember.Role.OWNER, "rival_owner").user
    other = _api(personas.other_talent, other_owner)
    assert other.get(f"/api/v1/campaigns/{poll.campaign_id}/report/").status_code == 404


def test_the_poll_registers_itself_and_the_headline_results_skip_it(voted):
    poll, _ = voted
    assert POLL_SECTION in REPORT_SECTIONS
    assert "poll" in campaign_report(campaign=poll.campaign)
    assert "poll" not in campaign_report(campaign=poll.campaign, sections=False)


def test_an_archived_campaigns_stored_report_keeps_the_poll(client, personas, tmp_path):
    """Issue 17 stores a campaign's whole report before its rows go: the poll is in it, final."""
    poll = _poll_campaign(personas.talent, name="Old poll")
    fans = [create_fan(personas.talent) for _ in range(3)]
    when = timezone.now() - dt.timedelta(days=440)
    for fan, option in zip(fans, ["1", "1", "3"], strict=True):
        _send(poll, fan)
        Vote.objects.create(poll=poll, fan=fan, option=option, voted_at=when)
    OutboundMessage.objects.filter(campaign=poll.campaign).update(created_at=when, sent_at=when, updated_at=when)
    type(poll.campaign).objects.filter(pk=poll.campaign_id).update(
        status="completed", started_at=when, finished_at=when + dt.timedelta(hours=1)
    )
    retention_apply()
    archive_messages(store=LocalStore(tmp_path))
    poll.campaign.refresh_from_db()
    assert poll.campaign.archived_report["poll"]["total_votes"] == 3
    assert not OutboundMessage.objects.filter(campaign=poll.campaign).exists()
    Vote.objects.filter(poll=poll).delete()  # the stored figures no longer need the rows
    client.force_login(personas.agent)
    for name in ("admin:messaging_campaign_change", "admin:messaging_campaign_report"):
        response = client.get(reverse(name, args=[poll.campaign_id]))
        data = response.context["sections"][0]["data"]
        assert [a["votes"] for a in data["answers"]] == [2, 0, 1] and not data["themes_refreshing"]
        assert "Counting the latest replies" not in response.content.decode()


def _json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema's null type, so jsonschema can check a response."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def test_the_api_report_with_a_poll_matches_the_openapi_schema(client, personas, voted):
    import jsonschema

    poll, _ = voted
    api = _api(personas.talent, personas.owner)
    spec = api.get("/api/v1/schema/?format=json").json()
    schema = _json_schema({"$ref": "#/components/schemas/Report", "components": spec["components"]})
    report = api.get(f"/api/v1/campaigns/{poll.campaign_id}/report/").json()
    jsonschema.validate(report, schema)
    assert "poll" in spec["components"]["schemas"]["Report"]["properties"]
    assert "poll" not in spec["components"]["schemas"]["Report"]["required"]  # optional: additive
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        jsonschema.validate({**report, "poll": {**report["poll"], "total_votes": "3"}}, schema)


def test_a_poll_nobody_answered_yet_says_so(client, personas):
    poll = _poll_campaign(personas.talent, name="Fresh")
    client.force_login(personas.agent)
    response = client.get(reverse("admin:messaging_campaign_report", args=[poll.campaign_id]))
    html = response.content.decode()
    assert "0 votes" in html and 'aria-label="Paris: no votes yet"' in html and "No free-text replies yet." in html
