"""Development backend: prints each message to stdout and pretends the provider queued it."""

from __future__ import annotations

import itertools
import sys
import threading
import uuid

from messaging.sms.backends.base import BaseSmsBackend, SendResult, SmsMessage


class ConsoleBackend(BaseSmsBackend):
    _lock = threading.Lock()
    _counter = itertools.count(1)

    def send(self, message: SmsMessage) -> SendResult:
        sid = "SMconsole" + uuid.uuid4().hex[:25]
        sender = message.from_ or message.messaging_service_sid
        media = f" media={list(message.media_urls)}" if message.media_urls else ""
        with self._lock:
            sys.stdout.write(f"[sms #{next(self._counter)}] {sender} -> {message.to}{media}\n{message.body}\n---\n")
            sys.stdout.flush()
        return SendResult(sid=sid, status="queued")
