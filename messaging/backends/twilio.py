"""Twilio through the official SDK. TWILIO_API_BASE_URL points it at the local sandbox.

The SDK's HTTP clients are used without max_retries on purpose: their retry re-POSTs on 5xx and
timeouts, and a timeout after Twilio accepted a message would become a duplicate SMS.
"""

from __future__ import annotations

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from messaging.backends.base import BaseSmsBackend, SendResult, SmsError, SmsMessage

# Twilio error codes where resending the same message cannot succeed.
PERMANENT_CODES = {
    "21211",  # invalid To number
    "21408",  # region not enabled
    "21610",  # recipient replied STOP
    "21612",  # cannot route to this number
    "21614",  # not a mobile number
    "30004",  # message blocked
    "30005",  # unknown destination handset
    "30006",  # landline or unreachable carrier
    "30007",  # carrier filtering
    "30034",  # unregistered 10DLC sender
}
# Throttling: nothing was created, retry after a backoff.
RETRYABLE_CODES = {"20429", "21611", "30001"}


def error_from_exception(exc: TwilioRestException) -> SmsError:
    code = str(exc.code or "")
    status = exc.status
    permanent = code in PERMANENT_CODES or (
        status is not None and 400 <= status < 500 and status != 429 and code not in RETRYABLE_CODES
    )
    return SmsError(exc.msg or str(exc), code=code, status=status, permanent=permanent)


def message_params(message: SmsMessage) -> dict:
    params: dict = {"to": message.to, "body": message.body}
    if message.messaging_service_sid:
        params["messaging_service_sid"] = message.messaging_service_sid
    if message.from_:
        params["from_"] = message.from_
    if message.media_urls:
        params["media_url"] = list(message.media_urls)
    if message.status_callback:
        params["status_callback"] = message.status_callback
    if message.validity_period:
        params["validity_period"] = message.validity_period
    return params


def make_client(*, http_client=None) -> Client:
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL
    return client


class TwilioBackend(BaseSmsBackend):
    def __init__(self) -> None:
        self.client = make_client()

    def send(self, message: SmsMessage) -> SendResult:
        try:
            created = self.client.messages.create(**message_params(message))
        except TwilioRestException as exc:
            raise error_from_exception(exc) from exc
        except Exception as exc:  # connection reset / timeout: the request may have been accepted
            raise SmsError(f"no answer from Twilio: {exc}", uncertain=True) from exc
        segments = int(created.num_segments) if created.num_segments else None
        return SendResult(sid=created.sid, status=created.status or "queued", segments=segments)
