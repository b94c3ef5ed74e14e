"""CPU the Twilio sandbox spends a message, status callbacks included (issue 10, seventh session).

    .venv/bin/python -m bench.sandbox_cpu [--count 2000] [--rate 100] [--rounds 3] [--profile out.prof]

In the celebrity benchmark the sandbox stands in for Twilio's machines but runs on the same two
cores as the web, PostgreSQL and the lane: every millisecond it spends is taken from the texts the
benchmark measures. This measures that millisecond alone, with no Django and no database: the real
twilio SDK (AsyncTwilioHttpClient, as bench/sandbox_floor.py and the lane's backend use it) sends
paced messages (`--rate` a second, as the lane does at a short code's 100) to `python -m
messaging.sandbox` in a subprocess with its 20 ms latency and a ledger, and a local receiver
(aiohttp, keep-alive, answering 200 like the web's status view) takes the status callbacks.

Each round has two phases, alternated so a change in the machine's load falls on both: `create`
(no StatusCallback: the REST answer and the ledger line only) and `link` (with a StatusCallback
carrying the `?m=` hint, as the lane sends a join link: the create plus its "sent" and
"delivered" callbacks). The sandbox's CPU (utime + stime of its process, from /proc) over a phase,
divided by the messages, is the figure; (link - create) / 2 is a callback's. CPU time, not wall
time: the machine is shared. Medians of the rounds are printed, with the load average.

The run also checks what the sandbox must keep doing while it gets cheaper, and exits non-zero if
it did not: one ledger line per accepted message (no more, no fewer), every callback's
X-Twilio-Signature valid for its URL (hint included), each message's callbacks one "sent" and one
"delivered", naming its MessageSid, with its hint.

`--compare DIR` measures a second sandbox beside this one, from another checkout (for before and
after: `git archive <commit> messaging bench | tar -x -C DIR`), its rounds alternated with this
one's. `--profile FILE` runs this checkout's sandbox under cProfile with a CPU clock (time.process_time) and writes
its stats to FILE when the sandbox stops. Not a bench_*.py module: `make bench` does not run it, and
it writes nothing to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bench import proc_cpu
from bench.sandbox_floor import _credentials, free_port, sandbox_subprocess
from messaging.sandbox import read_ledger

SENDER = "+15005550006"
# A join link as the lane sends it: one GSM-7 part (bench/celebrity_scenario.py's is 150-160 chars).
BODY = (
    "Nova: you're nearly in! Tap to confirm and get the good stuff first: "
    "https://fans.example.com/j/{token} Msg&data rates may apply. Reply STOP to opt out"
)
PROFILE_ENV = "SANDBOX_CPU_PROFILE_TO"


class Receiver:
    """The web's status view, reduced to what the sandbox sees of it: 200, empty, keep-alive.
    It checks every callback's signature against its own URL (the hint is part of it)."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.statuses: dict[str, list[str]] = defaultdict(list)  # hint -> statuses, in arrival order
        self.sids: dict[str, set[str]] = defaultdict(set)  # hint -> MessageSids its callbacks named
        self.bad_signatures = 0
        self.no_hint = 0
        self.count = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.validator.validate(str(request.url), form, signature):
            self.bad_signatures += 1
        hint = request.query.get("m", "")
        if not hint:
            self.no_hint += 1
        self.statuses[hint].append(form.get("MessageStatus", ""))
        self.sids[hint].add(form.get("MessageSid", ""))
        self.count += 1
        return web.Response(status=200)


def _cpu_seconds(pid: int, kernel_only: bool = False) -> float:
    fields = proc_cpu._stat(pid)
    if fields is None:
        raise RuntimeError(f"the sandbox (pid {pid}) is gone")
    if kernel_only:
        return int(fields[12]) / proc_cpu.TICK  # stime: the sockets, epoll, the ledger's writes
    return (int(fields[11]) + int(fields[12])) / proc_cpu.TICK  # its own utime + stime, all threads


def _sandbox_pid(base_url: str) -> int:
    port = base_url.rsplit(":", 1)[1]
    [pid] = proc_cpu.command_line(f"--port {port} ")(proc_cpu._processes())
    return pid


