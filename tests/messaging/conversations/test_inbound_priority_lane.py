"""Replies go to their own django-q2 queue, served by its own cluster, apart from blasts, one lane
task for many texts."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.tasks import async_task

from messaging.conversations.priority import priority_message_queue, priority_message_send
from messaging.models import OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True)


def test_priority_cluster_is_configured_as_an_alt_cluster():
    alt = settings.Q_CLUSTER["ALT_CLUSTERS"][settings.Q_PRIORITY_CLUSTER]
    assert settings.Q_PRIORITY_CLUSTER != settings.Q_CLUSTER["name"]
    assert alt["timeout"] < alt["retry"]


def test_a_reply_queues_on_the_priority_queue_not_behind_a_blast(personas, monkeypatch, sms_outbox):
    monkeypatch.setattr(Conf, "SYNC", False)  # really enqueue, as production does
    main, priority = get_broker(), get_broker(settings.Q_PRIORITY_CLUSTER)
    main.purge_queue()
    priority.purge_queue()
    # A blast has filled the main queue ...
    for n in range(5):
        async_task("math.floor", n)
    # ... and a fan's STOP confirmation is queued after it.
    with transaction.atomic():
        message = priority_message_queue(
            talent=personas.talent, fan=personas.fan, to=str(personas.fan.phone), body="bye"
        )
        assert priority.queue_size() == 0  # nothing leaves before commit
    assert main.queue_size() == 5
    assert priority.queue_size() == 1  # its own queue: the priority cluster takes it at once
    task = priority.dequeue()
    assert task, "the priority cluster's broker sees the reply"
    from django_q.signing import SignedPackage

    package = SignedPackage.loads(task[0][1])
    # One lane task sends every pending text in batches (not one task per text) ...
    assert package["func"] == "messaging.tasks.run_priority_sends"
    assert OutboundMessage.objects.get(pk=message.pk).status == "pending"
    # ... so a second text a moment later enqueues nothing more: the running lane takes it too.
    with transaction.atomic():
        priority_message_queue(talent=personas.talent, fan=personas.fan, to=str(personas.fan.phone), body="again")
    assert priority.queue_size() == 0
    main.purge_queue()
    priority.purge_queue()


def test_a_rolled_back_transaction_sends_nothing(personas, sms_outbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        priority_message_queue(talent=personas.talent, fan=personas.fan, to=str(personas.fan.phone), body="x")
        raise RuntimeError("signup failed")
    assert OutboundMessage.objects.count() == 0
    assert sms_outbox == []


def test_a_task_delivered_twice_sends_once(personas, sms_outbox):
    with transaction.atomic():
        message = priority_message_queue(
            talent=personas.talent, fan=personas.fan, to=str(personas.fan.phone), body="hi"
        )
    assert len(sms_outbox) == 1  # Q_SYNC ran it on commit
    assert priority_message_send(message.pk) == "not-pending"
    assert len(sms_outbox) == 1


def test_a_team_reply_to_a_fan_who_opted_out_meanwhile_is_suppressed(personas, sms_outbox):
    message = OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, kind="reply", to_number=str(personas.fan.phone), body="thanks!"
    )
    personas.fan.status = "opted_out"
    personas.fan.save()
    assert priority_message_send(message.pk) == "suppressed"
    assert sms_outbox == []


def test_the_sweeper_requeues_lost_rows_and_never_resends_claimed_ones(personas, sms_outbox):
    import datetime as dt

    from django.utils import timezone

    from messaging.conversations.lane import priority_messages_reconcile

    old = timezone.now() - dt.timedelta(minutes=10)
    lost = OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, kind="system", to_number="+14155552671", body="lost"
    )
    OutboundMessage.objects.create(
        talent=personas.talent, fan=personas.fan, kind="system", to_number="+14155552671", body="fresh"
    )
    stuck = OutboundMessage.objects.create(
        talent=personas.talent, kind="system", to_number="+14155552671", body="stuck", status="claimed", lease_until=old
    )
    blast = OutboundMessage.objects.create(
        talent=personas.talent, kind="campaign", to_number="+14155552671", body="blast"
    )
    OutboundMessage.objects.filter(pk__in=[lost.pk, stuck.pk, blast.pk]).update(created_at=old)
    # Anything waiting kicks the lane, which sends every pending one-to-one text (lost or fresh);
    # an expired claim becomes uncertain, never resent; campaign rows are not the lane's.
    assert priority_messages_reconcile() == {"kicked": 1, "uncertain": 1}
    assert sorted(m.body for m in sms_outbox) == ["fresh", "lost"]
    statuses = dict(OutboundMessage.objects.values_list("body", "status"))
    assert statuses == {"lost": "queued", "fresh": "queued", "stuck": "uncertain", "blast": "pending"}
