"""The console's frame: unfold's theme on every page, a menu by task, the team's words, a favicon."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from accounts.admin_scoping import TalentScopedAdmin
from messaging.models import Conversation
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

UNFOLD_CSS = "/static/unfold/css/styles.css"


def _html(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _menu(html: str) -> str:
    return html.split('id="nav-sidebar-apps"', 1)[1].split("</nav>", 1)[0]


def test_every_console_page_is_an_unfold_page():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in {"accounts", "consent", "messaging"}:
            assert isinstance(model_admin, TalentScopedAdmin), model
    assert type(admin.site).__module__ == "unfold.sites"


@pytest.mark.parametrize(
    "url",
    ["admin:index", "admin:accounts_fan_changelist", "admin:messaging_campaign_add", "admin:login"],
)
def test_pages_render_with_the_theme_and_the_favicon(client, personas, url):
    if url != "admin:login":
        client.force_login(personas.manager)
    html = _html(client, reverse(url))
    assert UNFOLD_CSS in html
    assert '<link rel="icon" href="/static/console/favicon.svg" type="image/svg+xml"' in html
    assert finders.find("console/favicon.svg"), "the favicon is a static file of ours, no CDN"
    assert "https://" not in " ".join(re.findall(r'(?:src|href)="([^"]+)"', html)), "no asset from a CDN"


def test_the_menu_is_by_task(client, personas):
    client.force_login(personas.owner)
    menu = _menu(_html(client, reverse("admin:index")))
    groups = re.findall(r"<h2[^>]*>\s*([^<]+?)\s*<", menu)
    assert groups == ["Audience", "Automations", "Team and settings", "Compliance"]
    titles = re.findall(r"<span>([^<]+)</span>", menu)
    assert titles == [
        "Home", "Inbox", "Campaigns", "Polls", "Sent texts", "Received texts",
        "Fans", "Lists", "Tags", "Segments", "Imports", "Exports",
        "Keywords", "Drops",
        "Welcome series", "Date messages", "Next 24 hours",
        "Team", "Settings", "Senders", "Saved replies", "API tokens", "Webhooks", "Webhook deliveries",
        "Consent records", "Terms", "Audit log", "Export log",
    ]  # fmt: skip
    assert reverse("admin:messaging_inboundmessage_changelist") in menu  # the old URLs stay
    assert "Inbound messages" not in menu and "Audit events" not in menu


def test_the_menu_shows_only_what_the_role_may_open(client, personas):
    client.force_login(personas.agent)
    titles = re.findall(r"<span>([^<]+)</span>", _menu(_html(client, reverse("admin:index"))))
    assert "Inbox" in titles
    assert "Users" not in titles and "Scheduled tasks" not in titles  # operators only
    client.force_login(personas.superuser)
    titles = re.findall(r"<span>([^<]+)</span>", _menu(_html(client, reverse("admin:index"))))
    assert {"Users", "Scheduled tasks"} <= set(titles)


def test_the_inbox_badge_counts_conversations_waiting(client, personas):
    client.force_login(personas.agent)
    assert "Inbox" in _menu(_html(client, reverse("admin:index")))
    for fan in (personas.fan, create_fan(personas.talent)):
        Conversation.objects.create(talent=personas.talent, fan=fan, waiting_since=timezone.now())
    Conversation.objects.create(talent=personas.talent, fan=create_fan(personas.talent), status="done")
    menu = _menu(_html(client, reverse("admin:index")))
    inbox = menu.split("<span>Inbox</span>", 1)[1].split("</a>", 1)[0]
    assert re.search(r">\s*2\s*</span>", inbox)


def test_titles_speak_the_teams_language(client, personas):
    client.force_login(personas.agent)
    html = _html(client, reverse("admin:messaging_conversation_changelist"))
    assert re.search(r"<title>\s*Inbox \|", html)
    header = html.split('id="header-inner"', 1)[1].split("</h1>", 1)[0]
    assert "Inbox" in header and "Inbound messages" not in header and "Messaging" not in header

    html = _html(client, reverse("admin:accounts_fan_change", args=[personas.fan.pk]))
    trail = html.split('id="header-inner"', 1)[1].split("<h1", 1)[1].split("</h1>", 1)[0]
    words = [w for w in re.findall(r">\s*([^<>]+?)\s*</(?:a|span)\s*>", trail) if w != "chevron_right"]
    assert words[:3] == ["Audience", "Fans", str(personas.fan)]


def test_the_inbox_answer_button_says_send_reply(client, personas):
    fan = create_fan(personas.talent, "+14155550199")
    conversation = Conversation.objects.create(talent=personas.talent, fan=fan, waiting_since=timezone.now())
    client.force_login(personas.agent)
    html = _html(client, reverse("admin:messaging_conversation_change", args=[conversation.pk]))
    reply = html.split('id="fc-reply"', 1)[1].split("</form>", 1)[0]
    assert re.search(r'value="reply"[^>]*>\s*Send reply\s*<', reply)
    assert ">Save<" not in re.sub(r"\s+", "", reply)


def test_the_front_page_keeps_the_dashboard_and_lists_tasks_not_models(client, personas):
    client.force_login(personas.manager)
    html = _html(client, reverse("admin:index"))
    assert "Nova Ray at a glance" in html  # the current talent's home (backlog block included in its template)
    tasks = html.split('aria-label="Console tasks"', 1)[1].split("</nav>", 1)[0]
    assert reverse("admin:accounts_fan_changelist") in tasks and ">Home<" not in tasks
    assert "Inbound messages" not in html and "Outbound messages" not in html


def test_signed_out_pages_have_no_menu(client, personas):
    html = _html(client, reverse("admin:login"))
    assert 'id="nav-sidebar"' not in html
