"""Demo users (one per role, fresh random passwords printed) and synthetic demo patients."""

import io
import random
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from core.roles import ADMIN, CLINICIAN, COORDINATOR, INVESTIGATOR, ensure_role_groups
from followup import services as followup_services
from followup.models import ReportedEvent, Wave
from registry import services as registry_services
from registry.importer import registry_import
from registry.models import Patient, UserProfile
from registry.services import identity_set
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv

DEMO_USERS = (
    ("coordinator", COORDINATOR, "enters and verifies follow-up"),
    ("clinician", CLINICIAN, "looks up patients (read only)"),
    ("investigator", INVESTIGATOR, "analyses pseudonymised data"),
    ("admin", ADMIN, "everything, plus /admin/"),
)


def _demo_answers(definition: dict, rng: random.Random, returned_on) -> dict:
    """A filled-in questionnaire: mostly well, now and then an admission, a heart attack or a PCI."""
    hospitals = ("Demo University Hospital", "St. Example Hospital", "Regional Heart Centre")
    answers: dict = {"health": "well" if rng.random() < 0.8 else "not_well", "remark": ""}
    rates = {"admissions": 0.15, "chest_pain": 0.06, "mi": 0.05, "stroke": 0.03, "pci": 0.08, "cabg": 0.02}
    for q in definition["questions"]:
        if q["kind"] != "events" or q["id"] == "death":
            continue
        if rng.random() >= rates.get(q["id"], 0):
            answers[q["id"]] = {"answer": "no", "items": []}
            continue
        when = returned_on - timedelta(days=rng.randint(20, 300))
        item = {"when": {"year": when.year, "month": when.month, "day": None}, "hospital": rng.choice(hospitals)}
        if "reason" in q.get("item_fields", []):
            item["reason"] = rng.choice(("pneumonia", "hip fracture", "heart failure"))
        if "which" in q.get("item_fields", []):
            item["which"] = rng.choice(("stroke", "tia"))
        answers[q["id"]] = {"answer": "yes", "items": [item]}
    answers["death"] = {"answer": "", "items": []}
    return answers


