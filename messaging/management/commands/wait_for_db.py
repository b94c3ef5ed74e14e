"""manage.py wait_for_db [--timeout S]: return once the database answers (exit 1 after the timeout).

Run before `qcluster` (systemd ExecStartPre, the compose and Procfile lines): a cluster started while
PostgreSQL is down then starts once it is back, instead of failing its first queries.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = "Wait until the database answers SELECT 1."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait at most (default 300)")
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args, **options):
        deadline = time.monotonic() + options["timeout"]
        last_error = ""
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return
            except Exception as exc:  # any driver error: not up yet
                connection.close()
                if type(exc).__name__ + str(exc)[:80] != last_error:
                    last_error = type(exc).__name__ + str(exc)[:80]
                    self.stderr.write(f"waiting for the database: {type(exc).__name__}")
            if time.monotonic() >= deadline:
                raise CommandError(f"the database did not answer within {options['timeout']:.0f} s")
            time.sleep(options["interval"])
