"""Reads of registry data: lists with derived follow-up state, the worklist, the timeline and
the pseudonymised analysis rows. Follow-up rules come from `registry.follow_up` only."""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from core.roles import can_see_identifiers
from registry import follow_up
from registry.access import patients_for_user
from registry.models import (
    BASELINE_FLAGS,
    ClinicalEvent,
    EventType,
    FollowUpContact,
    Patient,
    Verification,
    effective_ics,
)


@dataclass(frozen=True)
class PatientRow:
    patient: Patient
    state: follow_up.FollowUpState
    days_overdue: int | None = None  # only on the worklist (PatientRows(days_overdue=True))


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


def _status_conditions(as_of: date) -> dict[str, Q]:
    """follow_up.status_of as SQL conditions over the stored summary, one per status, in the order
    of FOLLOW_UP_STATUSES; they need the `fu_reference` annotation (`_with_reference`)."""
    horizon = settings.FOLLOW_UP_HORIZON_DAYS
    lost_before = as_of - timedelta(days=settings.FOLLOW_UP_LOST_DAYS)
    overdue_before = as_of - timedelta(days=settings.FOLLOW_UP_OVERDUE_DAYS)
    living = Q(withdrawn_on__isnull=True) & ~Q(fu_vital_status="dead")
    # No contact: the reference is the index date, 0 days of follow-up.
    open_ = living & (Q(fu_days__lt=horizon) | Q(fu_days__isnull=True)) if horizon > 0 else Q(pk__in=[])
    return {
        "active": open_ & Q(fu_reference__gte=overdue_before),
        "overdue": open_ & Q(fu_reference__lt=overdue_before, fu_reference__gte=lost_before),
        "lost": open_ & Q(fu_reference__lt=lost_before),
        "complete": living & Q(fu_days__gte=horizon) if horizon > 0 else living,
        "deceased": Q(withdrawn_on__isnull=True, fu_vital_status="dead"),
        "withdrawn": Q(withdrawn_on__isnull=False),
    }


def _with_reference(patients: QuerySet) -> QuerySet:
    """The day follow-up is counted from for overdue and lost: the last contact, else the index date."""
    return patients.annotate(fu_reference=Coalesce("fu_last_contact", "index_date"))


def with_status(patients: QuerySet, status: str, *, as_of: date) -> QuerySet:
    """`patients` whose follow-up status on `as_of` is `status`: follow_up.status_of in SQL, over
    the stored summary (a test keeps the two equal)."""
    return _with_reference(patients).filter(_status_conditions(as_of)[status])


def _with_status_rank(patients: QuerySet, *, as_of: date) -> QuerySet:
    """Annotate `fu_status_rank`: the status's place in FOLLOW_UP_STATUSES (active first)."""
    conditions = _status_conditions(as_of)
    rank = Case(*(When(condition, then=Value(i)) for i, condition in enumerate(conditions.values())), default=Value(99))
    return _with_reference(patients).annotate(fu_status_rank=rank)


class PatientRows(Sequence):
    """Patients with their follow-up state, in `order` (default study_id), a slice at a time: len()
    is one COUNT query and a page of rows one query, whatever the registry size. With
    `days_overdue`, each row also says how many days its patient is past the overdue threshold."""

    def __init__(self, patients: QuerySet, *, as_of: date, order=("study_id",), days_overdue: bool = False):
        self._patients = patients.order_by(*order)
        self._as_of = as_of
        self._days_overdue = days_overdue
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._patients.count()
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._row(p) for p in self._patients[index]]
        if index < 0:
            index += len(self)
        rows = self[index : index + 1]
        if not rows:
            raise IndexError(index)
        return rows[0]

    def _row(self, patient: Patient) -> PatientRow:
        overdue = days_overdue(patient, as_of=self._as_of) if self._days_overdue else None
        return PatientRow(patient, stored_state(patient, as_of=self._as_of), overdue)


def days_overdue(patient: Patient, *, as_of: date) -> int:
    """Days beyond FOLLOW_UP_OVERDUE_DAYS since the last contact (since the index date without
    one); 0 while the patient is not overdue."""
    reference = patient.fu_last_contact or patient.index_date
    return max(0, (as_of - reference).days - settings.FOLLOW_UP_OVERDUE_DAYS)


# The patient list's sortable columns -> what they sort by (ties: study_id). Missing values (no ICS,
# no contact) come last in both directions.
PATIENT_SORTS = {
    "study_id": "study_id",
    "site": "site__code",
    "index_date": "index_date",
    "ics": "ics_value",
    "last_contact": "fu_last_contact",
    "status": "fu_status_rank",
}
PATIENT_SORT_DEFAULT = "study_id"