class Command(BaseCommand):
    help = "Create demo users (printing their passwords) and load synthetic demo patients once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--patients",
            type=int,
            default=408,
            help="number of synthetic patients (default 408, the study's size, calibrated to its Table 1)",
        )
        parser.add_argument("--seed", type=int, default=2021)
        parser.add_argument(
            "--pullbacks",
            type=int,
            default=12,
            help="synthetic IVUS pullbacks (phantoms, ~42 mm) uploaded for the first demo patients (default 12)",
        )

    def handle(self, *args, patients: int, seed: int, pullbacks: int, **options):
        ensure_role_groups()
        logins = [self._demo_user(name, role) for name, role, _ in DEMO_USERS]
        if Patient.objects.filter(study_id__startswith="DEMO-").exists():
            self.stdout.write("Demo patients already loaded.")
        else:
            self._load_patients(patients, seed)
        self._add_waves(seed)
        self._add_pullbacks(pullbacks)
        self.stdout.write("\nDemo logins (passwords are new on every `make demo`):")
        for (name, _, what), password in zip(DEMO_USERS, logins, strict=True):
            self.stdout.write(f"  {name:<13} {password:<16} {what}")

    @transaction.atomic
    def _demo_user(self, username: str, role: str) -> str:
        password = secrets.token_urlsafe(9)
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_superuser = role == ADMIN
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        # Sites are deny-by-default (registry.access): a demo user sees every site unless an admin
        # has since given them some.
        UserProfile.objects.get_or_create(user=user, defaults={"all_sites": True})
        return password

    def _load_patients(self, n: int, seed: int) -> None:
        patient_rows, event_rows = synthetic_cohort(n, seed=seed, today=timezone.localdate())
        report = registry_import(
            user=None,
            patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, patient_rows)),
            events_csv=io.StringIO(to_csv(EVENT_COLUMNS, event_rows)),
        )
        self.stdout.write(f"Loaded demo data: {report.summary}")
        self._add_identities()

    @transaction.atomic
    def _add_identities(self) -> None:
        """Synthetic direct identifiers, so that clinicians see what investigators never do."""
        for patient in Patient.objects.filter(study_id__startswith="DEMO-", identity__isnull=True):
            number = patient.study_id.removeprefix("DEMO-")
            birth = patient.index_date - timedelta(days=round((patient.age_at_index or 60) * 365.25))
            identity_set(
                user=None,
                patient=patient,
                data={
                    "name": f"Demo Patient {number}",
                    "family_name": f"Patient {number}",
                    "hospital_number": f"MRN{number}",
                    "date_of_birth": birth,
                    "postal_address": f"Demo Street {int(number)}\n1234 AB Demotown",
                },
                reason="demo data",
            )

    @transaction.atomic
    def _add_waves(self, seed: int) -> None:
        """One finished follow-up wave (a year ago) and one running (letters out a month ago)."""
        if Wave.objects.exists():
            return
        rng = random.Random(seed)
        today = timezone.localdate()
        patients = Patient.objects.filter(study_id__startswith="DEMO-")
        coordinator = User.objects.get(username="coordinator")
        finished = followup_services.wave_create(
            user=coordinator, name="Demo wave, last year", patients=patients, today=today - timedelta(days=400)
        )
        self._run_wave(finished, coordinator, rng, sent=today - timedelta(days=395), returns=0.75, days=80)
        followup_services.wave_close(user=coordinator, wave=finished, on=today - timedelta(days=300))
        self._check_reported_events(finished, coordinator)
        running = followup_services.wave_create(
            user=coordinator,
            name="Demo wave, this autumn",
            patients=patients,
            no_contact_days=180,
            today=today - timedelta(days=35),
        )
        self._run_wave(running, coordinator, rng, sent=today - timedelta(days=33), returns=0.45, days=30)
        self.stdout.write(
            f"Demo follow-up waves: “{finished.name}” (closed, {finished.members.count()} patients) and "
            f"“{running.name}” (running, {running.members.count()} patients)"
        )

    def _check_reported_events(self, wave, coordinator) -> None:
        """Last year's reported events checked against the hospitals' letters: most confirmed, one
        in four not (the hospital's letter said otherwise)."""
        reported = ReportedEvent.objects.filter(response__member__wave=wave, clinical_event__isnull=False).select_related(
            "clinical_event", "clinical_event__patient"
        )
        for i, r in enumerate(reported.order_by("id")):
            event = r.clinical_event
            assert event is not None  # filtered above
            if i % 4 == 3:
                registry_services.event_verify(
                    user=coordinator, event=event, decision="rejected", reason="the discharge letter shows no such event"
                )
            else:
                letter = f"{r.hospital or 'hospital'} discharge letter {event.event_date:%Y-%m}"
                registry_services.event_verify(user=coordinator, event=event, source_document=letter)

    def _run_wave(self, wave, coordinator, rng: random.Random, *, sent, returns: float, days: int) -> None:
        followup_services.letters_sent(user=coordinator, wave=wave, on=sent)
        definition = wave.questionnaire.definition
        for member in wave.members.select_related("patient").order_by("patient__study_id"):
            draw = rng.random()
            if draw > returns + 0.04:
                continue
            if draw > returns:
                followup_services.member_mark(
                    user=coordinator, member=member, status="return_to_sender", note="address unknown"
                )
                continue
            returned_on = sent + timedelta(days=rng.randint(4, days))
            online = rng.random() < 0.4
            followup_services.response_submit(
                user=followup_services.PATIENT_ONLINE if online else coordinator,
                member=member,
                answers=_demo_answers(definition, rng, returned_on),
                via="online" if online else "paper",
                returned_on=returned_on,
            )
        reminder_day = sent + timedelta(weeks=wave.reminder_weeks)
        if reminder_day <= timezone.localdate():
            followup_services.reminders_sent(user=coordinator, wave=wave, on=reminder_day)

    def _add_pullbacks(self, count: int) -> None:
        """Phantom pullbacks, ingested like real files; the worker scores them once it starts."""
        from scoring.detector.phantoms import polar_speckle as phantom
        from scoring.dicom import files as dicom_io
        from scoring.models import Pullback
        from scoring.services import pullback_ingest_path

        if Pullback.objects.filter(patient__study_id__startswith="DEMO-").exists():
            return
        targets = list(Patient.objects.filter(study_id__startswith="DEMO-").order_by("study_id")[:count])
        presets = ("typical", "heavy", "none", "noisy")
        with tempfile.TemporaryDirectory() as tmp:
            for i, patient in enumerate(targets):
                # 500 frames at 6 frames/s and 0.5 mm/s: a 41.7 mm pullback, above the 40 mm inclusion rule.
                spec = phantom.PhantomSpec(n_frames=500, seed=1000 + i, preset=presets[i % len(presets)], frame_rate_hz=6.0)
                plan = phantom.phantom_plan(spec)
                path = Path(tmp) / f"{patient.study_id}.dcm"
                dicom_io.write_pullback(
                    path,
                    phantom.iter_frames(plan),
                    n_frames=spec.n_frames,
                    rle=False,
                    frame_rate_hz=spec.frame_rate_hz,
                    pullback_rate_mm_s=spec.pullback_rate_mm_s,
                    pixel_spacing_mm=spec.pixel_spacing_mm,
                    acquisition_date=patient.index_date,  # read during the index procedure
                )
                pullback_ingest_path(patient=patient, path=path)
                self.stdout.write(f"Demo pullback for {patient.study_id} ({spec.preset}): queued for scoring")
