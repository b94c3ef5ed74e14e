"""Pacing per carrier (issue 17): a blast from one 10DLC sender set at AT&T 75, T-Mobile 40 and
Verizon 4 SMS parts a second, through the campaign path (the pipeline of a send task, the twilio
SDK, the sandbox at 20 ms latency).

Figures, per carrier, from the sandbox's ledger (one line per accepted text, stamped to the
second): the busiest one-second window (target <= rate + 1) and the average over the run,
texts / seconds from the carrier's first to its last second inclusive (target >= 95% of the
rate). Each carrier's fans are sized to BENCH_PACING_SECONDS seconds of its rate (default 60),
so every lane is busy the whole run and the average measures pacing, not a tail.

Runs the way a worker cluster does: `worker.campaign_send_batches` in budget slices of
CAMPAIGN_TASK_SECONDS, one after another (what successive send tasks do), in this process; with
BENCH_PACING_HANDOVER=1 each hands over to the next before its last batches are done (threads of
this process stand in for the cluster's workers: CAMPAIGN_HAND_OVER).
Short runs: BENCH_PACING_SECONDS=20 CAMPAIGN_TASK_SECONDS=8 crosses two task boundaries.
BENCH_PACING_TRACE=1 prints to stderr, per batch: when it was claimed (start and end of the claim,
seconds into the run), its rows per lane, and for each lane the start its reservation booked and
its first and last text accepted (where a pause comes from: a claim late, or texts later than
their booking).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from bench.common import emit, ensure_talent, setup_django

RATES = {"att": 75, "tmobile": 40, "verizon": 4}
SECONDS = int(os.environ.get("BENCH_PACING_SECONDS", "60"))
SLUG = "bench-pacing"
# Send tasks one after another (0, the default: what send_campaign does with CAMPAIGN_HAND_OVER
# off) or each queuing the next at its deadline, before its last batches are done (1).
HANDOVER = os.environ.get("BENCH_PACING_HANDOVER", "0") == "1"
TRACE = os.environ.get("BENCH_PACING_TRACE", "0") == "1"


def main() -> None:
    setup_django()
    from django.conf import settings
    from django.test.utils import override_settings
    from django.utils import timezone

    from accounts.models import Fan
    from messaging.campaigns.models import Campaign
    from messaging.sandbox import run_sandbox_in_thread
    from messaging.sending import engine, worker
    from messaging.sending.models import FanCarrier, Sender
    from messaging.sms.backends.twilio import TwilioBackend

    talent = ensure_talent(SLUG)
    talent.quiet_hours_start = talent.quiet_hours_end  # no quiet hours: the run may be at night
    talent.save()
    Sender.objects.filter(talent=talent).delete()
    Sender.objects.create(talent=talent, kind="10dlc", phone_number=str(talent.sender_number), rate_overrides=RATES)
    wanted = {carrier: rate * SECONDS for carrier, rate in RATES.items()}
    Fan.objects.filter(talent=talent).delete()
    n = sum(wanted.values())
    fans = [Fan(talent=talent, phone=f"+1202{i:07d}", status=Fan.Status.ACTIVE, first_name="Pat") for i in range(n)]
    Fan.objects.bulk_create(fans, batch_size=2000)
    ids = list(Fan.objects.filter(talent=talent).order_by("pk").values_list("pk", flat=True))
    carriers = [c for c, count in wanted.items() for _ in range(count)]
    FanCarrier.objects.bulk_create(
        [FanCarrier(fan_id=i, carrier=c, carrier_name=c) for i, c in zip(ids, carriers, strict=True)], batch_size=2000
    )
    by_number = {f"+1202{i:07d}": c for i, c in enumerate(carriers)}

    # When each text was accepted (the client's clock, sub-second; the ledger has whole seconds):
    # the longest pause of a lane shows a gap where one send task hands over to the next.
    accepted: list[tuple[float, str]] = []
    batches = _trace_claims() if TRACE else []

    # When each request left (the client's clock): the busiest second as the sender paced it, to
    # tell the pacing from the ledger's stamps (the sandbox, a thread of this process, stamps
    # after its latency: a busy process moves stamps across second boundaries).
    leaving: list[tuple[float, str]] = []

    class TimedBackend(TwilioBackend):
        async def send_async(self, message):
            leaving.append((time.monotonic(), message.to))
            result = await super().send_async(message)
            accepted.append((time.monotonic(), message.to))
            return result

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        with (
            run_sandbox_in_thread(latency_ms=20, ledger=ledger) as url,
            override_settings(TWILIO_API_BASE_URL=url, CAMPAIGN_STATUS_CALLBACKS=False),
        ):
            campaign = Campaign.objects.create(
                talent=talent, name="pacing", body="Tour dates are out, {first_name}!", schedule_mode="now"
            )
            campaign.status = Campaign.Status.SCHEDULED
            campaign.send_at = timezone.now()
            campaign.save()
            engine.campaign_start(campaign_id=campaign.pk)
            started = time.monotonic()
            if TRACE:
                print(f"trace: run started at monotonic {started:.3f}", file=sys.stderr)
            tasks: list[float] = []  # when each send task ended, seconds into the run
            if HANDOVER:
                _run_handing_over(campaign.pk, TimedBackend, tasks, started)
            else:
                deadline = started + SECONDS * 3
                while time.monotonic() < deadline:
                    worker.campaign_send_batches(
                        campaign_id=campaign.pk, budget_seconds=settings.CAMPAIGN_TASK_SECONDS, backend=TimedBackend()
                    )
                    tasks.append(time.monotonic() - started)
                    campaign.refresh_from_db()
                    if campaign.status == Campaign.Status.COMPLETED:
                        break
            wall = time.monotonic() - started
        records = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]

    if TRACE:
        _print_trace(batches, accepted, by_number, started)
    per_second: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        per_second[by_number[record["To"]]][record["date_created"]] += 1
    sent = Counter(by_number[r["To"]] for r in records)
    duplicates = len(records) - len({r["To"] for r in records})
    emit(
        "pacing",
        "texts accepted once each",
        len(records) - duplicates,
        "texts",
        target=f"{n:,}",
        ok=len(records) == n and not duplicates,
    )
    emit("pacing", "run wall time", wall, "s", tasks=len(tasks), task_ends=[round(t, 1) for t in tasks])
    for carrier, rate in RATES.items():
        seconds = sorted(per_second[carrier])
        busiest = max(per_second[carrier].values(), default=0)
        first, last = datetime.fromisoformat(seconds[0]), datetime.fromisoformat(seconds[-1])
        span = (last - first).total_seconds() + 1
        average = sent[carrier] / span
        over = sum(1 for count in per_second[carrier].values() if count > rate + 1)
        emit(
            "pacing",
            f"{carrier} busiest second",
            busiest,
            "texts/s",
            target=f"<= {rate + 1}",
            ok=busiest <= rate + 1,
            seconds_over=over,
        )
        left = sorted(t for t, to in leaving if by_number[to] == carrier)
        emit(
            "pacing",
            f"{carrier} busiest second as sent",
            _busiest_window(left),
            "texts/s",
            target=f"<= {rate + 1}",
            ok=_busiest_window(left) <= rate + 1,
            window="any 1 s of the client's send times",
        )
        times = sorted(t for t, to in accepted if by_number[to] == carrier)
        pauses = [(b - a, a - started) for a, b in zip(times, times[1:], strict=False)]
        longest, at = max(pauses, default=(0.0, 0.0))
        emit("pacing", f"{carrier} longest pause between texts", longest, "s", at=round(at, 1), slot=round(1 / rate, 3))
        emit(
            "pacing",
            f"{carrier} average over the run",
            average / rate,
            "x rate",
            target=">= 0.95",
            ok=average >= 0.95 * rate,
            texts=sent[carrier],
            series=[per_second[carrier][second] for second in seconds]
            if os.environ.get("BENCH_PACING_SERIES")
            else None,
            seconds=span,
            per_second=round(average, 2),
        )


def _busiest_window(times: list[float]) -> int:
    """The most times in any half-open one-second window (sliding, not calendar seconds)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _trace_claims() -> list[dict]:
    """Wraps the pipeline's pooled claim (bench instrumentation only) to note each batch: claim
    times (monotonic), rows per lane and each lane's booked start."""
    from messaging.sending.pipeline import SendDb

    batches: list[dict] = []
    claim = SendDb._claim_pooled

    async def traced(self):
        begun = time.monotonic()
        claimed = await claim(self)
        if claimed is not None and claimed[0].rows:
            batch, _, _, starts = claimed
            lanes = {index: batch.pool.lanes[index].carrier for index in batch.lane_parts()}
            batches.append(
                {
                    "claim": (begun, time.monotonic()),
                    "rows": {lanes[i]: n for i, n in batch.lane_parts().items()},
                    "booked": {lanes[i]: at for i, at in (starts or {}).items() if i in lanes},
                    "to": {row.to: lanes[row.lane] for row in batch.rows},
                }
            )
        return claimed

    SendDb._claim_pooled = traced
    return batches


