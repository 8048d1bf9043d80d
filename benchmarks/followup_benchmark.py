"""Follow-up benchmark: creating a wave, its letters (one PDF), a part of LETTERS_PER_PART letters
(what the wave page hands out), its links, and a returned questionnaire per patient, on a
synthetic registry whose patients have names and postal addresses in several scripts (Polish,
Czech, Turkish, Norwegian, Greek, Cyrillic: the letters embed a subset of DejaVu Sans).

Usage: .venv/bin/python benchmarks/followup_benchmark.py [--patients 2000] [--part-only] [--out PART.pdf]
Runs on a fresh SQLite database in a temporary VAR_DIR (the embedded default).
`--part-only` skips the whole wave's PDF (the command's), a long run at 2000 patients.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# Synthetic names and addresses, one per patient in turn (never real people).
_IDENTITIES = (
    ("Łukasz Żółć", "ulica Świętokrzyska 3\n00-001 Warszawa\nPolska"),
    ("Antonín Dvořák", "Náměstí Míru 12\n120 00 Praha 2"),
    ("Øystein Ærø", "Storgata 7\n0155 Oslo"),
    ("Ayşe Şahin", "Atatürk Caddesi 5\n06420 Çankaya/Ankara"),
    ("Γιώργος Παπαδόπουλος", "Οδός Ερμού 10\n105 63 Αθήνα"),
    ("Анна Иванова", "ул. Тверская, д. 7\nМосква, 125009"),
    ("Anne de Vries", "Kerkstraat 1\n1234 AB Utrecht"),
)


def _add_identities(patients) -> None:
    from registry.models import PatientIdentity

    rows = []
    for i, patient in enumerate(patients):
        name, address = _IDENTITIES[i % len(_IDENTITIES)]
        rows.append(PatientIdentity(patient=patient, name=name, postal_address=address))
    PatientIdentity.objects.bulk_create(rows, ignore_conflicts=True)


def _timed(label: str, fn):
    """Wall time, and the CPU time of this process (steadier on a busy machine)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    value = fn()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{label:<48} {seconds:8.2f} s (CPU {cpu_seconds:.2f} s)")
    return value, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--part-only", action="store_true", help="skip the whole wave's PDF")
    parser.add_argument("--out", type=Path, help="write the part's PDF here (to look at it)")
    args = parser.parse_args()
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="followup-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from followup import services
    from followup.letter_views import LETTERS_PER_PART
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
    _add_identities(Patient.objects.order_by("study_id"))
    wave, _ = _timed(
        f"create a wave ({args.patients} patients in the registry)",
        lambda: services.wave_create(user=None, name="bench", patients=Patient.objects.all()),
    )
    members = wave.members.select_related("patient", "patient__identity", "wave__questionnaire").order_by(
        "patient__study_id"
    )
    n = members.count()
    print(f"  {n} patients due")
    if not args.part_only:
        pdf, seconds = _timed(f"letters PDF of the wave ({n} letters)", lambda: wave_letters_pdf(wave, members))
        print(f"  {len(pdf) / 1e6:.1f} MB, {1000 * seconds / n:.0f} ms per letter")
    part = list(members[:LETTERS_PER_PART])
    pdf, seconds = _timed(f"letters PDF of a part ({len(part)} letters)", lambda: wave_letters_pdf(wave, part))
    print(
        f"  {len(pdf) / 1e6:.2f} MB ({len(pdf) / len(part) / 1e3:.1f} kB a letter), {1000 * seconds / len(part):.0f} ms per letter"
    )
    if args.out:
        args.out.write_bytes(pdf)
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
