"""Reads for analytics: runs and saved cohorts a user may see, live cohort counts, the fields the
cohort builder offers, and what changed between two runs of the same spec."""

import math

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from analytics import cohort_data, datasets
from analytics import warnings as safeguards
from analytics.models import AnalysisRun, SavedCohort
from analytics.services import analysis_spec_check
from core.roles import ANALYSIS_DATA, require_role
from registry import follow_up
from registry.access import sites_for_user, user_site_ids
from registry.models import IndexTreatment, Presentation, Sex, Vessel
from registry.selectors import ANALYSIS_BASE_COLUMNS

# Follow-up columns that need the full derivation; any other filter is answered from baseline only.
_FOLLOW_UP_COLUMNS = ("last_contact_date", "follow_up_days")


# Runs and cohorts -----------------------------------------------------------------------------


def analysis_run_list(*, user) -> QuerySet:
    """Runs the user may see: all for users of all sites, else the runs whose scope lies within
    the user's sites (a run over sites A and B is not shown to a user of site A only)."""
    require_role(user, ANALYSIS_DATA)
    runs = AnalysisRun.objects.select_related("created_by")
    mine = user_site_ids(user)
    if mine is None:
        return runs
    within = [
        pk
        for pk, site_ids in runs.filter(site_ids__isnull=False).values_list("pk", "site_ids")
        if set(site_ids or ()) <= mine
    ]
    return runs.filter(pk__in=within)


def analysis_run_get(*, user, run_id: int) -> AnalysisRun:
    """One run, or 404 when it does not exist or was run on another site's patients."""
    return get_object_or_404(analysis_run_list(user=user), pk=run_id)


def saved_cohort_list(*, user) -> QuerySet:
    """The user's own saved cohorts."""
    require_role(user, ANALYSIS_DATA)
    return SavedCohort.objects.filter(owner=user)


def saved_cohort_get(*, user, cohort_id: int) -> SavedCohort:
    return get_object_or_404(saved_cohort_list(user=user), pk=cohort_id)


# Live count -----------------------------------------------------------------------------------


def cohort_count(*, user, filters: list, horizon_days: int = follow_up.HORIZON_DAYS, count_pending: bool = True) -> dict:
    """Patients matching `filters` in the user's scope, and how many of them have an ICS.

    Baseline filters need one query; filters on follow-up or endpoint columns derive those too.
    SpecError for an unknown field, op or value.
    """
    require_role(user, ANALYSIS_DATA)
    analysis_spec_check({"cohort": {"filters": filters}})
    patients = datasets.analysis_patients(user=user)
    fields = {f.get("field") for f in filters}
    if fields & {*_FOLLOW_UP_COLUMNS} or any(str(f).endswith(("_days", "_status")) for f in fields):
        rows = datasets.analysis_dataframe(
            patients=datasets.cohort_patients(patients, filters), horizon_days=horizon_days, count_pending=count_pending
        )
    else:
        rows = datasets.baseline_dataframe(patients=patients, columns={*fields, "ics"})
    frame = cohort_data.apply_filters(cohort_data.analysis_frame(rows), filters) if len(rows) else rows
    return {"count": len(frame), "with_ics": int(frame["ics"].notna().sum()) if len(frame) else 0}


# The cohort builder's fields ------------------------------------------------------------------


def cohort_fields(*, user) -> list[dict]:
    """Every filterable field with its kind (number, yes_no, category, date) and levels."""
    levels = {
        "sex": Sex.values,
        "presentation": Presentation.values,
        "index_treatment": IndexTreatment.values,
        "study_vessel": Vessel.values,
        "site": _site_codes(user),
    }
    fields = []
    for name in _builder_fields():
        if name in cohort_data.BOOLEAN_COLUMNS or name in cohort_data.DERIVED:
            kind = "yes_no"
        elif name in cohort_data.DATE_COLUMNS:
            kind = "date"
        elif name in levels or name in cohort_data.CATEGORICAL_COLUMNS:
            kind = "category"
        else:
            kind = "number"
        fields.append({"name": name, "kind": kind, "levels": levels.get(name, [])})
    return fields


def _builder_fields() -> list[str]:
    """Baseline and follow-up columns (not the per-endpoint ones), then the derived indicators."""
    return [c for c in ANALYSIS_BASE_COLUMNS if c != "study_id"] + list(cohort_data.DERIVED)


def _site_codes(user) -> list[str]:
    return list(sites_for_user(user).values_list("code", flat=True))


# What changed ---------------------------------------------------------------------------------


def analysis_run_previous(*, run: AnalysisRun) -> AnalysisRun | None:
    """The latest successful run of the same spec on the same patients' scope before `run`."""
    candidates = (
        AnalysisRun.objects.filter(
            spec_hash=run.spec_hash, status=AnalysisRun.Status.SUCCEEDED, created_at__lte=run.created_at
        )
        .exclude(pk=run.pk)
        .filter(pk__lt=run.pk)
        .order_by("-created_at", "-pk")
    )
    # The same scope: the same set of sites (stored sorted), or all sites for both.
    candidates = candidates.filter(site_ids__isnull=run.site_ids is None)
    return next((c for c in candidates.iterator() if c.site_ids == run.site_ids), None)


def analysis_run_changes(*, run: AnalysisRun) -> dict | None:
    """Against the previous run of the same spec: whether the data changed, and every key number
    with its old and new value. None when there is no previous run or this one has no result."""
    previous = analysis_run_previous(run=run)
    if previous is None or previous.result is None or run.result is None:
        return None
    old, new = key_numbers(previous.result), key_numbers(run.result)
    numbers = [
        {
            "name": name,
            "previous": old.get(name),
            "current": new.get(name),
            "changed": not _same(old.get(name), new.get(name)),
        }
        for name in dict.fromkeys([*old, *new])
    ]
    return {
        "previous_id": previous.pk,
        "previous_created_at": previous.created_at,
        "data_changed": previous.data_hash != run.data_hash,
        "versions_changed": previous.versions != run.versions,
        "numbers": numbers,
        "n_changed": sum(n["changed"] for n in numbers),
    }


def key_numbers(result: dict) -> dict:
    """The headline numbers of a result, flat: patients, group sizes and events, log-rank p, HRs, p values."""
    out = {"patients": result["n"]}
    for g in result["groups"]:
        out[f"{g['label']}: patients"] = g["n"]
        out[f"{g['label']}: events"] = g["events"]
    out["log-rank p"] = result["logrank"]["p"]
    for row in result["cox"]["univariable"]:
        out[f"HR {row['term']} (univariable)"] = _hazard_ratio(row)
        out[f"p {row['term']} (univariable)"] = row["p"] if safeguards.estimable(row) else None
    for _model, rows in result["cox"]["multivariable"].items():
        for row in rows[:1]:
            out[f"HR {row['term']} (adjusted)"] = _hazard_ratio(row)
            out[f"p {row['term']} (adjusted)"] = row["p"] if safeguards.estimable(row) else None
    out["PH test global p"] = result["ph_test"]["global_p"]
    out["C-index"] = result["c_index"]
    if "competing_risks" in result:
        out["Gray's test p"] = result["competing_risks"]["gray"]["p"]
    return out


def _hazard_ratio(row: dict) -> float | str:
    """The HR, or "not estimable (...)" where it cannot be estimated (never 3.7e8)."""
    return row["hr"] if safeguards.estimable(row) else safeguards.not_estimable_text(row)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b
