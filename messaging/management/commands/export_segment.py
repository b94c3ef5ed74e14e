"""manage.py export_segment --talent SLUG --segment NAME -o FILE [--columns a,b] [--format jsonl] [--partner NAME]
[--opted-out PURPOSE]"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Talent
from messaging.audience.exports import EXPORT_COLUMNS, audience_export, segment_by_name
from messaging.audience.services import AudienceError
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
        parser.add_argument(
            "--partner", default="", help="the partner's name (the talent's list): only fans who agreed to sharing"
        )
        parser.add_argument(
            "--opted-out",
            default="",
            metavar="PURPOSE",
            help="export the fans who opted out instead (a suppression list); say why, it is audited",
        )

    def handle(self, *args, **options):
        try:
            talent = Talent.objects.get(slug=options["talent"])
        except Talent.DoesNotExist:
            raise CommandError(f"There is no talent {options['talent']!r}.")
        if bool(options["segment"]) == bool(options["list"]):
            raise CommandError("Give exactly one of --segment NAME or --list NAME.")
        if options["output"] != "-" and not Path(options["output"]).resolve().parent.is_dir():
            raise CommandError(f"No such directory for {options['output']!r}.")
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
                partner=_partner(talent, options["partner"]),
                via="command",
                audience="opted_out" if options["opted_out"] else "reachable",
                purpose=options["opted_out"],
            )
        except AudienceError as exc:
            raise CommandError(str(exc))
        if options["output"] == "-":
            for chunk in export.chunks():
                sys.stdout.buffer.write(chunk)
            return
        # Stream into a temporary file beside the target and rename it at the end: a failed export
        # never leaves a file that looks complete (the audit row records it as not completed).
        target = Path(options["output"])
        tmp = target.with_name(f".{target.name}.partial")
        try:
            with tmp.open("wb") as out:
                for chunk in export.chunks():
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        export.audit_row.refresh_from_db()
        self.stdout.write(f"Exported {export.audit_row.row_count} fans to {target}.")


def _partner(talent, name: str):
    from consent.models import Partner

    if not name:
        return None
    partner = Partner.objects.filter(talent=talent, name=name).first()
    if partner is None:
        raise CommandError(f"{talent.display_name} has no partner named {name!r}.")
    return partner
