"""Registry benchmark: CSV import, re-import, export and the patient list on a synthetic cohort.

Usage: .venv/bin/python benchmarks/registry_benchmark.py [--patients 10000]
Runs on a fresh SQLite database in a temporary VAR_DIR (the embedded default), or on
DATABASE_URL if set (then the database must be empty and migrated).
"""

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="registry-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from registry import exporter, selectors
    from registry.importer import registry_import
    from registry.models import Patient
    from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv

    call_command("migrate", verbosity=0)
    today = date(2026, 11, 27)
    patients, events = synthetic_cohort(args.patients, seed=1, today=today)
    p_csv, e_csv = to_csv(PATIENT_COLUMNS, patients), to_csv(EVENT_COLUMNS, events)
    print(f"database: {connection.vendor}; {len(patients)} patients, {len(events)} events")

    def timed(label, fn):
        start = time.perf_counter()
        result = fn()
        print(f"{label:<44} {time.perf_counter() - start:8.2f} s")
        return result

    timed(
        "import (all new)",
        lambda: registry_import(user=None, patients_csv=io.StringIO(p_csv), events_csv=io.StringIO(e_csv)),
    )
    report = timed(
        "re-import (nothing changes)",
        lambda: registry_import(user=None, patients_csv=io.StringIO(p_csv), events_csv=io.StringIO(e_csv)),
    )
    assert report.summary["patients_created"] == report.summary["patients_updated"] == 0, report.summary
    admin = User.objects.create_superuser("bench-admin", password=None)
    timed(
        "export patients.csv + events.csv",
        lambda: (
            exporter.write_patients_csv(io.StringIO(), patients=Patient.objects.all()),
            exporter.write_events_csv(io.StringIO(), patients=Patient.objects.all()),
        ),
    )
    timed("export analysis_dataset.csv", lambda: exporter.write_analysis_csv(io.StringIO(), user=admin))
    with CaptureQueriesContext(connection) as queries:
        page = timed(
            "patient list: count + a page of 50",
            lambda: (len(rows := selectors.patient_list(user=admin, as_of=today)), rows[5000:5050])[1],
        )
    print(f"{'  queries for that page':<44} {len(queries):8d}")
    # What the pages do: count the rows and build the first page (the lists are lazy).
    overdue = timed(
        "patient list filtered by status: count + page of 50",
        lambda: (len(rows := selectors.patient_list(user=admin, as_of=today, status="overdue")), rows[:50])[0],
    )

    def worklist() -> dict:
        sections = selectors.follow_up_worklist(user=admin, as_of=today)
        return {name: (len(rows), list(rows[:25])) for name, rows in sections.items()}

    work = timed("follow-up worklist: 3 counts + 3 pages of 25", worklist)
    print(f"page {len(page)}; overdue {overdue}, lost {work['lost'][0]}, pending {work['pending_events'][0]}")


if __name__ == "__main__":
    main()
