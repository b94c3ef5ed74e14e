"""In a real browser, on a laptop and on a phone: a member of two talents switches between them in
the header and sees each one's fans only (issue 11, "one talent at a time")."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import TeamMember
from tests.e2e.conftest import VIEWPORTS, _page, sign_in
from tests.factories import create_fan, create_member, create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_a_member_of_two_talents_switches_and_sees_each_ones_fans_only(live_server, browser, viewport):
    nova = create_talent("nova-switch", display_name="Nova Ray")
    rival = create_talent("rival-switch", display_name="Rival Act")
    user = create_member(nova, TeamMember.Role.MANAGER, "mia_manager").user
    TeamMember.objects.create(user=user, talent=rival, role=TeamMember.Role.AGENT)
    create_fan(nova, "+14155550121", first_name="Fiona", last_name="Novafan")
    create_fan(rival, "+14155550122", first_name="Gus", last_name="Rivalfan")

    page = _page(browser, viewport)
    sign_in(page, live_server, user.username, user.raw_password)

    fans = live_server.url + reverse("admin:accounts_fan_changelist")
    page.goto(fans)
    # One switcher shows, by width: the header's on a laptop, the bar under it on a phone.
    place = "bar" if viewport == "phone" else "header"
    select = page.locator(f"#fc-talent-select-{place}")
    assert select.is_visible()
    assert select.locator("option:checked").inner_text() == "Nova Ray"  # the first by name
    listing = page.locator("#result_list").inner_text()
    assert "Fiona" in listing and "Gus" not in listing

    select.select_option(label="Rival Act")
    page.locator(f".fc-talent-{place} .fc-talent-button").click()
    page.wait_for_load_state()
    page.goto(fans)
    assert page.locator(f"#fc-talent-select-{place} option:checked").inner_text() == "Rival Act"
    listing = page.locator("#result_list").inner_text()
    assert "Gus" in listing and "Fiona" not in listing

    # Nova Ray's fan page is another talent's row now: 404, like an id that does not exist.
    fiona = nova.fans.get()
    response = page.goto(live_server.url + reverse("admin:accounts_fan_change", args=[fiona.pk]))
    assert response.status == 404
