"""Registry data: patients with their index procedure and baseline, identifiers kept apart,
follow-up contacts, clinical events, the audit trail and background import jobs.

Cross-row rules (dates against the index date and death, one death per patient) are checked in
`registry.rules` and enforced by the services; single-row invariants live in Meta.constraints.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from core.models import BackgroundJob
from registry.variables import BASELINE_FLAGS  # noqa: F401  (re-read by services, selectors, api)


def _version_field() -> models.PositiveIntegerField:
    # Optimistic concurrency: every save through the services adds one; a form or API client
    # posts back the version it read, and a save from a stale copy is refused (no lost update).
    return models.PositiveIntegerField(default=1, help_text="Row version; raised by one on every change.")


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"


class Presentation(models.TextChoices):
    ACS = "ACS", "Acute coronary syndrome"
    STABLE = "stable", "Stable angina"


class IndexTreatment(models.TextChoices):
    PCI = "PCI", "PCI"
    CABG = "CABG", "CABG"
    CONSERVATIVE = "conservative", "Conservative"


class Vessel(models.TextChoices):
    LAD = "LAD", "Left anterior descending"
    LCX = "LCX", "Left circumflex"
    RCA = "RCA", "Right coronary artery"
    LM = "LM", "Left main stem"


class IcsSource(models.TextChoices):
    """Where an imported ICS came from: a controlled list, because investigators analyse it (a
    category of the analysis data) and free text could hold a name. The codes are what files carry."""

    REGISTRY_IMPORT = "registry import", "Registry import"
    CORE_LAB = "study core lab", "Study core lab"
    EARLIER_SOFTWARE = "earlier scoring software", "Earlier scoring software"
    SYNTHETIC = "synthetic", "Synthetic data (demo and tests)"
    OTHER = "other source", "Other source"


class ContactMethod(models.TextChoices):
    QUESTIONNAIRE_SENT = "questionnaire_sent", "Questionnaire sent"
    QUESTIONNAIRE_RETURNED = "questionnaire_returned", "Questionnaire returned"
    PHONE = "phone", "Phone"
    CIVIL_REGISTRY = "civil_registry", "Civil registry check"
    HOSPITAL_RECORDS = "hospital_records", "Hospital records"
    GP = "gp", "General practitioner"
    # The last_contact_date column of an imported patients.csv: one such contact per patient.
    REGISTRY_IMPORT = "registry_import", "Registry import (last contact)"


class VitalStatus(models.TextChoices):
    ALIVE = "alive", "Alive"
    DEAD = "dead", "Dead"
    UNKNOWN = "unknown", "Unknown"


class EventType(models.TextChoices):
    DEATH = "death", "Death"
    STROKE = "stroke", "Stroke"
    MI = "mi", "Myocardial infarction"
    REVASCULARIZATION = "revascularization", "Revascularization"


class RevascularizationMethod(models.TextChoices):
    PCI = "PCI", "PCI"
    CABG = "CABG", "CABG"


class EventSource(models.TextChoices):
    QUESTIONNAIRE = "questionnaire", "Questionnaire"
    HOSPITAL_RECORD = "hospital_record", "Hospital record"
    CIVIL_REGISTRY = "civil_registry", "Civil registry"
    GP = "gp", "General practitioner"
    REGISTRY_IMPORT = "registry_import", "Registry import"


class DatePrecision(models.TextChoices):
    """How much of a date is known. A patient may remember only the month or the year of an event;
    the event keeps a full date (the middle of that month or year, inside follow-up) for ordering
    and the rules, and this says how much of it to trust until the source document is checked."""

    DAY = "day", "Exact date"
    MONTH = "month", "Month and year only"
    YEAR = "year", "Year only"


class Verification(models.TextChoices):
    PENDING = "pending", "Pending verification"
    VERIFIED = "verified", "Verified against source documents"
    REJECTED = "rejected", "Rejected"


# Events that may carry the "involved the study vessel" flag.
TARGET_VESSEL_EVENT_TYPES = (EventType.MI, EventType.REVASCULARIZATION)


class Site(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


def _yes_no_unknown(verbose_name: str) -> models.BooleanField:
    # None means "unknown / not recorded": never shown or analysed as "no".
    return models.BooleanField(verbose_name, null=True, blank=True)


class Patient(models.Model):
    """A registry patient, pseudonymised: study_id is the only identifier investigators see.

    The index procedure (one per patient) is stored on the same row: time zero of follow-up.
    """

    study_id = models.CharField(max_length=40, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    age_at_index = models.FloatField("age at index (years)", null=True, blank=True)

    index_date = models.DateField("index procedure date")
    presentation = models.CharField(max_length=10, choices=Presentation.choices, blank=True)
    index_treatment = models.CharField(max_length=12, choices=IndexTreatment.choices, blank=True)
    study_vessel = models.CharField(max_length=3, choices=Vessel.choices, blank=True)
    vessel_revascularized = models.BooleanField("study vessel revascularized at index", null=True, blank=True)

    hypertension = _yes_no_unknown("hypertension")
    hypercholesterolemia = _yes_no_unknown("hypercholesterolemia")
    statin = _yes_no_unknown("statin treatment")
    diabetes = _yes_no_unknown("diabetes mellitus")
    family_history = _yes_no_unknown("positive family history")
    smoking = _yes_no_unknown("smoking")
    prior_mi = _yes_no_unknown("previous MI")
    prior_pci = _yes_no_unknown("previous PCI")
    prior_cabg = _yes_no_unknown("previous CABG")
    prior_stroke = _yes_no_unknown("previous stroke")
    prior_pad = _yes_no_unknown("previous PAD")
    egfr = models.FloatField("eGFR (ml/min/1.73 m²)", null=True, blank=True)

    # An ICS from an earlier scoring (e.g. the CSV import), kept with where it came from.
    ics_imported = models.FloatField("imported ICS", null=True, blank=True)
    ics_imported_source = models.CharField(max_length=200, blank=True, choices=IcsSource.choices)

    # The study pullback's ICS and where it came from ("study pullback #12 (longest analyzable,
    # model v3)"), stored by the scoring app whenever the choice or its run changes
    # (scoring.services.study_ics_refresh), so that the registry's ICS distribution, cohort counts
    # and analysis rows need no subqueries into scoring's tables. The patient's ICS is this, else
    # the imported one (`ics`). Never entered or audited; tests/scoring/test_study_ics_store.py
    # keeps it equal to scoring.selectors.study_choice.
    study_ics = models.FloatField("study pullback ICS", null=True, blank=True, editable=False)
    study_ics_source = models.CharField("study pullback ICS source", max_length=200, blank=True, editable=False)

    withdrawn_on = models.DateField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)

    # The follow-up summary derived from the contacts and events (registry.follow_up), stored by
    # every write that changes them (services.follow_up_refresh), so that lists and the worklist
    # filter and page by follow-up status in SQL. Never entered or audited;
    # tests/registry/test_follow_up_store.py keeps it equal to the derivation.
    fu_last_contact = models.DateField("date of last contact", null=True, blank=True, editable=False)
    fu_days = models.IntegerField("follow-up days", null=True, blank=True, editable=False)
    fu_death_date = models.DateField("date of death", null=True, blank=True, editable=False)
    fu_vital_status = models.CharField(
        "vital status", max_length=8, choices=VitalStatus.choices, default=VitalStatus.UNKNOWN, editable=False
    )

    version = _version_field()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["study_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age_at_index__isnull=True) | Q(age_at_index__gte=18, age_at_index__lte=110),
                name="patient_age_18_110",
            ),
            models.CheckConstraint(
                condition=Q(egfr__isnull=True) | Q(egfr__gte=0, egfr__lte=200), name="patient_egfr_0_200"
            ),
            models.CheckConstraint(
                condition=Q(ics_imported__isnull=True) | Q(ics_imported__gte=0, ics_imported__lte=1000),
                name="patient_ics_0_1000",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_on__isnull=True) | ~Q(withdrawal_reason=""),
                name="patient_withdrawal_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.study_id

    @property
    def renal_impairment(self) -> bool | None:
        """eGFR < 60 ml/min; None when eGFR is missing."""
        return None if self.egfr is None else self.egfr < 60

    @property
    def acs(self) -> bool | None:
        return None if not self.presentation else self.presentation == Presentation.ACS

    @property
    def ics(self) -> float | None:
        """The patient's ICS: the study pullback's, else the imported one (None without either)."""
        return self.study_ics if self.study_ics is not None else self.ics_imported

    @property
    def ics_source(self) -> str:
        """Where `ics` came from: the study pullback (number, how chosen, model), else the imported ICS's source code."""
        return self.study_ics_source if self.study_ics is not None else self.ics_imported_source


