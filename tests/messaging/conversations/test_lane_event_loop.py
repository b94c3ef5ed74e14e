"""The lane's sends run on uvloop's event loop (its send path costs less CPU there: bench/lane_cpu.py)."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from messaging.conversations import priority
from messaging.sending import pacing


def test_the_lane_runs_its_sends_on_uvloop():
    async def loop_type():
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop())

    assert priority._run(loop_type()) is uvloop.Loop


def test_a_fresh_loop_each_run_and_threads_work():
    # The stream claims and records in worker threads (asyncio.to_thread) beside the sends.
    async def in_thread():
        return asyncio.get_running_loop(), await asyncio.to_thread(lambda: 42)

    first, answer = priority._run(in_thread())
    second, _ = priority._run(in_thread())
    assert answer == 42 and first is not second and first.is_closed()


def test_the_gil_changes_hands_often_while_the_loop_runs_and_as_before_after():
    """The loop comes back from each system call to wait for the GIL, which a thread claiming or
    recording a batch gives up once per switch interval: at Python's 5 ms a loop beside one busy
    thread sent ~170 texts a second at most (bench/lane_gil.py), below the sender's 100 on a burst's
    starved CPU."""

    async def interval():
        return sys.getswitchinterval()

    before = sys.getswitchinterval()
    assert priority._run(interval()) == pacing.LOOP_SWITCH_INTERVAL < before
    assert sys.getswitchinterval() == before

    async def fails():
        raise RuntimeError("a send path error")

    with pytest.raises(RuntimeError):
        priority._run(fails())
    assert sys.getswitchinterval() == before  # the rest of the process (the next task) as before
