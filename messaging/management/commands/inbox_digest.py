"""manage.py inbox_digest: email each member who asked for it the conversations waiting for an answer."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from messaging.conversations.digest import digests_send


class Command(BaseCommand):
    help = "Email the digest of waiting conversations to the members who asked for it (at most one a day each)."

    def handle(self, *args, **options):
        report = digests_send()
        self.stdout.write(
            f"digests sent: {report.sent}, nothing waiting: {report.skipped_empty}, "
            f"sent recently: {report.skipped_recent}"
        )
