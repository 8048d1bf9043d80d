"""Analysis runs and saved cohorts: writes.

`analysis_run_start` checks the spec, then runs small cohorts at once (in the request) and large
ones in a Celery worker with a progress bar (`ANALYSIS_SYNC_MAX_PATIENTS`). Both paths end in
`analysis_run_execute`: registry rows -> DataFrame (analytics.datasets) -> `analysis_compute`
(analytics.analysis.run_analysis, plus one run per subgroup) -> stored on the AnalysisRun.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from django.conf import settings

from analytics import cohort_data, datasets, dictionary
from analytics import warnings as safeguards
from analytics.analysis import run_analysis, validate_spec, versions
from analytics.cohort_data import SpecError
from analytics.models import AnalysisRun, SavedCohort
from analytics.variables import SUBGROUP_VARIABLES
from core import jobs
from core.roles import ANALYSIS_DATA, require_role
from registry.access import patients_of_sites, user_site_ids
from registry.selectors import analysis_columns

logger = logging.getLogger(__name__)

# Spec keys handled here rather than by run_analysis.
SUBGROUP_KEY = "subgroup"
DEFAULT_SYNC_MAX_PATIENTS = 2000


# Spec ----------------------------------------------------------------------------------------


def analysis_spec_check(spec) -> dict:
    """The spec with defaults filled in, or SpecError with a clear message: unknown field, filter
    op or value, endpoint, covariate, cut-off or subgroup variable. Needs no data."""
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    spec = dict(spec)
    subgroup = spec.pop(SUBGROUP_KEY, None)
    probe = _probe_frame()
    checked = validate_spec(spec, probe)
    try:
        cohort_data.apply_filters(probe, checked["cohort"]["filters"])
    except SpecError:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # e.g. an unparsable date
        raise SpecError(f"bad filter value: {exc}") from None
    if checked["grouping"]["variable"] == "ics":
        cohort_data.ics_groups(pd.Series([1.0, 2.0]), checked["grouping"]["cutoff"])
    if subgroup is not None:
        if subgroup not in SUBGROUP_VARIABLES:
            raise SpecError(f"cannot split into subgroups by {subgroup!r}; one of {', '.join(SUBGROUP_VARIABLES)}")
        checked[SUBGROUP_KEY] = subgroup
    return checked


def _probe_frame() -> pd.DataFrame:
    """A one-row analysis frame with every column typed as in real data, to check filters on."""
    row = dict.fromkeys(analysis_columns())
    row |= {c: 0 for c in analysis_columns() if c.endswith(("_days", "_status"))}
    return cohort_data.analysis_frame(pd.DataFrame([row]))


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# Computation (pure: a DataFrame and a checked spec in, the result out) -----------------------


def analysis_compute(df: pd.DataFrame, spec: dict, *, progress: Callable[[int], None] | None = None) -> dict:
    """run_analysis on the cohort, and once more per level of `spec["subgroup"]` (Fig. 3 b/c).

    Subgroups of an ICS median split keep the whole cohort's cut-off, so "high" means the same
    patients' ICS range in every panel; tertiles/quartiles are recomputed within each subgroup.
    """
    report = progress or (lambda percent: None)
    spec = dict(spec)
    subgroup = spec.pop(SUBGROUP_KEY, None)
    result = run_analysis(df, spec)
    report(50)
    if subgroup is None:
        return result
    sub_spec = dict(result["spec"])
    if sub_spec["grouping"]["variable"] == "ics" and len(result["cutoffs"]) == 1:
        sub_spec["grouping"] = {"variable": "ics", "cutoff": result["cutoffs"][0]}
    # The subgroup's own variable is constant within each subgroup: left out of its covariates
    # (kept, R and cox_ph would give it NA), and each panel says so.
    dropped = subgroup in sub_spec["covariates"]
    sub_spec["covariates"] = [c for c in sub_spec["covariates"] if c != subgroup]
    levels = _levels(df, result["spec"]["cohort"]["filters"], subgroup)
    panels = []
    for i, (value, label) in enumerate(levels):
        filters = [*sub_spec["cohort"]["filters"], {"field": subgroup, "op": "eq", "value": value}]
        panel = {"variable": subgroup, "value": value, "label": label}
        try:
            panel["result"] = run_analysis(df, {**sub_spec, "cohort": {"filters": filters}})
        except (SpecError, np.linalg.LinAlgError) as exc:
            panel["error"] = _cannot_fit(exc)
        if dropped and "result" in panel:
            name = dictionary.variable_label(subgroup)
            words = f"{name}: {dictionary.level_label(subgroup, value)}"
            panel["result"]["warnings"].insert(0, safeguards.covariate_dropped(subgroup, label=name, subgroup=words))
        panels.append(panel)
        report(50 + 50 * (i + 1) // len(levels))
    result["subgroups"] = panels
    result["spec"] = {**result["spec"], SUBGROUP_KEY: subgroup}
    return result


def _levels(df: pd.DataFrame, filters: list, variable: str) -> list[tuple]:
    """(filter value, label) per non-missing level of `variable` in the cohort, yes before no."""
    column = cohort_data.apply_filters(cohort_data.analysis_frame(df), filters)[variable]
    present = column[column.notna() & (column != "")].unique().tolist()
    if variable in cohort_data.BOOLEAN_COLUMNS or variable in cohort_data.DERIVED:
        return [(v, f"{variable} = {'yes' if v else 'no'}") for v in (True, False) if float(v) in present]
    return [(v, f"{variable} = {v}") for v in sorted(present)]


# Runs ----------------------------------------------------------------------------------------


def analysis_run_start(*, spec, user) -> AnalysisRun:
    """Check `spec` and run it: at once when the patients in the user's scope are at most
    ANALYSIS_SYNC_MAX_PATIENTS, else in the background (the run shows progress). SpecError if bad."""
    if user is not None:
        require_role(user, ANALYSIS_DATA)
    checked = analysis_spec_check(spec)
    run = AnalysisRun.objects.create(
        spec=checked, spec_hash=spec_hash(checked), site_ids=run_site_ids(user), created_by=user
    )
    limit = getattr(settings, "ANALYSIS_SYNC_MAX_PATIENTS", DEFAULT_SYNC_MAX_PATIENTS)
    if _scope(run).count() <= limit:
        analysis_run_execute(run_id=run.pk)
        run.refresh_from_db()
    else:
        jobs.enqueue(run, "analytics.tasks.analysis_run_execute_task")
    return run


def analysis_run(*, spec, user) -> AnalysisRun:
    """Check and run `spec` now, whatever the cohort size (the command line, small API calls)."""
    if user is not None:
        require_role(user, ANALYSIS_DATA)
    checked = analysis_spec_check(spec)
    run = AnalysisRun.objects.create(
        spec=checked, spec_hash=spec_hash(checked), site_ids=run_site_ids(user), created_by=user
    )
    analysis_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def analysis_run_rerun(*, run: AnalysisRun, user) -> AnalysisRun:
    """The same spec on today's data (in the re-running user's scope)."""
    return analysis_run_start(spec=run.spec, user=user)


def analysis_run_execute(*, run_id: int) -> None:
    """Load the data, compute, store the result (a core.jobs job). A bad spec or a cohort that
    cannot be analysed (e.g. one group empty) -> failed with that message; an unexpected error ->
    failed, re-raised."""

    def body(job: jobs.JobRun[AnalysisRun]) -> dict:
        run, started = job.job, time.monotonic()
        try:
            df = datasets.analysis_dataframe(
                patients=datasets.cohort_patients(_scope(run), run.spec["cohort"]["filters"]),
                horizon_days=run.spec["horizon_days"],
                count_pending=run.spec["count_pending"],
                progress=lambda p: job.progress(1 + 39 * p // 100),
            )
            job.progress(40)
            result = analysis_compute(df, run.spec, progress=lambda p: job.progress(40 + 59 * p // 100))
        except (SpecError, np.linalg.LinAlgError) as exc:
            raise jobs.JobFailed(_cannot_fit(exc), versions=versions()) from exc
        logger.info("analysis run %s: computed in %.1f s", run_id, time.monotonic() - started)
        return {
            "result": result,
            "data_hash": result["data_hash"],
            "versions": result["versions"],
            "n_patients": result["n"],
        }

    jobs.run_job(
        AnalysisRun,
        run_id,
        body,
        unexpected=lambda exc: f"The analysis stopped because of an unexpected error ({type(exc).__name__}).",
    )


def _cannot_fit(exc: Exception) -> str:
    if isinstance(exc, np.linalg.LinAlgError):
        return (
            "A Cox model could not be fitted on this cohort (singular matrix): a covariate may be constant or "
            "the cohort too small; choose other covariates or a larger cohort."
        )
    return str(exc)


def run_site_ids(user) -> list[int] | None:
    """A new run's scope: the ids of its creator's sites now, sorted (None: all sites; the system, no user)."""
    site_ids = None if user is None else user_site_ids(user)
    return None if site_ids is None else sorted(site_ids)


def _scope(run: AnalysisRun):
    """The run's patients: those of the sites stored on the run (the same door as the user's scope)."""
    return patients_of_sites(run.site_ids)


# Saved cohorts -------------------------------------------------------------------------------


def saved_cohort_create(*, user, name: str, filters: list) -> SavedCohort:
    require_role(user, ANALYSIS_DATA)
    _check_filters(filters)
    return SavedCohort.objects.create(owner=user, name=name.strip(), filters=filters)


def saved_cohort_update(*, cohort: SavedCohort, name: str | None = None, filters: list | None = None) -> SavedCohort:
    fields = []
    if name is not None:
        cohort.name = name.strip()
        fields.append("name")
    if filters is not None:
        _check_filters(filters)
        cohort.filters = filters
        fields.append("filters")
    cohort.save(update_fields=[*fields, "updated_at"])
    return cohort


def saved_cohort_delete(*, cohort: SavedCohort) -> None:
    cohort.delete()


def _check_filters(filters) -> None:
    if not isinstance(filters, list):
        raise SpecError("filters must be a list of {field, op, value} objects")
    analysis_spec_check({"cohort": {"filters": filters}})
