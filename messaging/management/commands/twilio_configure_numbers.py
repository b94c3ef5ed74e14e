"""manage.py twilio_configure_numbers: point the talents' Twilio numbers and Messaging Services at
this installation's webhooks, through the twilio SDK (messaging/sms/twilio_account.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Talent
from messaging.sending.models import Sender
from messaging.sms.twilio_account import AccountError, account_client, configure_number, configure_service, webhook_urls


def addresses(talent: Talent) -> tuple[list[str], list[str]]:
    """The talent's numbers and Messaging Services: its sender pool and its own settings."""
    numbers = {str(talent.sender_number)} if talent.sender_number else set()
    services = {talent.messaging_service_sid} if talent.messaging_service_sid else set()
    for number, service in Sender.objects.filter(talent=talent).values_list("phone_number", "messaging_service_sid"):
        numbers |= {number} if number else set()
        services |= {service} if service else set()
    return sorted(numbers), sorted(services)


class Command(BaseCommand):
    help = (
        "Set each talent number's incoming-message webhook and fallback URL, and each Messaging Service's "
        "incoming webhook, fallback and status callback, at Twilio (TWILIO_API_BASE_URL: the sandbox)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--talent", action="append", help="a talent's slug (repeatable; default: every talent)")
        parser.add_argument(
            "--base-url", default="", help=f"public URL of the web process (default {settings.PUBLIC_BASE_URL})"
        )
        parser.add_argument(
            "--fallback-url", default="", help="public URL of the fallback web process (default: leave it as it is)"
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    def handle(self, *args, **options):
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise CommandError("Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN first.")
        base = options["base_url"] or settings.PUBLIC_BASE_URL
        for name, url in (("--base-url", base), ("--fallback-url", options["fallback_url"])):
            if url and not url.startswith("https://") and not settings.DEBUG and not settings.TWILIO_API_BASE_URL:
                raise CommandError(f"{name} must be an https:// URL Twilio can reach, got {url!r}.")
        talents = Talent.objects.order_by("slug")
        if options["talent"]:
            talents = talents.filter(slug__in=options["talent"])
            missing = set(options["talent"]) - set(talents.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No talent with slug {', '.join(sorted(missing))}.")
        urls = webhook_urls(base, options["fallback_url"])
        client = account_client()
        apply = not options["dry_run"]
        failures = 0
        for talent in talents:
            numbers, services = addresses(talent)
            if not numbers and not services:
                self.stdout.write(f"{talent.slug}: no number or Messaging Service")
                continue
            work = [(configure_number, n) for n in numbers] + [(configure_service, s) for s in services]
            for configure, address in work:
                try:
                    change = configure(client, address, urls, apply=apply)
                except AccountError as exc:
                    failures += 1
                    self.stderr.write(f"{talent.slug}: {exc}")
                    continue
                if not change.changed:
                    self.stdout.write(f"{talent.slug}: {address} already points here")
                    continue
                verb = "would set" if options["dry_run"] else "set"
                for field, (was, now) in change.changes.items():
                    self.stdout.write(f"{talent.slug}: {address} {verb} {field}: {was or '(empty)'} -> {now}")
        if failures:
            raise CommandError(f"{failures} number(s) or service(s) could not be configured (see above).")
