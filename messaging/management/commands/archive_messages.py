"""manage.py archive_messages: old wiped message rows to gzipped JSONL per month (messaging/sending/archive.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from messaging.sending.archive import LocalStore, archive_messages, default_store
from messaging.sms.models import InboundMessage, OutboundMessage


class Command(BaseCommand):
    help = (
        "Archive text messages older than MESSAGE_ARCHIVE_AFTER_DAYS whose words and numbers the retention "
        "policy has wiped: gzipped JSONL files per month (MESSAGE_ARCHIVE_DIR or the S3 bucket), then delete them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="write to this folder instead of the configured archive")
        parser.add_argument(
            "--vacuum", action="store_true", help="run VACUUM (ANALYZE) on the message tables afterwards (PostgreSQL)"
        )

    def handle(self, *args, **options):
        store = LocalStore(options["dir"]) if options["dir"] else default_store()
        try:
            report = archive_messages(store=store)
        except OSError as exc:  # the folder or bucket refused: nothing was deleted for that file
            raise CommandError(f"archive storage failed: {exc}")
        self.stdout.write(
            f"archived {report.rows['outbound']:,} sent and {report.rows['inbound']:,} received texts in "
            f"{len(report.files)} file(s), {report.bytes_written:,} bytes; {report.reports_stored} campaign "
            "report(s) stored"
        )
        if report.reusable_bytes is not None:
            self.stdout.write(
                f"space made reusable in the tables and their indexes: about {report.reusable_bytes:,} bytes "
                "(VACUUM hands it to new rows; the files on disk shrink only with VACUUM FULL or pg_repack)"
            )
        if options["vacuum"] and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for table in (OutboundMessage._meta.db_table, InboundMessage._meta.db_table):
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
            self.stdout.write("vacuumed the message tables")
