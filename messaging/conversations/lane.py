"""The lane task: process stored inbound texts and send the priority lane's rows until both are
drained (messaging/conversations/priority.py sends, messaging/conversations/inbound.py decides)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from messaging.conversations.inbound import inbound_process_batch
from messaging.conversations.priority import (
    ONE_TO_ONE,
    RULES_LOCK,
    SENDER_LOCK,
    S,
    priority_lane_kick,
    priority_send_batch,
)
from messaging.sms.models import InboundMessage, OutboundMessage


def priority_lane_pending(*, rules: bool = True, sends: bool = True) -> bool:
    """Is there work for the rule loop (`rules`: stored texts not yet processed) or the sender loop
    (`sends`: one-to-one rows due)?"""
    if rules and InboundMessage.objects.filter(processed_at__isnull=True).exists():
        return True
    if not sends:
        return False
    now = timezone.now()
    due = OutboundMessage.objects.filter(campaign__isnull=True, kind__in=ONE_TO_ONE, status=S.PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    )
    return due.exists()


# SENDER_LOCK and RULES_LOCK (pg advisory locks, in priority.py, whose kick reads them): one sender
# loop paces each sender's clock; one rule loop. Every web process kicks the rule loop once a second
# during a burst; without the lock each extra task idled out its linger beside the running loop,
# thousands piled up on the priority queue, and the sender loop's task waited behind them (links
# started ~70 s late).


def priority_lane_run(
    *, part: str = "all", budget_seconds: float | None = None, linger_seconds: float | None = None
) -> dict:
    """Run the lane until its work is drained or the budget ends: `rules` (apply the rules to
    stored inbound texts), `sends` (send the one-to-one texts at each sender's pace) or `all`
    (both, one after the other: inline mode and tasks queued by earlier releases)."""
    from django_q.conf import Conf

    sync = bool(Conf.SYNC)
    budget = settings.PRIORITY_LANE_SECONDS if budget_seconds is None else budget_seconds
    linger = (0.0 if sync else settings.PRIORITY_LANE_LINGER_SECONDS) if linger_seconds is None else linger_seconds
    rules, sends = part in ("all", "rules"), part in ("all", "sends")
    if sends and connection.vendor == "postgresql" and not _lock(SENDER_LOCK):
        sends = False
    if rules and connection.vendor == "postgresql" and not _lock(RULES_LOCK):
        rules = False
    if not rules and not sends:
        return {"processed": 0, "claimed": 0, "more": False, "skipped": "another loop runs"}
    deadline = time.monotonic() + budget
    processed = sent = 0
    idle_since: float | None = None
    door = DoorFirst() if rules and not sends else None  # the rule loop alone: it may yield to the webhook
    try:
        while time.monotonic() < deadline:
            started = time.monotonic()
            did = inbound_process_batch() if rules else 0
            if did and door is not None:
                door.after_batch(time.monotonic() - started, did)
            # The sender loop alone streams its batches back to back until the deadline; beside the
            # rules (inline mode, old tasks) a batch at a time, so neither waits long for the other.
            claimed = priority_send_batch(until=None if rules else deadline) if sends else 0
            processed, sent = processed + did, sent + claimed
            if did or claimed:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= linger:
                break
            time.sleep(0.2)
    finally:
        if sends and connection.vendor == "postgresql":
            _unlock(SENDER_LOCK)
        if rules and connection.vendor == "postgresql":
            _unlock(RULES_LOCK)
    # At the deadline, or work that came in as this loop stopped (its kick found the lock taken).
    checked = time.monotonic() >= deadline or connection.vendor == "postgresql"
    more = checked and priority_lane_pending(rules=rules, sends=sends)
    if more:
        # Hand over to a fresh task: keeps each task inside the queue's timeout.
        transaction.on_commit(lambda: priority_lane_kick(rules=rules, sends=sends, force=True))
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        connection.close()  # release the file between bursts on the embedded default
    return {"processed": processed, "claimed": sent, "more": more}


class DoorFirst:
    """While a burst saturates the machine, the rule loop works one turn in three and leaves the
    other two to the webhook.

    Under a burst the accepted rate is the CPU a text costs the machine, and the rule loop's work
    (pending fans, links, marks: ~0.2 ms of Python and as much of PostgreSQL a text) shares the two
    cores with the web that must answer every text within Twilio's 15 s. None of that work is
    urgent while the sender has links queued: it only feeds the sender, and the sender leaves
    100 parts a second whatever the loop does. So after each batch, if the machine had no idle CPU
    since the last batch, the texts are a burst's (RULES_YIELD_BACKLOG or more, counting the ones
    the batch took and the ones waiting after it), the oldest waiting is younger than
    INBOUND_RULES_YIELD_SECONDS and the sender has RULES_YIELD_LANE_AHEAD rows waiting, the loop
    sleeps twice as long as the batch took. The batch's own texts count: a loop that keeps up
    drains the queue every batch, so the texts waiting after it seldom looked like a burst's, and
    the loop seldom yielded (thirteenth session). Otherwise (a quiet machine, a few
    texts, a starving sender, a backlog at its age bound) it runs flat out. STOPs never wait for
    it: the webhook applies them. Linux only (the machine's idle share from /proc/stat); elsewhere
    and on SQLite it never yields."""

    stat_path = "/proc/stat"  # Linux's CPU counters (the tests point it at their own file)

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None

    def after_batch(self, took: float, did: int = 0) -> None:
        if self.should_yield(did):
            time.sleep(min(RULES_YIELD_PAUSE_MAX, 2 * took))
            self.idle_share()  # the pause's own idle time does not count as the web's

    def should_yield(self, did: int = 0) -> bool:
        """`did`: the texts the batch just processed."""
        max_age = settings.INBOUND_RULES_YIELD_SECONDS
        if max_age <= 0 or connection.vendor != "postgresql":
            return False
        idle = self.idle_share()
        if idle is None or idle >= RULES_YIELD_IDLE:
            return False
        backlog, oldest_s, lane_ahead = _burst_state()  # not inbound_backlog: its count is unbounded
        burst = did + backlog >= RULES_YIELD_BACKLOG
        return burst and oldest_s < max_age and lane_ahead >= RULES_YIELD_LANE_AHEAD

    def idle_share(self) -> float | None:
        """The machine's idle share of CPU time since the last call (None: unknown, or the first)."""
        try:
            with open(self.stat_path, encoding="ascii") as stat:
                values = [int(v) for v in stat.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        if len(values) < 5:
            return None
        now = (values[3] + values[4], sum(values))  # idle + iowait, all
        last, self._last = self._last, now
        if last is None or now[1] <= last[1]:
            return None
        return (now[0] - last[0]) / (now[1] - last[1])


RULES_YIELD_IDLE = 0.05  # the machine's idle share under which the webhook is taken to need the CPU
# Texts one batch took plus those waiting after it: a burst, not a busy day (a batch lasts a fraction
# of a second; 300 in it is over 1,000 texts a second, where a busy day brings a few).
RULES_YIELD_BACKLOG = 300
RULES_YIELD_LANE_AHEAD = 1000  # one-to-one rows waiting: 10 s of a short code's links
RULES_YIELD_PAUSE_MAX = 1.0  # seconds one pause lasts at most


def _burst_state() -> tuple[int, float, int]:
    """(unprocessed texts up to RULES_YIELD_BACKLOG, the oldest one's age in s, waiting lane rows
    up to RULES_YIELD_LANE_AHEAD): one statement over the two partial indexes."""
    inbound, outbound = InboundMessage._meta.db_table, OutboundMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {inbound} WHERE processed_at IS NULL LIMIT %s) b), "  # noqa: S608 - constant tables
            f"(SELECT extract(epoch FROM now() - received_at) FROM {inbound} WHERE processed_at IS NULL "
            "ORDER BY id LIMIT 1), "
            f"(SELECT count(*) FROM (SELECT 1 FROM {outbound} WHERE status = %s AND campaign_id IS NULL LIMIT %s) l)",
            [RULES_YIELD_BACKLOG, S.PENDING, RULES_YIELD_LANE_AHEAD],
        )
        backlog, oldest, ahead = cursor.fetchone()
    return int(backlog), float(oldest or 0.0), int(ahead)