ICS_CUTOFF = 85  # the study's cut-off between low and high ICS (ics-outcome-study, Methods)


def effective_ics():
    """SQL for `Patient.ics` (the study pullback's ICS, else the imported one), for annotate()/filter()."""
    return Coalesce("study_ics", "ics_imported")


class PatientIdentity(models.Model):
    """Direct identifiers, kept apart from the pseudonymised record; never shown to investigators."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="identity")
    name = models.CharField(max_length=200, blank=True)
    # What a municipal civil registry matches on (with the date of birth and sex), and where
    # follow-up letters go.
    family_name = models.CharField(max_length=100, blank=True)
    postal_address = models.TextField(
        blank=True, help_text="Where follow-up letters are posted; one line per line of the envelope."
    )
    hospital_number = models.CharField("hospital number (MRN)", max_length=40, null=True, blank=True, unique=True)
    date_of_birth = models.DateField(null=True, blank=True)
    version = _version_field()

    def __str__(self) -> str:
        return f"identity of {self.patient_id}"


class FollowUpContact(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="contacts")
    contact_date = models.DateField()
    method = models.CharField(max_length=24, choices=ContactMethod.choices)
    vital_status = models.CharField(max_length=8, choices=VitalStatus.choices, default=VitalStatus.UNKNOWN)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    version = _version_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient", "contact_date", "id"]
        indexes = [models.Index(fields=["patient", "contact_date"])]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(method="registry_import"),
                name="contact_one_imported_last_contact",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} contact {self.contact_date}"


class ClinicalEvent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="events")
    event_type = models.CharField(max_length=20, choices=EventType.choices)
    event_date = models.DateField()
    event_date_precision = models.CharField(
        "precision of the date", max_length=5, choices=DatePrecision.choices, default=DatePrecision.DAY
    )
    revascularization_method = models.CharField(max_length=4, choices=RevascularizationMethod.choices, blank=True)
    target_vessel = models.BooleanField("involved the study vessel", null=True, blank=True)
    source = models.CharField(max_length=20, choices=EventSource.choices)
    verification = models.CharField(max_length=10, choices=Verification.choices, default=Verification.PENDING)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    source_document = models.CharField("source document reference", max_length=200, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    version = _version_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient", "event_date", "id"]
        indexes = [models.Index(fields=["patient", "event_date"]), models.Index(fields=["verification"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_vessel__isnull=True) | Q(event_type__in=["mi", "revascularization"]),
                name="event_target_vessel_only_mi_revasc",
            ),
            models.CheckConstraint(
                condition=Q(revascularization_method="") | Q(event_type="revascularization"),
                name="event_revasc_method_only_revasc",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(event_type="death") & ~Q(verification="rejected"),
                name="event_one_death_per_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.event_type} {self.event_date}"


class AuditEntry(models.Model):
    """One create, change, delete or other action on registry data: who, when, old and new."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"
        VERIFY = "verify", "Verification"
        WITHDRAW = "withdraw", "Withdrawn"
        IMPORT = "import", "Imported"
        EXPORT = "export", "Exported"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    entity = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries")
    changes = models.JSONField(default=dict)  # {field: [old, new]}
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.entity} {self.object_id}"


class UserProfile(models.Model):
    """The sites whose patients a user may see (registry.access): all sites only with `all_sites`;
    else the listed sites, none when the list is empty. A user without a profile sees no patient."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="registry_profile")
    sites = models.ManyToManyField(
        Site, blank=True, related_name="+", help_text="The sites whose patients this user may see and work on."
    )
    all_sites = models.BooleanField(
        "all sites", default=False, help_text="Sees every site's patients, whatever sites are listed."
    )

    def __str__(self) -> str:
        return f"{self.user} @ {'all sites' if self.all_sites else ', '.join(s.code for s in self.sites.all()) or 'no site'}"


class ImportJob(BackgroundJob):
    """A registry CSV import uploaded in the browser and run by a Celery worker (core.jobs)."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    patients_file = models.FileField(upload_to="imports/%Y/%m/")
    events_file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    summary = models.JSONField(default=dict)
    problems = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"
