"""A local, Twilio-compatible SMS server for development, demos, tests and benchmarks.

    manage.py twilio_sandbox --port 8799 --latency-ms 20 --ledger /tmp/ledger.jsonl
    TWILIO_API_BASE_URL=http://127.0.0.1:8799 SMS_BACKEND=twilio ...

In tests, run it in-process on a free port:

    from messaging.sandbox import run_sandbox_in_thread
    with run_sandbox_in_thread(latency_ms=0, ledger=path) as base_url:
        ...  # base_url is a str ("http://127.0.0.1:PORT") with .sandbox (the Sandbox) attached

Django is not needed by the server itself (bench/ starts it in a bare subprocess).
"""

from messaging.sandbox.server import Sandbox, SandboxConfig, read_ledger, run_sandbox_in_thread, serve

__all__ = ["Sandbox", "SandboxConfig", "read_ledger", "run_sandbox_in_thread", "serve"]
