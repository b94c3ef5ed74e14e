"""One rule loop and one sender loop at a time, and the extra tasks a burst's kicks queue end at
once (issue 10: they used to idle out their linger beside the running loop, piled up on the priority
queue by the thousand, and the sender's task waited behind them)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection

from messaging.conversations import lane

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL advisory locks")


@pytest.fixture
def other_session():
    """A second database session, as another priority worker would hold it."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
        autocommit=True,
    ) as session:
        yield session


@pytest.mark.parametrize(("part", "key"), [("rules", lane.RULES_LOCK), ("sends", lane.SENDER_LOCK)])
def test_an_extra_loop_ends_at_once_while_one_runs(other_session, part, key):
    other_session.execute("SELECT pg_advisory_lock(%s)", [key])  # the running loop
    started = time.monotonic()
    result = lane.priority_lane_run(part=part, linger_seconds=3.0)
    assert result["skipped"] == "another loop runs"
    assert time.monotonic() - started < 1.0  # not the 3 s linger


def test_the_loop_runs_when_no_other_does(other_session):
    started = time.monotonic()
    result = lane.priority_lane_run(part="rules", linger_seconds=0.3)
    assert "skipped" not in result and time.monotonic() - started >= 0.3
    # ...and let go of its lock: another worker's loop can run next.
    assert other_session.execute("SELECT pg_try_advisory_lock(%s)", [lane.RULES_LOCK]).fetchone()[0]


def test_two_rule_loops_started_together_run_one_at_a_time():
    def run(_: int) -> dict:
        try:
            return lane.priority_lane_run(part="rules", linger_seconds=1.0)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(2)))
    assert sorted("skipped" in r for r in results) == [False, True]


@pytest.fixture
def enqueued(monkeypatch):
    """The kick as the web processes run it (a task queue, not inline): the tasks it enqueues."""
    from django.core.cache import cache
    from django_q import tasks
    from django_q.conf import Conf

    from messaging.conversations import priority

    calls: list[str] = []
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(tasks, "async_task", lambda func, **kwargs: calls.append(func))
    cache.delete_many([priority._KICK_KEY + "-rules", priority._KICK_KEY + "-sends"])
    return calls


def test_a_kick_queues_no_task_for_a_loop_that_runs(other_session, enqueued):
    """A burst kicked the rule loop twice a second per web process; the tasks found it running and
    ended, but hundreds queued ahead of the sender loop's hand-over (~5 s idle each time)."""
    from messaging.conversations import priority

    other_session.execute("SELECT pg_advisory_lock(%s)", [lane.RULES_LOCK])  # the running rule loop
    priority.priority_lane_kick()
    assert enqueued == [priority.SENDS_TASK]
    # A loop handing over forces its successor, lock or not (it let go of the lock already).
    priority.priority_lane_kick(rules=True, sends=False, force=True)
    assert enqueued == [priority.SENDS_TASK, priority.RULES_TASK]


def test_a_kick_queues_both_loops_when_none_runs(enqueued):
    from messaging.conversations import priority

    priority.priority_lane_kick()
    assert enqueued == [priority.RULES_TASK, priority.SENDS_TASK]
