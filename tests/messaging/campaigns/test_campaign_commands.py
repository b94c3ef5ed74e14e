"""campaign_send and campaign_report, as an operator runs them."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditEvent
from messaging.models import Campaign

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_send_at_a_time_then_report(personas):
    campaign_id = int(
        _run("campaign_send", "--talent", "nova", "--body", "Hi {first_name}", "--at", "2099-01-01T10:00")
    )
    campaign = Campaign.objects.get(pk=campaign_id)
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaign.send_at == dt.datetime(2099, 1, 1, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York
    report = json.loads(_run("campaign_report", str(campaign_id)))
    for key in [
        "status",
        "recipients",
        "suppressed",
        "sent",
        "delivered",
        "failed",
        "clicks",
        "replies",
        "opt_outs",
        "segments",
    ]:
        assert key in report
    assert report["status"] == "scheduled"


def test_send_now_sends(personas, sms_outbox, monkeypatch, django_capture_on_commit_callbacks):
    noon = timezone.now().replace(hour=18)
    monkeypatch.setattr(timezone, "now", lambda: noon)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_id = int(_run("campaign_send", "--talent", "nova", "--body", "Hi {first_name}"))
    assert [m.body for m in sms_outbox] == ["Hi Fiona"]
    assert json.loads(_run("campaign_report", str(campaign_id)))["sent"] == 1


def test_local_time_and_quiet_hours_override(personas):
    campaign_id = int(
        _run(
            "campaign_send",
            "--talent",
            "nova",
            "--body",
            "Show moved",
            "--at",
            "2099-01-01",
            "--local-time",
            "10:00",
            "--ignore-quiet-hours",
        )
    )
    campaign = Campaign.objects.get(pk=campaign_id)
    assert campaign.schedule_mode == "local_time" and campaign.local_time == dt.time(10)
    assert campaign.ignore_quiet_hours
    assert AuditEvent.objects.filter(action="campaign.quiet_hours_override", object_id=str(campaign_id)).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--talent", "nobody", "--body", "x"], "no talent"),
        (["--talent", "nova", "--body", "x", "--audience", "VIPs"], "no segment or list named"),
        (["--talent", "nova", "--body", "Hi {frist}"], "not a merge field"),
        (["--talent", "nova", "--body", "x", "--at", "tomorrow"], "ISO date-time"),
        (["--talent", "nova", "--body", "x", "--local-time", "25:99"], "HH:MM"),
        (["--talent", "nova", "--body", "x", "--at", "2001-01-01T10:00"], "passed"),
    ],
)
def test_bad_input_is_a_clear_error_and_nothing_is_created(personas, args, message):
    with pytest.raises(CommandError, match=message):
        _run("campaign_send", *args)
    assert not Campaign.objects.exists()


def test_report_of_unknown_campaign():
    with pytest.raises(CommandError, match="no campaign"):
        _run("campaign_report", "999")


def test_audience_by_list_name_counts_each_fan_once_and_opted_out_as_suppressed(personas):
    from accounts.models import Fan
    from messaging.models import ContactList, ContactListMember, OutboundMessage
    from messaging.sending.engine import campaign_start
    from tests.factories import create_fan

    vip = ContactList.objects.create(talent=personas.talent, name="VIPs")
    gone = create_fan(personas.talent, "+14155559001", status=Fan.Status.OPTED_OUT)
    outside = create_fan(personas.talent, "+14155559002")
    for fan in [personas.fan, gone]:
        ContactListMember.objects.create(contact_list=vip, fan=fan)
    campaign_id = int(_run("campaign_send", "--talent", "nova", "--body", "VIP news", "--at", "2099-01-01T10:00"))
    Campaign.objects.filter(pk=campaign_id).update(send_at=timezone.now())
    campaign_id = int(
        _run(
            "campaign_send", "--talent", "nova", "--body", "VIP only", "--audience", "VIPs", "--at", "2099-01-01T10:00"
        )
    )
    Campaign.objects.filter(pk=campaign_id).update(send_at=timezone.now())
    campaign_start(campaign_id=campaign_id)
    rows = OutboundMessage.objects.filter(campaign_id=campaign_id)
    assert list(rows.values_list("fan_id", flat=True)) == [personas.fan.pk]
    report = json.loads(_run("campaign_report", str(campaign_id)))
    assert report["suppressed"] == 1 and report["recipients"] == 1
    assert not rows.filter(fan=outside).exists()
