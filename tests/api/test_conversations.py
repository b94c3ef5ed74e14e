"""v1 conversations: list with the inbox's folders and filters, the thread, reply (the console's rules,
Idempotency-Key), assign, done; scopes, roles, and another talent's conversations answering 404."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Fan
from messaging.conversations.models import Conversation, ConversationEvent, Note
from messaging.models import OutboundMessage
from tests.accounts.join_support import text_in
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


@pytest.fixture
def texting(client, personas):
    """Fiona and Zed wrote to Nova; Gus wrote to the rival talent."""
    zed = create_fan(personas.talent, "+14155550201", first_name="Zed")
    text_in(client, personas.talent, "When is the next show?", str(personas.fan.phone))
    text_in(client, personas.talent, "hello from Zed", str(zed.phone))
    text_in(client, personas.other_talent, "rival question", str(personas.other_fan.phone))
    return (
        Conversation.objects.get(fan=personas.fan),
        Conversation.objects.get(fan=zed),
        Conversation.objects.get(fan=personas.other_fan),
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_folders_and_filters(personas, api, texting):
    fiona, zed, rival = texting
    assert set(ids(api.get("/api/v1/conversations/"))) == {fiona.pk, zed.pk}  # never the rival's
    assert set(ids(api.get("/api/v1/conversations/?folder=unassigned"))) == {fiona.pk, zed.pk}
    assert ids(api.get(f"/api/v1/conversations/?fan={personas.fan.pk}")) == [fiona.pk]
    assert ids(api.get("/api/v1/conversations/?q=show")) == [fiona.pk]
    assert ids(api.get("/api/v1/conversations/?status=done")) == []
    assert ids(api.get("/api/v1/conversations/?folder=mine")) == []
    api.post(f"/api/v1/conversations/{zed.pk}/assign/", {"assignee": personas.owner.pk}, format="json")
    # The token acts as its creator (Olivia, the owner): "mine" is hers.
    assert ids(api.get("/api/v1/conversations/?folder=mine")) == [zed.pk]
    assert ids(api.get(f"/api/v1/conversations/?assignee={personas.owner.pk}")) == [zed.pk]
    assert ids(api.get("/api/v1/conversations/?unassigned=true")) == [fiona.pk]
    row = api.get(f"/api/v1/conversations/?fan={zed.fan_id}").json()["results"][0]
    assert row["assignee_name"] == "olivia_owner" and row["status"] == "open" and row["unread"] is True
    bad = api.get("/api/v1/conversations/?folder=nope")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_pages_follow_the_inbox_order(personas, api, texting):
    first = api.get("/api/v1/conversations/?page_size=1").json()
    second = api.get(first["next"]).json()
    assert len(first["results"]) == len(second["results"]) == 1
    assert first["results"][0]["last_message_at"] >= second["results"][0]["last_message_at"]
    assert second["next"] is None


def test_retrieve_shows_the_thread_with_our_links_masked(personas, api, texting):
    fiona = texting[0]
    OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, to_number=str(personas.fan.phone), status="sent",
        body=f"Your data: {settings.PUBLIC_BASE_URL}/me/abc123", kind=OutboundMessage.Kind.SYSTEM,
    )  # fmt: skip
    body = api.get(f"/api/v1/conversations/{fiona.pk}/").json()
    kinds = [(item["kind"], item["body"]) for item in body["thread"]]
    assert ("in", "When is the next show?") in kinds
    assert ("out", "Your data: [link]") in kinds
    assert "abc123" not in str(body)
    assert api.get(f"/api/v1/conversations/{texting[2].pk}/").status_code == 404  # the rival's


def test_reply_goes_through_the_inbox_service_once_per_idempotency_key(personas, api, texting):
    fiona = texting[0]
    url = f"/api/v1/conversations/{fiona.pk}/reply/"
    data = {"body": "Hi {first_name}, next show is Friday!", "seen_reply_id": None}
    first = api.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    again = api.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")  # a retry after a lost answer
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    replies = OutboundMessage.objects.filter(fan=personas.fan, kind=OutboundMessage.Kind.REPLY)
    assert [m.body for m in replies] == ["Hi Fiona, next show is Friday!"]  # one text; placeholder filled
    assert replies[0].sent_by == personas.owner
    body = first.json()
    assert body["message"]["id"] == replies[0].pk
    assert body["conversation"]["status"] == "pending" and body["conversation"]["assignee"] == personas.owner.pk
    assert body["conversation"]["last_reply_id"] == replies[0].pk


def test_reply_refusals_send_nothing(personas, api, texting):
    fiona, zed, rival = texting
    url = f"/api/v1/conversations/{fiona.pk}/reply/"
    assert api.post(url, {"body": "first", "seen_reply_id": None}, format="json").status_code == 201
    # Someone (the first reply) answered after this client read the conversation.
    stale = api.post(url, {"body": "second", "seen_reply_id": None}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "answered_meanwhile"
    Fan.objects.filter(pk=zed.fan_id).update(last_name="")
    hole = api.post(f"/api/v1/conversations/{zed.pk}/reply/", {"body": "Hi {last_name}"}, format="json")
    assert hole.status_code == 409 and hole.json()["code"] == "cannot_reply" and "{last_name}" in hole.json()["message"]
    Fan.objects.filter(pk=zed.fan_id).update(status=Fan.Status.OPTED_OUT)
    stopped = api.post(f"/api/v1/conversations/{zed.pk}/reply/", {"body": "hello?"}, format="json")
    assert stopped.status_code == 409 and "STOP" in stopped.json()["message"]
    assert api.post(url, {"body": ""}, format="json").status_code == 400
    assert api.post(url, {"body": "x" * 1601}, format="json").status_code == 400
    assert api.post(f"/api/v1/conversations/{rival.pk}/reply/", {"body": "hi"}, format="json").status_code == 404
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.REPLY).count() == 1


def test_reply_then_done_and_send_regardless(personas, api, texting):
    fiona = texting[0]
    url = f"/api/v1/conversations/{fiona.pk}/reply/"
    assert api.post(url, {"body": "one"}, format="json").status_code == 201
    done = api.post(url, {"body": "two", "then": "done"}, format="json")  # no seen_reply_id: sent regardless
    assert done.status_code == 201 and done.json()["conversation"]["status"] == "done"


def test_assign_and_done(personas, api, texting):
    fiona, zed, rival = texting
    url = f"/api/v1/conversations/{fiona.pk}/assign/"
    assigned = api.post(url, {"assignee": personas.agent.pk}, format="json")
    assert assigned.status_code == 200 and assigned.json()["assignee_name"] == "ada_agent"
    event = ConversationEvent.objects.get(conversation=fiona, kind=ConversationEvent.Kind.ASSIGNED)
    assert event.assignee == personas.agent and event.actor == personas.owner
    analyst = api.post(url, {"assignee": personas.analyst.pk}, format="json")  # may not answer fans
    assert analyst.status_code == 400 and "may not answer" in analyst.json()["message"]
    # Another talent's member reads as unknown, and their name is not told.
    outsider = api.post(url, {"assignee": personas.other_manager.pk}, format="json")
    assert outsider.status_code == 400 and "otto" not in outsider.json()["message"]
    assert api.post(url, {"assignee": None}, format="json").json()["assignee"] is None
    assert api.post(f"/api/v1/conversations/{rival.pk}/assign/", {"assignee": None}, format="json").status_code == 404
    finished = api.post(f"/api/v1/conversations/{fiona.pk}/done/")
    assert finished.status_code == 200 and finished.json()["status"] == "done"
    assert Conversation.objects.get(pk=fiona.pk).status == Conversation.Status.DONE
    assert api.post(f"/api/v1/conversations/{rival.pk}/done/").status_code == 404
    assert Conversation.objects.get(pk=rival.pk).status == Conversation.Status.OPEN


def test_scopes_and_roles(personas, make_token, texting, client):
    fiona = texting[0]
    _, _, reader = make_token(["conversations:read"])
    assert reader.get("/api/v1/conversations/").status_code == 200
    refused = reader.post(f"/api/v1/conversations/{fiona.pk}/done/")
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"
    _, _, fans_only = make_token(["fans:read"])
    assert fans_only.get("/api/v1/conversations/").status_code == 403
    # The console session follows the member's role: an analyst may read, not answer.
    client.force_login(personas.analyst)
    assert client.get("/api/v1/conversations/").status_code == 200
    assert client.post(f"/api/v1/conversations/{fiona.pk}/done/").status_code == 403
    assert Conversation.objects.get(pk=fiona.pk).status == Conversation.Status.OPEN


def test_the_event_catalogue_documents_conversation_assigned(api):
    types = {t["name"]: t for t in api.get("/api/v1/webhook-event-types/").json()}
    sample = types["conversation.assigned"]["sample"]
    assert sample["type"] == "conversation.assigned"
    assert set(sample["data"]["conversation"]) == {"id", "fan_id", "assignee", "assigned_at", "assigned_by", "how"}
    assert types["message.status"]["opt_in_only"] is True


def test_notes_are_added_and_listed_through_the_inbox_service(personas, api, texting, sms_outbox):
    fiona, zed, rival = texting
    url = f"/api/v1/conversations/{fiona.pk}/notes/"
    added = api.post(url, {"body": "  VIP: met her at the Austin show  "}, format="json", HTTP_IDEMPOTENCY_KEY="n-1")
    assert added.status_code == 201, added.content
    again = api.post(url, {"body": "  VIP: met her at the Austin show  "}, format="json", HTTP_IDEMPOTENCY_KEY="n-1")
    assert again["Idempotent-Replayed"] == "true"
    note = Note.objects.get(conversation=fiona)  # one note: the retry wrote nothing
    assert note.body == "VIP: met her at the Austin show" and note.author == personas.owner  # the service trims
    assert added.json() == {
        "id": note.pk, "conversation": fiona.pk, "author": personas.owner.pk, "author_name": "olivia_owner",
        "body": note.body, "created_at": added.json()["created_at"],
    }  # fmt: skip
    api.post(url, {"body": "second"}, format="json")
    listed = api.get(url).json()
    assert [n["body"] for n in listed["results"]] == ["second", note.body]  # newest first
    assert "VIP" in str(api.get(f"/api/v1/conversations/{fiona.pk}/").json()["thread"])
    # The service's own refusal (blank after trimming) is a 400, not a 500; nothing reaches the fan.
    blank = api.post(url, {"body": "   "}, format="json")
    assert blank.status_code == 400 and blank.json()["code"] == "invalid"
    assert api.post(url, {"body": "x" * 4001}, format="json").status_code == 400
    assert api.get(f"/api/v1/conversations/{zed.pk}/notes/").json()["results"] == []
    assert api.get(f"/api/v1/conversations/{rival.pk}/notes/").status_code == 404
    assert api.post(f"/api/v1/conversations/{rival.pk}/notes/", {"body": "x"}, format="json").status_code == 404
    assert Note.objects.filter(conversation=rival).count() == 0
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.REPLY).count() == 0


def test_snooze_and_unsnooze_with_the_consoles_rules(personas, api, texting):
    fiona, zed, rival = texting
    until = (timezone.now() + dt.timedelta(hours=3)).isoformat()
    snoozed = api.post(f"/api/v1/conversations/{fiona.pk}/snooze/", {"until": until}, format="json")
    assert snoozed.status_code == 200, snoozed.content
    assert snoozed.json()["status"] == "snoozed" and snoozed.json()["snoozed_until"] is not None
    assert ConversationEvent.objects.filter(conversation=fiona, kind=ConversationEvent.Kind.SNOOZED).exists()
    assert fiona.pk not in ids(api.get("/api/v1/conversations/?folder=unassigned"))
    past = api.post(f"/api/v1/conversations/{zed.pk}/snooze/", {"until": "2020-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and "future" in past.json()["message"]
    far = (timezone.now() + dt.timedelta(days=91)).isoformat()
    assert api.post(f"/api/v1/conversations/{zed.pk}/snooze/", {"until": far}, format="json").status_code == 400
    assert Conversation.objects.get(pk=zed.pk).status == Conversation.Status.OPEN
    back = api.post(f"/api/v1/conversations/{fiona.pk}/unsnooze/")
    assert back.status_code == 200 and back.json()["status"] == "open" and back.json()["snoozed_until"] is None
    # Unsnooze never reopens what someone marked done.
    api.post(f"/api/v1/conversations/{zed.pk}/done/")
    not_snoozed = api.post(f"/api/v1/conversations/{zed.pk}/unsnooze/")
    assert not_snoozed.status_code == 409 and not_snoozed.json()["code"] == "invalid_transition"
    assert Conversation.objects.get(pk=zed.pk).status == Conversation.Status.DONE
    assert api.post(f"/api/v1/conversations/{rival.pk}/snooze/", {"until": until}, format="json").status_code == 404


def test_notes_and_snooze_need_their_scopes(personas, make_token, texting, client):
    fiona = texting[0]
    _, _, reader = make_token(["conversations:read"])
    assert reader.get(f"/api/v1/conversations/{fiona.pk}/notes/").status_code == 200
    until = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    for path, data in (("notes/", {"body": "x"}), ("snooze/", {"until": until}), ("unsnooze/", None)):
        refused = reader.post(f"/api/v1/conversations/{fiona.pk}/{path}", data, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "missing_scope", path
    client.force_login(personas.analyst)  # may read, not answer: no notes either, as in the console
    assert client.post(f"/api/v1/conversations/{fiona.pk}/notes/", {"body": "x"}).status_code == 403
    assert not Note.objects.exists()
    assert Conversation.objects.get(pk=fiona.pk).status == Conversation.Status.OPEN
