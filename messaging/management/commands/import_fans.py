"""manage.py import_fans --talent SLUG FILE.csv --source "..." --consent-date YYYY-MM-DD"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Talent
from messaging.audience.imports import ImportRefused, import_batch_create, import_batch_run
from messaging.models import ContactList, ImportBatch


class Command(BaseCommand):
    help = "Import fans from a CSV (columns mapped by header), with the consent evidence for the batch."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="CSV file (UTF-8, header row with a phone column)")
        parser.add_argument("--talent", required=True, help="talent slug")
        parser.add_argument("--source", default="", help="consent evidence: where these fans agreed to texts")
        parser.add_argument("--consent-date", default="", help="consent evidence: the date they agreed (YYYY-MM-DD)")
        parser.add_argument("--default-region", default="", help="region for numbers without +country (e.g. US)")
        parser.add_argument("--list", default="", help="also add the imported fans to this contact list (by name)")
        parser.add_argument("--errors", default="", help="write the bad-rows report (line,reason) to this file")
        parser.add_argument("--resume", type=int, default=None, help="re-run an interrupted batch by id")

    def handle(self, *args, **options):
        try:
            talent = Talent.objects.get(slug=options["talent"])
        except Talent.DoesNotExist:
            raise CommandError(f"There is no talent {options['talent']!r}.")
        if options["resume"] is not None:
            try:
                batch = ImportBatch.objects.get(pk=options["resume"], talent=talent)
            except ImportBatch.DoesNotExist:
                raise CommandError(f"No import batch {options['resume']} for {talent.slug}.")
        else:
            batch = self._create(talent, options)
        batch = import_batch_run(batch=batch)
        if options["errors"] and batch.error_report:
            Path(options["errors"]).write_text(batch.error_report, encoding="utf-8")
        if batch.status == ImportBatch.Status.FAILED:
            raise CommandError(f"Import #{batch.pk} refused, nothing imported: {batch.failure}")
        if batch.status != ImportBatch.Status.COMPLETED:
            raise CommandError(f"Import #{batch.pk} is {batch.status}; run again with --resume {batch.pk}.")
        self.stdout.write(
            f"Import #{batch.pk}: {batch.total_rows} rows, created {batch.created_count}, updated "
            f"{batch.updated_count}, skipped {batch.skipped_erased} erased, {batch.error_count} bad rows"
            + (f" (report: {options['errors']})" if options["errors"] and batch.error_count else "")
        )

    def _create(self, talent: Talent, options) -> ImportBatch:
        if not options["file"]:
            raise CommandError("Give the CSV file to import (or --resume BATCH_ID).")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        consent_date = None
        if options["consent_date"]:
            try:
                consent_date = dt.date.fromisoformat(options["consent_date"])
            except ValueError:
                raise CommandError(f"--consent-date {options['consent_date']!r} is not a date (YYYY-MM-DD).")
        contact_list = None
        if options["list"]:
            contact_list, _ = ContactList.objects.get_or_create(talent=talent, name=options["list"])
        try:
            with path.open("rb") as fh:
                return import_batch_create(
                    talent=talent,
                    file=File(fh, name=path.name),
                    original_name=path.name,
                    consent_source=options["source"],
                    consent_date=consent_date,
                    default_region=options["default_region"],
                    contact_list=contact_list,
                )
        except ImportRefused as exc:
            raise CommandError(f"Import refused: {exc}.")
