"""`python manage.py import_registry FOLDER`: import patients.csv and events.csv (all or nothing)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.csv_io import EVENTS_FILE, PATIENTS_FILE
from registry.importer import ImportFailed, registry_import


class Command(BaseCommand):
    help = (
        f"Import {PATIENTS_FILE} and {EVENTS_FILE} (optional) from FOLDER into the registry. "
        "All or nothing: any problem means nothing is imported, and every problem is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument(
            "--site",
            dest="site_code",
            default=None,
            help="site code for new patients without a site cell (default: setting DEFAULT_SITE_CODE)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check the files and report; write nothing")

    def handle(self, *args, folder: Path, site_code: str | None, dry_run: bool, **options):
        patients_path, events_file = folder / PATIENTS_FILE, folder / EVENTS_FILE
        if not patients_path.is_file():
            raise CommandError(f"{patients_path} not found")
        events_path = events_file if events_file.is_file() else None
        if events_path is None:
            self.stdout.write(f"No {EVENTS_FILE} in {folder}: importing patients only.")
        try:
            report = self._import(patients_path, events_path, site_code=site_code, dry_run=dry_run)
        except ImportFailed as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(exc.problems)} problem(s) found; nothing was imported.") from None
        s = report.summary
        self.stdout.write("Dry run: nothing was written. The import would give:" if dry_run else f"Imported {folder}:")
        self.stdout.write(
            f"  patients: {s['patients_created']} created, {s['patients_updated']} updated, "
            f"{s['patients_unchanged']} unchanged"
        )
        self.stdout.write(
            f"  events: {s['events_created']} created, {s['events_updated']} updated, {s['events_unchanged']} unchanged"
        )
        self.stdout.write(
            f"  last contacts: {s['contacts_created']} created, {s['contacts_updated']} updated, "
            f"{s['contacts_removed']} removed"
        )

    def _import(self, patients_path: Path, events_path: Path | None, *, site_code, dry_run):
        # utf-8-sig: spreadsheets often write a byte-order mark; newline="" as the csv module wants.
        with open(patients_path, encoding="utf-8-sig", newline="") as patients_csv:
            if events_path is None:
                return registry_import(
                    user=None, patients_csv=patients_csv, events_csv=None, site_code=site_code, dry_run=dry_run
                )
            with open(events_path, encoding="utf-8-sig", newline="") as events_csv:
                return registry_import(
                    user=None, patients_csv=patients_csv, events_csv=events_csv, site_code=site_code, dry_run=dry_run
                )
