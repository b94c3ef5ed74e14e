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


@pytest.mark.parametrize(("part", "key"), [("rules", lane._RULES_LOCK), ("sends", lane._SENDER_LOCK)])
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
    assert other_session.execute("SELECT pg_try_advisory_lock(%s)", [lane._RULES_LOCK]).fetchone()[0]


def test_two_rule_loops_started_together_run_one_at_a_time():
    def run(_: int) -> dict:
        try:
            return lane.priority_lane_run(part="rules", linger_seconds=1.0)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(2)))
    assert sorted("skipped" in r for r in results) == [False, True]
