"""manage.py sms_in --from +14155550101 --to +15005550006 "JOIN": play a fan texting the talent.

Posts a Twilio-shaped inbound-SMS webhook, signed with the auth token against the public URL
(PUBLIC_BASE_URL + /webhooks/twilio/inbound/), to --url: by default that same URL; a bare base URL
such as http://127.0.0.1:8000 (the app behind a tunnel) gets the webhook path appended.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from messaging.sandbox.parts import count_parts
from messaging.sandbox.server import API_VERSION, E164

INBOUND_PATH = "/webhooks/twilio/inbound/"


def inbound_params(*, from_: str, to: str, body: str, account_sid: str) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "Body": body,
        "From": from_,
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": str(count_parts(body)),
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": to,
    }


class Command(BaseCommand):
    help = "Post a signed, Twilio-shaped inbound SMS webhook to the running app, as if a fan texted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="from_", required=True, help="the fan's number, E.164")
        parser.add_argument("--to", required=True, help="the talent's number, E.164")
        parser.add_argument("text", help="the message text")
        parser.add_argument(
            "--url",
            default="",
            help="where the app listens (default PUBLIC_BASE_URL); a bare base URL gets /webhooks/twilio/inbound/ appended",
        )
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, **opts) -> None:
        for flag, number in (("--from", opts["from_"]), ("--to", opts["to"])):
            if not E164.match(number):
                raise CommandError(f"{flag}: {number!r} is not an E.164 number (like +14155550101)")
        if not settings.TWILIO_AUTH_TOKEN:
            raise CommandError("TWILIO_AUTH_TOKEN is not set: cannot sign the webhook")
        public_url = settings.PUBLIC_BASE_URL + INBOUND_PATH
        url = opts["url"] or public_url
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + INBOUND_PATH
        params = inbound_params(
            from_=opts["from_"], to=opts["to"], body=opts["text"], account_sid=settings.TWILIO_ACCOUNT_SID
        )
        # Signed against the public URL, as Twilio signs what it was configured to call, even when
        # posting straight to a local port behind that URL.
        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(public_url, params)
        try:
            resp = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=opts["timeout"])
        except requests.ConnectionError as exc:
            raise CommandError(f"nothing is listening at {url} (is the app running? `manage.py runserver`): {exc}")
        except requests.Timeout:
            raise CommandError(f"{url} did not answer within {opts['timeout']} s")
        self.stdout.write(f"{resp.status_code} {resp.reason}")
        if resp.text:
            self.stdout.write(resp.text)
        if resp.status_code >= 400:
            raise CommandError(f"the webhook answered {resp.status_code}")
