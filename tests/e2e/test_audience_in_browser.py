"""The audience pages in a real browser, at 1366x768 and 390x844: a manager builds a segment and
sees the reachable count (fans who texted STOP left out) change as the conditions change, finds a
fan by a phone typed as (415) 555-2671, opens the fan's profile; axe-core finds no serious or
critical violation on the segment builder, the fan list and the fan profile."""

from __future__ import annotations

import re

import pytest

from accounts.models import TeamMember
from messaging.models import ContactList
from tests.e2e.test_console_a11y import _violations, axe_source, console_page  # noqa: F401 - fixtures
from tests.factories import create_fan, create_talent, create_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, user) -> None:
    page.goto(live_server.url + "/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "a-long-test-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".fc-talent >> visible=true", timeout=30_000)


def test_build_a_segment_find_a_fan_by_phone_and_open_the_profile(live_server, console_page, axe_source):  # noqa: F811
    talent = create_talent("nova-aud", display_name="Nova Ray")
    manager = create_user("max_aud", password="a-long-test-password")
    TeamMember.objects.create(user=manager, talent=talent, role=TeamMember.Role.MANAGER)
    paula = create_fan(talent, "+14155552671", first_name="Paula", last_name="Quinn", region="CA")
    create_fan(talent, "+14155550002", first_name="Rita", region="CA")
    create_fan(talent, "+14155550003", first_name="Stopped", region="CA", status="opted_out")
    create_fan(talent, "+13055550004", first_name="Flo", region="FL")
    vip = ContactList.objects.create(talent=talent, name="VIP")
    vip.memberships.create(fan=paula)

    page = console_page
    problems = []
    _sign_in(page, live_server, manager)

    # The segment builder: the reachable count follows the conditions, without pressing anything.
    page.goto(live_server.url + "/admin/messaging/segment/add/")
    page.fill("input[name=name]", "West coast")
    page.select_option("select[name=cond_0_field]", "region")
    page.fill("input[name=cond_0_value]", "CA")
    live = page.locator("#segment-live-count")
    live.filter(has_text=re.compile(r"^2 reachable fans now")).wait_for()
    assert "1 opted out" in live.inner_text()  # the fan who texted STOP is counted aside, not reached
    # The value picker follows the field: lists by name.
    page.select_option("select[name=cond_1_field]", "list")
    assert page.get_attribute("input[name=cond_1_value]", "list") == "segment-values-list"
    page.fill("input[name=cond_1_value]", "VIP")
    live.filter(has_text=re.compile(r"^1 reachable fans now")).wait_for()
    assert "In contact list is one of VIP" in live.inner_text()
    problems += _violations(page, axe_source, "segment-builder")

    # The fan list: a number typed as people write it.
    page.goto(live_server.url + "/admin/accounts/fan/")
    problems += _violations(page, axe_source, "fan-list")
    search = page.locator("input[name=q]:visible").first
    search.fill("(415) 555-2671")
    search.press("Enter")
    page.wait_for_url(re.compile(r"q=%28415%29"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Paula" in rows.first.inner_text()

    # The profile.
    page.goto(live_server.url + f"/admin/accounts/fan/{paula.pk}/change/")
    assert page.locator("#fan-profile-title").inner_text() == "Paula Quinn"
    assert page.locator("text=Open conversation").count() == 1
    problems += _violations(page, axe_source, "fan-profile")

    assert not problems, "\n".join(problems)
