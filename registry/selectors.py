"""Reads of registry data: lists with derived follow-up state, the worklist, the timeline and
the pseudonymised analysis rows. Follow-up rules come from `registry.follow_up` only."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce

from registry import follow_up
from registry.access import patients_for_user
from registry.models import BASELINE_FLAGS, ClinicalEvent, FollowUpContact, Patient, Verification, effective_ics


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


def follow_up_facts_of(patient_ids: list[int]):
    """Contacts and events of these patients, per patient id: two queries."""
    return _facts(patient_ids)


def follow_up_state_of(patient: Patient, *, as_of: date) -> follow_up.FollowUpState:
    contacts, events = _facts([patient.pk])
    return _state(patient, contacts[patient.pk], events[patient.pk], as_of)


def _state(patient: Patient, contacts, events, as_of: date) -> follow_up.FollowUpState:
    return follow_up.follow_up_state(
        index_date=patient.index_date,
        contacts=contacts,
        events=events,
        as_of=as_of,
        withdrawn=patient.withdrawn_on is not None,
        horizon_days=settings.FOLLOW_UP_HORIZON_DAYS,
        overdue_days=settings.FOLLOW_UP_OVERDUE_DAYS,
        lost_days=settings.FOLLOW_UP_LOST_DAYS,
    )


def stored_state(patient: Patient, *, as_of: date) -> follow_up.FollowUpState:
    """The follow-up state from the summary stored on the patient row (services.follow_up_refresh)."""
    status = follow_up.status_of(
        index_date=patient.index_date,
        last_contact=patient.fu_last_contact,
        vital_status=patient.fu_vital_status,
        withdrawn=patient.withdrawn_on is not None,
        as_of=as_of,
        horizon_days=settings.FOLLOW_UP_HORIZON_DAYS,
        overdue_days=settings.FOLLOW_UP_OVERDUE_DAYS,
        lost_days=settings.FOLLOW_UP_LOST_DAYS,
    )
    return follow_up.FollowUpState(
        patient.fu_last_contact, patient.fu_days, patient.fu_death_date, patient.fu_vital_status, status
    )


def with_status(patients: QuerySet, status: str, *, as_of: date) -> QuerySet:
    """`patients` whose follow-up status on `as_of` is `status`: follow_up.status_of in SQL, over
    the stored summary (a test keeps the two equal)."""
    horizon = settings.FOLLOW_UP_HORIZON_DAYS
    lost_before = as_of - timedelta(days=settings.FOLLOW_UP_LOST_DAYS)
    overdue_before = as_of - timedelta(days=settings.FOLLOW_UP_OVERDUE_DAYS)
    patients = patients.annotate(fu_reference=Coalesce("fu_last_contact", "index_date"))
    living = Q(withdrawn_on__isnull=True) & ~Q(fu_vital_status="dead")
    # No contact: the reference is the index date, 0 days of follow-up.
    open_ = living & (Q(fu_days__lt=horizon) | Q(fu_days__isnull=True)) if horizon > 0 else Q(pk__in=[])
    conditions = {
        "withdrawn": Q(withdrawn_on__isnull=False),
        "deceased": Q(withdrawn_on__isnull=True, fu_vital_status="dead"),
        "complete": living & Q(fu_days__gte=horizon) if horizon > 0 else living,
        "lost": open_ & Q(fu_reference__lt=lost_before),
        "overdue": open_ & Q(fu_reference__lt=overdue_before, fu_reference__gte=lost_before),
        "active": open_ & Q(fu_reference__gte=overdue_before),
    }
    return patients.filter(conditions[status])


class PatientRows(Sequence):
    """Patients in study_id order with their follow-up state, a slice at a time: len() is one
    COUNT query and a page of rows one query, whatever the registry size."""

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
            return [PatientRow(p, stored_state(p, as_of=self._as_of)) for p in self._patients[index]]
        if index < 0:
            index += len(self)
        rows = self[index : index + 1]
        if not rows:
            raise IndexError(index)
        return rows[0]


def patient_list(
    *,
    user,
    as_of: date,
    search: str = "",
    site: str = "",
    status: str = "",
    identifiers: bool = False,
    index_date_after: date | None = None,
    index_date_before: date | None = None,
) -> Sequence[PatientRow]:
    """Patients the user may see, with their follow-up state, filtered and ordered by study_id.

    With `identifiers=True` (only for roles that may see them) the search also finds a patient by
    exact hospital number, and each patient's identity is loaded in the same query. Rows are
    computed lazily, page by page; the status filter runs in SQL over the stored summary.
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
    if status:
        patients = with_status(patients, status, as_of=as_of)
    return PatientRows(patients, as_of=as_of)


