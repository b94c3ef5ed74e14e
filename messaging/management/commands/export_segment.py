"""manage.py export_segment --talent SLUG --segment NAME -o FILE [--columns a,b] [--format jsonl] [--partner]"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Talent
from messaging.audience import EXPORT_COLUMNS, AudienceError, audience_export, segment_by_name
from messaging.models import ContactList


class Command(BaseCommand):
    help = "Export a segment (or a contact list) of a talent's fans to CSV or JSON lines, streamed, audited."

    def add_arguments(self, parser):
        parser.add_argument("--talent", required=True, help="talent slug")
        parser.add_argument("--segment", default="", help="segment name (e.g. all)")
        parser.add_argument("--list", default="", help="contact list name, instead of a segment")
        parser.add_argument("-o", "--output", required=True, help="output file, or - for stdout")
        parser.add_argument("--columns", default="", help="comma-separated; one of: " + ", ".join(EXPORT_COLUMNS))
        parser.add_argument("--format", default="csv", choices=["csv", "jsonl"])
        parser.add_argument("--partner", action="store_true", help="for a partner: only fans who agreed to sharing")

    def handle(self, *args, **options):
        try:
            talent = Talent.objects.get(slug=options["talent"])
        except Talent.DoesNotExist:
            raise CommandError(f"There is no talent {options['talent']!r}.")
        if bool(options["segment"]) == bool(options["list"]):
            raise CommandError("Give exactly one of --segment NAME or --list NAME.")
        segment = contact_list = None
        try:
            if options["segment"]:
                segment = segment_by_name(talent=talent, name=options["segment"])
            else:
                try:
                    contact_list = ContactList.objects.get(talent=talent, name=options["list"])
                except ContactList.DoesNotExist:
                    raise AudienceError(f"No contact list named {options['list']!r} for {talent.slug}.")
            columns = [c.strip() for c in options["columns"].split(",") if c.strip()] or None
            export = audience_export(
                talent=talent,
                actor=None,
                segment=segment,
                contact_list=contact_list,
                columns=columns,
                file_format=options["format"],
                for_partner=options["partner"],
                via="command",
            )
        except AudienceError as exc:
            raise CommandError(str(exc))
        # Written to a temporary name first would hide a partial file; instead the audit row says
        # whether the stream completed, and a failure here exits non-zero.
        out = sys.stdout.buffer if options["output"] == "-" else open(options["output"], "wb")  # noqa: SIM115
        try:
            for chunk in export.chunks():
                out.write(chunk)
        finally:
            if out is not sys.stdout.buffer:
                out.close()
        export.audit_row.refresh_from_db()
        if options["output"] != "-":
            self.stdout.write(f"Exported {export.audit_row.row_count} fans to {options['output']}.")
