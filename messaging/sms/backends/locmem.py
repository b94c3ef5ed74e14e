"""Test backend: keeps every message in messaging.sms.backends.locmem.outbox (like django.core.mail.outbox).

Tests may make the next sends fail by appending SmsError instances to `failures`.
"""

from __future__ import annotations

import threading
import uuid

from messaging.sms.backends.base import BaseSmsBackend, SendResult, SmsError, SmsMessage

outbox: list[SmsMessage] = []
failures: list[SmsError] = []
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        outbox.clear()
        failures.clear()


class LocmemBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> SendResult:
        with _lock:
            if failures:
                raise failures.pop(0)
            outbox.append(message)
        return SendResult(sid="SMlocmem" + uuid.uuid4().hex[:26], status="queued")
