"""`python manage.py restore_registry SRC_DIR [--force]`: restore a backup_registry folder and verify it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore the registry from SRC_DIR (written by backup_registry): checks the manifest against this "
        "code and database, loads the database, copies the media back, then verifies row counts and file "
        "hashes. Stop the web server and the workers first."
    )

    def add_arguments(self, parser):
        parser.add_argument("src", type=Path, metavar="SRC_DIR")
        parser.add_argument("--force", action="store_true", help="replace a database that already holds registry data")

    def handle(self, *args, src: Path, force: bool, **options) -> None:
        try:
            backup_restore(src=src, force=force, log=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Restored {src}.")
