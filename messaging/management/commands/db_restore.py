"""manage.py db_restore FILE --yes: replace the database's contents with a dump (all or nothing)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fancommunity.backups import BackupError, backup_restore


class Command(BaseCommand):
    help = "Restore a db_backup dump into DATABASE_URL (pg_restore --clean, one transaction). Stop the workers first."

    def add_arguments(self, parser):
        parser.add_argument("path", help="a .dump file written by db_backup")
        parser.add_argument("--yes", action="store_true", help="confirm: every table is replaced by the dump's")

    def handle(self, *args, **options):
        if not options["yes"]:
            raise CommandError("this replaces every table of the database with the dump's: add --yes to go on")
        try:
            backup_restore(path=Path(options["path"]))
        except BackupError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"restored {options['path']}")
