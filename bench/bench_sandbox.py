"""python -m bench.bench_sandbox: the sandbox's own figures, one JSON line each.

- server_capacity: requests/s the sandbox (20 ms latency, own process) answers to a lean raw
  aiohttp client (pre-encoded form, no SDK): what the sandbox can take. Target > 3,000/s.
- bare_create_async_rate: messages/s of a bare create_async loop with the real twilio SDK (no DB):
  the floor the campaign send benchmark is compared against.
- backend_send_async_rate: the same loop through TwilioBackend.send_async (our timeout, connection
  cap, sent-or-not tracing, error mapping), with Django's settings and logging: should stay near the
  floor (target: at least 80 % of it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

import aiohttp

from bench.sandbox_floor import _credentials, bare_create_async_rate, sandbox_subprocess


async def _backend_loop(count: int, concurrency: int) -> float:
    from messaging.sms.backends.base import SmsMessage
    from messaging.sms.backends.twilio import TwilioBackend

    backend = TwilioBackend()
    next_index = iter(range(count))

    async def worker() -> None:
        for i in next_index:
            await backend.send_async(
                SmsMessage(to=f"+1415{i % 10_000_000:07d}", from_="+15005550006", body=f"bench {i}")
            )

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)
    finally:
        await backend.aclose()


def backend_send_async_rate(base_url: str, count: int, concurrency: int) -> float:
    import django
    from django.test import override_settings

    django.setup()
    with override_settings(TWILIO_API_BASE_URL=base_url, TWILIO_HTTP_MAX_CONNECTIONS=concurrency):
        return asyncio.run(_backend_loop(count, concurrency))


async def _raw_rate(base_url: str, count: int, concurrency: int) -> float:
    sid, token = _credentials(None, None)
    url = f"{base_url}/2010-04-01/Accounts/{sid}/Messages.json"
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    body = b"To=%2B14155550101&From=%2B15005550006&Body=bench"
    remaining = iter(range(count))
    failures = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal failures
            for _ in remaining:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    failures += resp.status != 201

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} raw requests failed")
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    with sandbox_subprocess(latency_ms=args.latency_ms) as base_url:
        bare_create_async_rate(base_url, 500, 50)  # warm-up: imports, connections
        capacity = asyncio.run(_raw_rate(base_url, args.count, args.concurrency))
        rate = bare_create_async_rate(base_url, args.count, args.concurrency)
        backend_rate = backend_send_async_rate(base_url, args.count, args.concurrency)
    common = {"bench": "sandbox", "unit": "msg/s"}
    print(
        json.dumps(
            {
                **common,
                "figure": "server_capacity",
                "value": round(capacity, 1),
                "target": "> 3000",
                "ok": capacity > 3000,
            }
        )
    )
    print(
        json.dumps(
            {
                **common,
                "figure": "bare_create_async_rate",
                "value": round(rate, 1),
                "target": f"floor for the campaign send (latency {args.latency_ms:g} ms, concurrency {args.concurrency})",
                "ok": True,
            }
        )
    )

    print(
        json.dumps(
            {
                **common,
                "figure": "backend_send_async_rate",
                "value": round(backend_rate, 1),
                "target": f">= 80% of bare_create_async_rate ({rate * 0.8:.0f})",
                "ok": backend_rate >= rate * 0.8,
            }
        )
    )


if __name__ == "__main__":
    main()
