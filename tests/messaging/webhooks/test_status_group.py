"""Status callbacks in groups (PostgreSQL): the callbacks one web process receives at the same
moment share one statement and one commit, with exactly what one callback alone would do."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.integration_models import WebhookEndpoint, WebhookEvent
from messaging.conversations.store import _Waiting
from messaging.models import OutboundMessage
from messaging.webhooks import status as status_module
from tests.factories import create_fan, create_talent

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
S = OutboundMessage.Status


def _row(talent, fan, *, sid: str | None, status=S.QUEUED) -> OutboundMessage:
    return OutboundMessage.objects.create(
        talent=talent, fan=fan, to_number=str(fan.phone), body="Join", status=status, provider_sid=sid
    )


def _flush(*callbacks: tuple) -> list:
    group = [_Waiting(list(c)) for c in callbacks]
    status_module._flush_statuses(group)
    return [item.result for item in group]


def test_a_group_moves_each_row_forward_by_sid_or_by_its_hint_in_one_statement(django_assert_num_queries):
    talent = create_talent()
    fans = [create_fan(talent, f"+1415555070{i}") for i in range(4)]
    known = _row(talent, fans[0], sid="SM" + "1" * 32)
    unrecorded = _row(talent, fans[1], sid=None, status=S.CLAIMED)  # the callback outran the sender's record
    done = _row(talent, fans[2], sid="SM" + "3" * 32, status=S.DELIVERED)
    twice = _row(talent, fans[3], sid="SM" + "4" * 32)
    # Two statements in autocommit for six callbacks (no talent here has a message.status endpoint):
    # the one with a hint by its row's key, the other five by sid.
    with django_assert_num_queries(2, connection=connection):
        results = _flush(
            (known.provider_sid, None, S.SENT, ""),
            ("SM" + "2" * 32, unrecorded.pk, S.DELIVERED, ""),
            (done.provider_sid, None, S.SENT, ""),  # a late "sent" after "delivered": a no-op
            ("SM" + "f" * 32, None, S.SENT, ""),  # unknown: nothing to do
            (twice.provider_sid, None, S.SENT, ""),
            (twice.provider_sid, None, S.DELIVERED, ""),  # the furthest of one message's two wins
        )
    assert [r is not None for r in results] == [True, True, False, False, False, True]
    statuses = dict(OutboundMessage.objects.values_list("pk", "status"))
    assert statuses == {known.pk: S.SENT, unrecorded.pk: S.DELIVERED, done.pk: S.DELIVERED, twice.pk: S.DELIVERED}
    assert OutboundMessage.objects.get(pk=unrecorded.pk).provider_sid == "SM" + "2" * 32


def test_a_bursts_callbacks_move_their_rows_by_hint_in_one_statement(django_assert_num_queries):
    """The common case of a burst: the callbacks outrun the lane's record, each carries its row's
    id: one statement by primary key moves them all (and the full statement is not run)."""
    talent = create_talent()
    rows = [_row(talent, create_fan(talent, f"+1415555072{i}"), sid=None, status=S.CLAIMED) for i in range(3)]
    sids = [f"SM{i}" + "a" * 31 for i in range(3)]
    with django_assert_num_queries(1, connection=connection):
        results = _flush(*[(sid, row.pk, S.SENT, "") for sid, row in zip(sids, rows, strict=True)])
    assert [r.pk for r in results] == [row.pk for row in rows]
    assert list(OutboundMessage.objects.order_by("pk").values_list("provider_sid", "status")) == [
        (sid, S.SENT) for sid in sids
    ]
    # A late "sent" after "delivered" (by hint) moves nothing, through the full statement.
    OutboundMessage.objects.filter(pk=rows[0].pk).update(status=S.DELIVERED)
    with django_assert_num_queries(2, connection=connection):
        assert _flush((sids[0], rows[0].pk, S.SENT, "")) == [None]
    assert OutboundMessage.objects.get(pk=rows[0].pk).status == S.DELIVERED


def test_a_hint_never_takes_a_row_from_the_message_that_owns_the_sid():
    talent = create_talent()
    owner = _row(talent, create_fan(talent, "+14155550711"), sid="SM" + "5" * 32)
    other = _row(talent, create_fan(talent, "+14155550712"), sid=None, status=S.CLAIMED)
    _flush((owner.provider_sid, other.pk, S.SENT, ""))
    assert OutboundMessage.objects.get(pk=owner.pk).status == S.SENT
    assert OutboundMessage.objects.get(pk=other.pk).status == S.CLAIMED


def test_an_endpoint_for_message_status_gets_its_event_with_the_group(personas):
    talent = personas.talent
    WebhookEndpoint.objects.create(talent=talent, url="https://hooks.example.com/x", events=["message.status"])
    row = _row(talent, create_fan(talent, "+14155550713"), sid="SM" + "6" * 32)
    quiet = create_talent()
    other = _row(quiet, create_fan(quiet, "+14155550714"), sid="SM" + "7" * 32)
    results = _flush((row.provider_sid, None, S.DELIVERED, ""), (other.provider_sid, None, S.DELIVERED, ""))
    assert [r is not None for r in results] == [True, True]
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {S.DELIVERED}
    events = list(WebhookEvent.objects.values_list("talent_id", "data"))
    assert events == [(talent.pk, {"message": {"id": row.pk, "campaign_id": None, "fan_id": row.fan_id,
                                               "status": S.DELIVERED, "error_code": ""}})]  # fmt: skip


def test_a_failed_group_hands_each_callback_back_to_apply_alone(monkeypatch):
    talent = create_talent()
    row = _row(talent, create_fan(talent, "+14155550715"), sid="SM" + "8" * 32)
    monkeypatch.setattr(status_module, "autocommit_sql", lambda n: "SELECT no_such_column")
    assert _flush((row.provider_sid, None, S.SENT, "")) == [status_module._ALONE]
    assert OutboundMessage.objects.get(pk=row.pk).status == S.QUEUED  # nothing half-applied


def test_when_a_subscribed_talents_transaction_fails_only_its_callbacks_are_applied_alone(monkeypatch, personas):
    WebhookEndpoint.objects.create(talent=personas.talent, url="https://hooks.example.com/x", events=["message.status"])
    subscribed = _row(personas.talent, create_fan(personas.talent, "+14155550716"), sid="SM" + "a" * 32)
    quiet = create_talent()
    other = _row(quiet, create_fan(quiet, "+14155550717"), sid="SM" + "b" * 32)
    monkeypatch.setattr(status_module, "group_sql", lambda n: "SELECT no_such_column")
    results = _flush((subscribed.provider_sid, None, S.SENT, ""), (other.provider_sid, None, S.SENT, ""))
    assert results[0] is status_module._ALONE  # moved with its event by the one-by-one path
    assert results[1] == (other.pk, quiet.pk, None, other.fan_id, other.to_number)  # committed, effects kept
    statuses = dict(OutboundMessage.objects.values_list("pk", "status"))
    assert statuses == {subscribed.pk: S.QUEUED, other.pk: S.SENT}
    assert not WebhookEvent.objects.exists()  # no event without its move, no move without its event


def test_the_view_answers_through_the_group_and_applies_a_21610(client, personas):
    from tests.messaging.webhooks.test_status_webhook import _payload, _post

    row = _row(personas.talent, personas.fan, sid="SM" + "9" * 32)
    assert _post(client, _payload(row.provider_sid, "failed", ErrorCode="21610")).status_code == 200
    personas.fan.refresh_from_db()
    assert OutboundMessage.objects.get(pk=row.pk).status == S.FAILED
    assert personas.fan.status == personas.fan.Status.OPTED_OUT
    assert status_module.STATUS_STORE.groups >= 1