async def _phase(
    client: Client, receiver: Receiver, *, first: int, count: int, rate: float, callbacks: bool
) -> dict[int, str]:
    """Sends `count` paced messages (indexes first..first+count-1); returns {index: sid}. With
    callbacks, waits until the receiver has both of every message's."""
    sids: dict[int, str] = {}
    errors: list[BaseException] = []
    expected = receiver.count + 2 * count if callbacks else receiver.count

    async def send(i: int) -> None:
        try:
            message = await client.messages.create_async(
                to=f"+1312{2000000 + i:07d}",
                from_=SENDER,
                body=BODY.format(token=f"{i:014d}"),
                **({"status_callback": f"{receiver.url}/webhooks/twilio/status/?m={i}"} if callbacks else {}),
            )
            sids[i] = message.sid
        except Exception as exc:  # counted: the run fails at the end
            errors.append(exc)

    started = time.monotonic()
    tasks = []
    for n in range(count):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(first + n)))
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + 30
    while receiver.count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the sandbox reads the last answers after the receiver counted them
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} sends failed, first: {errors[0]!r}")
    return sids


class _Target:
    """One sandbox under measure: its process, SDK client, ledger and what it was sent."""

    def __init__(self, label: str, base_url: str, ledger: Path, client: Client) -> None:
        self.label, self.base_url, self.ledger, self.client = label, base_url, ledger, client
        self.pid = _sandbox_pid(base_url)
        self.figures: dict[str, list[float]] = {"create": [], "link": []}
        self.kernel: dict[str, list[float]] = {"create": [], "link": []}  # the system-time part
        self.sent: dict[int, str] = {}
        self.linked: set[int] = set()


async def _measure(sandboxes: list[tuple[str, str, Path]], args: argparse.Namespace) -> int:
    sid, token = _credentials(None, None)
    receiver = Receiver(token)
    app = web.Application()
    app.router.add_post("/webhooks/twilio/status/", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}"

    http = AsyncTwilioHttpClient(pool_connections=False)  # no max_retries, as in the backend
    http.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency))
    targets = []
    for label, base_url, ledger in sandboxes:
        client = Client(sid, token, http_client=http)
        client.api.base_url = base_url
        targets.append(_Target(label, base_url, ledger, client))
    next_index = 0

    async def phase(target: _Target, count: int, callbacks: bool) -> None:
        nonlocal next_index
        first, next_index = next_index, next_index + count
        target.sent.update(
            await _phase(target.client, receiver, first=first, count=count, rate=args.rate, callbacks=callbacks)
        )
        if callbacks:
            target.linked.update(range(first, first + count))

    try:
        for target in targets:  # warm-up: imports, the SDK's and the sandbox's connections, the callbacks' pool
            await phase(target, 50, True)
        load = os.getloadavg()
        for _ in range(args.rounds):
            for target in targets:  # alternated: a change in the machine's load falls on each alike
                for name in ("create", "link"):
                    before, kernel = _cpu_seconds(target.pid), _cpu_seconds(target.pid, kernel_only=True)
                    await phase(target, args.count, name == "link")
                    target.figures[name].append((_cpu_seconds(target.pid) - before) * 1000 / args.count)
                    target.kernel[name].append((_cpu_seconds(target.pid, True) - kernel) * 1000 / args.count)
        idle = {}
        for target in targets:
            idle_before = _cpu_seconds(target.pid)
            await asyncio.sleep(1.0)
            idle[target.label] = (_cpu_seconds(target.pid) - idle_before) * 1000
    finally:
        await http.close()
        await runner.cleanup()

    for target in targets:
        figures = target.figures
        create, link = statistics.median(figures["create"]), statistics.median(figures["link"])
        spread = {k: f"{min(v):.3f}-{max(v):.3f}" for k, v in figures.items()}
        print(f"[{target.label}]")
        print(f"  sandbox CPU a create (REST answer + ledger line)     {create:.3f} ms  (rounds {spread['create']})")
        print(f"  sandbox CPU a link (create + 2 status callbacks)     {link:.3f} ms  (rounds {spread['link']})")
        print(f"  sandbox CPU a status callback ((link - create) / 2)  {(link - create) / 2:.3f} ms")
        kernel = {k: statistics.median(v) for k, v in target.kernel.items()}
        print(f"  of which in the kernel (stime): create {kernel['create']:.3f} ms, link {kernel['link']:.3f} ms")
        print(f"  idle sandbox: {idle[target.label]:.1f} ms CPU in 1 s")
    print(
        f"{args.rounds} rounds of {args.count} + {args.count} messages at {args.rate:g}/s; "
        f"load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    problems = [
        f"[{target.label}] {problem}"
        for target in targets
        for problem in _check(target.ledger, target.sent, target.linked, receiver)
    ]
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


