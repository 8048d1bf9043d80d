"""`python manage.py backup_registry DEST_DIR`: database dump + referenced media + manifest (core.backup)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the registry into the new or empty folder DEST_DIR: the database (SQLite online backup or "
        "pg_dump), every media file the database references, and manifest.json (row counts, SHA-256 of "
        "every file, migration state). Safe while the app runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("dest", type=Path, metavar="DEST_DIR")

    def handle(self, *args, dest: Path, **options) -> None:
        try:
            manifest = backup_create(dest=dest, log=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Backup written to {dest} ({manifest['created_at']}, app version {manifest['app_version'] or 'unknown'})."
        )
