"""Reads of registry data: lists with derived follow-up state, the worklist, the timeline and
the pseudonymised analysis rows. Follow-up rules come from `registry.follow_up` only."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import Q, QuerySet

from registry import follow_up
from registry.access import patients_for_user
from registry.models import BASELINE_FLAGS, ClinicalEvent, FollowUpContact, Patient, Verification


@dataclass(frozen=True)
class PatientRow:
    patient: Patient
    state: follow_up.FollowUpState


def _facts(patient_ids: list[int] | None, patients: QuerySet | None = None):
    """Contacts and events per patient id as follow_up dataclasses: two queries, whatever the size."""
    contacts, events = defaultdict(list), defaultdict(list)
    contact_rows = FollowUpContact.objects.all()
    event_rows = ClinicalEvent.objects.all()
    if patients is not None:
        contact_rows = contact_rows.filter(patient__in=patients.values("pk"))
        event_rows = event_rows.filter(patient__in=patients.values("pk"))
    elif patient_ids is not None:
        contact_rows = contact_rows.filter(patient_id__in=patient_ids)
        event_rows = event_rows.filter(patient_id__in=patient_ids)
    for pid, day, vital in contact_rows.values_list("patient_id", "contact_date", "vital_status").iterator(2000):
        contacts[pid].append(follow_up.Contact(day, vital))
    for pid, kind, day, verification, tv in event_rows.values_list(
        "patient_id", "event_type", "event_date", "verification", "target_vessel"
    ).iterator(2000):
        events[pid].append(follow_up.Event(kind, day, verification, tv))
    return contacts, events


def follow_up_facts(patients: QuerySet):
    """Contacts and events of `patients`, per patient id, as registry.follow_up values: two queries."""
    return _facts(None, patients)


def follow_up_state_of(patient: Patient, *, as_of: date) -> follow_up.FollowUpState:
    contacts, events = _facts([patient.pk])
    return _state(patient, contacts[patient.pk], events[patient.pk], as_of)


def _state(patient: Patient, contacts, events, as_of: date) -> follow_up.FollowUpState:
    return follow_up.follow_up_state(
        index_date=patient.index_date, contacts=contacts, events=events, as_of=as_of,
        withdrawn=patient.withdrawn_on is not None, horizon_days=settings.FOLLOW_UP_HORIZON_DAYS,
        overdue_days=settings.FOLLOW_UP_OVERDUE_DAYS, lost_days=settings.FOLLOW_UP_LOST_DAYS,
    )


class PatientRows(Sequence):
    """Patients in study_id order with their follow-up state, computed a slice at a time:
    len() is one COUNT query and a page of rows costs three queries, whatever the registry size."""

    def __init__(self, patients: QuerySet, *, as_of: date):
        self._patients = patients.order_by("study_id")
        self._as_of = as_of
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._patients.count()
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            patients = list(self._patients[index])
            contacts, events = _facts([p.pk for p in patients])
            return [PatientRow(p, _state(p, contacts[p.pk], events[p.pk], self._as_of)) for p in patients]
        if index < 0:
            index += len(self)
        rows = self[index:index + 1]
        if not rows:
            raise IndexError(index)
        return rows[0]


def patient_list(
    *, user, as_of: date, search: str = "", site: str = "", status: str = "", identifiers: bool = False,
    index_date_after: date | None = None, index_date_before: date | None = None,
) -> Sequence[PatientRow]:
    """Patients the user may see, with their follow-up state, filtered and ordered by study_id.

    With `identifiers=True` (only for roles that may see them) the search also finds a patient by
    exact hospital number, and each patient's identity is loaded in the same query. Without a
    status filter the rows are computed lazily, page by page; filtering by status (a derived
    value) computes the state of every matching patient.
    """
    patients = patients_for_user(user)
    if identifiers:
        patients = patients.select_related("identity")
    search = search.strip()
    if search and identifiers:
        patients = patients.filter(Q(study_id__icontains=search) | Q(identity__hospital_number=search))
    elif search:
        patients = patients.filter(study_id__icontains=search)
    if site:
        patients = patients.filter(site__code=site)
    if index_date_after:
        patients = patients.filter(index_date__gte=index_date_after)
    if index_date_before:
        patients = patients.filter(index_date__lte=index_date_before)
    if not status:
        return PatientRows(patients, as_of=as_of)
    contacts, events = _facts(None, patients)
    rows = [PatientRow(p, _state(p, contacts[p.pk], events[p.pk], as_of)) for p in patients.order_by("study_id")]
    return [r for r in rows if r.state.status == status]


def follow_up_worklist(*, user, as_of: date) -> dict:
    """What coordinators should act on: overdue contacts, lost patients, events to verify."""
    rows = patient_list(user=user, as_of=as_of)[:]
    pending = (
        ClinicalEvent.objects.filter(patient__in=patients_for_user(user).values("pk"), verification=Verification.PENDING)
        .select_related("patient")
        .order_by("event_date", "pk")
    )
    return {
        "overdue": [r for r in rows if r.state.status == "overdue"],
        "lost": [r for r in rows if r.state.status == "lost"],
        "pending_events": list(pending),
    }


def patient_timeline(patient: Patient) -> list[dict]:
    """Contacts and events in date order (events before contacts on the same day)."""
    items = [{"kind": "event", "date": e.event_date, "obj": e} for e in patient.events.select_related("verified_by")]
    items += [{"kind": "contact", "date": c.contact_date, "obj": c} for c in patient.contacts.all()]
    return sorted(items, key=lambda i: (i["date"], i["kind"] != "event", i["obj"].pk))


ANALYSIS_BASE_COLUMNS = (
    "study_id", "site", "sex", "age_at_index", "index_date", *BASELINE_FLAGS, "egfr", "renal_impairment",
    "presentation", "acs", "index_treatment", "study_vessel", "vessel_revascularized", "ics", "ics_source",
    "last_contact_date", "follow_up_days",
)


def analysis_columns() -> list[str]:
    cols = list(ANALYSIS_BASE_COLUMNS)
    for name in follow_up.ENDPOINTS:
        cols += [f"{name}_days", f"{name}_status"]
    return cols


def analysis_rows(
    *, user, horizon_days: int = follow_up.HORIZON_DAYS, count_pending: bool = True,
    patients: QuerySet | None = None,
) -> list[dict]:
    """One pseudonymised row per patient (no direct identifiers), with time/status per endpoint.

    Status per endpoint: 1 event, 2 competing death (non-fatal endpoints), 0 censored.
    Withdrawn patients are kept, censored at their last contact.
    """
    if patients is None:
        patients = patients_for_user(user)
    from scoring.selectors import study_ics_annotations, study_ics_of  # scoring depends on registry, not back

    patients = patients.select_related("site").annotate(**study_ics_annotations())
    contacts, events = _facts(None, patients)
    rows = []
    for p in patients.order_by("study_id"):
        last = follow_up.last_contact_date(contacts[p.pk], events[p.pk])
        row = {
            "study_id": p.study_id, "site": p.site.code, "sex": p.sex, "age_at_index": p.age_at_index,
            "index_date": p.index_date, **{f: getattr(p, f) for f in BASELINE_FLAGS}, "egfr": p.egfr,
            "renal_impairment": p.renal_impairment, "presentation": p.presentation, "acs": p.acs,
            "index_treatment": p.index_treatment, "study_vessel": p.study_vessel,
            "vessel_revascularized": p.vessel_revascularized,
            "ics": study_ics_of(p)[0], "ics_source": study_ics_of(p)[1], "last_contact_date": last,
            "follow_up_days": None if last is None else (last - p.index_date).days,
        }
        outcomes = follow_up.endpoint_outcomes(
            index_date=p.index_date, last_contact=last, events=events[p.pk],
            horizon_days=horizon_days, count_pending=count_pending,
        )
        for name, outcome in outcomes.items():
            row[f"{name}_days"], row[f"{name}_status"] = outcome.duration_days, outcome.status
        rows.append(row)
    return rows


