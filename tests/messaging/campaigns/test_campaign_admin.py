"""The console: compose with preview and counter, buttons that call services, test send, report."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Campaign, OutboundMessage
from tests.messaging.campaign_fixtures import create_campaign, create_campaign_text

pytestmark = pytest.mark.django_db
CS = Campaign.Status


def _form(personas, **overrides) -> dict:
    data = {
        "talent": personas.talent.pk,
        "name": "Tour announcement",
        "body": "Hi {first_name}, tickets: {link:https://tickets.example.com}",
        "media_url": "",
        "schedule_mode": "now",
        "late_policy": "next_allowed",
        "relevance_hours": 10,
    }
    data.update(overrides)
    return data


def test_manager_composes_a_campaign(client, personas):
    client.force_login(personas.manager)
    response = client.post(reverse("admin:messaging_campaign_add"), _form(personas))
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.status == CS.DRAFT and campaign.created_by == personas.manager


def test_bad_merge_field_is_a_form_error(client, personas):
    client.force_login(personas.manager)
    response = client.post(reverse("admin:messaging_campaign_add"), _form(personas, body="Hi {frist_name}"))
    assert response.status_code == 200
    assert "not a merge field" in str(response.context["adminform"].form.errors["body"])
    assert not Campaign.objects.exists()


def test_send_at_is_entered_in_the_talents_zone(client, personas):
    personas.talent.default_time_zone = "Europe/Paris"
    personas.talent.save()
    client.force_login(personas.manager)
    data = _form(personas, schedule_mode="at", send_at_0="2030-07-01", send_at_1="10:00:00")
    response = client.post(reverse("admin:messaging_campaign_add"), data)
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.send_at.astimezone(timezone.get_fixed_timezone(0)).hour == 8  # 10:00 CEST = 08:00 UTC


def test_change_page_shows_preview_counter_recipients_and_cost(client, personas, settings):
    settings.SMS_SEGMENT_PRICE = 0.01
    campaign = create_campaign(personas.talent, body="Hi {first_name}! " + "x" * 200)
    client.force_login(personas.manager)
    response = client.get(reverse("admin:messaging_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    estimate = response.context["estimate"]
    assert estimate.preview.startswith("Hi Fiona! ")
    assert (estimate.info.encoding, estimate.info.parts, estimate.recipients) == ("GSM-7", 2, 1)
    assert estimate.cost == 0.02
    content = response.content.decode()
    assert "Hi Fiona!" in content and "Estimated cost" in content


def test_live_preview_endpoint(client, personas):
    campaign = create_campaign(personas.talent)
    client.force_login(personas.manager)
    url = reverse("admin:messaging_campaign_preview", args=[campaign.pk])
    data = client.post(url, {"body": "Hé {first_name} 🎸 {city}"}).json()
    assert data["encoding"] == "UCS-2" and data["preview"].startswith("Hé Fiona 🎸")
    assert data["recipients"] == 1 and data["errors"] == []
    assert client.post(url, {"body": "{oops}"}).json()["errors"]
    client.force_login(personas.other_manager)
    assert client.post(url, {"body": "x"}).status_code == 404


def test_buttons_schedule_then_second_member_approves(client, personas):
    personas.talent.approval_threshold = 0
    personas.talent.save()
    campaign = create_campaign(personas.talent)
    client.force_login(personas.manager)
    client.post(reverse("admin:messaging_campaign_action", args=[campaign.pk, "schedule"]))
    campaign.refresh_from_db()
    assert campaign.status == CS.AWAITING_APPROVAL
    response = client.post(reverse("admin:messaging_campaign_action", args=[campaign.pk, "approve"]), follow=True)
    assert "second team member" in response.content.decode()
    client.force_login(personas.owner)
    client.post(reverse("admin:messaging_campaign_action", args=[campaign.pk, "approve"]))
    campaign.refresh_from_db()
    assert campaign.status in (CS.SCHEDULED, CS.SENDING, CS.COMPLETED)
    assert campaign.approved_by == personas.owner


def test_agent_cannot_schedule_and_other_talent_gets_404(client, personas):
    campaign = create_campaign(personas.talent)
    client.force_login(personas.agent)
    client.post(reverse("admin:messaging_campaign_action", args=[campaign.pk, "schedule"]))
    campaign.refresh_from_db()
    assert campaign.status == CS.DRAFT
    client.force_login(personas.other_manager)
    response = client.post(reverse("admin:messaging_campaign_action", args=[campaign.pk, "schedule"]))
    assert response.status_code == 404
    assert client.get(reverse("admin:messaging_campaign_report", args=[campaign.pk])).status_code == 404


def test_pause_resume_cancel_list_actions(client, personas):
    campaign = create_campaign(personas.talent, status=CS.SCHEDULED)
    client.force_login(personas.manager)
    url = reverse("admin:messaging_campaign_changelist")
    client.post(url, {"action": "pause_selected", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == CS.PAUSED
    client.post(url, {"action": "resume_selected", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == CS.SCHEDULED
    client.post(url, {"action": "cancel_selected", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == CS.CANCELLED


def test_send_a_test_to_my_phone(client, personas, sms_outbox):
    campaign = create_campaign(personas.talent, body="Hi {first_name}, see you!")
    client.force_login(personas.manager)
    url = reverse("admin:messaging_campaign_test", args=[campaign.pk])
    client.post(url, {"phone": "+14155550199"})
    # The sender's own name in the merge fields (max_manager has no first name: the username).
    assert [(m.to, m.body) for m in sms_outbox] == [("+14155550199", "[TEST] Hi max_manager, see you!")]
    assert OutboundMessage.objects.filter(kind="system", to_number="+14155550199", status="queued").exists()
    response = client.post(url, {"phone": "not a phone"}, follow=True)
    assert "not a valid phone number" in response.content.decode()
    assert len(sms_outbox) == 1


def test_report_page(client, personas):
    campaign = create_campaign(personas.talent, status=CS.COMPLETED)
    create_campaign_text(campaign, personas.fan, body="", parts=2, sent_at=timezone.now())
    client.force_login(personas.analyst)
    response = client.get(reverse("admin:messaging_campaign_report", args=[campaign.pk]))
    assert response.status_code == 200
    report = response.context["report"]
    assert (report["sent"], report["delivered"], report["segments"]) == (1, 1, 2)
    assert "2 SMS parts" in response.content.decode()


def test_only_drafts_can_be_deleted(client, personas):
    draft = create_campaign(personas.talent)
    sent = create_campaign(personas.talent, status=CS.COMPLETED)
    client.force_login(personas.manager)
    assert client.get(reverse("admin:messaging_campaign_delete", args=[sent.pk])).status_code == 403
    assert client.get(reverse("admin:messaging_campaign_delete", args=[draft.pk])).status_code == 200


def test_campaigns_list_shows_the_teams_campaigns_and_automations_on_request(client, personas):
    """A live welcome series hands each minute's due fans to the engine as a campaign of its own;
    the list shows the team's campaigns unless asked for the automations'."""
    from messaging.models import AutomationCampaign

    ours = create_campaign(personas.talent, name="Tour announcement", status=Campaign.Status.COMPLETED)
    made = create_campaign(
        personas.talent, name="Automation · Welcome · step 1 · 12:00 UTC", status=Campaign.Status.COMPLETED
    )
    AutomationCampaign.objects.create(campaign=made, position=1)
    client.force_login(personas.manager)
    url = reverse("admin:messaging_campaign_changelist")
    page = client.get(url).content.decode()
    assert ours.name in page and made.name not in page
    page = client.get(url, {"made_by": "automations"}).content.decode()
    assert made.name in page and ours.name not in page
    page = client.get(url, {"made_by": "all"}).content.decode()
    assert made.name in page and ours.name in page
    home = client.get(reverse("admin:index")).content.decode()  # the home's last campaigns, too
    assert ours.name in home and made.name not in home
