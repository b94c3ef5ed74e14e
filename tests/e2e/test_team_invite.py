"""In a real browser, on a laptop and on a phone: an owner invites a teammate by email, the
teammate opens the link, sets a password, lands in the console and sees only that talent's fans."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Invite, TeamMember
from tests.e2e.conftest import VIEWPORTS, _page, browser, sign_in  # noqa: F401 - browser: re-exported for older imports
from tests.factories import create_fan, create_member, create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_owner_invites_a_teammate_who_sees_only_that_talent(live_server, browser, viewport):  # noqa: F811
    talent = create_talent("nova-team", display_name="Nova Ray")
    other = create_talent("rival-team", display_name="Rival Act")
    owner = create_member(talent, TeamMember.Role.OWNER, "olivia_owner").user
    create_member(other, TeamMember.Role.OWNER, "otto_owner")
    create_fan(talent, "+14155550111", first_name="Fiona", last_name="Novafan")
    create_fan(other, "+14155550112", first_name="Gus", last_name="Rivalfan")

    # 1. The owner signs in and opens the team page's invite form.
    page = _page(browser, viewport)
    sign_in(page, live_server, owner.username, owner.raw_password)
    page.goto(live_server.url + reverse("admin:accounts_teammember_changelist"))
    page.locator(f"a[href='{reverse('admin:accounts_teammember_add')}']").first.click()
    page.wait_for_url("**/teammember/invite/")
    assert page.locator("input[name=user]").count() == 0  # no raw user-id box

    # 2. Invite by email with a role: the mail leaves and the link is shown to copy.
    page.fill("input[name=email]", "tia@example.com")
    page.check("input[name=role][value=agent]")
    page.locator("#invite-form [type=submit]").click()
    link = page.locator("#invite-link").input_value()
    assert page.locator("#invite-mailed").is_visible()
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    assert Invite.objects.get().email == "tia@example.com"

    # 3. The teammate opens the link in their own browser and sets a password.
    teammate = _page(browser, viewport)
    teammate.goto(link.replace("https://fans.example.com", live_server.url))
    assert "Nova Ray" in teammate.locator("#invite-summary").inner_text()
    teammate.fill("#id_new_password1", "tia-long-pass-phrase")
    teammate.fill("#id_new_password2", "tia-long-pass-phrase")
    teammate.locator("#invite-create [type=submit]").click()
    teammate.wait_for_url("**/admin/")

    # 4. In the console, only Nova Ray's fans.
    teammate.goto(live_server.url + reverse("admin:accounts_fan_changelist"))
    listing = teammate.locator("#result_list").inner_text()
    assert "Fiona" in listing and "Gus" not in listing
    assert TeamMember.objects.get(user__username="tia@example.com").role == "agent"

    # 5. The link worked once.
    again = _page(browser, viewport)
    again.goto(link.replace("https://fans.example.com", live_server.url))
    assert again.locator("#invite-invalid").is_visible()
