"""What the patient page says at a glance (registry.views.patient_detail): the ICS that counts,
where it came from and by which rule, its group at the study's cut-off and its place in the
registry; the page's sections; and the marks of its graphical timeline.

Apps above the registry add to the page through registry.panels: a panel names the section it
belongs to, and may hand timeline marks (registry.timeline_chart.Mark) in its context under
"timeline_marks" (scoring: the pullbacks).
"""

from dataclasses import dataclass

from django.conf import settings

from registry.models import ICS_CUTOFF, EventType, Patient
from registry.selectors import ics_place
from registry.timeline_chart import Mark, timeline_chart

# The page's sections, in order: (id, heading). Panels say which one they belong to.
SECTIONS = (
    ("summary", "Summary"),
    ("follow_up", "Follow-up"),
    ("events", "Events"),
    ("imaging", "Imaging"),
    ("history", "History"),
)

LANE_CONTACTS = "Contacts"
LANE_EVENTS = "Events"
LANE_PULLBACKS = "Pullbacks"

# Short help next to the numbers that need it (also on the pullback pages).
HELP = {
    "ics": (
        "IVUS calcium score: of every 1,000 radial scan lines (A-lines) of the pullback, how many show "
        "calcium (a bright border with a dark shadow behind it), as classified by the detector. "
        "0 = no calcium, 1,000 = calcium all round in every frame."
    ),
    "percentile": (
        "The share of this registry's patients with an ICS whose ICS is the same or lower. "
        "50 is the registry median; 90 means only one in ten patients has more calcium."
    ),
    "study_pullback": (
        "The pullback whose ICS counts for the patient: a reviewer's choice if one was made, else the "
        "longest pullback that passed quality control, is at least {min_mm} mm long (as in the study) "
        "and has a score; on a tie, the one uploaded first. Without one, an imported ICS counts."
    ),
    "group": (
        "The study compared patients below and at or above an ICS of {cutoff}: the analyses use the same "
        "cut-off unless an investigator chooses another."
    ),
}


def help_texts() -> dict[str, str]:
    return {key: text.format(min_mm=f"{settings.PULLBACK_MIN_LENGTH_MM:g}", cutoff=ICS_CUTOFF) for key, text in HELP.items()}


@dataclass(frozen=True)
class IcsSummary:
    """The patient's ICS as the analyses see it (`Patient.ics`, stored), in words."""

    ics: float | None
    from_pullback: bool
    source: str  # where the number came from
    rule: str  # why this number and not another
    unused_imported: float | None  # an imported ICS that a study pullback replaces
    high: bool | None  # at or above the study's cut-off
    cutoff: int
    percentile: float | None
    median: float | None
    n_registry: int


def ics_summary(patient: Patient) -> IcsSummary:
    place = ics_place(patient.ics)
    min_mm = f"{settings.PULLBACK_MIN_LENGTH_MM:g}"
    if patient.study_ics is not None:
        source = patient.study_ics_source[:1].upper() + patient.study_ics_source[1:]
        rule = (
            "A reviewer chose this pullback as the study pullback."
            # The source text is written by scoring.selectors.study_source_text: "(reviewer's choice, ...)".
            if "reviewer's choice" in patient.study_ics_source
            else f"The longest scored pullback of at least {min_mm} mm that passed quality control counts."
        )
        if patient.ics_imported is not None:
            rule += " The imported ICS is kept but not used."
        unused = patient.ics_imported
    elif patient.ics_imported is not None:
        source = f"Imported ({patient.get_ics_imported_source_display() or 'source not recorded'})"
        rule = f"No pullback of at least {min_mm} mm has passed quality control and been scored, so the imported ICS counts."
        unused = None
    else:
        source = ""
        rule = f"No ICS yet: upload a pullback of at least {min_mm} mm, or import an ICS."
        unused = None
    ics = patient.ics
    return IcsSummary(
        ics=ics,
        from_pullback=patient.study_ics is not None,
        source=source,
        rule=rule,
        unused_imported=unused,
        high=None if ics is None else ics >= ICS_CUTOFF,
        cutoff=ICS_CUTOFF,
        percentile=place.percentile,
        median=place.median,
        n_registry=place.n,
    )


def registry_marks(patient: Patient, timeline: list[dict]) -> list[Mark]:
    """The contacts and events of `selectors.patient_timeline` as timeline marks."""
    marks = []
    for item in timeline:
        obj = item["obj"]
        if item["kind"] == "event":
            state = obj.verification
            marks.append(
                Mark(
                    day=item["date"],
                    lane=LANE_EVENTS,
                    kind="death" if obj.event_type == EventType.DEATH else "event",
                    label=f"{obj.get_event_type_display()} ({_verification_words(state)})",
                    state=state,
                    anchor=f"event-{obj.pk}",
                )
            )
        else:
            marks.append(
                Mark(
                    day=item["date"],
                    lane=LANE_CONTACTS,
                    kind="contact",
                    label=f"{obj.get_method_display()}, vital status {obj.vital_status}",
                    anchor=f"contact-{obj.pk}",
                )
            )
    return marks


def _verification_words(state: str) -> str:
    words: dict[str, str] = {"pending": "to verify", "verified": "verified", "rejected": "rejected"}
    return words.get(state, state)


def patient_timeline_chart(patient: Patient, marks: list[Mark]) -> dict:
    chart = timeline_chart(
        patient.index_date,
        marks,
        lanes=[LANE_CONTACTS, LANE_EVENTS, LANE_PULLBACKS],
        follow_up_days=settings.FOLLOW_UP_HORIZON_DAYS,
    )
    counts = {lane["name"]: len(lane["marks"]) for lane in chart["lanes"]}
    chart["summary"] = (
        f"Timeline from the index procedure on {patient.index_date:%Y-%m-%d}: "
        + ", ".join(f"{name.lower()} {n}" for name, n in counts.items())
        + ". The tables below list each one."
    )
    return chart
