"""`python manage.py export_registry FOLDER`: patients.csv, events.csv and analysis_dataset.csv."""

from pathlib import Path

from django.core.management.base import BaseCommand

from registry.csv_io import ANALYSIS_FILE, EVENTS_FILE, PATIENTS_FILE
from registry.exporter import write_analysis_csv, write_events_csv, write_patients_csv
from registry.follow_up import HORIZON_DAYS
from registry.models import Patient


class Command(BaseCommand):
    help = (
        f"Write {PATIENTS_FILE} and {EVENTS_FILE} (the import format: re-importable) and the pseudonymised "
        f"{ANALYSIS_FILE} of all patients to FOLDER (created if needed; existing files are replaced)."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument(
            "--horizon-days",
            type=int,
            default=HORIZON_DAYS,
            help=f"follow-up horizon of the analysis dataset (default {HORIZON_DAYS})",
        )
        parser.add_argument(
            "--exclude-pending", action="store_true", help="count only verified events in the analysis dataset"
        )

    def handle(self, *args, folder: Path, horizon_days: int, exclude_pending: bool, **options):
        folder.mkdir(parents=True, exist_ok=True)
        # The command line runs as the system: all patients, all sites.
        patients = Patient.objects.all()
        counts = {
            PATIENTS_FILE: self._write(folder / PATIENTS_FILE, write_patients_csv, patients=patients),
            EVENTS_FILE: self._write(folder / EVENTS_FILE, write_events_csv, patients=patients),
            ANALYSIS_FILE: self._write(
                folder / ANALYSIS_FILE,
                write_analysis_csv,
                user=None,
                patients=patients,
                horizon_days=horizon_days,
                count_pending=not exclude_pending,
            ),
        }
        for name, count in counts.items():
            self.stdout.write(f"  {folder / name}: {count} rows")

    @staticmethod
    def _write(path: Path, writer, **kwargs) -> int:
        with open(path, "w", encoding="utf-8", newline="") as out:
            return writer(out, **kwargs)
