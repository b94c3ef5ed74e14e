"""The load client of bench/bench_celebrity.py: fires pre-built webhook requests with aiohttp.

    python -m bench.celebrity_client IN.json OUT.json

It runs in its own process so the benchmark's bookkeeping (and Django) never shares an
interpreter with the client that stands in for Twilio. No Django here: the requests arrive
already encoded and signed, so the only work in the timed loop is HTTP.

IN.json:  {"url": ..., "method": "POST" | "GET", "concurrency": 50, "timeout_s": 15,
           "budget_s": 600, "requests": [[form_body, signature], ...]}   (POST)
          or "count": N instead of "requests" (GET, no body).
OUT.json: {"started_at", "ended_at" (wall clock, time.time()), "status": [...],
           "latency_ms": [...], "done_at": [...] (wall clock of each answer), "exceptions": {...}}
          Per request, in input order. status 0 = no answer (connection error or timeout),
          -1 = never sent (the phase's time budget ran out first).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

FORM = "application/x-www-form-urlencoded"


async def fire(spec: dict) -> dict:
    url, method = spec["url"], spec["method"]
    requests = spec.get("requests")
    count = len(requests) if requests is not None else int(spec["count"])
    status = [-1] * count
    latency_ms = [0.0] * count
    done_at = [0.0] * count
    exceptions: Counter[str] = Counter()
    # 15 s is how long Twilio waits for a webhook's answer before it gives up on it.
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout_s", 15)))
    connector = aiohttp.TCPConnector(limit=int(spec["concurrency"]))
    indices = iter(range(count))  # shared: each index is taken by exactly one worker
    deadline = time.monotonic() + float(spec.get("budget_s", 600))

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in indices:
            if time.monotonic() > deadline:
                return  # the rest stay -1: reported as errors instead of hanging the benchmark
            if requests is not None:
                body, signature = requests[i]
                kwargs = {"data": body.encode(), "headers": {"Content-Type": FORM, "X-Twilio-Signature": signature}}
            else:
                kwargs = {}
            start = time.perf_counter()
            try:
                async with session.request(method, url, **kwargs) as response:
                    await response.read()
                    status[i] = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status[i] = 0
                exceptions[type(exc).__name__] += 1
            latency_ms[i] = (time.perf_counter() - start) * 1000
            done_at[i] = time.time()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started_at = time.time()
        await asyncio.gather(*(worker(session) for _ in range(int(spec["concurrency"]))))
        ended_at = time.time()
    return {
        "started_at": started_at,
        "ended_at": ended_at,
        "status": status,
        "latency_ms": latency_ms,
        "done_at": done_at,
        "exceptions": dict(exceptions),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(fire(spec))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
