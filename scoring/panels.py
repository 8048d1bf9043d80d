"""What the scoring app shows on other pages: the patient page's pullbacks-and-ICS panel
(registered with registry.panels in ScoringConfig.ready) and the view of one scored pullback
(calcium map, arc, frame viewer), built here in Python, not in template tags."""

from typing import TYPE_CHECKING

from django.http import HttpRequest

from core.lazy import lazy_module
from core.roles import EDIT_REGISTRY, SEE_IDENTIFIERS, has_role
from registry.models import Patient
from scoring import selectors
from scoring.models import Pullback, ScoringRun

if TYPE_CHECKING:
    from scoring import charts
else:  # plotly loads with the first figure, not with django.setup() (ScoringConfig.ready imports this module)
    charts = lazy_module("scoring.charts")

PATIENT_PANEL_TEMPLATE = "scoring/_patient_pullbacks.html"
DEFAULT_CINE_RATE_HZ = 30.0  # IVUS consoles acquire at about 30 frames per second


def patient_pullbacks_panel(request: HttpRequest, patient: Patient) -> dict:
    """The patient's pullbacks, ICS with its registry percentile and group, and the study pullback's view."""
    rows = selectors.pullback_rows_for_patient(patient)
    ics = selectors.patient_ics(patient, rows)
    view = pullback_view(request, ics.choice.pullback, ics.choice.run) if ics.choice else None
    return {
        "patient": patient,
        "rows": rows,
        "ics": ics,
        "can_upload": has_role(request.user, EDIT_REGISTRY),
        "view": view,
        "min_length_mm": selectors.min_length_mm(),
    }


def pullback_view(request: HttpRequest, pullback: Pullback, run: ScoringRun | None) -> dict | None:
    """Figures and frame-viewer settings of a scored pullback (None without a score)."""
    if run is None:
        return None
    # Ingest refuses a file without a frame rate; a row without one still gets a working viewer.
    rate_known = pullback.frame_rate_hz is not None and pullback.frame_rate_hz > 0
    rate_hz = pullback.frame_rate_hz if rate_known else DEFAULT_CINE_RATE_HZ
    spacing = pullback.pullback_speed_mm_s / rate_hz
    labels = run.labels()
    return {
        "pullback": pullback,
        "run": run,
        "frame_spacing_mm": spacing,
        "last_frame": len(labels) - 1,  # labels: (frames, A-lines)
        "cine_rate_hz": rate_hz,  # cine plays at the acquisition frame rate
        "cine_rate_assumed": not rate_known,
        "can_see_frames": has_role(request.user, SEE_IDENTIFIERS),
        "can_annotate": has_role(request.user, EDIT_REGISTRY),
        "figures": {
            "map": charts.calcium_map_figure(labels, frame_spacing_mm=spacing),
            "arc": charts.arc_figure(run.arc_deg_per_frame, frame_spacing_mm=spacing),
        },
    }
