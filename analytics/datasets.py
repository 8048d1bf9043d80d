"""Registry rows -> the analysis DataFrame; the only analytics module that touches the ORM.

`analysis_dataframe` gives the same rows as `registry.selectors.analysis_rows` (same columns,
order and values; a test holds them equal) in three queries whatever the cohort size: patients
(with the site code) as tuples, then contacts and events. The follow-up and endpoint rules are
`registry.follow_up`'s, the derived baseline flags are the Patient model's own properties, and the
ICS is scoring.selectors' (the study pullback's ICS, else the imported one).
"""

from collections.abc import Callable

import pandas as pd
from django.db.models import QuerySet

from registry import follow_up
from registry.access import patients_for_user
from registry.models import BASELINE_FLAGS, Patient
from registry.selectors import analysis_columns, follow_up_facts

_PATIENT_VALUES = (
    "pk", "study_id", "site__code", "sex", "age_at_index", "index_date", *BASELINE_FLAGS, "egfr", "presentation",
    "index_treatment", "study_vessel", "vessel_revascularized", "ics_imported", "ics_imported_source",
)
# Baseline columns copied as they are stored (analysis column name -> values() name).
_COPIED = {"study_id": "study_id", "site": "site__code", "sex": "sex", "age_at_index": "age_at_index",
           "index_date": "index_date", **{f: f for f in BASELINE_FLAGS}, "egfr": "egfr",
           "presentation": "presentation", "index_treatment": "index_treatment", "study_vessel": "study_vessel",
           "vessel_revascularized": "vessel_revascularized"}
_STUDY_ICS = ("study_pullback_id", "study_ics", "study_override", "study_model_version")
# Properties of Patient computed from its own fields (eGFR < 60, presentation = ACS): called on the
# values() row, which has the same attribute names, so the rule stays in one place.
_DERIVED = {"renal_impairment": Patient.renal_impairment.fget, "acs": Patient.acs.fget}
_PROGRESS_STEPS = 20


def analysis_patients(*, user) -> QuerySet:
    """The patients an analysis of `user` may use (site restriction included); None = the system, all."""
    return Patient.objects.all() if user is None else patients_for_user(user)


def analysis_dataframe(
    *, patients: QuerySet, horizon_days: int = follow_up.HORIZON_DAYS, count_pending: bool = True,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One pseudonymised row per patient, columns `analysis_columns()`, ordered by study_id.

    Three queries. `progress` gets percentages (0-100) of the rows derived so far.
    """
    contacts, events = follow_up_facts(patients)
    rows = _patient_rows(patients)
    columns = {name: [] for name in analysis_columns()}
    step = max(1, len(rows) // _PROGRESS_STEPS)
    for i, row in enumerate(rows):
        last = follow_up.last_contact_date(contacts[row.pk], events[row.pk])
        for name, source in _COPIED.items():
            columns[name].append(getattr(row, source))
        for name, derive in _DERIVED.items():
            columns[name].append(derive(row))
        ics, source = _study_ics_of(row)
        columns["ics"].append(ics)
        columns["ics_source"].append(source)
        columns["last_contact_date"].append(last)
        columns["follow_up_days"].append(None if last is None else (last - row.index_date).days)
        outcomes = follow_up.endpoint_outcomes(index_date=row.index_date, last_contact=last, events=events[row.pk],
                                               horizon_days=horizon_days, count_pending=count_pending)
        for name, outcome in outcomes.items():
            columns[f"{name}_days"].append(outcome.duration_days)
            columns[f"{name}_status"].append(outcome.status)
        if progress is not None and (i + 1) % step == 0:
            progress(100 * (i + 1) // len(rows))
    return pd.DataFrame(columns, columns=analysis_columns())


def baseline_dataframe(*, patients: QuerySet) -> pd.DataFrame:
    """The baseline columns only (no follow-up): one query, for live cohort counts."""
    rows = _patient_rows(patients)
    columns = {name: [getattr(r, source) for r in rows] for name, source in _COPIED.items()}
    columns |= {name: [derive(r) for r in rows] for name, derive in _DERIVED.items()}
    study = [_study_ics_of(r) for r in rows]
    columns |= {"ics": [ics for ics, _ in study], "ics_source": [source for _, source in study]}
    return pd.DataFrame(columns, columns=[c for c in analysis_columns() if c in columns])


def _patient_rows(patients: QuerySet) -> list:
    """Patients as named tuples, with the study pullback's ICS as subqueries: one query."""
    from scoring.selectors import study_ics_annotations  # scoring depends on registry; lazily, as registry does

    annotated = patients.annotate(**study_ics_annotations()).order_by("study_id")
    return list(annotated.values_list(*_PATIENT_VALUES, *_STUDY_ICS, named=True))


def _study_ics_of(row) -> tuple:
    """(ICS, source): the study pullback's, else the imported one (scoring.selectors' rule, on the row)."""
    from scoring.selectors import study_ics_of

    return study_ics_of(row)
