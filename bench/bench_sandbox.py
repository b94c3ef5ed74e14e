"""python -m bench.bench_sandbox: the sandbox's own figures, one JSON line each.

- server_capacity: requests/s the sandbox (20 ms latency, own process) answers to a lean raw
  aiohttp client (pre-encoded form, no SDK): what the sandbox can take. Target > 3,000/s.
- bare_create_async_rate: messages/s of a bare create_async loop with the real twilio SDK (no DB):
  the floor the campaign send benchmark is compared against.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

import aiohttp

from bench.sandbox_floor import _credentials, bare_create_async_rate, sandbox_subprocess


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


if __name__ == "__main__":
    main()
