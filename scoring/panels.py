"""What the scoring app shows on other pages: the patient page's pullbacks-and-ICS panel
(registered with registry.panels in ScoringConfig.ready) and the view of one scored pullback
(calcium map, arc, frame viewer), built here in Python, not in template tags."""

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.urls import reverse

from core.lazy import lazy_module
from core.roles import EDIT_REGISTRY, SEE_IDENTIFIERS, has_role
from registry.models import Patient
from registry.patient_page import LANE_PULLBACKS
from registry.timeline_chart import Mark
from scoring import selectors
from scoring.models import Pullback, ScoringRun

if TYPE_CHECKING:
    from scoring import charts
else:  # plotly loads with the first figure, not with django.setup() (ScoringConfig.ready imports this module)
    charts = lazy_module("scoring.charts")

PATIENT_PANEL_TEMPLATE = "scoring/_patient_pullbacks.html"
DEFAULT_CINE_RATE_HZ = 30.0  # IVUS consoles acquire at about 30 frames per second


def patient_pullbacks_panel(request: HttpRequest, patient: Patient) -> dict:
    """The patient's pullbacks, each with why it is or is not the study pullback, the study
    pullback's view (its figures load when the reader gets there) and the pullbacks' timeline marks."""
    rows = selectors.pullback_rows_for_patient(patient)
    choice = selectors.study_choice(rows)
    reasons = selectors.study_reasons(rows, choice)
    return {
        "patient": patient,
        "rows": [{"row": row, "reason": reasons[row.pullback.pk]} for row in rows],
        "choice": choice,
        "can_upload": has_role(request.user, EDIT_REGISTRY),
        "view": pullback_view(request, choice.pullback, choice.run, lazy=True) if choice else None,
        "min_length_mm": selectors.min_length_mm(),
        "timeline_marks": [_timeline_mark(row, choice) for row in rows],
    }


def _timeline_mark(row: selectors.PullbackRow, choice: selectors.StudyChoice | None) -> Mark:
    pullback = row.pullback
    study = choice is not None and choice.pullback.pk == pullback.pk
    score = f", ICS {row.current.ics:.1f}" if row.current is not None and row.current.ics is not None else ""
    return Mark(
        day=pullback.acquisition_date or pullback.created_at.date(),
        lane=LANE_PULLBACKS,
        kind="pullback",
        label=f"Pullback #{pullback.pk}, {pullback.length_mm:.1f} mm{score}{' (study pullback)' if study else ''}",
        state="study" if study else "",
        anchor=f"pullback-{pullback.pk}",
    )


def pullback_view(request: HttpRequest, pullback: Pullback, run: ScoringRun | None, *, lazy: bool = False) -> dict | None:
    """Figures and frame-viewer settings of a scored pullback (None without a score). `lazy`: the
    figures are not in the page but fetched from `figures_url` when the view comes into sight
    (the patient page paints without them)."""
    if run is None:
        return None
    rate_hz, rate_known = _frame_rate(pullback)
    return {
        "pullback": pullback,
        "run": run,
        "frame_spacing_mm": pullback.pullback_speed_mm_s / rate_hz,
        "last_frame": (run.n_frames or len(run.labels())) - 1,  # labels: (frames, A-lines)
        "cine_rate_hz": rate_hz,  # cine plays at the acquisition frame rate
        "cine_rate_assumed": not rate_known,
        "can_see_frames": has_role(request.user, SEE_IDENTIFIERS),
        "can_annotate": has_role(request.user, EDIT_REGISTRY),
        "figures": None if lazy else pullback_figures(pullback, run),
        "figures_url": reverse("pullback_figures", args=[pullback.pk]) if lazy else "",
    }


def pullback_figures(pullback: Pullback, run: ScoringRun) -> dict:
    """The calcium map and arc of a scored pullback as Plotly figures."""
    spacing = pullback.pullback_speed_mm_s / _frame_rate(pullback)[0]
    return {
        "map": charts.calcium_map_figure(run.labels(), frame_spacing_mm=spacing),
        "arc": charts.arc_figure(run.arc_deg_per_frame, frame_spacing_mm=spacing),
    }


def _frame_rate(pullback: Pullback) -> tuple[float, bool]:
    """(frames per second, whether the file said so). Ingest refuses a file without a frame rate;
    a row without one still gets a working viewer at the usual rate."""
    if pullback.frame_rate_hz is not None and pullback.frame_rate_hz > 0:
        return pullback.frame_rate_hz, True
    return DEFAULT_CINE_RATE_HZ, False
