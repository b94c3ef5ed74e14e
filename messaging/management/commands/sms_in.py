"""manage.py sms_in --from +14155550101 --to +15005550006 "JOIN": play a fan texting the talent.

Posts a Twilio-shaped inbound-SMS webhook, signed with the auth token against the public URL
(PUBLIC_BASE_URL + /webhooks/twilio/inbound/), to --url. By default: the local server on $PORT
when PORT is set (`PORT=8300 manage.py sms_in ...` next to `make run PORT=8300`), else the public
URL itself. A bare base URL such as http://127.0.0.1:8000 gets the webhook path appended.

Then it prints what the fan received: the texts created for that number after the post, read
from the database the server writes to, waiting up to --wait seconds for the priority lane to
send them (a STOP's confirmation, a join link, a HELP reply...).
"""

from __future__ import annotations

import os
import secrets
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from messaging.sandbox.parts import count_parts
from messaging.sandbox.server import API_VERSION, E164
from messaging.sms.models import OutboundMessage

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
            help="where the app listens (default http://127.0.0.1:$PORT when PORT is set, else PUBLIC_BASE_URL); "
            "a bare base URL gets /webhooks/twilio/inbound/ appended",
        )
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument(
            "--wait",
            type=float,
            default=8.0,
            help="seconds to wait for the texts the fan gets back (0: do not wait, print nothing)",
        )

    def handle(self, *args, **opts) -> None:
        for flag, number in (("--from", opts["from_"]), ("--to", opts["to"])):
            if not E164.match(number):
                raise CommandError(f"{flag}: {number!r} is not an E.164 number (like +14155550101)")
        if not settings.TWILIO_AUTH_TOKEN:
            raise CommandError("TWILIO_AUTH_TOKEN is not set: cannot sign the webhook")
        public_url = settings.PUBLIC_BASE_URL + INBOUND_PATH
        port = os.environ.get("PORT", "").strip()
        url = opts["url"] or (f"http://127.0.0.1:{port}" if port.isdigit() else public_url)
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + INBOUND_PATH
        params = inbound_params(
            from_=opts["from_"], to=opts["to"], body=opts["text"], account_sid=settings.TWILIO_ACCOUNT_SID
        )
        # Signed against the public URL, as Twilio signs what it was configured to call, even when
        # posting straight to a local port behind that URL.
        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(public_url, params)
        last_id = 0
        if opts["wait"] > 0:  # texts created after this id are the answers to this one
            last_id = OutboundMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
        try:
            resp = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=opts["timeout"])
        except requests.ConnectionError as exc:
            raise CommandError(f"nothing is listening at {url} (is the app running? `manage.py runserver`): {exc}")
        except requests.Timeout:
            raise CommandError(f"{url} did not answer within {opts['timeout']} s")
        if resp.status_code >= 400:
            self.stdout.write(f"{resp.status_code} {resp.reason}")
            if resp.text:
                self.stdout.write(resp.text)
            raise CommandError(f"the webhook answered {resp.status_code}")
        self.stdout.write(f"{opts['from_']} -> {opts['to']}: {opts['text']!r} ({resp.status_code} {resp.reason})")
        if opts["wait"] > 0:
            self._print_replies(to=opts["from_"], after_id=last_id, wait=opts["wait"])

    def _print_replies(self, *, to: str, after_id: int, wait: float) -> None:
        """The texts for `to` created after the post, once none is waiting to leave (or at `wait`)."""
        waiting = {OutboundMessage.Status.PENDING, OutboundMessage.Status.CLAIMED}
        deadline = time.monotonic() + wait
        settled_since = None
        rows: list = []
        while time.monotonic() < deadline:
            rows = list(
                OutboundMessage.objects.filter(to_number=to, id__gt=after_id)
                .order_by("id")
                .values("body", "status", "fan_id")
            )
            if rows and not any(row["status"] in waiting for row in rows):
                # Sent; a moment more in case the rules queue a second text (a join link after a code).
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= 0.5:
                    break
            else:
                settled_since = None
            time.sleep(0.2)
        if not rows:
            self.stdout.write(f"(no text back within {wait:g} s: is the priority lane running? `make run` starts it)")
            return
        for row in rows:
            state = "" if row["status"] not in waiting else f" [{row['status']}: not sent yet]"
            self.stdout.write(f"{to} <- {self._readable(row)}{state}")

    def _readable(self, row: dict) -> str:
        """Stored bodies hold link placeholders (issue 15); the developer at this terminal holds the
        fan's phone, so show a working link: a fresh one, as valid as the one the text carried."""
        from accounts.models import Fan
        from accounts.tokens import has_links, render_links

        if not has_links(row["body"]) or not row["fan_id"]:
            return row["body"]
        fan = Fan.objects.select_related("talent").filter(pk=row["fan_id"]).first()
        return render_links(row["body"], talent=fan.talent, fan=fan) if fan and fan.phone else row["body"]
