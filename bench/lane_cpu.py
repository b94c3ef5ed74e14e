"""CPU the priority cluster spends a signup link, measured in process (issue 10, seventh session).

    python -m tests.pgtemp -- sh -c '.venv/bin/python manage.py migrate -v0 && .venv/bin/python -m bench.lane_cpu'

What the celebrity burst asks of the lane, one stage at a time, in this process: N stored first
texts from new numbers (the celebrity bench's wordings) for a talent whose sender is the bench's
short code, its rate set high so the bucket never sleeps; the rule processor
(`inbound_process_batch`, as the `run_inbound_rules` task calls it) until they are all read; then
the sender (`priority_send_batch(until=...)`, as the `run_priority_sends` task calls it: batches
streamed back to back on PostgreSQL) through the real twilio SDK to the local sandbox
(`python -m messaging.sandbox`, 20 ms latency, started as a subprocess: its CPU is not counted);
then a second text from each number (the burst's phase 2: a link already sent, nothing to send).

Reported, CPU ms a link (`time.process_time` for a stage, `time.thread_time` inside the threads the
sender uses, so the split is exact even though the claim and the record run beside the sends):
- rules: the rule processor for the first texts (reading them, the pending fans, the link rows);
- claim: the sender's claim of a batch (`_prepare`: claim, unreachable check, the fans' read);
- render: each link's token and URL (`_render_row`, in the paced loop);
- send: the rest of the event loop: pacing, the twilio SDK call and aiohttp, the STOP re-check's
  scheduling (the query itself is "recheck");
- record: the batch's record (`_finish`: the outcomes' UPDATE, the carriers' counts);
- rules, second text: the rule processor for each number's second text (no link).
CPU time, not wall time: this machine is shared. The median of LANE_CPU_ROUNDS rounds is reported.
The sandbox's callbacks go to a port nothing listens on (the web's cost is bench/webhook_cpu.py's).

Not a bench_*.py module: `make bench` does not run it, and it writes nothing to BENCHMARKS.md.
LANE_CPU_ROUNDS (default 3) rounds of LANE_CPU_N (default 1000) numbers each;
LANE_CPU_PROFILE=<file.prof> writes a cProfile (CPU timer) of one more round, with the sends run a
batch at a time in this thread (`priority_send_batch()` without a deadline: the same claim, render,
send and record, so the profile sees them all; the re-check query runs in its thread, unprofiled).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections import defaultdict

ROUNDS = int(os.environ.get("LANE_CPU_ROUNDS", "3"))
N = int(os.environ.get("LANE_CPU_N", "1000"))
PROFILE = os.environ.get("LANE_CPU_PROFILE", "")
SLUG = "bench-lane-cpu"
STAGES = ["rules", "claim", "render", "send", "recheck", "record", "rules, second text"]


def _dead_port() -> int:
    from bench.sandbox_floor import free_port

    return free_port()  # bound and released: the sandbox's callbacks are refused at once


def main() -> None:
    # Django's settings are read only once the sandbox's address is known (SMS_BACKEND and
    # TWILIO_API_BASE_URL below): sandbox_subprocess reads the credentials from the environment.
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    for name, value in {"DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 60, "SECURE_SSL_REDIRECT": "false",
                        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
                        "TWILIO_AUTH_TOKEN": "bench-sandbox-token", "LOG_LEVEL": "WARNING",
                        "PUBLIC_BASE_URL": f"http://127.0.0.1:{_dead_port()}"}.items():  # fmt: skip
        os.environ.setdefault(name, value)
    from bench.sandbox_floor import sandbox_subprocess

    with sandbox_subprocess(latency_ms=20.0) as sandbox_url:
        # Read by the settings module: set before Django starts.
        os.environ["SMS_BACKEND"], os.environ["TWILIO_API_BASE_URL"] = "twilio", sandbox_url
        os.environ["DJANGO_SETTINGS_MODULE"] = "fancommunity.settings"
        _run()


def _run() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("run on PostgreSQL (python -m tests.pgtemp -- ...)")
    if not settings.SMS_BACKEND.endswith("TwilioBackend"):
        sys.exit(f"SMS_BACKEND is {settings.SMS_BACKEND}: the measure is of the twilio SDK's path")
    from accounts.models import Fan, Talent
    from bench.common import ensure_talent
    from messaging.conversations import priority
    from messaging.models import InboundMessage, OutboundMessage

    talent = ensure_talent(SLUG, parts_per_second=100)
    Talent.objects.filter(pk=talent.pk).update(parts_per_second=1_000_000, is_active=True)  # pacing never sleeps
    clean = lambda: [m.objects.filter(talent=talent).delete() for m in (InboundMessage, OutboundMessage, Fan)]  # noqa: E731
    clean()
    settings.CAMPAIGN_STATUS_CALLBACKS = True  # as in production: each link asks for its callbacks

    cpu: dict[str, float] = defaultdict(float)

    def timed(stage: str, fn, clock=time.thread_time):
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu[stage] += clock() - start

        return wrapper

    originals = {
        name: getattr(priority, name) for name in ("_prepare", "_render_row", "_finish", "_inactive_in_thread")
    }
    priority._prepare = timed("claim", originals["_prepare"])
    priority._render_row = timed("render", originals["_render_row"])
    priority._finish = timed("record", originals["_finish"])
    priority._inactive_in_thread = timed("recheck", originals["_inactive_in_thread"])
    serial = 0

    def seed(bodies: list[str], first: int, n: int) -> None:
        from bench.celebrity_scenario import number

        rows = []
        for i in range(n):
            sid = "SM" + uuid.uuid4().hex
            frm = number(first + i)
            payload = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": settings.TWILIO_ACCOUNT_SID,
                       "From": frm, "To": str(talent.sender_number), "Body": bodies[i % len(bodies)], "NumMedia": "0",
                       "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
                       "FromCountry": "US", "ToCountry": "US"}  # fmt: skip
            rows.append(InboundMessage(talent=talent, message_sid=sid, from_number=frm,
                                       to_number=payload["To"], body=payload["Body"], payload=payload))  # fmt: skip
        InboundMessage.objects.bulk_create(rows)

    def rules(stage: str) -> int:
        from messaging.conversations.inbound import inbound_process_batch

        start, done = time.process_time(), 0
        while n := inbound_process_batch():
            done += n
        cpu[stage] += time.process_time() - start
        return done

    def sends(*, stream: bool) -> int:
        start, claimed = time.process_time(), 0
        inner = sum(cpu[s] for s in ("claim", "render", "record", "recheck"))
        while True:
            n = priority.priority_send_batch(until=time.monotonic() + 90 if stream else None)
            claimed += n
            if not n:
                break
        total = time.process_time() - start
        cpu["send"] += total - (sum(cpu[s] for s in ("claim", "render", "record", "recheck")) - inner)
        return claimed

    def one_round(n: int = N, *, stream: bool = True) -> dict[str, float]:
        nonlocal serial
        cpu.clear()
        seed(FIRST, serial, n)
        rules("rules")
        links = OutboundMessage.objects.filter(talent=talent, lane=OutboundMessage.Lane.LINK).count()
        if links != n:
            actions = list(InboundMessage.objects.filter(talent=talent).values_list("action", "body").distinct())
            raise SystemExit(f"{links} links for {n} new numbers: {actions}")
        sends(stream=stream)
        queued = OutboundMessage.objects.filter(talent=talent, status=OutboundMessage.Status.QUEUED).count()
        if queued != n:
            statuses = list(OutboundMessage.objects.filter(talent=talent).values_list("status", "error_message")[:5])
            raise SystemExit(f"{queued} of {n} links sent: {statuses}")
        seed(LATER, serial, n)
        rules("rules, second text")
        if OutboundMessage.objects.filter(talent=talent).count() != n:
            raise SystemExit("a second text made a second link")
        serial += n
        clean()
        return {stage: cpu[stage] * 1000 / n for stage in STAGES}

    from bench.celebrity_scenario import FIRST_TEXTS, LATER_TEXTS
    from consent.keywords import Rule, classify, state_of

    def plain(bodies: list[str]) -> list[str]:
        # The burst's common case: no keyword (a possible opt-out such as "who is this" gets a
        # stranger no link).
        stranger = state_of(status=None, joined=False)
        return [b for b in bodies if classify(b, stranger, data_keyword=talent.data_keyword).rule is Rule.OTHER]

    FIRST, LATER = plain(FIRST_TEXTS), plain(LATER_TEXTS)
    load = os.getloadavg()[0]
    one_round(min(N, 100))  # warm-up: the first connections, the URLconf, the SDK's imports
    rounds = [one_round() for _ in range(ROUNDS)]
    print(f"{N} new numbers a round, {ROUNDS} rounds; CPU ms a link (median, rounds min-max):")
    for stage in STAGES:
        values = [r[stage] for r in rounds]
        print(f"  {stage:20} {statistics.median(values):7.3f}   ({min(values):.3f}-{max(values):.3f})")
    totals = [sum(r.values()) for r in rounds]
    lane = [sum(v for k, v in r.items() if k not in ("rules", "rules, second text")) for r in rounds]
    print(f"  {'sender (claim..record)':20} {statistics.median(lane):7.3f}")
    print(f"  {'all':20} {statistics.median(totals):7.3f}   ({min(totals):.3f}-{max(totals):.3f})")
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    if PROFILE:
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # CPU, not the waits
        profiler.enable()
        one_round(stream=False)
        profiler.disable()
        profiler.dump_stats(PROFILE)
        print(f"profile of one round ({N} links, sends a batch at a time): {PROFILE}")
    for name, fn in originals.items():
        setattr(priority, name, fn)
    from django_q.brokers import get_broker

    get_broker(settings.Q_PRIORITY_CLUSTER).purge_queue()  # the rule processor's kicks
    get_broker().purge_queue()


if __name__ == "__main__":
    main()
