"""Reads of the scoring app: pullbacks through the one door to patient data, their runs, the
study pullback and the patient's ICS with its place in the registry."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from registry.access import patients_for_user
from registry.models import Patient
from scoring.models import Pullback, QcStatus, ScoringRun


def pullbacks_for_user(user) -> QuerySet:
    return Pullback.objects.select_related("patient", "patient__site").filter(
        patient__in=patients_for_user(user).values("pk")
    )


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


def frame_png(pullback: Pullback, index: int) -> bytes:
    """Frame ``index`` of the stored file as PNG, the current run's calcium arcs drawn over it."""
    from scoring.dicom import files, frames
    from scoring.services import stored_file_path

    run = current_run(pullback)
    row = run.labels()[index] if run is not None and index < (run.n_frames or 0) else None
    with stored_file_path(pullback.file) as path:
        grey = files.read_frame(files.read_metadata(path), index)
    return frames.png_with_arcs(grey, row)


def lmode_png(pullback: Pullback, angle_deg: int) -> bytes:
    """The longitudinal cut of the stored file at ``angle_deg``, the current run's calcium at its edges."""
    from scoring.dicom import files, lmode
    from scoring.services import stored_file_path

    run = current_run(pullback)
    with stored_file_path(pullback.file) as path:
        meta = files.read_metadata(path)
        return lmode.lmode_png(meta, angle_deg=angle_deg, labels=run.labels() if run is not None else None)


@dataclass
class PullbackRow:
    pullback: Pullback
    current: ScoringRun | None
    latest: ScoringRun | None

    @property
    def analyzable(self) -> bool:
        """Included, at least PULLBACK_MIN_LENGTH_MM (40 mm) long and scored."""
        return self.pullback.qc_status == QcStatus.INCLUDED and self.pullback.long_enough and self.current is not None


def pullback_row(pullback: Pullback) -> PullbackRow:
    """One pullback with its current and latest runs."""
    return PullbackRow(pullback, current_run(pullback), latest_run(pullback))


def pullback_rows_for_patient(patient: Patient) -> list[PullbackRow]:
    """The patient's pullbacks with their current and latest runs (two queries)."""
    pullbacks = list(Pullback.objects.filter(patient=patient).order_by("created_at", "pk"))
    runs = (
        ScoringRun.objects.filter(pullback__in=[p.pk for p in pullbacks]).defer("calcium_map").order_by("-created_at", "-pk")
    )
    current: dict[int, ScoringRun] = {}
    latest: dict[int, ScoringRun] = {}
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
    assert best.current is not None  # analyzable: it has a current run
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
    version (None without one) as `chosen_*`, as subqueries of the same SQL statement.

    The same rule as :func:`study_choice`: the reviewer's override if included and scored, else
    the longest included, scored pullback of at least PULLBACK_MIN_LENGTH_MM (ties: earliest).
    Used to store the choice on the patient (services.study_ics_refresh); readers use the stored
    `Patient.study_ics`.
    """
    runs = (
        ScoringRun.objects.filter(
            pullback__patient=OuterRef("pk"),
            is_current=True,
            status=ScoringRun.Status.SUCCEEDED,
            pullback__qc_status=QcStatus.INCLUDED,
        )
        .filter(Q(pullback__study_override=True) | Q(pullback__length_mm__gte=settings.PULLBACK_MIN_LENGTH_MM))
        .order_by(
            "-pullback__study_override",
            "-pullback__length_mm",
            "pullback__created_at",
            "pullback__pk",
        )
    )
    return {
        f"chosen_{name}": Subquery(runs.values(field)[:1])
        for name, field in (
            ("pullback_id", "pullback_id"),
            ("ics", "ics"),
            ("override", "pullback__study_override"),
            ("model_version", "model_version"),
        )
    }


def chosen_study_ics(patient_ids) -> dict[int, tuple[float | None, str]]:
    """{patient id: (study pullback ICS or None, source text)} for these patients: one query."""
    rows = (
        Patient.objects.filter(pk__in=list(patient_ids))
        .annotate(**study_ics_annotations())
        # The plugin cannot see annotations passed as **kwargs, so it does not know the chosen_* names.
        .values_list("pk", "chosen_ics", "chosen_pullback_id", "chosen_override", "chosen_model_version")  # type: ignore[misc]
    )
    return {
        pk: (None, "") if ics is None else (ics, study_source_text(pullback_id, override, model_version))
        for pk, ics, pullback_id, override, model_version in rows
    }


def min_length_mm() -> float:
    return settings.PULLBACK_MIN_LENGTH_MM


def study_reasons(rows: list[PullbackRow], choice: StudyChoice | None) -> dict[int, str]:
    """{pullback id: why it is, or is not, the study pullback}, in plain words (the rule of study_choice)."""
    min_mm = f"{settings.PULLBACK_MIN_LENGTH_MM:g}"
    reasons = {}
    for row in rows:
        pullback = row.pullback
        if choice is not None and choice.pullback.pk == pullback.pk:
            reasons[pullback.pk] = (
                "Study pullback: chosen by a reviewer."
                if choice.overridden
                else f"Study pullback: the longest scored pullback of at least {min_mm} mm that passed quality control."
            )
        elif pullback.qc_status != QcStatus.INCLUDED:
            why = pullback.get_exclusion_reason_display() or "no reason given"
            reasons[pullback.pk] = f"Not used: excluded at quality control ({why.lower()})."
        elif row.current is None:
            status = row.latest.status if row.latest is not None else ""
            waiting: dict[str, str] = {
                ScoringRun.Status.QUEUED: "Not used yet: waiting to be scored.",
                ScoringRun.Status.RUNNING: "Not used yet: being scored.",
                ScoringRun.Status.FAILED: "Not used: scoring failed (see the pullback's page to try again).",
            }
            reasons[pullback.pk] = waiting.get(status, "Not used: not scored.")
        elif not pullback.long_enough and not pullback.study_override:
            reasons[pullback.pk] = f"Not used: {pullback.length_mm:.1f} mm, shorter than the {min_mm} mm the study requires."
        elif choice is not None and choice.overridden:
            reasons[pullback.pk] = f"Not used: a reviewer chose pullback #{choice.pullback.pk}."
        elif choice is not None and choice.pullback.length_mm > pullback.length_mm:
            reasons[pullback.pk] = (
                f"Not used: pullback #{choice.pullback.pk} is longer ({choice.pullback.length_mm:.1f} mm)."
            )
        elif choice is not None:
            reasons[pullback.pk] = f"Not used: pullback #{choice.pullback.pk} is as long and was uploaded first."
        else:  # not reachable while study_choice and this rule agree; said plainly all the same
            reasons[pullback.pk] = "Not used."
    return reasons
