"""The provider interface: one message type, one result type, one error type."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str
    from_: str = ""  # E.164 sender; or messaging_service_sid
    messaging_service_sid: str = ""
    media_urls: tuple[str, ...] = ()
    status_callback: str = ""
    validity_period: int | None = None  # seconds the provider may keep trying (Twilio: 1-36000)


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str = "queued"  # the provider's initial status: queued, or accepted with a Messaging Service
    parts: int | None = None
    extra: dict = field(default_factory=dict)


class SmsError(Exception):
    """A send that did not go through.

    permanent: retrying the same message cannot succeed (bad number, opted out at the carrier ...).
    uncertain: the request may have reached the provider (timeout after sending): never resend
    blindly, reconcile instead.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        permanent: bool = False,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = str(code or "")
        self.http_status = status
        self.permanent = permanent
        self.uncertain = uncertain

    def __repr__(self) -> str:
        return f"SmsError({str(self)!r}, code={self.code!r}, permanent={self.permanent}, uncertain={self.uncertain})"


class BaseSmsBackend:
    """Subclasses implement send(); send_async() may be overridden by a truly async provider."""

    def send(self, message: SmsMessage) -> SendResult:
        raise NotImplementedError

    async def send_async(self, message: SmsMessage) -> SendResult:
        return await asyncio.to_thread(self.send, message)

    async def aclose(self) -> None:
        """Release async resources (an HTTP session) at the end of a batch's event loop."""
