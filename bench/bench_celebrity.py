"""The celebrity moment: a talent shares the number and 20,000 strangers text it at once.

Everything runs as in production, on this machine: the Procfile's `web:`, `worker:` and
`priority:` lines as written (granian, two qclusters), the Twilio sandbox (20 ms latency, its
ledger is the ground truth of what left), PostgreSQL from DATABASE_URL. A separate process
(bench/celebrity_client.py, aiohttp, 50 requests in flight) stands in for Twilio and posts
requests signed before any clock starts.

- floor: the same client sending GET to the webhook URL (405 before any work), max(N, 5,000) times,
  before phase 1 and again once the links have left; the ratios use the faster of the two;
- phase 1: N first texts from N new numbers (each must get exactly one signup link);
- phase 2: N more texts from the same numbers, 5 % of them opt-out wordings, the rest chatter.

Figures: accepted texts/s and latency per phase (target >= 500/s and p99 < 1 s; >= 0.25x the
floor, moonshot 0.5x), every text stored once, every number linked exactly once (from the ledger;
a number whose STOP landed before its link left may rightly get none, and no link may leave after
it), how fast the links leave compared with the short code's 100 SMS parts per second, and how
long a STOP takes to land on the fan after its webhook answered (target <= 5 s).

BENCH_CELEBRITY_TEXTS sets N (default 20,000); BENCH_CELEBRITY_KEEP=1 keeps the ledger and the lane's
send log (bench/celebrity_clocks.py) in the work directory; WEB_CONCURRENCY / WEB_THREADS reach the Procfile.
BENCH_CELEBRITY_REQUESTS_ONLY=1 stops after phase 2 and reports the requests only (the floor and
both phases): how the serving stack's settings were compared without waiting for the links.
BENCH_CELEBRITY_STOP_SHARE (default 0.05) is the share of phase 2's numbers that text STOP; 0 gives
phase 2 without them, for an A/B with BENCH_CELEBRITY_REQUESTS_ONLY=1 (the fifteenth session's:
what the STOPs cost the second wave; a full run without STOPs fails its STOP figure).
Each phase also reports the CPU-milliseconds every process group spent per accepted text (from /proc,
bench/proc_cpu.py: web, both clusters, PostgreSQL, the sandbox, the load client; robust on a busy
machine where wall rates are not), and the whole run per signup link. BENCH_CELEBRITY_PROFILE=<dir>
writes py-spy profiles of the web and the priority cluster for each phase. The sandbox runs at
nice -5 (it stands in for Twilio's own machines; see _sandbox_first).
Rate limits stay at their defaults: signed requests are not limited per address, and each number
texts twice, far under RATELIMIT_WEBHOOK_PER_PHONE.

This module runs the benchmark (main, the wait for the links); the rest lives beside it:
bench/celebrity_config.py (the constants), celebrity_processes.py (the Procfile's processes, the
ledger tail, one phase through the load client), celebrity_scenario.py (the fans' texts, signed)
and celebrity_report.py (the figures).
"""

import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import proc_cpu
from bench.celebrity_clocks import read_lane_log
from bench.celebrity_config import (
    BENCH,
    CONCURRENCY,
    COUNT,
    FLOOR_COUNT,
    REQUESTS_ONLY,
    SANDBOX_LATENCY_S,
    SENDER_PARTS_PER_SECOND,
    SLUG,
    WARMUP,
    WEBHOOK,
)
from bench.celebrity_processes import (
    LedgerTail,
    Processes,
    _procfile_default,
    _purge_queues,
    _sandbox_first,
    fire,
    procfile,
    wait_clusters,
    wait_web,
)
from bench.celebrity_report import (
    report_cpu,
    report_inprocess,
    report_links,
    report_requests,
    report_rules_pace,
    report_run_cpu,
    report_stops,
    report_stored,
    summary,
)
from bench.celebrity_scenario import Scenario, build_scenario, check_wordings
from bench.common import emit, ensure_talent, setup_django
from bench.sandbox_floor import free_port, sandbox_subprocess


