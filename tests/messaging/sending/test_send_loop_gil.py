"""Campaign send loops hand the GIL over often while they run (messaging/sending/pacing.py,
gil_hands_over_often), as the priority lane's does: the loop beside the pipeline's claim and record
threads waits for the GIL after each system call, which a busy thread gives up once per switch
interval (Python's 5 ms capped one loop beside one busy thread at ~170 sequential sends a second;
bench/lane_gil.py). The interval is as before once the loop ends, errors too."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from messaging.sending import pacing, pipeline, send


def test_the_pipeline_loop_runs_with_the_short_interval(monkeypatch):
    seen = []

    async def fake_pipeline(**kwargs):
        seen.append(sys.getswitchinterval())

    monkeypatch.setattr(pipeline.SendDb, "prepare", staticmethod(lambda campaign_id, deadline: object()))
    monkeypatch.setattr(pipeline, "_pipeline", fake_pipeline)
    before = sys.getswitchinterval()
    pipeline.run_pipeline(campaign_id=1, backend=None, deadline=0.0, report=None)
    assert seen == [pacing.LOOP_SWITCH_INTERVAL] and pacing.LOOP_SWITCH_INTERVAL < before
    assert sys.getswitchinterval() == before


def test_a_batch_send_loop_runs_with_the_short_interval_and_restores_it_on_error(monkeypatch):
    async def fails(*args, **kwargs):
        assert sys.getswitchinterval() == pacing.LOOP_SWITCH_INTERVAL
        raise RuntimeError("the provider went away")

    monkeypatch.setattr(send, "_reserve", lambda batch: (0.0, 1.0))
    monkeypatch.setattr(send, "stopped_fans", lambda batch: set())
    monkeypatch.setattr(send, "_send_rows", fails)
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError):
        send.batch_send(batch=SimpleNamespace(pool=None), backend=object())
    assert sys.getswitchinterval() == before


def test_overlapping_loops_restore_the_interval_once_the_last_ends():
    """Two loops in one process ending out of order (threads): the process's interval comes back."""
    import sys

    from messaging.sending import pacing

    before = sys.getswitchinterval()
    first, second = pacing.gil_hands_over_often(), pacing.gil_hands_over_often()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert sys.getswitchinterval() == pacing.LOOP_SWITCH_INTERVAL
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before
