"""python -m messaging.sandbox: the sandbox without Django (benchmarks start it this way).

Same options as `manage.py twilio_sandbox`; credentials from --account-sid / --auth-token or the
TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN environment variables.
"""

from __future__ import annotations

import argparse
import os

from messaging.sandbox.server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, SandboxConfig, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m messaging.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID") or DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN") or DEFAULT_AUTH_TOKEN)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--callback-fail-rate", type=float, default=0.0)
    parser.add_argument("--slow-after-accept-ms", type=float, default=0.0)
    parser.add_argument("--ledger", default="")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    for name in ("fail_rate", "callback_fail_rate"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    config = SandboxConfig(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        callback_fail_rate=args.callback_fail_rate,
        slow_after_accept_ms=args.slow_after_accept_ms,
        ledger=args.ledger or None,
        seed=args.seed,
    )
    serve(config, host=args.host, port=args.port, print_fn=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