# How much lower the rule loop runs than the sender loop beside it (nice values, Linux).
RULES_NICE = 5


def priority_rules_run() -> dict:
    """The rule loop (the `run_inbound_rules` task), in a thread niced RULES_NICE above its worker.

    The sender loop must get the CPU at each slot (every 10 ms at 100 parts/s); the rule loop can
    always wait (STOPs never wait for it: the webhook applies them). Both run on the priority
    cluster, one process each, and under the kernel's autogroup scheduler (the usual Linux default)
    one session's processes share one group's CPU: a niced Procfile line weighed nothing against
    the web, and inside the cluster the rule loop, busy with a burst's backlog, took the sender's
    turns (links at 88 % of the rate, the lane's clock idle ~25 s of 218 within its batches).

    A thread's nice value is its own on Linux: raised there (no privilege needed) it ends with the
    thread, so the worker's next task, perhaps the sender loop, runs at the worker's priority.
    Inline (tests, Q_SYNC) and elsewhere than Linux the loop runs in the caller's thread."""
    from django_q.conf import Conf

    if Conf.SYNC or connection.in_atomic_block or not sys.platform.startswith("linux"):
        return priority_lane_run(part="rules")

    def niced() -> dict:
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + RULES_NICE))
        except OSError:  # pragma: no cover - raising one's own nice value is always allowed on Linux
            pass
        try:
            return priority_lane_run(part="rules")
        finally:
            connections.close_all()  # this thread's connections end with it

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rules-loop") as pool:
        return pool.submit(niced).result()


def _lock(key: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _unlock(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def priority_messages_reconcile(*, stale_after: dt.timedelta = dt.timedelta(minutes=2)) -> dict[str, int]:
    """Periodic sweeper for what a crash left behind.

    Anything waiting (a pending row, a stored text not yet processed) gets the lane kicked: a lost
    task costs a minute, never a text. A claimed row whose lease ran out may or may not have reached
    the provider: marked uncertain for a human, never resent blindly.
    """
    now = timezone.now()
    waiting = priority_lane_pending()
    if waiting:
        priority_lane_kick(force=True)
    expired = OutboundMessage.objects.filter(
        campaign__isnull=True, kind__in=ONE_TO_ONE, status=S.CLAIMED, lease_until__lt=now
    ).update(status=S.UNCERTAIN, lease_until=None, updated_at=now)
    return {"kicked": int(waiting), "uncertain": expired}
