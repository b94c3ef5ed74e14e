"""The composer (issue 12): live figures without saving, one audience picker, the confirmation,
why texts wait, the brand prefix and opt-out line, test sends, approval mail, duplicate, CSV."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Fan
from messaging.audience.services import contact_list_add_fans
from messaging.campaigns.render import parse_recipient_code
from messaging.campaigns.services import (
    campaign_estimate,
    campaign_holds,
    campaign_report,
    campaign_schedule,
)
from messaging.models import Campaign, Click, ContactList, OutboundMessage
from messaging.sending import engine as cs
from messaging.sending import worker
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
CS = Campaign.Status
ESTIMATE = "admin:messaging_campaign_estimate"


@pytest.fixture
def lists(personas):
    talent = personas.talent
    vip = ContactList.objects.create(talent=talent, name="VIP")
    tour = ContactList.objects.create(talent=talent, name="Tour")
    fans = [create_fan(talent, f"+1415777{i:04d}") for i in range(4)]
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(pk__in=[f.pk for f in fans[:3]]))
    contact_list_add_fans(contact_list=tour, fans=Fan.objects.filter(pk__in=[fans[2].pk, fans[3].pk]))
    gone = create_fan(talent, "+14157779999", status=Fan.Status.OPTED_OUT)
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(pk=gone.pk))
    rival = ContactList.objects.create(talent=personas.other_talent, name="Rival VIP")
    contact_list_add_fans(contact_list=rival, fans=Fan.objects.filter(pk=create_fan(personas.other_talent).pk))
    return {"vip": vip, "tour": tour, "rival": rival, "fans": fans}


def test_live_figures_for_an_unsaved_campaign(client, personas, lists, settings):
    settings.SMS_SEGMENT_PRICE = 0.01
    client.force_login(personas.manager)
    url = reverse(ESTIMATE)
    vip, tour = lists["vip"], lists["tour"]
    data = client.post(url, {"body": "Hé {first_name} 🎸", f"audience-l-{vip.pk}": "in"}).json()
    assert data["encoding"] == "UCS-2" and data["preview"].startswith("Hé ")
    assert data["recipients"] == 3  # the opted-out member is not reachable
    assert data["cost"] == 0.03 and data["errors"] == []
    data = client.post(url, {"body": "x", f"audience-l-{vip.pk}": "in", f"audience-l-{tour.pk}": "out"}).json()
    assert data["recipients"] == 2  # VIP (fans 0, 1, 2) minus Tour (2, 3)
    # Another talent's list id is not ours: it is dropped, never counted.
    data = client.post(url, {"body": "x", f"audience-l-{lists['rival'].pk}": "in"}).json()
    assert data["recipients"] == Fan.objects.filter(talent=personas.talent, status="active").count()
    assert client.post(url, {"body": "{oops}"}).json()["errors"]
    assert client.get(url).status_code == 405
    client.force_login(personas.agent)  # agents answer the inbox, they do not compose
    assert client.post(url, {"body": "x"}).status_code == 400


def test_the_picker_fills_the_audience_and_refuses_another_talents_lists(client, personas, lists):
    client.force_login(personas.manager)
    vip, tour = lists["vip"], lists["tour"]
    form = {
        "name": "VIP drop",
        "body": "Hi {first_name}",
        "media_url": "",
        "schedule_mode": "now",
        "late_policy": "next_allowed",
        "relevance_hours": 10,
        f"audience-l-{vip.pk}": "in",
        f"audience-l-{tour.pk}": "out",
    }
    page = client.get(reverse("admin:messaging_campaign_add")).content.decode()
    assert 'role="radiogroup" aria-label="List VIP"' in page and "Rival VIP" not in page
    assert 'class="selectfilter"' not in page  # no four full-height pick-lists
    response = client.post(reverse("admin:messaging_campaign_add"), form)
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="VIP drop")
    assert list(campaign.include_lists.all()) == [vip] and list(campaign.exclude_lists.all()) == [tour]
    form["name"] = "Forged"
    form[f"audience-l-{lists['rival'].pk}"] = "in"
    response = client.post(reverse("admin:messaging_campaign_add"), form)
    assert response.status_code == 200 and not Campaign.objects.filter(name="Forged").exists()
    assert "Not lists or segments of Nova Ray" in str(response.context["adminform"].form.errors)


def test_prefix_and_opt_out_line_in_texts_estimates_and_warnings(personas, backend, monkeypatch):
    now = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    talent = personas.talent
    campaign = create_campaign(talent, body="New dates {first_name}!")
    assert campaign_estimate(campaign=campaign).warnings  # neither prefix nor opt-out line
    talent.campaign_prefix = "NovaRay:"
    talent.opt_out_line = "Reply STOP to opt out"
    talent.opt_out_line_when = "monthly"
    talent.save()
    campaign = Campaign.objects.get(pk=campaign.pk)
    estimate = campaign_estimate(campaign=campaign)
    assert estimate.warnings == ()
    assert estimate.preview == "NovaRay: New dates Fiona!\nReply STOP to opt out"  # the longer variant
    this_month = create_fan(talent, "+14157770001", first_name="Tess", last_sent_at=now - dt.timedelta(hours=1))
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=30)
    bodies = {m.to: m.body for m in backend.sent}
    assert bodies[str(personas.fan.phone)] == "NovaRay: New dates Fiona!\nReply STOP to opt out"
    assert bodies[str(this_month.phone)] == "NovaRay: New dates Tess!"  # already had one this month


def test_confirmation_says_when_how_many_cost_and_what_quiet_hours_hold(client, personas, settings):
    settings.SMS_SEGMENT_PRICE = 0.01
    talent = personas.talent  # quiet 21:00-08:00; personas.fan is in America/Los_Angeles
    create_fan(talent, "+447700900123", time_zone="Europe/London")
    campaign = create_campaign(talent, schedule_mode="at", send_at=timezone.now() + dt.timedelta(days=2))
    # 20:00 UTC: 12:00 in Los Angeles (sends), 20:00 in London (sends); 06:00 UTC: London 06:00 held.
    day = (timezone.now() + dt.timedelta(days=2)).date()
    Campaign.objects.filter(pk=campaign.pk).update(send_at=dt.datetime.combine(day, dt.time(6, 0), tzinfo=dt.UTC))
    client.force_login(personas.manager)
    url = reverse("admin:messaging_campaign_schedule", args=[campaign.pk])
    response = client.get(url)
    assert response.status_code == 200
    plan = response.context["plan"]
    assert plan.recipients == 2 and plan.cost == 0.02
    # 06:00 UTC is 22:00 in Los Angeles and 06:00 in London: both in quiet hours until 08:00 local.
    assert plan.held_quiet == 2
    assert plan.held_quiet_until == dt.datetime.combine(day, dt.time(16, 0), tzinfo=dt.UTC)  # 08:00 in LA
    page = response.content.decode()
    assert "2 held by quiet hours" in page and "until 08:00 in each fan's zone" in page
    assert "America/New_York" in page and "Europe/London" in page
    campaign.refresh_from_db()
    assert campaign.status == CS.DRAFT  # looking schedules nothing
    client.post(url)
    campaign.refresh_from_db()
    assert campaign.status == CS.SCHEDULED


def test_campaign_page_and_report_say_why_texts_wait(client, personas, backend, monkeypatch):
    night = timezone.now().replace(hour=7, minute=0, second=0, microsecond=0)  # 23:00 in Los Angeles
    monkeypatch.setattr(timezone, "now", lambda: night)
    for i in range(3):
        create_fan(personas.talent, f"+1415777{i:04d}")
    campaign = create_campaign(personas.talent)
    campaign_schedule(campaign=campaign, actor=personas.manager)
    cs.campaign_start(campaign_id=campaign.pk)
    (hold,) = campaign_holds(campaign=campaign)
    assert hold.count == 4 and hold.reason == "quiet_hours" and hold.local == "08:00"
    client.force_login(personas.manager)
    for name in ("admin:messaging_campaign_change", "admin:messaging_campaign_report"):
        page = client.get(reverse(name, args=[campaign.pk])).content.decode()
        assert "4 held by quiet hours until 08:00 in each fan&#x27;s zone" in page, name


def test_test_send_link_works_and_is_not_counted(client, personas, sms_outbox):
    personas.manager.first_name = "Max"
    personas.manager.save()
    campaign = create_campaign(personas.talent, body="Hi {first_name}: {link:https://tickets.example.com}")
    client.force_login(personas.manager)
    client.post(reverse("admin:messaging_campaign_test", args=[campaign.pk]), {"phone": "(415) 555-0199"})
    (sent,) = sms_outbox
    assert sent.to == "+14155550199" and sent.body.startswith("[TEST] Hi Max: http")
    code = sent.body.rsplit("/l/", 1)[1]
    assert parse_recipient_code(code) is not None
    response = client.get(f"/l/{code}")
    assert response.status_code == 302 and response["Location"] == "https://tickets.example.com"
    assert Click.objects.count() == 1  # recorded ...
    report = campaign_report(campaign=campaign)
    assert report["clicks"] == 0 and report["sent"] == 0 and report["recipients"] == 0  # ... never counted


def test_approval_waits_in_the_list_and_the_approvers_are_mailed(
    client, personas, mailoutbox, django_capture_on_commit_callbacks
):
    personas.talent.approval_threshold = 0
    personas.talent.save()
    campaign = create_campaign(personas.talent, name="Big blast")
    client.force_login(personas.manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:messaging_campaign_schedule", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.status == CS.AWAITING_APPROVAL
    (message,) = mailoutbox
    assert message.to == [personas.owner.email]  # owners and managers, never the scheduler; no agent
    assert "Big blast" in message.subject and f"/admin/messaging/campaign/{campaign.pk}/change/" in message.body
    page = client.get(reverse("admin:messaging_campaign_changelist")).content.decode()
    assert "Awaiting approval" in page and "scheduled by max_manager" in page


def test_duplicate_makes_a_draft_with_the_same_audience(client, personas, lists):
    campaign = create_campaign(personas.talent, status=CS.COMPLETED, name="Tour")
    campaign.include_lists.set([lists["vip"]])
    client.force_login(personas.manager)
    response = client.post(reverse("admin:messaging_campaign_duplicate", args=[campaign.pk]))
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response["Location"] == reverse("admin:messaging_campaign_change", args=[copy.pk])
    assert (copy.name, copy.status, copy.body) == ("Copy of Tour", CS.DRAFT, campaign.body)
    assert list(copy.include_lists.all()) == [lists["vip"]] and copy.duplicated_from == campaign
    assert AuditEvent.objects.filter(action="campaign.duplicated").exists()
    client.force_login(personas.other_manager)
    assert client.post(reverse("admin:messaging_campaign_duplicate", args=[campaign.pk])).status_code == 404


def test_list_shows_results_columns(client, personas):
    campaign = create_campaign(personas.talent, status=CS.COMPLETED, name="Results")
    Campaign.objects.filter(pk=campaign.pk).update(
        results={"sent": 1200, "delivered": 1100, "click_rate": 0.125, "reply_rate": 0.02, "opt_out_rate": 0.004,
                 "cost": 9.6},
        results_at=timezone.now(),
    )  # fmt: skip
    client.force_login(personas.manager)
    page = client.get(reverse("admin:messaging_campaign_changelist")).content.decode()
    for text in ("1,200", "1,100", "12.5%", "2.0%", "0.4%", "$9.60", "Click-through"):
        assert text in page, text


def test_report_downloads_as_csv(client, personas):
    campaign = create_campaign(personas.talent, status=CS.COMPLETED, name="=HYPERLINK(evil)")
    OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, campaign=campaign, to_number="+1", status="delivered", parts=2,
        sent_at=timezone.now(),
    )  # fmt: skip
    client.force_login(personas.analyst)
    response = client.get(reverse("admin:messaging_campaign_report_csv", args=[campaign.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = dict(line.split(",", 1) for line in response.content.decode().splitlines())
    assert rows["campaign"] == "'=HYPERLINK(evil)" and rows["sent"] == "1" and rows["sms_parts"] == "2"
    client.force_login(personas.other_manager)
    assert client.get(reverse("admin:messaging_campaign_report_csv", args=[campaign.pk])).status_code == 404


def test_text_settings_are_the_owners_and_audited(client, personas):
    url = reverse("admin:messaging_campaign_text_settings")
    client.force_login(personas.manager)
    assert client.get(url).status_code == 403
    client.force_login(personas.owner)
    response = client.post(
        url, {"campaign_prefix": "Nova:", "opt_out_line": "Txt STOP to end", "opt_out_line_when": "every"}
    )
    assert response.status_code == 302
    personas.talent.refresh_from_db()
    assert (personas.talent.campaign_prefix, personas.talent.opt_out_line) == ("Nova:", "Txt STOP to end")
    assert AuditEvent.objects.filter(action="talent.campaign_texts_changed", talent=personas.talent).exists()
    assert not mail.outbox
