"""Shared fixtures: named personas and create_* helpers (see tests/factories.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from messaging.sms.backends import locmem


def pytest_report_header(config):
    return f"database: {connection.vendor} ({connection.settings_dict['NAME']})"


# Tests that must not share the machine with others (`make test` runs them in a serial pytest call
# after the parallel xdist one; see "Test suite in parallel" in docs/ARCHITECTURE.md): the
# reliability tests start task clusters, sandboxes and PostgreSQL/Redis servers of their own and
# race 240 s deadlines; the browser tests drive Chromium against a live server with 15 s timeouts.
SERIAL_DIRS = ("reliability", "e2e")
# pytest-timeout's default (pyproject) is 300 s; these tests' own deadlines are 240 s plus startup.
SERIAL_TIMEOUTS = {"reliability": 600}


def _mark_serial(items) -> None:
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            top = Path(item.path).resolve().relative_to(tests_dir).parts[0]
        except ValueError:
            continue
        if top in SERIAL_DIRS:
            item.add_marker(pytest.mark.serial)
        if top in SERIAL_TIMEOUTS and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SERIAL_TIMEOUTS[top]))


def pytest_collection_modifyitems(config, items):
    _mark_serial(items)
    # select_for_update and COPY do nothing (or do not exist) on SQLite: those tests run in the
    # PostgreSQL pass of `make test`, which CI requires.
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL; runs in the PostgreSQL pass of make test")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the (process-wide) cache: each test starts from zero."""
    from django.core.cache import cache

    from messaging.webhooks.inbound import forget_talents

    cache.clear()
    forget_talents()  # the webhook's number -> talent memory (test rollbacks send no signals)
    # The drop-code hint (last code id bound per drop, process-wide): a rolled-back test's drop id
    # comes back on SQLite, and a stale hint would hand out the second code before the first.
    from messaging.automations import sql as automations_sql

    automations_sql._LAST_TAKEN.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _stop_notices_closed():
    """The lane's STOP listener (a thread with its own connection, started by the first lane batch on
    PostgreSQL) is closed after each test: a connection left open would keep the test database from
    being dropped, and each test hears only its own STOPs."""
    yield
    from accounts.stop_notices import NOTICES

    NOTICES.stop()


@pytest.fixture(scope="session", autouse=True)
def _stop_notices_closed_at_the_end(django_db_setup, django_db_blocker):
    """... and once more after the last test, before the test databases are dropped (this fixture
    is set up after them, so it is torn down first): a thread a test left running may have started
    the listener after that test's own teardown."""
    yield
    from accounts.stop_notices import NOTICES

    NOTICES.stop()


@pytest.fixture(autouse=True)
def sms_outbox():
    """The locmem SMS outbox, emptied around every test."""
    locmem.reset()
    yield locmem.outbox
    locmem.reset()


class Personas:
    """The cast: two talents, a manager of each, an owner, an agent, an analyst and an outsider."""

    def __init__(self) -> None:
        from accounts.models import TeamMember
        from tests.factories import create_fan, create_member, create_talent, create_user

        self.talent = create_talent("nova", display_name="Nova Ray")
        self.other_talent = create_talent("rival", display_name="Rival Act")
        self.owner = create_member(self.talent, TeamMember.Role.OWNER, "olivia_owner").user
        self.manager = create_member(self.talent, TeamMember.Role.MANAGER, "max_manager").user
        self.agent = create_member(self.talent, TeamMember.Role.AGENT, "ada_agent").user
        self.analyst = create_member(self.talent, TeamMember.Role.ANALYST, "ana_analyst").user
        self.other_manager = create_member(self.other_talent, TeamMember.Role.MANAGER, "otto_other").user
        self.outsider = create_user("oscar_outsider", staff=True)
        self.superuser = create_user("root", superuser=True)
        self.fan = create_fan(self.talent, "+14155550101", first_name="Fiona")
        self.other_fan = create_fan(self.other_talent, "+14155550102", first_name="Gus")


@pytest.fixture
def personas(db) -> Personas:
    return Personas()
