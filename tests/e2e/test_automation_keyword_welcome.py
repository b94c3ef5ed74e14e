"""In a real browser: a manager creates a keyword (a platform word is refused first, with the
reason on the field; then its share link and QR code) and a two-step welcome series whose first
step is only for fans who joined with that keyword, and makes it live. A stranger texts the
keyword through the signed inbound webhook, gets the signup link, joins on a phone, gets the
keyword's reply (remembered until the join) and both welcome texts; time is advanced by running
the scheduler and the sender at a shifted "now" (no sleeping). axe-core checks the console pages.
(One test for both automations: one browser start, one fan's whole path.)"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Fan, TeamMember
from messaging.automations.keyword_models import FanKeyword, Keyword
from messaging.automations.series import scheduled_run_due
from messaging.models import Campaign, WelcomeEnrolment, WelcomeSeries
from messaging.sending import worker
from tests.accounts.join_support import publish_documents, text_in
from tests.e2e import test_console_a11y as a11y
from tests.e2e.conftest import PHONE_VIEWPORT, VIEWPORTS
from tests.factories import create_talent, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
axe_source = a11y.axe_source
FAN_PHONE = "+14155552671"
REPLY = "Tour dates: nova.example.com/tour"


def _problems(page, axe_source: str, name: str) -> list[str]:
    page.viewport_name = "laptop"
    return a11y._violations(page, axe_source, name)


def _in_thread(work) -> None:
    """The priority lane's sender runs an event loop, and Playwright has one in this thread."""

    def run() -> None:
        from django.db import connections

        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)


def _tick() -> None:
    """One scheduler run and the sends it starts."""

    def work() -> None:
        scheduled_run_due()
        for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("id", flat=True):
            worker.campaign_send_batches(campaign_id=campaign_id, budget_seconds=5)

    _in_thread(work)


def _advance(monkeypatch, by: dt.timedelta) -> None:
    """Move every clock of the process (the test's and the live server's) forward by `by`."""
    real = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real() + by)


def _to_fan(sms_outbox) -> list[str]:
    return [m.body for m in sms_outbox if m.to == FAN_PHONE]