def follow_up_worklist(*, user, as_of: date) -> dict:
    """What coordinators should act on: overdue contacts, lost patients, events to verify; each a
    lazy sequence (a page costs one query)."""
    patients = patients_for_user(user)
    pending = (
        ClinicalEvent.objects.filter(patient__in=patients_for_user(user).values("pk"), verification=Verification.PENDING)
        .select_related("patient")
        .order_by("event_date", "pk")
    )
    return {
        "overdue": PatientRows(with_status(patients, "overdue", as_of=as_of), as_of=as_of),
        "lost": PatientRows(with_status(patients, "lost", as_of=as_of), as_of=as_of),
        "pending_events": pending,
    }


def patient_timeline(patient: Patient) -> list[dict]:
    """Contacts and events in date order (events before contacts on the same day)."""
    items = [{"kind": "event", "date": e.event_date, "obj": e} for e in patient.events.select_related("verified_by")]
    items += [{"kind": "contact", "date": c.contact_date, "obj": c} for c in patient.contacts.all()]
    return sorted(items, key=lambda i: (i["date"], i["kind"] != "event", i["obj"].pk))


ANALYSIS_BASE_COLUMNS = (
    "study_id",
    "site",
    "sex",
    "age_at_index",
    "index_date",
    *BASELINE_FLAGS,
    "egfr",
    "renal_impairment",
    "presentation",
    "acs",
    "index_treatment",
    "study_vessel",
    "vessel_revascularized",
    "ics",
    "ics_source",
    "last_contact_date",
    "follow_up_days",
)


def analysis_columns() -> list[str]:
    cols = list(ANALYSIS_BASE_COLUMNS)
    for name in follow_up.ENDPOINTS:
        cols += [f"{name}_days", f"{name}_status"]
    return cols


@dataclass(frozen=True)
class IcsPlace:
    n: int  # registry patients with an ICS
    median: float | None
    percentile: float | None  # % of them with an ICS at or below the given one


