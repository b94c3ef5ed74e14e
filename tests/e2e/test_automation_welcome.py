"""A manager writes a two-step welcome series in the console and makes it live; a fan joins on a
phone and gets both texts, time advanced by running the scheduler and the sender at a shifted
"now" (no sleeping). axe-core checks the series form and the "next 24 hours" page."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.utils import timezone

from accounts.models import Fan, TeamMember
from accounts.tokens import join_tokens
from messaging.automations.series import scheduled_run_due
from messaging.models import Campaign, WelcomeSeries
from messaging.sending import worker
from tests.accounts.join_support import join_url, publish_documents
from tests.e2e import test_console_a11y as a11y
from tests.e2e.conftest import PHONE_VIEWPORT, VIEWPORTS
from tests.factories import create_talent, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
axe_source = a11y.axe_source
FAN_PHONE = "+14155552671"


def _problems(page, axe_source: str, name: str) -> list[str]:
    page.viewport_name = "laptop"
    return a11y._violations(page, axe_source, name)


def _advance(monkeypatch, by: dt.timedelta) -> None:
    """Move every clock of the process (the test's and the live server's) forward by `by`."""
    real = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real() + by)


def _tick() -> None:
    """One scheduler run and the sends it starts, in a thread of its own: the sender runs an
    event loop, and Playwright has one in this thread."""

    def run() -> None:
        from django.db import connections

        try:
            scheduled_run_due()  # enqueues the occurrence campaigns' sends (inline in tests)
            for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("id", flat=True):
                worker.campaign_send_batches(campaign_id=campaign_id, budget_seconds=5)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)


def test_a_two_step_welcome_series_from_the_console_to_a_fans_phone(
    live_server, browser, axe_source, sms_outbox, monkeypatch
):
    # No quiet hours (start == end), so the test does not depend on the hour it runs at.
    talent = create_talent(
        "nova-welcome", display_name="Nova Ray", quiet_hours_start=dt.time(0), quiet_hours_end=dt.time(0)
    )
    publish_documents(talent)
    manager = create_user("max_welcome", password="a-long-test-password")
    TeamMember.objects.create(user=manager, talent=talent, role=TeamMember.Role.MANAGER)
    problems: list[str] = []

    # 1. The manager writes the series: "10 minutes after joining", then "1 day later".
    console = browser.new_context(viewport=VIEWPORTS["laptop"], bypass_csp=True).new_page()
    console.set_default_timeout(15_000)
    console.goto(live_server.url + "/admin/login/")
    console.fill("input[name=username]", manager.username)
    console.fill("input[name=password]", "a-long-test-password")
    console.click("#login-form button[type=submit]")
    console.wait_for_selector("#fc-home-title")
    assert console.get_by_role("link", name="Welcome series").count() >= 1  # the menu (and the home page)
    console.goto(live_server.url + "/admin/messaging/welcomeseries/add/")
    problems += _problems(console, axe_source, "welcome-series-add")
    console.fill("#id_name", "First week")
    for i, (wait, unit, body) in enumerate(
        [(10, "minutes", "Welcome {first_name}!"), (1, "days", "Day two, {first_name}")]
    ):
        console.fill(f"#id_steps-{i}-position", str(i + 1))
        console.fill(f"#id_steps-{i}-wait", str(wait))
        console.select_option(f"#id_steps-{i}-unit", unit)
        console.fill(f"#id_steps-{i}-body", body)
    console.click("button[name=_continue]")
    console.wait_for_selector("text=Go live")
    series = WelcomeSeries.objects.get(talent=talent)
    assert list(series.steps.values_list("delay_minutes", flat=True)) == [10, 24 * 60]
    console.once("dialog", lambda dialog: dialog.accept())
    console.click("button:has-text('Go live')")
    console.wait_for_selector("text=First week: live.")
    series.refresh_from_db()
    assert series.status == "live"

    # 2. A fan joins on a phone through their signup link.
    fan_page = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True).new_page()
    fan_page.set_default_timeout(15_000)
    token = join_tokens.make_token(talent=talent, phone=FAN_PHONE)
    fan_page.goto(live_server.url + join_url(talent) + "?t=" + token)
    fan_page.fill("#id_first_name", "Rosa")
    fan_page.fill("#id_birth_date", "1999-04-02")
    fan_page.fill("#id_postal_code", "10001")
    fan_page.check("#id_consent_messaging")
    fan_page.click("button[type=submit]")
    fan_page.wait_for_url("**/join/nova-welcome/done/")
    fan = Fan.objects.get(talent=talent, phone=FAN_PHONE)
    assert [m.to for m in sms_outbox] == [FAN_PHONE]  # the confirmation, at once

    # 3. The console lists step 1 in the next 24 hours, with the talent's zone.
    console.goto(live_server.url + "/admin/messaging/upcomingautomation/")
    table = console.locator("table").inner_text()
    assert "First week" in table and "Step 1" in table and talent.default_time_zone in table
    problems += _problems(console, axe_source, "automations-next-24-hours")

    # 4. Nine minutes on, nothing; eleven minutes on, the first text; a day later, the second.
    _advance(monkeypatch, dt.timedelta(minutes=9))
    _tick()
    assert len(sms_outbox) == 1
    _advance(monkeypatch, dt.timedelta(minutes=2))
    _tick()
    assert [m.body for m in sms_outbox[1:]] == ["Welcome Rosa!"]
    _advance(monkeypatch, dt.timedelta(days=1))
    _tick()
    assert [m.body for m in sms_outbox[1:]] == ["Welcome Rosa!", "Day two, Rosa"]
    assert all(m.to == str(fan.phone) for m in sms_outbox)

    # 5. The report counts one sent text per step.
    console.goto(live_server.url + f"/admin/messaging/welcomeseries/{series.pk}/report/")
    rows = console.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2 and all("\t1\t" in row for row in rows)
    assert problems == []
