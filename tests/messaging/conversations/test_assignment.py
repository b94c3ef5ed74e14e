"""Assignment (issue 13 §2): round-robin among members who marked themselves available (the mark
lapses), a per-member cap on open conversations, manual assignment, and the outgoing webhook
`conversation.assigned` for every assignment, written in the assignment's transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts import outbox
from accounts.integration_models import WebhookEndpoint, WebhookEvent
from messaging.conversations import assignment, services
from messaging.conversations.models import Conversation, ConversationEvent, MemberInbox
from tests.accounts.join_support import text_in
from tests.factories import create_fan

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_no_webhook_kick")]


@pytest.fixture
def _no_webhook_kick():
    with override_settings(WEBHOOKS_KICK=False):  # events are written; nothing is delivered in tests
        yield


def _round_robin(talent, *, cap=25):
    settings = assignment.inbox_settings_for(talent.pk)
    settings.auto_assign, settings.member_cap = True, cap
    settings.save()
    return settings


def _texts(client, talent, n, start=300):
    fans = [create_fan(talent, f"+1415555{start + i:04d}") for i in range(n)]
    for fan in fans:
        text_in(client, talent, "Hi, a question about tickets", str(fan.phone))
    return [Conversation.objects.get(fan=f) for f in fans]


def test_round_robin_takes_turns_among_available_members(client, personas):
    _round_robin(personas.talent)
    for user in (personas.agent, personas.manager):
        assignment.member_set_available(talent_id=personas.talent.pk, user=user, available=True)
    conversations = _texts(client, personas.talent, 4)
    owners = [c.assignee for c in conversations]
    assert owners.count(personas.agent) == 2 and owners.count(personas.manager) == 2
    assert owners[0] != owners[1] and owners[1] != owners[2]  # turns, not first-come-takes-all
    assert all(c.unread_assignee for c in conversations)
    event = ConversationEvent.objects.filter(conversation=conversations[0], kind="assigned").get()
    assert event.actor is None and event.detail == "round-robin"


def test_nobody_is_assigned_when_round_robin_is_off_or_nobody_is_available(client, personas):
    assignment.member_set_available(talent_id=personas.talent.pk, user=personas.agent, available=True)
    (off,) = _texts(client, personas.talent, 1, start=310)
    assert off.assignee is None  # off by default: the inbox is worked by hand
    _round_robin(personas.talent)
    assignment.member_set_available(talent_id=personas.talent.pk, user=personas.agent, available=False)
    (nobody,) = _texts(client, personas.talent, 1, start=320)
    assert nobody.assignee is None


def test_the_availability_mark_lapses_after_the_idle_time(client, personas):
    _round_robin(personas.talent)
    assignment.member_set_available(talent_id=personas.talent.pk, user=personas.agent, available=True)
    idle = timezone.now() - dt.timedelta(minutes=assignment.AVAILABLE_IDLE_MINUTES + 1)
    MemberInbox.objects.filter(user=personas.agent).update(active_at=idle)
    (conversation,) = _texts(client, personas.talent, 1)
    assert conversation.assignee is None
    state = assignment.member_state(talent_id=personas.talent.pk, user=personas.agent)
    assert state == {"available": False, "lapsed": True, "email_digest": False}
    # Working the inbox keeps the mark alive: after a page view the next text is theirs.
    MemberInbox.objects.filter(user=personas.agent).update(active_at=timezone.now() - dt.timedelta(minutes=5))
    client.force_login(personas.agent)
    client.get(reverse("admin:messaging_conversation_changelist"))
    assert MemberInbox.objects.get(user=personas.agent).active_at > timezone.now() - dt.timedelta(minutes=1)
    (next_one,) = _texts(client, personas.talent, 1, start=330)
    assert next_one.assignee == personas.agent


def test_a_member_at_the_cap_is_skipped(client, personas):
    _round_robin(personas.talent, cap=1)
    assignment.member_set_available(talent_id=personas.talent.pk, user=personas.agent, available=True)
    first, second = _texts(client, personas.talent, 2)
    assert first.assignee == personas.agent and second.assignee is None
    services.conversation_done(conversation=first, user=personas.agent)  # a slot frees up
    (third,) = _texts(client, personas.talent, 1, start=340)
    assert third.assignee == personas.agent


def test_only_members_who_may_reply_take_conversations(client, personas):
    _round_robin(personas.talent)
    with pytest.raises(PermissionError):
        assignment.member_set_available(talent_id=personas.talent.pk, user=personas.analyst, available=True)
    # A mark forged straight into the table (or left from a role that changed) still gives nothing.
    MemberInbox.objects.create(talent=personas.talent, user=personas.analyst, available=True, active_at=timezone.now())
    MemberInbox.objects.create(
        talent=personas.talent, user=personas.other_manager, available=True, active_at=timezone.now()
    )
    (conversation,) = _texts(client, personas.talent, 1)
    assert conversation.assignee is None


def test_a_keyword_text_assigns_nothing(client, personas):
    _round_robin(personas.talent)
    assignment.member_set_available(talent_id=personas.talent.pk, user=personas.agent, available=True)
    text_in(client, personas.talent, "HELP", str(personas.fan.phone))
    assert not Conversation.objects.exists()
    assert MemberInbox.objects.get(user=personas.agent).last_assigned_at is None


def _endpoint(talent, events=("conversation.assigned",)):
    return WebhookEndpoint.objects.create(
        talent=talent, url="https://hooks.example.com/in", events=list(events), secret=outbox.new_secret()
    )


def test_every_assignment_emits_conversation_assigned(client, personas):
    _endpoint(personas.talent)
    _endpoint(personas.other_talent)  # another talent hears nothing of Nova's inbox
    _round_robin(personas.talent)
    assignment.member_set_available(talent_id=personas.talent.pk, user=personas.agent, available=True)
    (conversation,) = _texts(client, personas.talent, 1)
    services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.manager)
    services.conversation_assign(conversation=conversation, user=personas.manager, assignee=None)  # no event
    events = list(WebhookEvent.objects.filter(type="conversation.assigned").order_by("pk"))
    assert [e.talent_id for e in events] == [personas.talent.pk] * 2
    auto, manual = (e.data["conversation"] for e in events)
    # What is sent is what the catalogue (and the API's event list) promises a client.
    assert set(auto) == set(manual) == set(outbox.CATALOGUE["conversation.assigned"].sample["conversation"])
    assert auto["id"] == conversation.pk and auto["fan_id"] == conversation.fan_id
    assert (auto["assignee"]["id"], auto["assigned_by"], auto["how"]) == (personas.agent.pk, None, "round_robin")
    assert (manual["assignee"]["id"], manual["assigned_by"], manual["how"]) == (
        personas.manager.pk,
        personas.manager.pk,
        "manual",
    )
    assert manual["assigned_at"].endswith("Z") and events[0].fan_id == conversation.fan_id


def test_whoever_answers_an_unassigned_conversation_gets_it_and_the_event(client, personas):
    _endpoint(personas.talent)
    text_in(client, personas.talent, "hello?", str(personas.fan.phone))
    conversation = Conversation.objects.get(fan=personas.fan)
    services.conversation_reply(conversation=conversation, user=personas.agent, body="Hi!", seen_reply_id=None)
    data = WebhookEvent.objects.get(type="conversation.assigned").data["conversation"]
    assert (data["assignee"]["id"], data["how"]) == (personas.agent.pk, "reply")


def test_an_assignment_that_rolls_back_emits_nothing(client, personas):
    _endpoint(personas.talent)
    text_in(client, personas.talent, "hello?", str(personas.fan.phone))
    conversation = Conversation.objects.get(fan=personas.fan)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.agent)
        raise RuntimeError("the change rolls back")
    assert not WebhookEvent.objects.exists()
    with pytest.raises(services.ConversationError):
        services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.analyst)
    assert not WebhookEvent.objects.exists()


def test_the_inbox_marks_availability_and_digest_for_the_current_talent(client, personas):
    client.force_login(personas.agent)
    url = reverse("admin:messaging_conversation_availability")
    response = client.post(url, {"available": "1"})
    assert response.status_code == 302
    assert assignment.member_state(talent_id=personas.talent.pk, user=personas.agent)["available"]
    html = client.get(reverse("admin:messaging_conversation_changelist")).content.decode()
    assert "You are available for new conversations" in html and "round-robin is off" in html
    client.post(url, {"available": "0"})
    assert not assignment.member_state(talent_id=personas.talent.pk, user=personas.agent)["available"]
    client.post(url, {"digest": "1"})
    assert MemberInbox.objects.get(user=personas.agent).email_digest
    assert client.get(url).status_code == 404  # POST only
    client.force_login(personas.analyst)
    assert client.post(url, {"available": "1"}).status_code == 403
    assert not MemberInbox.objects.filter(user=personas.analyst, available=True).exists()