def _check(ledger: Path, sent: dict[int, str], linked: set[int], receiver: Receiver) -> list[str]:
    """What the sandbox must still do, however cheap it gets."""
    problems = []
    lines = read_ledger(ledger)
    by_sid: dict[str, int] = defaultdict(int)
    for line in lines:
        by_sid[line["sid"]] += 1
    if len(lines) != len(sent) or set(by_sid) != set(sent.values()) or max(by_sid.values(), default=1) != 1:
        problems.append(f"ledger: {len(lines)} lines for {len(sent)} accepted messages ({len(by_sid)} sids)")
    if receiver.bad_signatures:
        problems.append(f"{receiver.bad_signatures} callbacks with an invalid X-Twilio-Signature")
    if receiver.no_hint:
        problems.append(f"{receiver.no_hint} callbacks without their ?m= hint")
    # Both, once each; not their order: a receiver that stalls (this process, on a loaded machine)
    # reads two waiting callbacks in its sockets' order, and Twilio's can arrive out of order too.
    wrong = [i for i in linked if sorted(receiver.statuses.get(str(i), [])) != ["delivered", "sent"]]
    asked_none = [i for i in sent if i not in linked and str(i) in receiver.statuses]
    if asked_none:
        problems.append(f"callbacks for {len(asked_none)} messages that asked for none")
    if wrong:
        problems.append(
            f"{len(wrong)} links without one sent and one delivered, e.g. {receiver.statuses.get(str(wrong[0]))}"
        )
    mixed = [i for i in linked if receiver.sids.get(str(i)) != {sent[i]}]
    if mixed:
        problems.append(f"{len(mixed)} links whose callbacks named another MessageSid")
    return problems


def _serve_profiled(out: str) -> None:
    """The sandbox (`python -m messaging.sandbox` and its arguments) under a CPU-time cProfile."""
    import cProfile

    from messaging.sandbox.__main__ import main as sandbox_main

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        sandbox_main(sys.argv[1:])  # returns when SIGTERM stops the server
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="messages a phase")
    parser.add_argument("--rate", type=float, default=100.0, help="messages a second (the lane's sender: 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64, help="the SDK's connection cap")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--profile", default="", help="write a CPU-time cProfile of the sandbox here")
    parser.add_argument(
        "--compare",
        default="",
        metavar="DIR",
        help="also measure the sandbox of another checkout (e.g. `git archive` of the commit before), rounds alternated",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        sandboxes = []
        for label, root in [
            ("this checkout", None),
            *([(f"compare: {args.compare}", args.compare)] * bool(args.compare)),
        ]:
            ledger = Path(tmp) / f"ledger-{len(sandboxes)}.jsonl"
            options: dict = {"cwd": root}
            if args.profile and root is None:
                options.update(module="bench.sandbox_cpu", env={PROFILE_ENV: os.path.abspath(args.profile)})
            base_url = stack.enter_context(
                sandbox_subprocess(latency_ms=args.latency_ms, extra=["--ledger", str(ledger)], **options)
            )
            sandboxes.append((label, base_url, ledger))
        code = asyncio.run(_measure(sandboxes, args))
    if args.profile:
        print(f"profile of the sandbox: {args.profile}")
    sys.exit(code)


if __name__ == "__main__":
    if os.environ.get(PROFILE_ENV):
        _serve_profiled(os.environ[PROFILE_ENV])
    else:
        main()