def ics_place(ics: float | None) -> IcsPlace:
    """Where `ics` stands among every registry patient's ICS (`Patient.ics`, stored): two queries,
    counted and ordered in SQL whatever the registry's size."""
    values = Patient.objects.annotate(v=effective_ics()).filter(v__isnull=False)
    counts = values.aggregate(n=Count("pk"), le=Count("pk", filter=Q(v__lte=(ics or 0) + 1e-9)))
    n = counts["n"]
    if not n:
        return IcsPlace(0, None, None)
    middle = list(values.order_by("v").values_list("v", flat=True)[(n - 1) // 2 : n // 2 + 1])
    percentile = None if ics is None else 100.0 * counts["le"] / n
    return IcsPlace(n, float(sum(middle) / len(middle)), percentile)


# Values read per patient for the analysis rows, and the analysis columns copied as stored.
_ANALYSIS_VALUES = (
    "pk",
    "study_id",
    "site__code",
    "sex",
    "age_at_index",
    "index_date",
    *BASELINE_FLAGS,
    "egfr",
    "presentation",
    "index_treatment",
    "study_vessel",
    "vessel_revascularized",
    "study_ics",
    "study_ics_source",
    "ics_imported",
    "ics_imported_source",
)
_COPIED = {
    "study_id": "study_id",
    "site": "site__code",
    "sex": "sex",
    "age_at_index": "age_at_index",
    "index_date": "index_date",
    **{f: f for f in BASELINE_FLAGS},
    "egfr": "egfr",
    "presentation": "presentation",
    "index_treatment": "index_treatment",
    "study_vessel": "study_vessel",
    "vessel_revascularized": "vessel_revascularized",
}
# Properties of Patient computed from its own fields (eGFR < 60, presentation = ACS, the ICS):
# called on the values() row, which has the same attribute names, so each rule stays in one place.
# (mypy types a property read on the class as its getter function, hence the ignores.)
_DERIVED = {
    "renal_impairment": Patient.renal_impairment.fget,  # type: ignore[attr-defined]
    "acs": Patient.acs.fget,  # type: ignore[attr-defined]
    "ics": Patient.ics.fget,  # type: ignore[attr-defined]
    "ics_source": Patient.ics_source.fget,  # type: ignore[attr-defined]
}
_PROGRESS_STEPS = 20


# The stored fields each baseline column is read from.
_SOURCES = {name: (source,) for name, source in _COPIED.items()} | {
    "renal_impairment": ("egfr",),
    "acs": ("presentation",),
    "ics": ("study_ics", "ics_imported"),
    "ics_source": ("study_ics", "study_ics_source", "ics_imported_source"),
}


def baseline_table(patients: QuerySet, columns=None) -> dict[str, list]:
    """The baseline columns of the analysis rows (no follow-up), by column, ordered by study_id: one
    query. `columns`: only these (and study_id), reading only the fields they need."""
    wanted = [c for c in analysis_columns() if c in _SOURCES and (columns is None or c in columns or c == "study_id")]
    fields = dict.fromkeys(f for c in wanted for f in _SOURCES[c])
    rows = list(patients.order_by("study_id").values_list(*fields, named=True))
    table = {}
    for name in wanted:
        derive = _DERIVED.get(name)
        table[name] = [derive(r) for r in rows] if derive else [getattr(r, _COPIED[name]) for r in rows]
    return table


def analysis_table(
    patients: QuerySet,
    *,
    horizon_days: int = follow_up.HORIZON_DAYS,
    count_pending: bool = True,
    progress=None,
) -> dict[str, list]:
    """The pseudonymised analysis rows of `patients` by column (`analysis_columns()`), ordered by
    study_id: no direct identifiers; time/status per endpoint (1 event, 2 competing death for
    non-fatal endpoints, 0 censored); withdrawn patients kept, censored at their last contact.

    The one builder of the analysis data set (analytics' DataFrame, the API's rows and the export
    use it). Three queries whatever the size: patients, then their contacts and events; the
    follow-up is derived from those facts by registry.follow_up, not read from the stored summary.
    `progress` gets percentages (0-100) of the rows derived so far.
    """
    rows = _analysis_values(patients)
    contacts, events = _facts([r.pk for r in rows]) if len(rows) <= 5000 else _facts(None, patients)
    columns: dict[str, list] = {name: [] for name in analysis_columns()}
    step = max(1, len(rows) // _PROGRESS_STEPS)
    for i, row in enumerate(rows):
        last = follow_up.last_contact_date(contacts[row.pk], events[row.pk])
        for name, source in _COPIED.items():
            columns[name].append(getattr(row, source))
        for name, derive in _DERIVED.items():
            columns[name].append(derive(row))
        columns["last_contact_date"].append(last)
        columns["follow_up_days"].append(None if last is None else (last - row.index_date).days)
        outcomes = follow_up.endpoint_outcomes(
            index_date=row.index_date,
            last_contact=last,
            events=events[row.pk],
            horizon_days=horizon_days,
            count_pending=count_pending,
        )
        for name, outcome in outcomes.items():
            columns[f"{name}_days"].append(outcome.duration_days)
            columns[f"{name}_status"].append(outcome.status)
        if progress is not None and (i + 1) % step == 0:
            progress(100 * (i + 1) // len(rows))
    return columns


def _analysis_values(patients: QuerySet) -> list:
    return list(patients.order_by("study_id").values_list(*_ANALYSIS_VALUES, named=True))


def analysis_rows(
    *,
    user,
    horizon_days: int = follow_up.HORIZON_DAYS,
    count_pending: bool = True,
    patients: QuerySet | None = None,
) -> list[dict]:
    """`analysis_table` as one dict per patient (the user's patients unless `patients` is given)."""
    table = analysis_table(
        patients_for_user(user) if patients is None else patients, horizon_days=horizon_days, count_pending=count_pending
    )
    names = list(table)
    return [dict(zip(names, values, strict=True)) for values in zip(*table.values(), strict=True)]
