"""Reads of the scoring app: pullbacks through the one door to patient data, their runs, the
study pullback and the patient's ICS with its place in the registry."""

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from registry.access import patients_for_user
from registry.models import Patient
from scoring.models import Pullback, QcStatus, ScoringRun


def pullbacks_for_user(user) -> QuerySet:
    return Pullback.objects.select_related("patient", "patient__site").filter(patient__in=patients_for_user(user).values("pk"))


def pullback_get_for_user(*, user, pullback_id: int) -> Pullback:
    """One pullback, or 404 when it does not exist or its patient is not visible to the user."""
    try:
        return pullbacks_for_user(user).get(pk=pullback_id)
    except Pullback.DoesNotExist:
        raise Http404(f"No pullback {pullback_id}.") from None


def current_run(pullback: Pullback) -> ScoringRun | None:
    """The run whose results count (the newest successful one), if any."""
    return pullback.runs.filter(is_current=True, status=ScoringRun.Status.SUCCEEDED).first()


def latest_run(pullback: Pullback) -> ScoringRun | None:
    """The newest run, whatever its status (what the progress bar shows)."""
    return pullback.runs.order_by("-created_at", "-pk").first()


@dataclass
class PullbackRow:
    pullback: Pullback
    current: ScoringRun | None
    latest: ScoringRun | None

    @property
    def analyzable(self) -> bool:
        return _analyzable(self.pullback, self.current)


def _analyzable(pullback: Pullback, current: ScoringRun | None) -> bool:
    """Included, at least PULLBACK_MIN_LENGTH_MM (40 mm) long and scored."""
    return pullback.qc_status == QcStatus.INCLUDED and pullback.long_enough and current is not None


def pullback_rows_for_patient(patient: Patient) -> list[PullbackRow]:
    """The patient's pullbacks with their current and latest runs (two queries)."""
    pullbacks = list(Pullback.objects.filter(patient=patient).order_by("created_at", "pk"))
    runs = ScoringRun.objects.filter(pullback__in=[p.pk for p in pullbacks]).defer("calcium_map").order_by("-created_at", "-pk")
    current, latest = {}, {}
    for run in runs:
        latest.setdefault(run.pullback_id, run)
        if run.is_current and run.status == ScoringRun.Status.SUCCEEDED:
            current[run.pullback_id] = run
    return [PullbackRow(p, current.get(p.pk), latest.get(p.pk)) for p in pullbacks]


@dataclass
class StudyChoice:
    pullback: Pullback
    run: ScoringRun
    overridden: bool


def study_choice(rows: list[PullbackRow]) -> StudyChoice | None:
    """The study pullback: the reviewer's override, else the longest analyzable pullback
    (ties: the earliest upload)."""
    for row in rows:
        if row.pullback.study_override and row.current is not None and row.pullback.qc_status == QcStatus.INCLUDED:
            return StudyChoice(row.pullback, row.current, True)
    candidates = [r for r in rows if r.analyzable]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: (r.pullback.length_mm, -r.pullback.created_at.timestamp(), -r.pullback.pk))
    return StudyChoice(best.pullback, best.current, False)


def study_pullback(patient: Patient) -> StudyChoice | None:
    return study_choice(pullback_rows_for_patient(patient))


def study_source(choice: StudyChoice) -> str:
    return study_source_text(choice.pullback.pk, choice.overridden, choice.run.model_version)


def study_source_text(pullback_id: int, overridden: bool, model_version: str) -> str:
    how = "reviewer's choice" if overridden else "longest analyzable"
    return f"study pullback #{pullback_id} ({how}, model {model_version})"


def study_ics_annotations() -> dict:
    """Annotations for a Patient queryset: the study pullback's id, ICS, override flag and model
    version (None without one), as subqueries of the same SQL statement (no extra query).

    The same rule as :func:`study_choice`: the reviewer's override if included and scored, else
    the longest included, scored pullback of at least PULLBACK_MIN_LENGTH_MM (ties: earliest).
    """
    runs = ScoringRun.objects.filter(
        pullback__patient=OuterRef("pk"), is_current=True, status=ScoringRun.Status.SUCCEEDED,
        pullback__qc_status=QcStatus.INCLUDED,
    ).filter(Q(pullback__study_override=True) | Q(pullback__length_mm__gte=settings.PULLBACK_MIN_LENGTH_MM)).order_by(
        "-pullback__study_override", "-pullback__length_mm", "pullback__created_at", "pullback__pk",
    )
    return {
        f"study_{name}": Subquery(runs.values(field)[:1])
        for name, field in (("pullback_id", "pullback_id"), ("ics", "ics"), ("override", "pullback__study_override"),
                            ("model_version", "model_version"))
    }


def study_ics_of(patient: Patient) -> tuple[float | None, str]:
    """(ICS, source) of a patient annotated with :func:`study_ics_annotations`: the study
    pullback's, else the imported ICS with its source."""
    if getattr(patient, "study_ics", None) is not None:
        return patient.study_ics, study_source_text(patient.study_pullback_id, patient.study_override,
                                                    patient.study_model_version)
    return patient.ics_imported, patient.ics_imported_source


def study_ics_by_patient(patients: QuerySet | None = None) -> dict[int, tuple[float, str]]:
    """{patient id: (ICS, source)} of every patient with a study pullback, in one query."""
    patients = Patient.objects.all() if patients is None else patients
    annotated = patients.annotate(**study_ics_annotations()).filter(study_ics__isnull=False)
    return {p.pk: study_ics_of(p) for p in annotated.only("pk", "ics_imported", "ics_imported_source")}


def registry_ics_values() -> np.ndarray:
    """The ICS of every registry patient that has one (study pullback, else imported): one query."""
    patients = Patient.objects.annotate(**study_ics_annotations()).only("pk", "ics_imported", "ics_imported_source")
    values = [study_ics_of(p)[0] for p in patients]
    return np.array(sorted(v for v in values if v is not None), float)


@dataclass(frozen=True)
class PatientIcs:
    ics: float | None
    source: str
    choice: StudyChoice | None
    percentile: float | None  # % of registry patients with an ICS at or below this one
    median: float | None
    high: bool | None  # >= the registry median
    n_registry: int


def patient_ics(patient: Patient, rows: list[PullbackRow]) -> PatientIcs:
    """The patient's ICS (study pullback, else imported, with its source) and its place in the registry."""
    choice = study_choice(rows)
    if choice is not None:
        ics, source = choice.run.ics, study_source(choice)
    else:
        ics, source = patient.ics_imported, patient.get_ics_imported_source_display() or "imported"
    values = registry_ics_values()
    if ics is None or not len(values):
        return PatientIcs(ics, source if ics is not None else "", choice, None, None, None, len(values))
    median = float(np.median(values))
    percentile = float((values <= ics + 1e-9).mean() * 100.0)
    return PatientIcs(ics, source, choice, percentile, median, ics >= median, len(values))


def min_length_mm() -> float:
    return settings.PULLBACK_MIN_LENGTH_MM
