"""In a real browser at 1366x768: a fan texts, the conversation appears unread for the agent (tab
title and row), the agent assigns it to themselves, answers with a saved reply (placeholder filled),
the fan's next text reopens it, and the first-reply figure moves. axe-core checks both pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import TeamMember
from messaging.conversations.figures import reply_figures
from messaging.conversations.models import Conversation, SavedReply
from tests.accounts.join_support import text_in
from tests.e2e.test_console_a11y import _violations, axe_source, console_page  # noqa: F401 - fixtures
from tests.factories import create_fan, create_member, create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("console_page", ["laptop"], indirect=True)
def test_fan_texts_agent_answers_with_a_saved_reply_fan_reopens(live_server, console_page, axe_source, sms_outbox):  # noqa: F811
    page = console_page
    talent = create_talent("nova-inbox", display_name="Nova Ray")
    agent = create_member(talent, TeamMember.Role.AGENT, "ada_agent").user
    fan = create_fan(talent, "+14155550121", first_name="Fiona", last_name="Novafan")
    SavedReply.objects.create(talent=talent, title="Show times", body="Hi {first_name}! Doors open at 8.")
    window = (timezone.now() - dt.timedelta(days=1), timezone.now() + dt.timedelta(days=1))

    # 1. The fan texts the talent's number.
    text_in(Client(), talent, "When does the show start?", str(fan.phone))
    assert reply_figures(talent, *window)["median_seconds"] is None

    # 2. The agent signs in: the conversation is unread, in the tab title and in the list.
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", agent.username)
    page.fill("#id_password", agent.raw_password)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/admin/")
    page.goto(live_server.url + reverse("admin:messaging_conversation_changelist"))
    assert page.title().startswith("(1) Inbox")
    row = page.locator("tr.fc-unread", has_text="Fiona")
    assert row.count() == 1 and "When does the show start?" in row.inner_text()
    problems = _violations(page, axe_source, "inbox")

    # 3. Open it and assign it to themselves.
    row.locator("a").first.click()
    page.wait_for_url("**/change/")
    page.get_by_role("button", name="Assign to me").click()
    page.wait_for_load_state()
    assert "assigned to ada_agent" in page.locator("h1.text-xl", has_text="Fiona").inner_text()
    problems += _violations(page, axe_source, "conversation")

    # 4. Answer with the saved reply: its {first_name} is filled in; the counter shows the parts.
    page.get_by_role("link", name="Show times").click()
    assert page.locator("textarea[name=body]").input_value() == "Hi Fiona! Doors open at 8."
    assert page.locator("#fc-parts-count").inner_text() == "1"
    page.get_by_role("button", name="Send reply", exact=True).click()
    page.wait_for_load_state()
    assert "Reply sent" in page.content()
    assert sms_outbox[-1].body == "Hi Fiona! Doors open at 8." and sms_outbox[-1].to == str(fan.phone)
    conversation = Conversation.objects.get(fan=fan)
    assert conversation.status == "pending" and conversation.assignee == agent
    figures = reply_figures(talent, *window)
    assert figures["answered"] == 1 and figures["median_seconds"] is not None  # the first-reply figure moved

    # 5. The fan writes again: reopened, unread in the agent's own folder.
    text_in(Client(), talent, "Great, see you there!", str(fan.phone))
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.unread_assignee
    page.goto(live_server.url + reverse("admin:messaging_conversation_changelist") + "?folder=mine")
    assert page.locator("tr.fc-unread", has_text="Fiona").count() == 1
    assert page.title().startswith("(1) Inbox")
    assert problems == [], "\n".join(problems)
