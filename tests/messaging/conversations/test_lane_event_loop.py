"""The lane's sends run on uvloop's event loop (its send path costs less CPU there: bench/lane_cpu.py)."""

from __future__ import annotations

import asyncio

import uvloop

from messaging.conversations import priority


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
