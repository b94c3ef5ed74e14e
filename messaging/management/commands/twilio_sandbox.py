"""manage.py twilio_sandbox: a local Twilio-compatible SMS server (see messaging/sandbox/)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.sandbox import SandboxConfig, serve


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError(value)
    return rate


class Command(BaseCommand):
    help = "Run a local server speaking Twilio's Messages API, with signed status callbacks and a send ledger."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8799)
        parser.add_argument("--latency-ms", type=float, default=20.0, help="delay before every API answer")
        parser.add_argument("--fail-rate", type=_rate, default=0.0, help="fraction of sends answered 5xx or 429/20429")
        parser.add_argument(
            "--callback-fail-rate",
            type=_rate,
            default=0.0,
            help="fraction of accepted messages ending undelivered/failed",
        )
        parser.add_argument(
            "--slow-after-accept-ms",
            type=float,
            default=0.0,
            help="hold the answer back after accepting (timeout tests)",
        )
        parser.add_argument("--ledger", default="", help="append one JSON line per accepted message to this file")
        parser.add_argument("--sent-delay-ms", type=float, default=50.0)
        parser.add_argument("--delivered-delay-ms", type=float, default=200.0)
        parser.add_argument("--callback-concurrency", type=int, default=64)
        parser.add_argument("--max-stored", type=int, default=1_000_000, help="messages kept in memory for GET/list")
        parser.add_argument("--seed", type=int, default=None, help="seed the failure injection, for repeatable runs")

    def handle(self, *args, **opts) -> None:
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise CommandError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set (clients authenticate with them)")
        if opts["latency_ms"] < 0 or opts["slow_after_accept_ms"] < 0:
            raise CommandError("--latency-ms and --slow-after-accept-ms must not be negative")
        if opts["callback_concurrency"] < 1:
            raise CommandError("--callback-concurrency must be at least 1")
        config = SandboxConfig(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            latency_ms=opts["latency_ms"],
            fail_rate=opts["fail_rate"],
            callback_fail_rate=opts["callback_fail_rate"],
            slow_after_accept_ms=opts["slow_after_accept_ms"],
            ledger=opts["ledger"] or None,
            sent_delay_ms=opts["sent_delay_ms"],
            delivered_delay_ms=opts["delivered_delay_ms"],
            callback_concurrency=opts["callback_concurrency"],
            max_stored=max(opts["max_stored"], 1),
            seed=opts["seed"],
        )
        try:
            serve(config, host=opts["host"], port=opts["port"], print_fn=self.stdout.write)
        except OSError as exc:
            raise CommandError(f"cannot listen on {opts['host']}:{opts['port']}: {exc}")
