"""In a real browser: the agent turns on browser notifications (permission asked on that click
only), a fan texts, the inbox's 30 s poll raises a notification that names the fan but never
the text, the tab title counts it, and clicking the notification opens the conversation.

The page's clock is Playwright's (page.clock), so the 30 s poll runs without waiting 30 s; the
Notification constructor is wrapped to record what the page showed (headless Chromium draws no
notification, but the page's calls are the behaviour under test)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import TeamMember
from messaging.conversations.models import Conversation
from tests.accounts.join_support import text_in
from tests.e2e.test_console_a11y import console_page  # noqa: F401 - fixture
from tests.factories import create_fan, create_member, create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__shown = [];
  class Recorded {
    constructor(title, options) {
      this.title = title; this.options = options || {};
      window.__shown.push(this);
    }
    static get permission() { return Real ? Real.permission : "granted"; }
    static requestPermission() { window.__asked = (window.__asked || 0) + 1; return Real.requestPermission(); }
  }
  window.Notification = Recorded;
})();
"""


@pytest.mark.parametrize("console_page", ["laptop"], indirect=True)
def test_a_fans_text_raises_a_notification_that_opens_the_conversation(live_server, console_page):  # noqa: F811
    page = console_page
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    page.add_init_script(RECORD_NOTIFICATIONS)
    page.clock.install()
    talent = create_talent("nova-notify", display_name="Nova Ray")
    agent = create_member(talent, TeamMember.Role.AGENT, "ada_agent").user
    fan = create_fan(talent, "+14155550131", first_name="Fiona", last_name="Novafan")

    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", agent.username)
    page.fill("#id_password", agent.raw_password)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/admin/")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + reverse("admin:messaging_conversation_changelist"))
    assert page.evaluate("window.__asked || 0") == 0  # never asked before the member's click
    button = page.get_by_role("button", name="Turn on browser notifications")
    button.click()
    page.get_by_text("Browser notifications are on.").wait_for()
    assert page.evaluate("window.__asked") == 1 and button.is_hidden()

    text_in(Client(), talent, "My secret question about the VIP tickets", str(fan.phone))
    page.clock.run_for(31_000)  # the poll's interval
    page.wait_for_function("window.__shown.length > 0")
    shown = page.evaluate("window.__shown.map(n => n.title + ' | ' + (n.options.body || ''))")
    assert len(shown) == 1 and "Fiona" in shown[0]
    assert "secret" not in shown[0]  # a notification may show on a lock screen: never the text
    page.wait_for_function("document.title.startsWith('(1) ')")
    page.clock.run_for(31_000)  # the next poll: nothing new since the last one, no second notification
    page.wait_for_timeout(500)
    assert page.evaluate("window.__shown.length") == 1

    conversation = Conversation.objects.get(fan=fan)
    page.evaluate("window.__shown[0].onclick()")
    page.wait_for_url(f"**/messaging/conversation/{conversation.pk}/change/")
    assert "My secret question" in page.content()
    assert errors == []
