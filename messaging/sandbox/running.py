"""Running the sandbox: in the foreground (the command, `python -m messaging.sandbox`) or on a
free port in a background thread (tests), and reading its ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from messaging.sandbox.app import Sandbox
from messaging.sandbox.common import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, SandboxConfig


def read_ledger(path: str | Path) -> list[dict]:
    """The ledger's records, one per accepted message (an absent file is an empty ledger)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def serve(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 8799, print_fn=print) -> None:
    """Runs the sandbox in the foreground until interrupted (the management command calls this)."""
    sandbox = Sandbox(config)
    app = sandbox.make_app()

    async def announce(app: web.Application) -> None:
        print_fn(
            f"Twilio sandbox on http://{host}:{port} (account {config.account_sid}); set TWILIO_API_BASE_URL=http://{host}:{port}"
        )

    app.on_startup.append(announce)
    web.run_app(app, host=host, port=port, access_log=None, print=None, handle_signals=True)
    print_fn(f"Twilio sandbox stopped: {sandbox.stats}")


class SandboxURL(str):
    """The base URL of a running in-thread sandbox, with the Sandbox attached for inspection."""

    sandbox: Sandbox
    loop: asyncio.AbstractEventLoop

    def call(self, fn, *args):
        """Runs fn(*args) on the sandbox's loop thread and returns its result (for safe inspection)."""
        return asyncio.run_coroutine_threadsafe(_as_coro(fn, *args), self.loop).result(timeout=10)

    def wait_callbacks(self, timeout: float = 5.0) -> bool:
        """Waits until no status callback is scheduled or in flight; True if it got there."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(self.sandbox.callbacks_pending) == 0:
                return True
            time.sleep(0.02)
        return False


async def _as_coro(fn, *args):
    return fn(*args)


@contextlib.contextmanager
def run_sandbox_in_thread(
    *, account_sid: str | None = None, auth_token: str | None = None, host: str = "127.0.0.1", **options: Any
) -> Iterator[SandboxURL]:
    """Runs a sandbox on a free loopback port in a background thread, for tests.

    Credentials default to Django's TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN when settings are
    configured; other keyword arguments are SandboxConfig fields (latency_ms defaults to 0 here,
    callback delays to 10 ms).
    """
    if account_sid is None or auth_token is None:
        try:
            from django.conf import settings

            account_sid = account_sid or settings.TWILIO_ACCOUNT_SID or DEFAULT_ACCOUNT_SID
            auth_token = auth_token or settings.TWILIO_AUTH_TOKEN or DEFAULT_AUTH_TOKEN
        except Exception:  # Django absent or not configured
            account_sid = account_sid or DEFAULT_ACCOUNT_SID
            auth_token = auth_token or DEFAULT_AUTH_TOKEN
    options.setdefault("latency_ms", 0)
    options.setdefault("sent_delay_ms", 10)
    options.setdefault("delivered_delay_ms", 10)
    config = SandboxConfig(account_sid=account_sid, auth_token=auth_token, **options)
    sandbox = Sandbox(config)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(sandbox.make_app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(state["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="twilio-sandbox", daemon=True)
    thread.start()
    ready.wait(10)
    if "error" in state:
        raise state["error"]
    url = SandboxURL(f"http://{host}:{state['port']}")
    url.sandbox = sandbox
    url.loop = loop
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
