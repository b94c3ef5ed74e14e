"""The sandbox server (kept import path): the package is split by resource, this module
re-exports every name it used to hold.

- `common.py`: constants, magic numbers, SandboxConfig, StoredMessage, Twilio's error shape
- `app.py`: the Sandbox (routes, auth, start-up) built from one mixin per resource:
  `messages.py` (Messages, media), `callbacks.py` (status callbacks), `lookups.py` (Lookup v2)
- `running.py`: serve, run_sandbox_in_thread, SandboxURL, read_ledger
"""

from messaging.sandbox.app import Sandbox
from messaging.sandbox.common import (
    API_VERSION,
    CALLBACK_FAILURES,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    E164,
    MAGIC_FROM,
    MAGIC_TO,
    MAX_BODY,
    STATUS_RANK,
    SandboxConfig,
    StoredMessage,
    _on_or_after,
    _on_or_before,
    _parse_when,
    rfc2822,
    twilio_error,
)
from messaging.sandbox.lookups import LOOKUP_CARRIERS, lookup_answer
from messaging.sandbox.running import SandboxURL, _as_coro, read_ledger, run_sandbox_in_thread, serve

__all__ = [
    "API_VERSION",
    "CALLBACK_FAILURES",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "E164",
    "LOOKUP_CARRIERS",
    "MAGIC_FROM",
    "MAGIC_TO",
    "MAX_BODY",
    "STATUS_RANK",
    "Sandbox",
    "SandboxConfig",
    "SandboxURL",
    "StoredMessage",
    "_as_coro",
    "_on_or_after",
    "_on_or_before",
    "_parse_when",
    "lookup_answer",
    "read_ledger",
    "rfc2822",
    "run_sandbox_in_thread",
    "serve",
    "twilio_error",
]
