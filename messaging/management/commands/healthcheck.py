"""manage.py healthcheck [--strict] [--cluster NAME]: /healthz from the command line (exit 1 when not ok).

For containers and hosts without an HTTP port (the worker containers' health check).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from fancommunity.health import health_report


class Command(BaseCommand):
    help = "Print the health report as JSON; exit non-zero when it is not ok."

    def add_arguments(self, parser):
        parser.add_argument("--strict", action="store_true", help="every component, as /healthz/strict")
        parser.add_argument("--cluster", help="check only this task cluster's heartbeat")

    def handle(self, *args, **options):
        status, body = health_report(strict=options["strict"], cluster=options["cluster"])
        self.stdout.write(json.dumps(body, default=str))
        if status != 200:
            raise CommandError(f"not healthy (HTTP {status})")