def _print_trace(batches: list[dict], accepted: list[tuple[float, str]], by_number: dict, started: float) -> None:
    """Per batch and lane: booked start, first and last text accepted, seconds into the run."""
    to_batch = {to: n for n, batch in enumerate(batches) for to in batch["to"]}
    sends: dict[tuple[int, str], list[float]] = defaultdict(list)
    for at, to in accepted:
        if to in to_batch:
            sends[(to_batch[to], by_number[to])].append(at - started)
    for n, batch in enumerate(batches):
        claim = "-".join(f"{t - started:.2f}" for t in batch["claim"])
        lanes = []
        for carrier, rows in batch["rows"].items():
            times = sends.get((n, carrier), [])
            booked = batch["booked"].get(carrier, started) - started
            first, last = (min(times), max(times)) if times else (float("nan"), float("nan"))
            lanes.append(f"{carrier} {rows} booked {booked:.2f} sent {first:.2f}-{last:.2f}")
        print(f"trace: batch {n} claimed {claim}: " + "; ".join(lanes), file=sys.stderr)


def _run_handing_over(campaign_id: int, backend_class, tasks: list[float], started: float) -> None:
    """Send tasks as a worker cluster runs them (messaging.tasks.send_campaign): each task, once out
    of time, queues the next before its last batches are done (worker.hand_over_send); here the
    queue is a thread pool of this process, each task on its own database connection."""
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings
    from django.db import connections

    from messaging.sending import worker

    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="send-task")
    queued: list = []

    def hand_over() -> bool:
        if not (worker.campaign_has_due_rows(campaign_id=campaign_id) or worker._others_may_hand_back(campaign_id)):
            return False
        queued.append(pool.submit(task))
        return True

    def task() -> None:
        try:
            report = worker.campaign_send_batches(
                campaign_id=campaign_id,
                budget_seconds=settings.CAMPAIGN_TASK_SECONDS,
                backend=backend_class(),
                hand_over=hand_over,
            )
            tasks.append(time.monotonic() - started)
            if report.more_due and not report.handed_over:
                queued.append(pool.submit(task))
        finally:
            connections.close_all()

    queued.append(pool.submit(task))
    deadline = started + SECONDS * 3
    while queued and time.monotonic() < deadline:
        queued.pop(0).result()
    pool.shutdown(wait=True)


if __name__ == "__main__":
    main()
