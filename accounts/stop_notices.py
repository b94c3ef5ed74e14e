"""Fans who just opted out or were erased, as PostgreSQL announces them (issue 10, thirteenth session).

The priority lane claims a batch of links and replies, reads its fans' status, and sends them over
seconds to minutes at the sender's rate. A STOP committed in between must stop that fan's text.
The lane used to learn of it only from its periodic re-check (a query every STOP_RECHECK_SECONDS,
0.5 s), so a link could leave up to half a second after the fan's STOP had been answered 200.
The web and the lane are different processes. The web's STOP commits in its own transaction, and
a trigger announces it when that transaction commits (accounts/migrations/0012: NOTIFY fan_gone,
the fan's id), whatever path changed the status. This module is the lane's ear: one thread per
process LISTENing on its own connection, which notes each fan with the time it heard of them.
Before each send the lane asks whether it has heard of the fan since it read the batch's statuses
(`heard_since`), a dictionary look-up. The window between a STOP's commit and the lane knowing of
it shrinks from the re-check's 0.5 s to the notice's delivery (PostgreSQL signals the listener at
commit).

The notices only add to what the re-check knows. A STOP committed while the listener was not
connected (it starts, it lost its connection) is still caught by the periodic re-check, within
its 0.5 s, as before. So a missing or broken listener costs the latency it saves, never a STOP.
PostgreSQL only: SQLite has no LISTEN/NOTIFY.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

CHANNEL = "fan_gone"
_KEEP_SECONDS = 900.0  # a lane task runs 240 s at most: a notice older than its batch's read is moot
_POLL_SECONDS = 0.2  # how often the listening thread looks up from its socket (to stop, to prune)


class StopNotices:
    """One per process (NOTICES). start() is idempotent; stop() closes the connection (tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heard: dict[int, float] = {}  # fan id -> time.monotonic() when the notice arrived
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self.notices = 0  # notices received (the tests and the bench read it)

    def start(self, *, wait: float = 2.0) -> bool:
        """Listen from now on, in a daemon thread; wait up to `wait` seconds until the LISTEN is in
        place (notices of commits before that are not delivered: the batch's own read sees those).
        Returns whether it is listening (never on SQLite, which has no LISTEN/NOTIFY, nor with
        STOP_NOTICES off)."""
        if connections["default"].vendor != "postgresql" or not settings.STOP_NOTICES:
            return False
        with self._lock:
            started = self._thread is None or not self._thread.is_alive()
            if started:
                self._stopping.clear()
                self._listening.clear()
                self._thread = threading.Thread(target=self._listen, name="stop-notices", daemon=True)
                self._thread.start()
        # Only the first call waits: a listener that cannot connect (it retries each second) must not
        # hold back every batch; the periodic re-check covers it meanwhile.
        return self._listening.wait(wait) if started else self._listening.is_set()

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        self._thread = None
        self._listening.clear()
        with self._lock:
            self._heard = {}

    def listening(self) -> bool:
        return self._listening.is_set()

    def heard_since(self, fan_ids, since: float) -> set[int]:
        """The fans among these whose opt-out or erasure was announced at or after `since`
        (time.monotonic())."""
        heard = self._heard  # read without the lock: a dict lookup is atomic, entries only get older
        return {f for f in fan_ids if f in heard and heard[f] >= since}

    def note(self, fan_id: int, at: float | None = None) -> None:
        with self._lock:
            self._heard[fan_id] = time.monotonic() if at is None else at
            self.notices += 1

    def _prune(self) -> None:
        cutoff = time.monotonic() - _KEEP_SECONDS
        with self._lock:
            if any(at < cutoff for at in self._heard.values()):
                self._heard = {f: at for f, at in self._heard.items() if at >= cutoff}

    def _listen(self) -> None:
        while not self._stopping.is_set():
            # Django's own settings for the connection (host, options, TLS), on a wrapper this
            # thread alone uses, in autocommit: a LISTEN inside an open transaction hears nothing.
            wrapper = connections.create_connection("default")
            try:
                wrapper.ensure_connection()
                raw = wrapper.connection
                raw.autocommit = True
                raw.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                while not self._stopping.is_set():
                    for notice in raw.notifies(timeout=_POLL_SECONDS):
                        if notice.payload.isdigit():
                            self.note(int(notice.payload))
                    self._prune()
            except Exception:  # the connection dropped (PostgreSQL restarted): the re-check covers the gap
                logger.warning("stop notices: listening failed; retrying in 1 s", exc_info=True)
                self._listening.clear()
                self._stopping.wait(1.0)
            finally:
                self._listening.clear()
                try:
                    wrapper.close()
                except Exception:  # noqa: S110 - closing a connection that is already gone
                    pass


NOTICES = StopNotices()