def _sorted(patients: QuerySet, sort: str, *, as_of: date) -> tuple[QuerySet, tuple]:
    """`patients` annotated for `sort` ("ics", or "-ics" for descending; unknown: study_id), and the ordering."""
    key = sort.removeprefix("-")
    if key not in PATIENT_SORTS:
        key, sort = PATIENT_SORT_DEFAULT, PATIENT_SORT_DEFAULT
    if key == "ics":
        patients = patients.annotate(ics_value=effective_ics())
    elif key == "status":
        patients = _with_status_rank(patients, as_of=as_of)
    column = F(PATIENT_SORTS[key])
    first = column.desc(nulls_last=True) if sort.startswith("-") else column.asc(nulls_last=True)
    return patients, (first, "study_id") if key != "study_id" else (first,)


# Letters that names carry with a diacritic, by base letter, so that a search for "muller" finds
# "Müller" and "jose" finds "José" (databases compare accented letters as different letters).
# Decomposable Latin letters, plus a few that Unicode does not decompose.
def _accented_letters() -> dict[str, str]:
    letters: dict[str, str] = defaultdict(str)
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            letters[base.lower()] += char
    for base, chars in {"o": "øØ", "l": "łŁ", "d": "đĐ", "i": "ı"}.items():
        letters[base] += chars
    return dict(letters)


_ACCENTED = _accented_letters()
_BASE_OF = {char: base for base, chars in _ACCENTED.items() for char in chars}


def _name_pattern(text: str) -> str:
    """A case-insensitive regular expression (the same in SQLite's Python `re` and PostgreSQL) that
    finds `text` inside a name whatever the accents on either side."""
    parts = []
    for char in unicodedata.normalize("NFC", text).lower():
        base = _BASE_OF.get(char, char)
        parts.append(f"[{base}{_ACCENTED[base]}]" if base in _ACCENTED else re.escape(base))
    return "".join(parts)


def _search(patients: QuerySet, text: str, *, identifiers: bool) -> QuerySet:
    """Study ID (contains, any case) for everyone; with `identifiers` also the name or family name
    (contains, any case and accents) and the hospital number (whole, any case)."""
    found = Q(study_id__icontains=text)
    if identifiers:
        pattern = _name_pattern(text)
        found |= Q(identity__name__iregex=pattern) | Q(identity__family_name__iregex=pattern)
        found |= Q(identity__hospital_number__iexact=text)
    return patients.filter(found)


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
    sort: str = PATIENT_SORT_DEFAULT,
) -> Sequence[PatientRow]:
    """Patients the user may see, with their follow-up state, filtered, and ordered by `sort`
    (a PATIENT_SORTS key, "-" in front for descending; default study_id).

    With `identifiers=True` and a role that may see them (core.roles.can_see_identifiers), the
    search also finds patients by name, family name and hospital number, and each patient's
    identity is loaded in the same query; otherwise only by study ID, and a name finds no one.
    Rows are computed lazily, page by page; the status filter runs in SQL over the stored summary.
    """
    patients = patients_for_user(user)
    identifiers = identifiers and can_see_identifiers(user)
    if identifiers:
        patients = patients.select_related("identity")
    search = search.strip()
    if search:
        patients = _search(patients, search, identifiers=identifiers)
    if site:
        patients = patients.filter(site__code=site)
    if index_date_after:
        patients = patients.filter(index_date__gte=index_date_after)
    if index_date_before:
        patients = patients.filter(index_date__lte=index_date_before)
    if status:
        patients = with_status(patients, status, as_of=as_of)
    patients, order = _sorted(patients, sort, as_of=as_of)
    return PatientRows(patients, as_of=as_of, order=order)


def pending_death_ids(patient_ids) -> set[int]:
    """Which of these patients have a reported death waiting for verification (one query): the
    lists say so next to their follow-up status, which a death counts in only once verified."""
    return set(
        ClinicalEvent.objects.filter(
            patient_id__in=list(patient_ids), event_type=EventType.DEATH, verification=Verification.PENDING
        ).values_list("patient_id", flat=True)
    )


def follow_up_worklist(*, user, as_of: date) -> dict:
    """What coordinators should act on, each a lazy sequence (a page costs one query):

    - `deaths_to_verify`: reported deaths pending verification (oldest first);
    - `overdue` and `lost`: patients without contact for too long, most overdue first, with their
      days overdue; a patient whose death is reported is not among them (verify it instead);
    - `events_to_verify`: the other events pending verification;
    - `pending_events`: every event pending verification, deaths included (for counts).
    """
    patients = patients_for_user(user)
    pending = (
        ClinicalEvent.objects.filter(patient__in=patients.values("pk"), verification=Verification.PENDING)
        .select_related("patient", "patient__site")
        .order_by("event_date", "pk")
    )
    deaths = pending.filter(event_type=EventType.DEATH)
    living = patients.exclude(pk__in=deaths.values("patient_id"))
    most_overdue_first = ("fu_reference", "study_id")
    return {
        "deaths_to_verify": deaths,
        "overdue": PatientRows(
            with_status(living, "overdue", as_of=as_of), as_of=as_of, order=most_overdue_first, days_overdue=True
        ),
        "lost": PatientRows(
            with_status(living, "lost", as_of=as_of), as_of=as_of, order=most_overdue_first, days_overdue=True
        ),
        "events_to_verify": pending.exclude(event_type=EventType.DEATH),
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
