"""Seed the load-test database (run by run.py with the scratch database's environment).

    python benchmarks/load/seed.py --patients 10000 --out FIXTURE.json [--pullbacks 2]

Loads N synthetic patients with events and last contacts through `manage.py import_registry`,
adds synthetic direct identifiers (bulk, so that coordinators can search hospital numbers),
creates users per role with known passwords, optionally ingests and scores a few phantom
pullbacks (within a time budget), and writes what the locustfile needs to FIXTURE.json.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.roles import (  # noqa: E402
    CLINICIAN,
    COORDINATOR,
    INVESTIGATOR,
    ensure_role_groups,  # noqa: E402
)
from registry.models import ClinicalEvent, Patient, PatientIdentity, UserProfile, Verification  # noqa: E402
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv  # noqa: E402

PREFIX = "LOAD"
USERS_PER_ROLE = 8
ROLES = (COORDINATOR, CLINICIAN, INVESTIGATOR)
ANALYSIS_TARGET = 5000


def password_for(username: str) -> str:
    return f"load-test-{username}-pw-7Qx"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--pullbacks", type=int, default=2)
    parser.add_argument("--pullback-budget-seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    timings = {}

    t0 = time.perf_counter()
    today = timezone.localdate()
    patient_rows, event_rows = synthetic_cohort(args.patients, seed=args.seed, today=today, prefix=PREFIX)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "patients.csv").write_text(to_csv(PATIENT_COLUMNS, patient_rows), encoding="utf-8")
        Path(folder, "events.csv").write_text(to_csv(EVENT_COLUMNS, event_rows), encoding="utf-8")
        call_command("import_registry", folder)
    timings["import_seconds"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    with transaction.atomic():
        PatientIdentity.objects.bulk_create(
            [
                PatientIdentity(
                    patient=p,
                    name=f"Load Patient {p.study_id[-5:]}",
                    hospital_number=f"MRN{p.study_id[-5:]}",
                    date_of_birth=p.index_date - timedelta(days=round(float(p.age_at_index or 60) * 365.25)),
                )
                for p in Patient.objects.filter(study_id__startswith=PREFIX + "-").only(
                    "pk", "study_id", "index_date", "age_at_index"
                )
            ],
            batch_size=1000,
        )
    timings["identities_seconds"] = round(time.perf_counter() - t0, 2)

    ensure_role_groups()
    users = {}
    for role in ROLES:
        group = Group.objects.get(name=role)
        users[role] = []
        for i in range(1, USERS_PER_ROLE + 1):
            username = f"load-{role}-{i}"
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password_for(username))
            user.save()
            user.groups.set([group])
            # Sites are deny-by-default (registry.access): the load users work on every site.
            UserProfile.objects.update_or_create(user=user, defaults={"all_sites": True})
            users[role].append({"username": username, "password": password_for(username)})

    # Patients without a death (a contact after a death is refused): targets for new contacts.
    dead = {e["study_id"] for e in event_rows if e["event_type"] == "death"}
    study_ids = [r["study_id"] for r in patient_rows]
    alive = [s for s in study_ids if s not in dead]
    pending = list(
        ClinicalEvent.objects.filter(
            patient__study_id__startswith=PREFIX + "-", verification=Verification.PENDING
        ).values_list("patient__study_id", "pk")
    )

    # An age cut-off that selects about ANALYSIS_TARGET patients for the analysis run.
    ages = sorted((float(r["age_at_index"]) for r in patient_rows), reverse=True)
    cutoff = ages[min(ANALYSIS_TARGET, len(ages)) - 1]
    analysis_n = sum(a >= cutoff for a in ages)

    pullbacks, timings["pullbacks_seconds"] = _pullbacks(args.pullbacks, args.pullback_budget_seconds)

    fixture = {
        "study_ids": study_ids,
        "alive_study_ids": alive,
        "pending_events": pending,
        "pullbacks": pullbacks,
        "users": users,
        "analysis_spec": {
            "cohort": {"filters": [{"field": "age_at_index", "op": "ge", "value": cutoff}]},
            "endpoint": "poce",
        },
        "analysis_expected_n": analysis_n,
        "today": today.isoformat(),
        "counts": {"patients": len(study_ids), "events": len(event_rows), "pending_events": len(pending)},
        "timings": timings,
    }
    args.out.write_text(json.dumps(fixture), encoding="utf-8")
    print(
        f"seeded {len(study_ids)} patients, {len(event_rows)} events ({len(pending)} pending), "
        f"{sum(len(v) for v in users.values())} users, {len(pullbacks)} scored pullbacks; {timings}"
    )


def _pullbacks(count: int, budget: float) -> tuple[list[int], float]:
    """Phantom pullbacks ingested as uploads are, scored in this process (eager Celery); stops at the budget."""
    from django.conf import settings

    from scoring.detector.phantoms import polar_speckle
    from scoring.dicom import files
    from scoring.models import Pullback
    from scoring.services import pullback_ingest_path

    if count <= 0:
        return [], 0.0
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    t0 = time.perf_counter()
    targets = list(Patient.objects.filter(study_id__startswith=PREFIX + "-").order_by("study_id")[:count])
    with tempfile.TemporaryDirectory() as tmp:
        for i, patient in enumerate(targets):
            if time.perf_counter() - t0 > budget:
                print(f"pullbacks: budget of {budget:.0f} s used; stopping after {i}")
                break
            spec = polar_speckle.PhantomSpec(
                n_frames=500, seed=1000 + i, preset=("typical", "heavy")[i % 2], frame_rate_hz=6.0
            )
            plan = polar_speckle.phantom_plan(spec)
            path = Path(tmp) / f"{patient.study_id}.dcm"
            files.write_pullback(
                path,
                polar_speckle.iter_frames(plan),
                n_frames=spec.n_frames,
                rle=False,
                frame_rate_hz=spec.frame_rate_hz,
                pullback_rate_mm_s=spec.pullback_rate_mm_s,
                pixel_spacing_mm=spec.pixel_spacing_mm,
            )
            with transaction.atomic():
                pullback_ingest_path(patient=patient, path=path)
    ids = list(Pullback.objects.filter(patient__study_id__startswith=PREFIX + "-").values_list("pk", flat=True))
    return ids, round(time.perf_counter() - t0, 2)


if __name__ == "__main__":
    main()