def test_a_keyword_and_a_two_step_welcome_series_played_by_one_fan(
    live_server, browser, axe_source, sms_outbox, monkeypatch
):
    # No quiet hours (start == end), so the test does not depend on the hour it runs at.
    talent = create_talent(
        "nova-auto", display_name="Nova Ray", quiet_hours_start=dt.time(0), quiet_hours_end=dt.time(0)
    )
    publish_documents(talent)
    manager = create_user("max_auto", password="a-long-test-password")
    TeamMember.objects.create(user=manager, talent=talent, role=TeamMember.Role.MANAGER)
    console = browser.new_context(viewport=VIEWPORTS["laptop"], bypass_csp=True).new_page()
    console.set_default_timeout(15_000)
    console.goto(live_server.url + "/admin/login/")
    console.fill("input[name=username]", manager.username)
    console.fill("input[name=password]", "a-long-test-password")
    console.click("#login-form button[type=submit]")
    console.wait_for_selector("#fc-home-title")

    # 1. The keyword: STOP is refused with the reason; TOUR (alias TOURS) is made.
    console.get_by_role("link", name="Keywords").first.click()
    console.wait_for_url("**/keyword/")
    problems = _problems(console, axe_source, "keywords")
    console.goto(live_server.url + "/admin/messaging/keyword/add/")
    console.fill("input[name=word]", "STOP")
    console.fill("textarea[name=reply]", REPLY)
    problems += _problems(console, axe_source, "keyword-add")
    console.click("button[name=_continue]")
    console.wait_for_load_state()
    assert "one of the platform's own words" in console.inner_text("body")
    assert not Keyword.objects.exists()
    console.fill("input[name=word]", "Tour")
    console.fill("input[name=aliases]", "tours")
    console.click("button[name=_continue]")
    console.wait_for_selector("text=Play as a fan")
    keyword = Keyword.objects.get()
    assert console.locator("a[href^='sms:']").first.get_attribute("href") == f"sms:{talent.sender_number}?&body=TOUR"
    assert console.locator("figure svg").count() == 1  # the QR code, drawn by the server
    problems += _problems(console, axe_source, "keyword-change")

    # 2. The series: step 1 (10 minutes, only for fans who joined with TOUR), step 2 (1 day later).
    console.goto(live_server.url + "/admin/messaging/welcomeseries/add/")
    problems += _problems(console, axe_source, "welcome-series-add")
    console.fill("#id_name", "First week")
    steps = [(10, "minutes", "Welcome {first_name}, tour fan!", "tour"), (1, "days", "Day two, {first_name}", "")]
    for i, (wait, unit, body, only_keyword) in enumerate(steps):
        console.fill(f"#id_steps-{i}-position", str(i + 1))
        console.fill(f"#id_steps-{i}-wait", str(wait))
        console.select_option(f"#id_steps-{i}-unit", unit)
        console.fill(f"#id_steps-{i}-body", body)
        console.fill(f"#id_steps-{i}-only_keyword", only_keyword)
    console.click("button[name=_continue]")
    console.wait_for_selector("text=Go live")
    series = WelcomeSeries.objects.get(talent=talent)
    assert list(series.steps.values_list("delay_minutes", flat=True)) == [10, 24 * 60]
    console.once("dialog", lambda dialog: dialog.accept())
    console.click("button:has-text('Go live')")
    console.wait_for_selector("text=First week: live.")

    # 3. A stranger texts "tours please": the signup link, and the keyword is remembered.
    _in_thread(lambda: text_in(Client(), talent, "tours please", FAN_PHONE))
    link = re.search(r"/join/[^\s]+", _to_fan(sms_outbox)[0])
    assert link, _to_fan(sms_outbox)
    assert FanKeyword.objects.get(fan__phone=FAN_PHONE).keyword == keyword

    # 4. They join on a phone: the confirmation, then the keyword's reply, at once.
    fan_page = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True).new_page()
    fan_page.set_default_timeout(15_000)
    fan_page.goto(live_server.url + link.group(0))
    fan_page.fill("#id_first_name", "Rosa")
    fan_page.fill("#id_birth_date", "1999-04-02")
    fan_page.fill("#id_postal_code", "10001")
    fan_page.check("#id_consent_messaging")
    fan_page.click("button[type=submit]")
    fan_page.wait_for_url("**/join/nova-auto/done/")
    fan = Fan.objects.get(talent=talent, phone=FAN_PHONE)
    assert fan.status == Fan.Status.ACTIVE and _to_fan(sms_outbox)[-1] == REPLY
    assert WelcomeEnrolment.objects.get(fan=fan).keyword == "TOUR"

    # 5. The console lists step 1 in the next 24 hours, with the talent's zone.
    console.goto(live_server.url + "/admin/messaging/upcomingautomation/")
    table = console.locator("table").inner_text()
    assert "First week" in table and "Step 1" in table and talent.default_time_zone in table
    problems += _problems(console, axe_source, "automations-next-24-hours")

    # 6. Nine minutes on, nothing; eleven minutes on, step 1; a day later, step 2.
    before = len(_to_fan(sms_outbox))
    _advance(monkeypatch, dt.timedelta(minutes=9))
    _tick()
    assert len(_to_fan(sms_outbox)) == before
    _advance(monkeypatch, dt.timedelta(minutes=2))
    _tick()
    _advance(monkeypatch, dt.timedelta(days=1))
    _tick()
    assert _to_fan(sms_outbox)[before:] == ["Welcome Rosa, tour fan!", "Day two, Rosa"]

    # 7. The keyword counts the use and the join; the report one sent text per step.
    console.goto(live_server.url + f"/admin/messaging/keyword/{keyword.pk}/change/")
    assert "Used 1 time; 1 new fan joined with it" in console.inner_text("#content-main")
    console.goto(live_server.url + f"/admin/messaging/welcomeseries/{series.pk}/report/")
    rows = console.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2 and all("\t1\t" in row for row in rows)
    assert problems == [], "\n".join(problems)