def wait_for_outcome(talent, scenario: Scenario, tail: LedgerTail, processes: Processes, phase1_end: float) -> bool:
    """Links leave at the sender's pace, long after phase 1: wait for them, for every text to be
    stored and processed by the rules (a text processed late could still send a second link), and
    for the opt-outs should the server defer those. True if the deadline cut the wait short.

    The deadline is twice the links' time at the sender's pace plus 2 minutes after phase 1, in
    SMS parts: a two-part link takes the sender twice as long."""
    from accounts.models import Fan
    from messaging.models import InboundMessage

    stored = InboundMessage.objects.filter(talent=talent)
    unprocessed = stored.filter(processed_at__isnull=True)
    opted_out = Fan.objects.filter(talent=talent, phone__in=scenario.stop_numbers, status=Fan.Status.OPTED_OUT)
    chatty = [n for n in scenario.numbers if n not in scenario.stop_numbers]
    started, last_note = time.time(), time.time()
    while time.time() < phase1_end + COUNT * tail.link_parts / SENDER_PARTS_PER_SECOND * 2 + 120:
        processes.check_alive()
        counts = tail.link_counts
        # A number whose STOP was applied before its link left may rightly get none: once every
        # other number has its link, a quiet ledger ends the wait instead of the deadline.
        links_done = all(counts[n] for n in scenario.numbers) or (
            all(counts[n] for n in chatty) and time.time() - tail.last_line_at > 15
        )
        if (
            links_done
            and stored.count() >= 2 * COUNT
            and not unprocessed.exists()
            and opted_out.count() >= len(scenario.stop_numbers)
        ):
            return False
        if time.time() - last_note > 30:
            linked = sum(1 for n in scenario.numbers if counts[n])
            print(
                f"waiting: {linked}/{COUNT} numbers linked, {unprocessed.count()} texts unprocessed, "
                f"after {time.time() - started:.0f} s",
                flush=True,
            )
            last_note = time.time()
        time.sleep(0.5)
    return True


