"""What happens without anyone watching (issue 13 §2): snoozes wake on a schedule, the browser's
notification poll, the email digest of waiting conversations; and the inbox's data in the fan's
own export (notes are fan data: a data-subject access right covers them)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from messaging import tasks
from messaging.conversations import assignment, digest, services
from messaging.conversations.models import Conversation, MemberInbox
from messaging.privacy.services import fan_data_export
from tests.accounts.join_support import text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(client, personas) -> Conversation:
    text_in(client, personas.talent, "Is the show sold out?", str(personas.fan.phone))
    return Conversation.objects.get(fan=personas.fan)


def test_a_snooze_ends_on_the_periodic_task_without_a_page_view(conversation, personas):
    services.conversation_assign(conversation=conversation, user=personas.agent, assignee=personas.agent)
    services.conversation_snooze(
        conversation=conversation, user=personas.agent, until=timezone.now() + dt.timedelta(hours=1)
    )
    Conversation.objects.filter(pk=conversation.pk).update(unread_assignee=False, unread_team=False)
    other = Conversation.objects.create(
        talent=personas.other_talent,
        fan=personas.other_fan,
        status="snoozed",
        snoozed_until=timezone.now() + dt.timedelta(days=1),
    )
    assert tasks.wake_snoozed_conversations() == 0  # not yet
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=timezone.now() - dt.timedelta(seconds=1))
    assert tasks.wake_snoozed_conversations() == 1
    conversation.refresh_from_db()
    other.refresh_from_db()
    assert conversation.status == "open" and conversation.snoozed_until is None
    assert conversation.unread_team and conversation.unread_assignee  # back in Mine, marked for its assignee
    assert other.status == "snoozed"


def test_the_wake_and_digest_tasks_are_scheduled(db):
    tasks.ensure_periodic_schedules()
    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert {"messaging.tasks.wake_snoozed_conversations", "messaging.tasks.send_inbox_digests"} <= funcs
    assert Schedule.objects.get(func="messaging.tasks.wake_snoozed_conversations").minutes == 1


def test_the_notification_poll_names_new_unassigned_and_own_texts_only(client, personas, conversation):
    client.force_login(personas.agent)
    poll = reverse("admin:messaging_conversation_poll")
    since = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    data = client.get(poll, {"since": since}).json()
    assert data["unread"] == 1 and [n["id"] for n in data["new"]] == [conversation.pk]
    assert data["new"][0]["title"] == "New text: Fiona Tester" and "Is the show" not in str(data)
    assert data["new"][0]["url"] == reverse("admin:messaging_conversation_change", args=[conversation.pk])
    # Someone else's conversation: not this member's notification.
    services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.manager)
    assert client.get(poll, {"since": since}).json()["new"] == []
    # Nothing new since the last poll.
    services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.agent)
    assert client.get(poll, {"since": data["now"]}).json()["new"] == []
    assert client.get(poll, {"since": since}).json()["new"][0]["title"].startswith("Your conversation")
    # Bad input: a 400 with a message; another talent's member sees nothing of Nova's.
    response = client.get(poll, {"since": "yesterday"})
    assert response.status_code == 400 and "ISO 8601" in response.json()["error"]
    client.force_login(personas.other_manager)
    theirs = client.get(poll, {"since": since}).json()
    assert (theirs["unread"], theirs["new"]) == (0, [])


def test_the_inbox_page_works_without_the_script_and_offers_notifications(client, personas, conversation):
    client.force_login(personas.agent)
    html = client.get(reverse("admin:messaging_conversation_changelist")).content.decode()
    assert 'id="fc-notify" hidden' in html  # shown by the script only where the browser can notify
    assert "data-poll-url=" in html and "Email me waiting conversations daily" in html


def test_the_digest_mails_members_who_asked_once_a_day(client, personas, conversation):
    second = create_fan(personas.talent, "+14155550333", first_name="Gia")
    text_in(client, personas.talent, "Me too", str(second.phone))
    assignment.member_set_digest(talent_id=personas.talent.pk, user=personas.agent, enabled=True)
    assignment.member_set_digest(talent_id=personas.talent.pk, user=personas.analyst, enabled=True)  # may not reply
    mail.outbox.clear()
    call_command("inbox_digest")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [personas.agent.email] and "2 fan conversations waiting" in message.subject
    assert "Fiona Tester (unassigned)" in message.body and "Gia Tester (unassigned)" in message.body
    assert "https://fans.example.com/admin/messaging/conversation/" in message.body
    assert "Is the show" not in message.body  # names and waits, never the texts
    assert digest.digests_send().skipped_recent == 1 and len(mail.outbox) == 1  # not twice a day
    MemberInbox.objects.filter(user=personas.agent).update(digest_sent_at=timezone.now() - dt.timedelta(days=1))
    for c in Conversation.objects.all():
        services.conversation_done(conversation=c, user=personas.agent)
    report = digest.digests_send()
    assert report.skipped_empty == 1 and len(mail.outbox) == 1  # nothing waits: no email


def test_the_fans_export_lists_notes_and_the_handling_history(personas, conversation):
    services.conversation_note(conversation=conversation, user=personas.agent, body="Prefers a call back")
    services.conversation_assign(conversation=conversation, user=personas.manager, assignee=personas.agent)
    exported = fan_data_export(fan=personas.fan)["conversation"]
    assert exported["notes"] == [{"at": exported["notes"][0]["at"], "by": "the team", "text": "Prefers a call back"}]
    assert [h["what"] for h in exported["history"]] == ["Assigned"]
    assert exported["assigned"] is True and exported["status"] == "open"
    assert personas.agent.username not in str(exported)  # members appear by role, not by name
    assert fan_data_export(fan=personas.other_fan)["conversation"] is None
