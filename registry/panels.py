"""Panels that apps above the registry add to the patient page (scoring's imaging panel) and to
the home page (the follow-up waves' work).

The registry owns this seam so that it never imports those apps: an app registers a panel in its
AppConfig.ready() with a template and a function that returns the template's context; the
patient view asks every registered panel for its context, in `order`, and the page includes
each template with `panel` set to that context in the panel's `section` of the page
(registry.patient_page.SECTIONS). A context may carry "timeline_marks" (registry.timeline_chart.Mark)
for the page's graphical timeline.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from registry.models import Patient

PanelContext = Callable[[HttpRequest, Patient], dict]


@dataclass(frozen=True)
class PatientPanel:
    name: str
    template: str
    context: PanelContext
    order: int = 100
    section: str = "summary"


_PANELS: dict[str, PatientPanel] = {}


def register_patient_panel(
    name: str, *, template: str, context: PanelContext, order: int = 100, section: str = "summary"
) -> None:
    """Add (or replace, by name) a panel of the patient page, shown in `section`."""
    _PANELS[name] = PatientPanel(name, template, context, order, section)


def patient_panels(request: HttpRequest, patient: Patient) -> list[dict]:
    """[{"name", "template", "section", "context"}] of every registered panel for this patient, in order."""
    panels = sorted(_PANELS.values(), key=lambda p: (p.order, p.name))
    return [
        {"name": p.name, "template": p.template, "section": p.section, "context": p.context(request, patient)}
        for p in panels
    ]


# The home page's panels --------------------------------------------------------------------------


@dataclass(frozen=True)
class HomePanel:
    name: str
    template: str
    context: Callable[[HttpRequest], dict]
    roles: tuple[str, ...]
    order: int = 100


_HOME_PANELS: dict[str, HomePanel] = {}


def register_home_panel(
    name: str, *, template: str, context: Callable[[HttpRequest], dict], roles: tuple[str, ...], order: int = 100
) -> None:
    """Add (or replace, by name) a panel of the home page, shown to users with one of `roles`."""
    _HOME_PANELS[name] = HomePanel(name, template, context, roles, order)


def home_panels(request: HttpRequest, has_role: Callable[[tuple[str, ...]], bool]) -> list[dict]:
    """[{"name", "template", "context"}] of the home panels this user's roles admit, in order."""
    panels = sorted((p for p in _HOME_PANELS.values() if has_role(p.roles)), key=lambda p: (p.order, p.name))
    return [{"name": p.name, "template": p.template, "context": p.context(request)} for p in panels]
