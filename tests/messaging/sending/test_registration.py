"""Twilio account settings through the real twilio SDK against the sandbox (issue 17 §1): the
command that points numbers and Messaging Services at our webhooks, and 10DLC registration:
a sender whose campaign is not approved is left out of sending and the Senders page says why."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from messaging.models import Campaign
from messaging.sandbox.numbers import number_sid
from messaging.sending import engine as cs
from messaging.sending import worker
from messaging.sending.models import Sender
from messaging.sending.pacing import load_pool
from messaging.sending.registration import check_registrations
from messaging.sms.twilio_account import account_client, fetch_registration
from tests.factories import create_fan, create_talent
from tests.messaging.campaign_fixtures import ScriptedBackend, create_campaign
from tests.messaging.sandbox_helpers import sandbox_settings

pytestmark = pytest.mark.django_db
MG_OK = "MG" + "1" * 32  # the sandbox approves a service whose sid ends 0-b ...
MG_REVIEW = "MG" + "1" * 31 + "c"  # ... has its campaign in review for c
MG_FAILED = "MG" + "1" * 31 + "d"  # ... rejected for d


def test_the_command_sets_each_numbers_and_services_webhooks_at_twilio(tmp_path, settings):
    talent = create_talent("webhooks", sender_number="+14155550100")
    Sender.objects.create(talent=talent, kind="toll_free", phone_number="+18005550100")
    Sender.objects.create(talent=talent, kind="10dlc", messaging_service_sid=MG_OK, trust_score=80)
    with sandbox_settings(tmp_path) as url:
        sandbox = url.sandbox
        sandbox.add_number("+14155550100", sms_url="https://old.example.com/sms")
        out = StringIO()
        call_command(
            "twilio_configure_numbers",
            base_url="https://fans.example.com",
            fallback_url="https://fallback.example.com",
            stdout=out,
        )
        number = sandbox.numbers[number_sid("+14155550100")]
        assert number["sms_url"] == "https://fans.example.com/webhooks/twilio/inbound/"
        assert number["sms_fallback_url"] == "https://fallback.example.com/webhooks/twilio/inbound/"
        assert number["sms_method"] == number["sms_fallback_method"] == "POST"
        assert sandbox.numbers[number_sid("+18005550100")]["sms_url"].startswith("https://fans.example.com/")
        service = sandbox.services[MG_OK]
        assert service["inbound_request_url"] == "https://fans.example.com/webhooks/twilio/inbound/"
        assert service["fallback_url"] == "https://fallback.example.com/webhooks/twilio/inbound/"
        assert service["status_callback"] == "https://fans.example.com/webhooks/twilio/status/"
        said = out.getvalue()
        assert "+14155550100 set sms_url: https://old.example.com/sms -> https://fans.example.com/webhooks/" in said
        again = StringIO()  # a second run changes nothing and says so
        call_command("twilio_configure_numbers", base_url="https://fans.example.com", stdout=again)
        assert again.getvalue().count("already points here") == 3
        dry = StringIO()
        call_command("twilio_configure_numbers", base_url="https://new.example.com", dry_run=True, stdout=dry)
        assert "would set sms_url" in dry.getvalue()
        assert number["sms_url"] == "https://fans.example.com/webhooks/twilio/inbound/"  # unchanged


def test_the_command_names_what_twilio_refused(tmp_path):
    talent = create_talent("refused", sender_number="+15005550001")  # Twilio's magic invalid number
    err = StringIO()
    with sandbox_settings(tmp_path), pytest.raises(CommandError, match="1 number"):
        call_command("twilio_configure_numbers", talent=[talent.slug], stderr=err, stdout=StringIO())
    assert "+15005550001 is not a number of this Twilio account" in err.getvalue()
    with pytest.raises(CommandError, match="No talent with slug nobody"):
        call_command("twilio_configure_numbers", talent=["nobody"])


def test_registration_statuses_come_from_twilio_through_the_sdk(tmp_path):
    with sandbox_settings(tmp_path) as url:
        client = account_client()
        ok = fetch_registration(client, MG_OK)
        assert ok.approved and (ok.brand_status, ok.campaign_status) == ("APPROVED", "VERIFIED")
        review = fetch_registration(client, MG_REVIEW)
        assert not review.approved and review.reason == "The 10DLC campaign is in review."
        failed = fetch_registration(client, MG_FAILED)
        assert "rejected. Twilio says: The campaign's message samples" in failed.reason
        url.sandbox.set_registration(MG_OK, brand_status="PENDING", campaign_status="PENDING")
        assert fetch_registration(client, MG_OK).reason == "The 10DLC brand is pending."
        url.sandbox.set_registration(MG_OK, campaign_status=None)
        assert "No 10DLC campaign is registered" in fetch_registration(client, MG_OK).reason


def test_a_sender_whose_campaign_is_not_approved_sends_nothing_and_the_page_says_why(tmp_path, client, personas):
    talent = personas.talent
    talent.quiet_hours_start = talent.quiet_hours_end = talent.quiet_hours_start  # no quiet hours
    talent.save()
    approved = Sender.objects.create(talent=talent, kind="10dlc", messaging_service_sid=MG_OK, trust_score=80)
    review = Sender.objects.create(
        talent=talent, kind="10dlc", messaging_service_sid=MG_REVIEW, trust_score=80, position=1
    )
    with sandbox_settings(tmp_path):
        report = check_registrations()
    assert (report.checked, report.held_back) == (2, 1)
    pool = load_pool(talent)
    assert {lane.messaging_service_sid for lane in pool.lanes} == {MG_OK}  # the one in review is left out
    for i in range(6):
        create_fan(talent, f"+1415999{i:04d}")
    campaign = create_campaign(talent, status=Campaign.Status.SCHEDULED)
    cs.campaign_start(campaign_id=campaign.pk)
    backend = ScriptedBackend()
    worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=20, backend=backend)
    assert backend.sent and {m.messaging_service_sid for m in backend.sent} == {MG_OK}
    client.force_login(personas.owner)
    page = client.get(reverse("admin:messaging_sender_changelist")).content.decode()
    assert "Not sending: The 10DLC campaign is in review." in page
    assert "Approved: brand and campaign" in page
    # When every sender waits, nothing sends (not the talent's own number either).
    Sender.objects.filter(pk=approved.pk).update(registration_problem="The 10DLC brand is pending.")
    assert load_pool(talent).lanes == ()
    assert review.pk  # still listed on the page


def test_a_failed_check_changes_nothing(tmp_path, settings):
    talent = create_talent("offline")
    sender = Sender.objects.create(talent=talent, kind="10dlc", messaging_service_sid=MG_OK, trust_score=80)
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: Twilio unreachable
    settings.TWILIO_HTTP_TIMEOUT = 1
    try:
        report = check_registrations()
    except Exception as exc:  # pragma: no cover - the check must not raise
        pytest.fail(f"raised {exc!r}")
    sender.refresh_from_db()
    assert report.checked == 0 and sender.registration_checked_at is None and not sender.registration_problem
