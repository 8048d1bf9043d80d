"""Registry rows -> the analysis DataFrame; the only analytics module that touches the ORM.

The rows are registry.selectors.analysis_table's (the one builder of the analysis data set, also
behind the API's data set and the registry export): this module only chooses the patients and
wraps the columns in a DataFrame.
"""

from collections.abc import Callable

import pandas as pd
from django.db.models import QuerySet

from analytics import cohort_data
from registry import follow_up
from registry.access import patients_for_user
from registry.models import Patient
from registry.selectors import analysis_columns, analysis_table, baseline_table


def analysis_patients(*, user) -> QuerySet:
    """The patients an analysis of `user` may use (site restriction included); None = the system, all."""
    return Patient.objects.all() if user is None else patients_for_user(user)


def analysis_dataframe(
    *,
    patients: QuerySet,
    horizon_days: int = follow_up.HORIZON_DAYS,
    count_pending: bool = True,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One pseudonymised row per patient, columns `analysis_columns()`, ordered by study_id: three queries.
    `progress` gets percentages (0-100) of the rows derived so far."""
    table = analysis_table(patients, horizon_days=horizon_days, count_pending=count_pending, progress=progress)
    return pd.DataFrame(table, columns=analysis_columns())


def baseline_dataframe(*, patients: QuerySet, columns=None) -> pd.DataFrame:
    """The baseline columns only (no follow-up): one query, for live cohort counts. `columns`: only
    these analysis columns (with study_id, and with sex and study_vessel when a derived
    indicator such as `male` is asked for)."""
    if columns is not None and set(columns) & set(cohort_data.DERIVED):
        columns = {*columns, "sex", "study_vessel"}
    table = baseline_table(patients, columns)
    return pd.DataFrame(table, columns=list(table))


# Past this many patients the narrowed cohort is not worth an IN list (SQLite's parameter limit).
_NARROW_MAX = 20000


def cohort_patients(patients: QuerySet, filters: list) -> QuerySet:
    """`patients` narrowed by the cohort filters on baseline columns, answered from one query, so
    that contacts and events are read and the follow-up derived for the cohort only. The caller
    still applies every filter to the rows (run_analysis does): this only leaves out patients
    that no filter could keep. Filters must have been checked (analysis_spec_check)."""
    baseline = [f for f in filters if isinstance(f, dict) and f.get("field") in _BASELINE_FIELDS]
    if not baseline:
        return patients
    frame = cohort_data.analysis_frame(baseline_dataframe(patients=patients, columns={f["field"] for f in baseline}))
    kept = cohort_data.apply_filters(frame, baseline)["study_id"].tolist() if len(frame) else []
    if len(kept) > _NARROW_MAX:
        return patients
    return patients.filter(study_id__in=kept)


_BASELINE_FIELDS = frozenset(baseline_table(Patient.objects.none())) | frozenset(cohort_data.DERIVED)
