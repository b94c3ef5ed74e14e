"""A manager composes a campaign in a real browser, on a laptop (1366x768) and a phone (390x844):
live counter and cost from the first keystroke, the audience picker, the confirmation, why part of
it waits, the send, the report. axe-core checks the home and composer pages on the way."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.utils import timezone

from accounts.models import Fan, TeamMember
from messaging.audience.services import contact_list_add_fans
from messaging.models import Campaign, ContactList, OutboundMessage
from messaging.sending import engine as cs
from messaging.sending import worker
from tests.e2e import test_console_a11y as a11y
from tests.factories import create_fan, create_talent, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# The accessibility test's browser (both viewports) and axe-core fixtures, and its checker.
console_page = a11y.console_page
axe_source = a11y.axe_source
_violations = a11y._violations


def _quiet_now_in(zone: str) -> tuple[dt.time, dt.time]:
    """Quiet hours that hold fans in `zone` right now (and not fans 14 hours away)."""
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(zone))
    start = (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + dt.timedelta(hours=2)).time().replace(minute=0, second=0, microsecond=0)
    return start, end


def test_manager_composes_schedules_sees_why_it_waits_and_reads_the_report(
    live_server, console_page, axe_source, sms_outbox, settings
):
    settings.SMS_SEGMENT_PRICE = 0.0079
    start, end = _quiet_now_in("Asia/Tokyo")
    talent = create_talent("nova-compose", display_name="Nova Ray", quiet_hours_start=start, quiet_hours_end=end)
    manager = create_user("max_compose", password="a-long-test-password")
    TeamMember.objects.create(user=manager, talent=talent, role=TeamMember.Role.MANAGER)
    vip = ContactList.objects.create(talent=talent, name="VIP")
    fans = [
        create_fan(talent, f"+1415555{i:04d}", first_name=f"Fan{i}", time_zone="America/New_York") for i in range(3)
    ]
    fans += [create_fan(talent, f"+8190555{i:04d}", first_name=f"Kenji{i}", time_zone="Asia/Tokyo") for i in range(2)]
    contact_list_add_fans(contact_list=vip, fans=Fan.objects.filter(talent=talent))
    create_fan(talent, "+14155559999", first_name="NotVip")  # outside the list

    page = console_page
    problems: list[str] = []
    page.goto(live_server.url + "/admin/login/")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", "a-long-test-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#fc-home-title")
    problems += _violations(page, axe_source, "home-page")

    page.goto(live_server.url + "/admin/messaging/campaign/add/")
    page.fill("input[name=name]", "Tour drop")
    page.check(f"input[name=audience-l-{vip.pk}][value=in]")
    page.locator("textarea[name=body]").press_sequentially("H")  # the first keystroke counts
    page.wait_for_function("document.getElementById('preview-units').textContent.trim() !== '0'")
    page.fill("textarea[name=body]", "Hi {first_name}, new dates are out 🎸 {link:https://tickets.example.com}")
    page.wait_for_function("document.getElementById('preview-encoding').textContent.trim() === 'UCS-2'")
    page.wait_for_function("document.getElementById('preview-recipients').textContent.trim() === '5'")
    assert "Hi Fan0, new dates are out" in page.inner_text("#preview-text")
    parts = int(page.inner_text("#preview-parts"))
    assert parts >= 2 and page.inner_text("#preview-cost") == f"{5 * parts * 0.0079:.2f}"
    # Schedule fields follow the mode: the local-time fields hide while "Send now" is chosen.
    assert not page.locator(".field-local_time").first.is_visible()
    page.check("input[name=schedule_mode][value=local_time]")
    assert page.locator(".field-local_time").first.is_visible()
    page.check("input[name=schedule_mode][value=now]")
    problems += _violations(page, axe_source, "composer")
    page.click("button[name=_continue]")
    page.wait_for_selector("text=Schedule…")
    campaign = Campaign.objects.get(name="Tour drop")

    page.click("text=Schedule…")
    page.wait_for_selector("#confirm-recipients")
    assert page.inner_text("#confirm-recipients") == "5"
    assert "2 held by quiet hours" in page.inner_text("#confirm-why")
    assert "America/New_York" in page.content() and "Asia/Tokyo" in page.content()
    problems += _violations(page, axe_source, "confirm")
    page.click("text=Schedule it")
    page.wait_for_selector("text=/Tour drop: (scheduled|sending)/")

    # The dispatcher's work (inline django-q2 in tests may have done it already): the three New
    # York fans get it now, Tokyo waits for the end of its quiet hours.
    def dispatch() -> None:  # in a thread of its own: the sender runs an event loop, Playwright has one here
        from django.db import connections

        try:
            if Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED:
                cs.campaign_start(campaign_id=campaign.pk)
            worker.campaign_send_batches(campaign_id=campaign.pk, budget_seconds=10)
        finally:
            connections.close_all()

    sender = threading.Thread(target=dispatch)
    sender.start()
    sender.join(60)
    assert sorted(m.to for m in sms_outbox if not m.body.startswith("[TEST]")) == [str(f.phone) for f in fans[:3]]
    page.goto(live_server.url + f"/admin/messaging/campaign/{campaign.pk}/change/")
    assert "2 held by quiet hours until" in page.inner_text(".fc-why")
    page.click("text=Report")
    page.wait_for_selector("text=Download the report (CSV)")
    assert OutboundMessage.objects.filter(campaign=campaign, status="queued").count() == 3
    report_text = page.inner_text("#content-main")
    assert "2 held by quiet hours until" in report_text and "Sent\t3" in report_text.replace(" \t", "\t")
    problems += _violations(page, axe_source, "report")
    assert not problems, "\n".join(problems)
