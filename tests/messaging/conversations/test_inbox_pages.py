"""The Inbox pages: folders and counts, search (phone in any format), filters, keyset pages, unread
marks, the conversation page (reply, saved replies, notes, assign, snooze, done), presence,
transcript, bulk actions, and the trust rules (roles, other talents answer 404)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import Fan
from messaging.audience.models import ContactList, ContactListMember, FanTag, Tag
from messaging.conversations import inbox
from messaging.conversations.models import Conversation, Episode, Note, SavedReply
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db

INBOX = "admin:messaging_conversation_changelist"


def _page(conversation):
    return reverse("admin:messaging_conversation_change", args=[conversation.pk])


def _post(client, url, data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data)


def _rows(response) -> list[Conversation]:
    return [c for c, _text in response.context["rows"]]


@pytest.fixture
def texting(client, personas):
    """Fiona and two more fans wrote in."""
    text_in(client, personas.talent, "When is the next show?", str(personas.fan.phone))
    others = [create_fan(personas.talent, f"+1415555020{n}", first_name=f"Zed{n}") for n in range(2)]
    for fan in others:
        text_in(client, personas.talent, f"hello from {fan.first_name}", str(fan.phone))
    return [Conversation.objects.get(fan=personas.fan)] + [Conversation.objects.get(fan=f) for f in others]


def test_folders_counts_unread_and_tab_title(client, personas, texting):
    client.force_login(personas.agent)
    response = client.get(reverse(INBOX))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r"<title>\s*\(3\) Inbox \|", html)
    counts = {c.key: (c.total, c.unread) for c in response.context["counts"]}
    assert counts["unassigned"] == (3, 3) and counts["mine"] == (0, 0) and counts["done"] == (0, 0)
    assert set(_rows(response)) == set(texting)
    assert "Send reply" not in html  # the list answers nothing by itself

    # Opening one clears the team's unread mark.
    client.get(_page(texting[0]))
    counts = {c.key: c.unread for c in client.get(reverse(INBOX)).context["counts"]}
    assert counts["unassigned"] == 2


def test_mine_folder_and_the_assignees_own_unread_mark(client, personas, texting):
    client.force_login(personas.manager)
    _post(client, _page(texting[0]), {"action": "assign", "assignee": str(personas.agent.pk)})
    client.force_login(personas.agent)
    response = client.get(reverse(INBOX) + "?folder=mine")
    assert _rows(response) == [texting[0]]
    counts = {c.key: (c.total, c.unread) for c in response.context["counts"]}
    assert counts["mine"] == (1, 1) and counts["unassigned"][0] == 2
    client.get(_page(texting[0]))
    counts = {c.key: c.unread for c in client.get(reverse(INBOX)).context["counts"]}
    assert counts["mine"] == 0


@pytest.mark.parametrize("query", ["(415) 555-0101", "4155550101", "+1 415 555 0101", "+14155550101"])
def test_search_finds_a_phone_in_any_format(client, personas, texting, query):
    client.force_login(personas.agent)
    response = client.get(reverse(INBOX), {"folder": "open", "q": query})
    assert _rows(response) == [texting[0]]


def test_search_by_text_and_by_name(client, personas, texting):
    client.force_login(personas.agent)
    assert _rows(client.get(reverse(INBOX), {"folder": "open", "q": "show"})) == [texting[0]]
    assert _rows(client.get(reverse(INBOX), {"folder": "open", "q": "Zed1"})) == [texting[2]]
    assert _rows(client.get(reverse(INBOX), {"folder": "open", "q": "nothing-like-this"})) == []


def test_filters_and_bad_filter_values(client, personas, texting):
    client.force_login(personas.agent)
    vip = ContactList.objects.create(talent=personas.talent, name="VIP")
    ContactListMember.objects.create(contact_list=vip, fan=texting[1].fan)
    tag = Tag.objects.create(talent=personas.talent, name="tour")
    FanTag.objects.create(tag=tag, fan=texting[2].fan)
    Conversation.objects.filter(pk=texting[0].pk).update(waiting_since=timezone.now() - dt.timedelta(hours=30))
    get = lambda **p: _rows(client.get(reverse(INBOX), {"folder": "open", **p}))  # noqa: E731
    assert get(list=vip.pk) == [texting[1]]
    assert get(tag=tag.pk) == [texting[2]]
    assert get(waiting=24) == [texting[0]]
    assert get(media=1) == []
    response = client.get(reverse(INBOX), {"folder": "open", "waiting": "lots", "campaign": "x"})
    assert response.status_code == 200 and len(response.context["filters"].errors) == 2


def test_keyset_pages(client, personas, texting, monkeypatch):
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    qs = inbox.folder_queryset("open", talent_ids={personas.talent.pk}, user=personas.agent)
    first, cursor = inbox.page(qs, size=2)
    second, end = inbox.page(qs, after=cursor, size=2)
    assert len(first) == 2 and len(second) == 1 and end == ""
    assert set(first) | set(second) == set(texting)
    client.force_login(personas.agent)
    response = client.get(reverse(INBOX), {"folder": "open", "after": "garbage"})
    assert response.status_code == 200


def test_capped_counts(personas, monkeypatch):
    monkeypatch.setattr(inbox, "COUNT_CAP", 2)
    for _ in range(4):
        Conversation.objects.create(talent=personas.talent, fan=create_fan(personas.talent))
    counts = {c.key: c for c in inbox.folder_counts(talent_ids={personas.talent.pk}, user=personas.agent)}
    assert counts["open"].total == 3 and counts["open"].total_text == "2+"


def test_the_conversation_page_shows_thread_and_fan(client, personas, texting):
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))  # shown in the thread, opens nothing
    client.force_login(personas.analyst)  # may look, may not answer
    response = client.get(_page(texting[0]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "When is the next show?" in html and "Help keyword" in html and "Fiona" in html
    assert "Local time" in html and "Send reply" not in html
    assert _post(client, _page(texting[0]), {"action": "reply", "body": "hi"}).status_code == 403
    assert _post(client, _page(texting[0]), {"action": "note", "note": "x"}).status_code == 403
    assert not OutboundMessage.objects.filter(kind="reply").exists() and not Note.objects.exists()


def test_other_talents_conversations_answer_404(client, personas, texting):
    client.force_login(personas.other_manager)
    assert client.get(_page(texting[0])).status_code == 404
    assert _post(client, _page(texting[0]), {"action": "reply", "body": "hi"}).status_code == 404
    presence = reverse("admin:messaging_conversation_presence", args=[texting[0].pk])
    assert client.post(presence).status_code == 404
    transcript = reverse("admin:messaging_conversation_transcript", args=[texting[0].pk])
    assert client.get(transcript).status_code == 404
    assert _rows(client.get(reverse(INBOX), {"folder": "open"})) == []
    # Bulk actions ignore another talent's ids.
    _post(client, reverse("admin:messaging_conversation_bulk"), {"ids": [texting[0].pk], "bulk_action": "done"})
    texting[0].refresh_from_db()
    assert texting[0].status == "open"


def test_send_reply_with_a_saved_reply(client, personas, texting, sms_outbox):
    saved = SavedReply.objects.create(talent=personas.talent, title="Tour", body="Hi {first_name}! Dates: tour.example")
    client.force_login(personas.agent)
    page = client.get(_page(texting[0]) + f"?saved={saved.pk}")
    assert "Hi Fiona! Dates: tour.example" in page.content.decode()
    seen = page.context["reply_form"]["seen_reply_id"].value()
    response = _post(
        client,
        _page(texting[0]),
        {"action": "reply", "body": "Hi Fiona! Dates: tour.example", "seen_reply_id": seen or ""},
    )
    assert response.status_code == 302
    assert sms_outbox[-1].body == "Hi Fiona! Dates: tour.example"
    texting[0].refresh_from_db()
    assert texting[0].status == "pending" and texting[0].assignee == personas.agent
    assert Episode.objects.get(conversation=texting[0]).outcome == "answered"


def test_a_placeholder_without_value_must_be_filled_in(client, personas, texting, sms_outbox):
    saved = SavedReply.objects.create(talent=personas.talent, title="City", body="See you in {city}!")
    client.force_login(personas.agent)
    page = client.get(_page(texting[0]) + f"?saved={saved.pk}")
    assert "Fill in {city}" in page.content.decode()
    response = _post(client, _page(texting[0]), {"action": "reply", "body": "See you in {city}!"})
    assert response.status_code == 400 and "Fill in {city}" in response.content.decode()
    assert sms_outbox == []


def test_an_opted_out_fan_gets_a_clear_refusal(client, personas, texting, sms_outbox):
    Fan.objects.filter(pk=personas.fan.pk).update(status=Fan.Status.OPTED_OUT)
    client.force_login(personas.agent)
    html = client.get(_page(texting[0])).content.decode()
    assert "texted STOP" in html
    response = _post(client, _page(texting[0]), {"action": "reply", "body": "hello?"})
    assert response.status_code == 400 and "texted STOP" in response.content.decode()
    assert sms_outbox == []


def test_two_members_answering_at_once(client, personas, texting, sms_outbox):
    client.force_login(personas.manager)
    _post(client, _page(texting[0]), {"action": "reply", "body": "From Max", "seen_reply_id": ""})
    client.force_login(personas.agent)
    # Ada's page was loaded before Max's reply: seen_reply_id is empty.
    response = _post(client, _page(texting[0]), {"action": "reply", "body": "From Ada", "seen_reply_id": ""})
    html = response.content.decode()
    assert response.status_code == 409 and "max_manager answered" in html and "From Max" in html
    assert "Send mine anyway" in html and [m.body for m in sms_outbox] == ["From Max"]
    seen = response.context["reply_form"].data["seen_reply_id"]
    response = _post(client, _page(texting[0]), {"action": "reply", "body": "From Ada", "seen_reply_id": seen})
    assert response.status_code == 302 and [m.body for m in sms_outbox] == ["From Max", "From Ada"]


def test_notes_assign_snooze_done_reopen_and_transcript(client, personas, texting):
    client.force_login(personas.agent)
    url = _page(texting[0])
    assert _post(client, url, {"action": "note", "note": "VIP, be nice"}).status_code == 302
    assert _post(client, url, {"action": "note", "note": " "}).status_code == 400
    assert _post(client, url, {"action": "assign", "assignee": "me"}).status_code == 302
    assert _post(client, url, {"action": "assign", "assignee": str(personas.analyst.pk)}).status_code == 400
    assert _post(client, url, {"action": "snooze", "hours": "4"}).status_code == 302
    texting[0].refresh_from_db()
    assert texting[0].status == "snoozed" and texting[0].assignee == personas.agent
    assert _post(client, url, {"action": "snooze"}).status_code == 400  # no time picked
    assert _post(client, url, {"action": "done"}).status_code == 302
    assert _post(client, url, {"action": "reopen"}).status_code == 302
    assert _post(client, url, {"action": "nonsense"}).status_code == 400
    transcript = client.get(reverse("admin:messaging_conversation_transcript", args=[texting[0].pk]))
    text = transcript.content.decode()
    assert transcript["Content-Disposition"].startswith("attachment")
    assert "When is the next show?" in text and "Private note (ada_agent): VIP, be nice" in text


def test_presence_heartbeat(client, personas, texting):
    url = reverse("admin:messaging_conversation_presence", args=[texting[0].pk])
    client.force_login(personas.manager)
    client.get(_page(texting[0]))
    client.force_login(personas.agent)
    assert client.get(url).status_code == 405
    data = client.post(url, {"typing": "1"}).json()
    assert data["others"] == [{"name": "max_manager", "typing": False}]
    assert data["last_inbound_id"] == texting[0].last_inbound_id


def test_bulk_actions(client, personas, texting):
    client.force_login(personas.agent)
    bulk = reverse("admin:messaging_conversation_bulk")
    ids = [c.pk for c in texting[:2]]
    assert _post(client, bulk, {"ids": ids, "bulk_action": "assign_me"}).status_code == 302
    assert set(Conversation.objects.filter(assignee=personas.agent).values_list("pk", flat=True)) == set(ids)
    _post(client, bulk, {"ids": ids, "bulk_action": "snooze_24"})
    assert Conversation.objects.filter(status="snoozed").count() == 2
    _post(client, bulk, {"ids": [texting[2].pk], "bulk_action": "spam"})
    assert Conversation.objects.get(pk=texting[2].pk).blocked
    _post(client, bulk, {"ids": ids, "bulk_action": "bogus"})
    assert Conversation.objects.filter(status="snoozed").count() == 2
    client.force_login(personas.analyst)
    assert _post(client, bulk, {"ids": ids, "bulk_action": "done"}).status_code == 403


def test_replies_to_a_campaign_folder(client, personas, texting):
    from tests.messaging.campaign_fixtures import create_campaign

    campaign = create_campaign(personas.talent)
    Conversation.objects.filter(pk=texting[1].pk).update(campaign=campaign)
    client.force_login(personas.agent)
    response = client.get(reverse(INBOX), {"folder": "campaign", "campaign": campaign.pk})
    assert _rows(response) == [texting[1]] and f"Replies to {campaign.name}" in response.content.decode()
    response = client.get(reverse(INBOX), {"folder": "campaign", "campaign": 999999})
    assert response.status_code == 200 and response.context["folder"] == "open"


def test_received_texts_log_has_no_reply_box(client, personas, texting):
    client.force_login(personas.agent)
    message = InboundMessage.objects.filter(fan=personas.fan).first()
    html = client.get(reverse("admin:messaging_inboundmessage_change", args=[message.pk])).content.decode()
    assert "Open the conversation" in html and 'name="reply"' not in html


def test_search_never_finds_another_talents_fans(client, personas, texting):
    text_in(client, personas.other_talent, "When is the next show?", str(personas.other_fan.phone))
    client.force_login(personas.agent)
    assert _rows(client.get(reverse(INBOX), {"folder": "open", "q": "show"})) == [texting[0]]
    assert _rows(client.get(reverse(INBOX), {"folder": "open", "q": "Gus"})) == []
    assert _rows(client.get(reverse(INBOX), {"folder": "open", "q": str(personas.other_fan.phone)})) == []
