"""The webhook's group commit (messaging/conversations/store.py): threads share one INSERT, each
answers only once its row is committed, and one bad row never costs its neighbours theirs."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import DatabaseError, connection

from messaging.conversations import store as store_module
from messaging.conversations.store import GroupStore
from messaging.models import InboundMessage
from tests.factories import create_talent

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _params(talent_id: int, sid: str) -> list:
    return [talent_id, sid, "+14155550100", "+15005550006", "hi", json.dumps({"Body": "hi"})]


def _run_threads(group_store: GroupStore, rows: list[list]) -> tuple[dict[str, BaseException | None], list]:
    outcome: dict[str, BaseException | None] = {}

    def one(params: list) -> None:
        try:
            group_store.store(params)
            outcome[params[1]] = None
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome[params[1]] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(p,)) for p in rows]
    for t in threads:
        t.start()
    return outcome, threads


def _hold_first_statement(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The first statement waits until released, so every other thread queues behind it."""
    entered, release = threading.Event(), threading.Event()
    real = store_module._execute
    calls = {"n": 0}

    def held(sql, params):
        calls["n"] += 1
        if calls["n"] == 1:
            entered.set()
            assert release.wait(10)
        return real(sql, params)

    monkeypatch.setattr(store_module, "_execute", held)
    return entered, release


def _wait_queued(group_store: GroupStore, count: int) -> None:
    for _ in range(1000):
        with group_store._lock:
            if len(group_store._waiting) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError("threads did not queue")


def _queued_behind_a_leader(monkeypatch, group_store: GroupStore, talent_id: int, rows: list[list]) -> dict:
    """A first text leads and is held in its statement while `rows` queue behind it; then all run."""
    entered, release = _hold_first_statement(monkeypatch)
    first, first_threads = _run_threads(group_store, [_params(talent_id, "SMfirst")])
    assert entered.wait(10)
    outcome, threads = _run_threads(group_store, rows)
    _wait_queued(group_store, len(rows))
    assert InboundMessage.objects.filter(message_sid__in=[p[1] for p in rows]).count() == 0  # none committed yet
    release.set()
    for t in first_threads + threads:
        t.join(10)
    assert first == {"SMfirst": None}
    return outcome


def test_threads_that_store_at_once_share_one_statement(monkeypatch):
    talent = create_talent()
    group_store = GroupStore()
    rows = [_params(talent.pk, f"SM{i:04d}") for i in range(12)]
    outcome = _queued_behind_a_leader(monkeypatch, group_store, talent.pk, rows)
    assert outcome == {p[1]: None for p in rows}
    assert InboundMessage.objects.count() == 13
    assert (group_store.groups, group_store.rows) == (2, 13)  # one leader alone, then all twelve at once


def test_a_bad_row_fails_alone_and_its_neighbours_are_stored(monkeypatch):
    talent = create_talent()
    rows = [_params(talent.pk, "SMgood1"), _params(talent.pk + 999, "SMbad"), _params(talent.pk, "SMgood2")]
    outcome = _queued_behind_a_leader(monkeypatch, GroupStore(), talent.pk, rows)
    assert outcome["SMgood1"] is None and outcome["SMgood2"] is None
    assert isinstance(outcome["SMbad"], DatabaseError)  # no such talent: its thread answers an error
    assert set(InboundMessage.objects.values_list("message_sid", flat=True)) == {"SMfirst", "SMgood1", "SMgood2"}


def test_a_retry_in_the_same_group_as_its_original_is_stored_once(monkeypatch):
    talent = create_talent()
    rows = [_params(talent.pk, "SMtwice"), _params(talent.pk, "SMtwice")]
    outcome = _queued_behind_a_leader(monkeypatch, GroupStore(), talent.pk, rows)
    assert outcome == {"SMtwice": None}
    assert InboundMessage.objects.filter(message_sid="SMtwice").count() == 1


def test_an_unexpected_failure_never_lets_a_waiter_answer_as_stored(monkeypatch):
    talent = create_talent()
    group_store = GroupStore()
    monkeypatch.setattr(store_module, "_flush", lambda group: (_ for _ in ()).throw(RuntimeError("boom")))
    outcome, threads = _run_threads(group_store, [_params(talent.pk, "SMx")])
    for t in threads:
        t.join(10)
    assert isinstance(outcome["SMx"], RuntimeError)
    assert not group_store._leading  # the next text leads again
