"""Follow-up benchmark: creating a wave, its letters (one PDF), its links, and a returned
questionnaire per patient, on a synthetic registry.

Usage: .venv/bin/python benchmarks/followup_benchmark.py [--patients 2000]
Runs on a fresh SQLite database in a temporary VAR_DIR (the embedded default).
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(label: str, fn):
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<48} {seconds:8.2f} s")
    return value, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="followup-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from followup import services
    from followup.letters import wave_letters_pdf, write_links
    from registry.importer import registry_import
    from registry.models import Patient
    from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv

    call_command("migrate", verbosity=0)
    patients, events = synthetic_cohort(args.patients, seed=7, today=timezone.localdate())
    registry_import(
        user=None,
        patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, patients)),
        events_csv=io.StringIO(to_csv(EVENT_COLUMNS, events)),
    )
    wave, _ = _timed(
        f"create a wave ({args.patients} patients in the registry)",
        lambda: services.wave_create(user=None, name="bench", patients=Patient.objects.all()),
    )
    members = wave.members.select_related("patient", "patient__identity", "wave__questionnaire").order_by(
        "patient__study_id"
    )
    n = members.count()
    print(f"  {n} patients due")
    pdf, seconds = _timed(f"letters PDF of the wave ({n} letters)", lambda: wave_letters_pdf(wave, members))
    print(f"  {len(pdf) / 1e6:.1f} MB, {1000 * seconds / n:.0f} ms per letter")
    _timed("links CSV of the wave", lambda: write_links(io.StringIO(), members))
    answers = {
        "health": "well",
        "mi": {"answer": "yes", "items": [{"when": {"year": 2024, "month": 3, "day": None}, "hospital": "Isala"}]},
        **{q: {"answer": "no", "items": []} for q in ("admissions", "chest_pain", "stroke", "pci", "cabg", "death")},
        "remark": "",
    }
    sample = list(members[:200])

    def returns():
        for member in sample:
            services.response_submit(user=None, member=member, answers=answers, via="paper")

    _, seconds = _timed(f"{len(sample)} returned questionnaires (1 MI each)", returns)
    print(f"  {1000 * seconds / len(sample):.0f} ms per returned questionnaire")


if __name__ == "__main__":
    main()
