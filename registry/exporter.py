"""Registry CSV export: the interchange files (`patients.csv`, `events.csv`) and the analysis dataset.

`patients.csv` and `events.csv` have exactly the import columns (plus `site` and `ics_source` in
patients.csv), so that export -> import -> export gives the same bytes:
- rows sorted by study_id (events by study_id, event_date, event_type), in code-point order;
- values through `csv_io.format_value`: dates YYYY-MM-DD, flags 0/1, missing = empty cell, floats
  in shortest round-trip form (78.0 -> "78", 65.25 -> "65.25");
- `last_contact_date` is the DERIVED date of last contact (`follow_up.last_contact_date` over all
  contacts and verified events; a verified death ends follow-up), not only the imported contact;
- events: verified -> 1, pending -> 0. Rejected events are NOT exported: they are not part of the
  registry's data, and re-importing the file leaves them alone.
Contact details other than the last contact date, free-text notes, revascularization methods,
source documents and direct identifiers are not part of the format.

`analysis_dataset.csv` is pseudonymised (study_id is the only identifier): one row per patient with
baseline fields, ICS and time/status per endpoint, from `selectors.analysis_rows`.
"""

from typing import Any

from django.db.models import QuerySet

from registry import follow_up, selectors
from registry.csv_io import EVENT_COLUMNS, PATIENT_COLUMNS, PATIENT_OPTIONAL_COLUMNS, TextSink, write_rows
from registry.models import ClinicalEvent, Verification

PATIENTS_CSV_COLUMNS = [c.name for c in (*PATIENT_COLUMNS, *PATIENT_OPTIONAL_COLUMNS)]
EVENTS_CSV_COLUMNS = [c.name for c in EVENT_COLUMNS]


def write_patients_csv(out: TextSink, *, patients: QuerySet) -> int:
    """patients.csv for these patients. Returns the number of rows written."""
    contacts, events = selectors.follow_up_facts(patients)
    rows = []
    for p in sorted(patients.select_related("site"), key=lambda p: p.study_id):
        row = {c.name: getattr(p, c.name) for c in PATIENT_COLUMNS if c.name not in ("ics", "last_contact_date")}
        row |= {
            "ics": p.ics_imported,
            "ics_source": p.ics_imported_source,
            "site": p.site.code,
            "last_contact_date": follow_up.last_contact_date(contacts[p.pk], events[p.pk]),
        }
        rows.append(row)
    return write_rows(out, columns=PATIENTS_CSV_COLUMNS, rows=rows)


def write_events_csv(out: TextSink, *, patients: QuerySet) -> int:
    """events.csv for these patients' events, rejected ones excluded. Returns the number of rows written."""
    events = (
        ClinicalEvent.objects.filter(patient__in=patients.values("pk"))
        .exclude(verification=Verification.REJECTED)
        .values_list("pk", "patient__study_id", "event_type", "event_date", "target_vessel", "verification")
    )
    rows: list[dict[str, Any]] = [
        {
            "study_id": study_id,
            "event_type": kind,
            "event_date": day,
            "target_vessel": tv,
            "verified": verification == Verification.VERIFIED,
            "_order": (study_id, day, kind, pk),
        }
        for pk, study_id, kind, day, tv, verification in events
    ]
    rows.sort(key=lambda r: r["_order"])
    return write_rows(out, columns=EVENTS_CSV_COLUMNS, rows=rows)


def write_analysis_csv(
    out: TextSink,
    *,
    user,
    horizon_days: int = follow_up.HORIZON_DAYS,
    count_pending: bool = True,
    patients: QuerySet | None = None,
) -> int:
    """analysis_dataset.csv: the patients `user` may see (or `patients`, for the command line).

    No direct identifiers: the columns are `selectors.analysis_columns()`. Returns rows written.
    """
    if patients is not None:
        patients = patients.select_related("site")
    rows = selectors.analysis_rows(user=user, horizon_days=horizon_days, count_pending=count_pending, patients=patients)
    return write_rows(out, columns=selectors.analysis_columns(), rows=rows)
