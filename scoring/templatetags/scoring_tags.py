"""Template tags for the patient page (registry/patient_detail.html includes
scoring/_patient_pullbacks.html, which calls ``patient_pullbacks``) and the pullback page."""

from django import template

from registry.access import EDIT_REGISTRY, SEE_IDENTIFIERS, has_role
from scoring import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def patient_pullbacks(context, patient) -> dict:
    """The patient's pullbacks, ICS with its registry percentile and group, and the study pullback's view."""
    user = context["request"].user
    rows = selectors.pullback_rows_for_patient(patient)
    ics = selectors.patient_ics(patient, rows)
    view = pullback_view(context, ics.choice.pullback, ics.choice.run) if ics.choice else None
    return {"rows": rows, "ics": ics, "can_upload": has_role(user, EDIT_REGISTRY), "view": view,
            "min_length_mm": selectors.min_length_mm()}


@register.simple_tag(takes_context=True)
def pullback_view(context, pullback, run) -> dict | None:
    """Figures and frame-viewer settings of a scored pullback (None without a score)."""
    from scoring import charts

    if run is None:
        return None
    spacing = pullback.frame_spacing_mm
    labels = run.labels()
    return {
        "pullback": pullback, "run": run, "frame_spacing_mm": spacing, "last_frame": run.n_frames - 1,
        "can_see_frames": has_role(context["request"].user, SEE_IDENTIFIERS),
        "can_annotate": has_role(context["request"].user, EDIT_REGISTRY),
        "figures": {"map": charts.calcium_map_figure(labels, frame_spacing_mm=spacing),
                    "arc": charts.arc_figure(run.arc_deg_per_frame, frame_spacing_mm=spacing)},
    }
