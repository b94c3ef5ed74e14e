"""How many sends one event loop makes beside a CPU-bound thread, by the GIL's switch interval
(issue 10, ninth session; messaging/sending/pacing.py LOOP_SWITCH_INTERVAL).

    .venv/bin/python -m bench.lane_gil

The priority lane's event loop sends one text after another at the sender's pace, while threads of
its process claim the next batch and record the last one (ORM work, CPU-bound in Python). Each time
the loop returns from a system call it waits for the GIL, which a busy thread hands over once per
switch interval. This runs a local HTTP server in a child process and, in this process, a loop
that posts one request after another (as fast as it can: its cap) beside a thread that only
computes, once at Python's default interval (5 ms) and once at the lane's. Needs no database.
Not a bench_*.py module: `make bench` does not run it, and it writes nothing to BENCHMARKS.md.

LANE_GIL_SECONDS (default 3) per measurement; LANE_GIL_ROUNDS (default 2) alternating rounds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time

SECONDS = float(os.environ.get("LANE_GIL_SECONDS", "3"))
ROUNDS = int(os.environ.get("LANE_GIL_ROUNDS", "2"))


def _serve(port: int) -> None:
    from aiohttp import web

    async def handler(request):
        await request.read()
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_post("/", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def _burn(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i  # pure Python: holds the GIL until the interpreter hands it over


async def _posts(url: str) -> float:
    from aiohttp import ClientSession

    sent = 0
    async with ClientSession() as session:
        start = time.monotonic()
        while time.monotonic() - start < SECONDS:
            async with session.post(url, data=b"To=%2B14155550100&Body=hi") as response:
                await response.read()
            sent += 1
    return sent / SECONDS


def measure(interval: float, url: str) -> float:
    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    stop = threading.Event()
    thread = threading.Thread(target=_burn, args=(stop,))
    thread.start()
    try:
        return asyncio.run(_posts(url))
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(before)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fancommunity.settings")
    import django

    django.setup()
    from messaging.sending.pacing import LOOP_SWITCH_INTERVAL

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        intervals = {
            "Python's default (5 ms)": 0.005,
            f"the lane's ({LOOP_SWITCH_INTERVAL * 1000:g} ms)": LOOP_SWITCH_INTERVAL,
        }
        results: dict[str, list[float]] = {name: [] for name in intervals}
        for _ in range(ROUNDS):
            for name, interval in intervals.items():
                results[name].append(measure(interval, url))
        for name, rates in results.items():
            print(f"{name:28s} {statistics.median(rates):7.0f} sends a second beside a busy thread "
                  f"(rounds {min(rates):.0f}-{max(rates):.0f})")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
