"""Demo users (one per role, fresh random passwords printed) and synthetic demo patients."""

import io
import secrets
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from registry.access import ADMIN, CLINICIAN, COORDINATOR, INVESTIGATOR
from registry.importer import registry_import
from registry.models import Patient
from registry.roles import ensure_role_groups
from registry.services import identity_set
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv

DEMO_USERS = (
    ("coordinator", COORDINATOR, "enters and verifies follow-up"),
    ("clinician", CLINICIAN, "looks up patients (read only)"),
    ("investigator", INVESTIGATOR, "analyses pseudonymised data"),
    ("admin", ADMIN, "everything, plus /admin/"),
)


class Command(BaseCommand):
    help = "Create demo users (printing their passwords) and load synthetic demo patients once."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=60, help="number of synthetic patients (default 60)")
        parser.add_argument("--seed", type=int, default=2021)

    def handle(self, *args, patients: int, seed: int, **options):
        ensure_role_groups()
        logins = [self._demo_user(name, role) for name, role, _ in DEMO_USERS]
        if Patient.objects.filter(study_id__startswith="DEMO-").exists():
            self.stdout.write("Demo patients already loaded.")
        else:
            self._load_patients(patients, seed)
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
            identity_set(user=None, patient=patient, data={
                "name": f"Demo Patient {number}", "hospital_number": f"MRN{number}", "date_of_birth": birth,
            }, reason="demo data")