# --- the benchmark ------------------------------------------------------------------------------------
def main() -> None:
    # A SIGTERM (bench runner stopped) must still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = round(os.getloadavg()[0], 2)  # before any process of ours starts
    web_port = free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    # This process signs with the URL the server checks against (settings.PUBLIC_BASE_URL).
    os.environ["PUBLIC_BASE_URL"] = base_url
    setup_django()
    from django.db import connection

    from accounts.models import Fan, Talent
    from messaging.models import InboundMessage, OutboundMessage

    talent = ensure_talent(SLUG, parts_per_second=SENDER_PARTS_PER_SECOND)
    Talent.objects.filter(pk=talent.pk).update(parts_per_second=SENDER_PARTS_PER_SECOND, is_active=True)
    talent.refresh_from_db()
    for model in (InboundMessage, OutboundMessage, Fan):  # a rerun starts from no fans at all
        model.objects.filter(talent=talent).delete()
    _purge_queues()  # a run that was stopped half-way leaves its lane tasks queued
    check_wordings(talent.data_keyword)
    url = base_url + WEBHOOK
    scenario = build_scenario(talent, url)
    print(f"signed {2 * COUNT} requests ({len(scenario.stop_numbers)} opt-outs in phase 2)", flush=True)

    commands = procfile()
    workers = os.environ.get("WEB_CONCURRENCY") or _procfile_default(commands["web"], "WEB_CONCURRENCY")
    threads = os.environ.get("WEB_THREADS") or _procfile_default(commands["web"], "WEB_THREADS")
    workdir = Path(tempfile.mkdtemp(prefix="bench_celebrity_"))
    ledger = workdir / "ledger.jsonl"
    ledger.touch()
    lane_log = workdir / "lane_sends.jsonl"
    processes = Processes(workdir)
    tail = LedgerTail(ledger)
    budget = max(120.0, COUNT / 20)  # a phase slower than 20 texts/s is cut off, its rest reported as errors
    spec = {"url": url, "concurrency": CONCURRENCY, "timeout_s": 15, "budget_s": budget}
    success = False
    try:
        with ExitStack() as stack:
            sandbox_url = stack.enter_context(
                sandbox_subprocess(latency_ms=SANDBOX_LATENCY_S * 1000, extra=["--ledger", str(ledger)])
            )
            stack.callback(processes.stop_all)  # runs before the sandbox stops: nothing sends into a dead port
            stack.callback(tail.stop)
            env = {
                **os.environ,
                "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),  # `granian`
                "PORT": str(web_port),
                "SMS_BACKEND": "twilio",
                "TWILIO_API_BASE_URL": sandbox_url,
                "PUBLIC_BASE_URL": base_url,
                "PRIORITY_LANE_SEND_LOG": str(lane_log),  # the lane's own clock (bench/celebrity_clocks.py)
            }
            for name in ("web", "worker", "priority"):
                processes.start(name, commands[name], env)
            wait_web(base_url, processes)
            wait_clusters(processes)
            processes.cpu_groups["sandbox"] = proc_cpu.command_line(f"--port {sandbox_url.rsplit(':', 1)[1]}")
            _sandbox_first(processes.cpu_groups["sandbox"])
            processes.cpu_groups["postgresql"] = proc_cpu.tree(proc_cpu.postmaster_pid(connection))
            cpu_start = proc_cpu.snapshot(processes.cpu_groups)
            print(f"up: web {workers} workers x {threads} threads, 2 qclusters, sandbox {sandbox_url}", flush=True)
            tail.start()

            fire(workdir, "warmup", {**spec, "method": "GET", "count": WARMUP}, processes)
            raw_floor = fire(workdir, "floor", {**spec, "method": "GET", "count": FLOOR_COUNT}, processes)
            floor = summary(raw_floor, 405)
            floor["load_avg_before"] = load_before
            print(f"floor: {floor['rate']:.0f} req/s, p99 {floor['p99_ms']} ms", flush=True)
            raw1 = fire(workdir, "phase1", {**spec, "method": "POST", "requests": scenario.phase1}, processes)
            phase1 = summary(raw1, 200)
            print(f"phase 1: {phase1['rate']:.0f} texts/s, p99 {phase1['p99_ms']} ms, errors {phase1['errors']}",
                  flush=True)  # fmt: skip
            raw2 = fire(workdir, "phase2", {**spec, "method": "POST", "requests": scenario.phase2}, processes)
            phase2 = summary(raw2, 200)
            print(f"phase 2: {phase2['rate']:.0f} texts/s, p99 {phase2['p99_ms']} ms, errors {phase2['errors']}",
                  flush=True)  # fmt: skip
            if not REQUESTS_ONLY:
                timed_out = wait_for_outcome(talent, scenario, tail, processes, raw1["ended_at"])
                cpu_end = proc_cpu.snapshot(processes.cpu_groups)
                time.sleep(5)  # a late duplicate would show up here
            # The floor again, the burst over: this machine's speed moves by a third within minutes
            # (BENCHMARKS.md's floors ran 3,000-4,800 GET/s in one morning), and a slow first floor
            # flattered the ratios. The ratios use the faster of the two.
            raw_floor2 = fire(workdir, "floor2", {**spec, "method": "GET", "count": FLOOR_COUNT}, processes)
            floor2 = summary(raw_floor2, 405)
            print(f"floor again: {floor2['rate']:.0f} req/s, p99 {floor2['p99_ms']} ms", flush=True)
        # Children stopped, ledger tail joined, sandbox stopped: the machine is ours again.
        records = list(tail.records)
        opted = {
            str(p): at
            for p, at in Fan.objects.filter(
                talent=talent, phone__in=scenario.stop_numbers, status=Fan.Status.OPTED_OUT
            ).values_list("phone", "opted_out_at")
        }
        # opted_out_at is stamped inside the transaction, before its commit; the webhook's answer
        # (when applied in the request) comes after it: the later of the two is surely committed.
        answered_at = {n: raw2["done_at"][k] for k, n in enumerate(scenario.phase2_from) if n in opted}
        committed = {n: max(at.timestamp(), answered_at[n]) for n, at in opted.items()}
        report_requests(floor, phase1, phase2, web=f"{commands['web'].split()[0]} {workers}x{threads}", floor2=floor2)
        report_cpu([("floor", raw_floor, floor), ("phase 1", raw1, phase1), ("phase 2", raw2, phase2)])
        report_rules_pace(talent, raw1, raw2)
        if REQUESTS_ONLY:
            for model in (InboundMessage, OutboundMessage, Fan):
                model.objects.filter(talent=talent).delete()
            success = True
            return
        report_stored(talent, raw2)
        report_links(scenario, records, raw1, committed, timed_out, read_lane_log(lane_log))
        report_run_cpu(cpu_start, cpu_end, records)
        report_stops(talent, scenario, raw2, records, opted)
        report_inprocess()
        for model in (InboundMessage, OutboundMessage, Fan):  # leave the database as small as we found it
            model.objects.filter(talent=talent).delete()
        success = True
    except BaseException as exc:
        # One failing row in BENCHMARKS.md rather than only a traceback on stderr.
        emit(BENCH, "run", 0, "", target="completes", ok=False, error=repr(exc)[:300])
        raise
    finally:
        if success and not os.environ.get("BENCH_CELEBRITY_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept logs and ledger in {workdir}", flush=True)


if __name__ == "__main__":
    main()
