"""The floor for the campaign send benchmark: a bare create_async loop with the real twilio SDK
against the sandbox, no database, no Django. The campaign benchmark calls bare_create_async_rate()
in the same run and compares its own rate with this one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bench.common import stop_process
from messaging.sandbox.server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN


def _credentials(account_sid: str | None, auth_token: str | None) -> tuple[str, str]:
    if account_sid and auth_token:
        return account_sid, auth_token
    try:
        from django.conf import settings

        return account_sid or settings.TWILIO_ACCOUNT_SID, auth_token or settings.TWILIO_AUTH_TOKEN
    except Exception:  # Django absent or not configured
        return (
            account_sid or os.environ.get("TWILIO_ACCOUNT_SID") or DEFAULT_ACCOUNT_SID,
            auth_token or os.environ.get("TWILIO_AUTH_TOKEN") or DEFAULT_AUTH_TOKEN,
        )


async def _bare_loop(base_url: str, count: int, concurrency: int, account_sid: str, auth_token: str) -> float:
    http = AsyncTwilioHttpClient(pool_connections=False)  # no max_retries, as in the backend
    http.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    client = Client(account_sid, auth_token, http_client=http)
    client.api.base_url = base_url.rstrip("/")
    next_index = iter(range(count))
    errors: list[BaseException] = []

    async def worker() -> None:
        for i in next_index:  # a shared iterator: each index is taken by one worker
            try:
                await client.messages.create_async(
                    to=f"+1415{i % 10_000_000:07d}", from_="+15005550006", body=f"bench {i}"
                )
            except Exception as exc:
                errors.append(exc)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await http.close()
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} bare sends failed, first: {errors[0]!r}")
    return count / elapsed


def bare_create_async_rate(
    base_url: str, count: int, concurrency: int, *, account_sid: str | None = None, auth_token: str | None = None
) -> float:
    """Messages per second of `count` client.messages.create_async calls, `concurrency` at a time.

    Credentials default to Django's settings when configured, else the environment, else the
    sandbox defaults; they must be the sandbox's.
    """
    sid, token = _credentials(account_sid, auth_token)
    return asyncio.run(_bare_loop(base_url, count, concurrency, sid, token))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandbox_subprocess(
    *,
    latency_ms: float = 20.0,
    extra: list[str] | None = None,
    module: str = "messaging.sandbox",
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Iterator[str]:
    """Starts `python -m messaging.sandbox` on a free port; yields its base URL. `module` (taking
    the same arguments), `env` and `cwd` (another checkout's sandbox) are for bench/sandbox_cpu.py."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        module,
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        *(extra or []),
    ]
    env = {**os.environ, **(env or {})}
    sid, token = _credentials(None, None)
    env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"] = sid, token
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(base_url + "/health", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sandbox did not start: {proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        yield base_url
    finally:
        stop_process(proc)
