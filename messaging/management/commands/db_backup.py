"""manage.py db_backup: pg_dump into BACKUP_DIR, then apply the retention (fancommunity/backups.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from fancommunity.backups import BackupError, backup_create, backups_prune


class Command(BaseCommand):
    help = "Dump the PostgreSQL database (custom format) into BACKUP_DIR and delete dumps the retention drops."

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="folder for the dumps (default: BACKUP_DIR)")
        parser.add_argument("--no-prune", action="store_true", help="keep every older dump")

    def handle(self, *args, **options):
        try:
            path = backup_create(directory=options["dir"])
            deleted = [] if options["no_prune"] else backups_prune(directory=options["dir"] or path.parent)
        except BackupError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"backup: {path} ({path.stat().st_size:,} bytes); {len(deleted)} old dump(s) deleted")
