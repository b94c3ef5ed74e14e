"""In a real browser at 1366x768: a manager creates a keyword in the console (a reserved word is
refused first, with the reason on the field), sees its share link and QR code, then a member and
a stranger text it through the signed inbound webhook. axe-core checks the keyword pages."""

from __future__ import annotations

import threading

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Fan, TeamMember
from messaging.automations.keyword_models import FanKeyword, Keyword
from tests.accounts.join_support import text_in
from tests.e2e.test_console_a11y import _violations, axe_source, console_page  # noqa: F401 - fixtures
from tests.factories import create_fan, create_member, create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _text(talent, body: str, phone: str) -> None:
    """A fan's text, in a thread of its own: the priority lane's sender runs an event loop, and
    Playwright has one in this thread."""
    done = threading.Thread(target=lambda: text_in(Client(), talent, body, phone))
    done.start()
    done.join()


@pytest.mark.parametrize("console_page", ["laptop"], indirect=True)
def test_create_a_keyword_and_play_a_fan_texting_it(live_server, console_page, axe_source, sms_outbox):  # noqa: F811
    page = console_page
    talent = create_talent("nova-keywords", display_name="Nova Ray")
    manager = create_member(talent, TeamMember.Role.MANAGER, "max_manager").user
    fan = create_fan(talent, "+14155550131", first_name="Fiona")

    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", manager.username)
    page.fill("#id_password", manager.raw_password)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/admin/")
    page.get_by_role("link", name="Keywords").first.click()  # the menu entry
    page.wait_for_url("**/keyword/")
    problems = _violations(page, axe_source, "keywords")

    # A platform word is refused, with the reason on the field.
    page.goto(live_server.url + reverse("admin:messaging_keyword_add"))
    page.fill("input[name=word]", "STOP")
    page.fill("textarea[name=reply]", "Tour dates: nova.example.com/tour")
    problems += _violations(page, axe_source, "keyword-add")
    page.click("button[name=_continue]")
    page.wait_for_load_state()
    assert (
        "one of the platform&#x27;s own words" in page.content()
        or "one of the platform's own words" in page.inner_text("body")
    )
    assert not Keyword.objects.exists()

    page.fill("input[name=word]", "Tour")
    page.fill("input[name=aliases]", "tours")
    page.click("button[name=_continue]")
    page.wait_for_selector("text=Play as a fan")
    keyword = Keyword.objects.get()
    assert keyword.word == "tour"
    assert page.locator("a[href^='sms:']").first.get_attribute("href") == f"sms:{talent.sender_number}?&body=TOUR"
    assert page.locator("figure svg").count() == 1  # the QR code, drawn by the server
    assert "Tour dates: nova.example.com/tour" in page.inner_text("#content-main")
    problems += _violations(page, axe_source, "keyword-change")

    # A member texts it: the reply at once on the priority lane. A stranger: the signup link.
    _text(talent, "tours please", str(fan.phone))
    assert [m.body for m in sms_outbox if m.to == str(fan.phone)] == ["Tour dates: nova.example.com/tour"]
    _text(talent, "TOUR", "+14155552699")
    stranger = Fan.objects.get(talent=talent, phone="+14155552699")
    assert "Join here" in [m.body for m in sms_outbox if m.to == "+14155552699"][0]
    assert FanKeyword.objects.get(fan=stranger).keyword == keyword

    page.reload()
    assert "Used 2 times" in page.inner_text("#content-main")
    assert problems == [], "\n".join(problems)
