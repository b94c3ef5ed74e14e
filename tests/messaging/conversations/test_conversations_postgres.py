"""PostgreSQL only: the inbox search uses its GIN indexes, and two members answering at once send
one reply (the other is told someone answered meanwhile)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from accounts.models import Fan
from messaging.conversations import inbox, services
from messaging.conversations.models import Conversation
from messaging.models import InboundMessage, OutboundMessage
from tests.accounts.join_support import message_sid
from tests.factories import create_fan

pytestmark = [pytest.mark.postgres_only]


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        # On a tiny table the planner prefers a sequential scan; forbid it, so the plan shows
        # whether the index CAN serve the query (it cannot if the expressions differ).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_search_uses_the_full_text_indexes(personas):
    fan = personas.fan
    InboundMessage.objects.create(
        talent=personas.talent, fan=fan, message_sid=message_sid(), from_number=str(fan.phone), body="tickets please"
    )
    Conversation.objects.create(talent=personas.talent, fan=fan)
    qs = inbox.folder_queryset("open", talent_ids={personas.talent.pk}, user=personas.agent)
    found = qs.filter(inbox.search_q("tickets", talent_ids={personas.talent.pk}))
    assert list(found.values_list("fan_id", flat=True)) == [fan.pk]
    assert list(qs.filter(inbox.search_q("Fiona", talent_ids={personas.talent.pk})).values_list("fan_id", flat=True))
    # Unordered: on a tiny table, once analysed, the planner may walk the received_at index for the
    # model's ordering and filter each row (seen in a full parallel run); the question here is
    # whether the GIN index can serve the match at all.
    assert "inbound_body_fts" in _plan(inbox.text_matches(InboundMessage.objects.order_by(), "tickets"))
    assert "fan_name_fts" in _plan(inbox.name_matches(Fan.objects.order_by(), "Fiona"))


@pytest.mark.django_db(transaction=True)
def test_two_members_answering_at_once_send_one_reply(personas, sms_outbox):
    fan = create_fan(personas.talent, "+14155550333")
    conversation = Conversation.objects.create(talent=personas.talent, fan=fan)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def answer(user, body):
        try:
            barrier.wait(timeout=10)
            services.conversation_reply(conversation=conversation, user=user, body=body, seen_reply_id=None)
            outcomes.append("sent")
        except services.AnsweredMeanwhile:
            outcomes.append("warned")
        except Exception as exc:  # an exception in a thread would otherwise vanish
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=answer, args=(personas.agent, "From Ada")),
        threading.Thread(target=answer, args=(personas.manager, "From Max")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["sent", "warned"]
    assert OutboundMessage.objects.filter(kind="reply").count() == 1
