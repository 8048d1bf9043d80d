"""`run_analysis(df, spec) -> dict`: the whole study analysis for one cohort, as the result JSON
of issue 5 ("Spec and result format"). Pure pandas/numpy; the Django API and the
`run_analysis` command are thin layers over this function.
"""

import csv
import functools
import hashlib
import importlib.metadata
import io
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics import cohort_data, dictionary, rmst, spline, subgroups, survival, tables
from analytics import warnings as safeguards
from analytics.cohort_data import SpecError, finite_number, shown
from analytics.fine_gray import fine_gray
from analytics.variables import DEFAULT_COVARIATES as DEFAULT_COVARIATES
from analytics.variables import DEFAULT_HORIZON_DAYS as DEFAULT_HORIZON_DAYS
from registry.follow_up import MAX_HORIZON_DAYS

SPEC_FIELDS = {"cohort", "grouping", "endpoint", "horizon_days", "covariates", "competing_event", "count_pending"}
OPTIONAL_ANALYSES = ("spline", "rmst", "subgroup_forest")  # spec keys of issue 13, in the result under the same keys
SPEC_FIELDS |= set(OPTIONAL_ANALYSES)
logger = logging.getLogger(__name__)


def validate_spec(spec: object, df: pd.DataFrame) -> dict[str, Any]:
    """The spec with defaults filled in; SpecError (a ValueError) with a clear message otherwise.

    Every value is checked for its type, numbers also for being finite and in range, so that a
    hostile spec (a 400-digit horizon, an object where a name belongs) is refused here with the
    field and the problem, never fails later in pandas or the database."""
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    unknown = set(spec) - SPEC_FIELDS
    if unknown:
        raise SpecError(f"unknown spec field(s): {', '.join(sorted(map(str, unknown)))}")
    filters = _valid_filters(spec.get("cohort"))
    variable, cutoff = _valid_grouping(spec.get("grouping"))
    endpoint = spec.get("endpoint", "poce")
    if endpoint not in cohort_data.ENDPOINTS:
        raise SpecError(f"unknown endpoint {shown(endpoint)}; one of {', '.join(cohort_data.ENDPOINTS)}")
    covariates = _valid_covariates(spec.get("covariates", DEFAULT_COVARIATES))
    horizon = _valid_horizon(spec.get("horizon_days", DEFAULT_HORIZON_DAYS))
    competing = spec.get("competing_event", "death")
    if competing != "death":
        raise SpecError("competing_event: only 'death' is supported")
    # Whether pending (unverified) events counted: the rows were derived with it; the result says which.
    count_pending = spec.get("count_pending", True)
    if not isinstance(count_pending, bool):
        raise SpecError(f"count_pending must be true or false, got {shown(count_pending)}")
    checked = {
        "cohort": {"filters": list(filters)},
        "grouping": {"variable": variable, "cutoff": cutoff},
        "endpoint": endpoint,
        "horizon_days": horizon,
        "covariates": covariates,
        "competing_event": competing,
        "count_pending": count_pending,
    }
    # Only when asked, so that the specs (and their hashes) of runs without them stay as they were.
    if "spline" in spec:
        checked["spline"] = spline.check_spec(spec["spline"], df["ics"] if "ics" in df else pd.Series(dtype=float))
    if "rmst" in spec:
        checked["rmst"] = rmst.check_spec(spec["rmst"], horizon)
    if "subgroup_forest" in spec:
        checked["subgroup_forest"] = subgroups.check_spec(spec["subgroup_forest"])
    return checked


def _valid_filters(cohort: object) -> list[Any]:
    cohort = {} if cohort is None else cohort
    if not isinstance(cohort, dict) or set(cohort) - {"filters"}:
        raise SpecError("cohort must be an object with 'filters'")
    filters = cohort.get("filters", [])
    if not isinstance(filters, list):
        raise SpecError(f"cohort.filters must be a list of {{field, op, value}} objects, got {shown(filters)}")
    return filters


def _valid_grouping(grouping: object) -> tuple[str, object]:
    """(variable, cutoff) of the grouping, ICS at the median by default."""
    grouping = {"variable": "ics", "cutoff": "median"} if grouping is None else grouping
    if not isinstance(grouping, dict) or set(grouping) - {"variable", "cutoff"}:
        raise SpecError("grouping must be an object with 'variable' and optionally 'cutoff'")
    variable = grouping.get("variable", "ics")
    if variable != "ics" and variable not in tables.CATEGORICAL:
        raise SpecError(f"cannot group by {shown(variable)}; 'ics' or one of {', '.join(tables.CATEGORICAL)}")
    cohort_data.check_cutoff(grouping.get("cutoff"))
    return variable, grouping.get("cutoff", "median")


def _valid_horizon(horizon: object) -> float:
    """The horizon as given (an int stays an int: the spec is stored and hashed as sent)."""
    number = finite_number(horizon)
    # (A finite number is an int or a float; the isinstance check only tells the type checker.)
    if number is None or not isinstance(horizon, int | float) or not 1 <= number <= MAX_HORIZON_DAYS:
        raise SpecError(f"horizon_days must be a number of days from 1 to {MAX_HORIZON_DAYS}, got {shown(horizon)}")
    return horizon


def _valid_covariates(covariates: object) -> list[str]:
    if not isinstance(covariates, list) or not all(isinstance(c, str) for c in covariates):
        raise SpecError(f"covariates must be a list of field names, got {shown(covariates)}")
    allowed = set(tables.CATEGORICAL) | set(tables.CONTINUOUS) | set(tables.TABLE2_VARIABLES)
    bad = [c for c in covariates if c not in allowed or c in ("index_treatment", "study_vessel")]
    if bad:
        raise SpecError(f"unknown or non-numeric covariate(s): {', '.join(bad)}")
    return covariates


def run_analysis(df: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the study's analyses on the cohort that `spec` selects from the analysis rows `df`.

    Parameters
    ----------
    df : analysis rows (columns of registry.selectors.analysis_columns()), one per patient
    spec : {"cohort": {"filters": [...]}, "grouping": {"variable": "ics", "cutoff": "median"|number|
        "tertiles"|"quartiles"}, "endpoint": "poce", "horizon_days": 2191, "covariates": [...],
        "competing_event": "death"}

    Returns
    -------
    dict in the result format of issue 5; floats at full precision, NaN/inf as None.
    """
    frame = cohort_data.analysis_frame(df)
    spec = validate_spec(spec, frame)
    frame = cohort_data.apply_filters(frame, spec["cohort"]["filters"])
    frame = cohort_data.censor_at_horizon(frame, spec["horizon_days"])
    grouping = spec["grouping"]
    if grouping["variable"] == "ics":
        labels, keys, cuts = cohort_data.ics_groups(frame["ics"], grouping["cutoff"])
    else:
        col = frame[grouping["variable"]]
        labels = col.where(col.notna() & (col != ""))
        keys = sorted(labels.dropna().unique().tolist(), key=str)
        labels, keys, cuts = labels.map(lambda v: None if pd.isna(v) else str(_level(v))), [str(_level(k)) for k in keys], []
    frame = frame.assign(group=labels)
    excluded = int(frame["group"].isna().sum())
    frame = frame[frame["group"].notna()]
    if len(keys) < 2 or frame["group"].nunique() < 2:
        raise SpecError("the cohort has fewer than two non-empty groups")
    result: dict[str, Any] = {"spec": spec, "n": len(frame), "excluded_without_group": excluded, "cutoffs": cuts}
    result["cutoffs_display"] = cutoffs_display(cuts, frame["ics"]) if cuts else []
    result.update(_survival_results(frame, spec, keys, result["cutoffs_display"] or cuts))
    result["baseline_table"] = tables.baseline_table(frame, group_col="group", keys=keys)
    result["sqrt_ics_regression"] = tables.sqrt_ics_regression(frame)
    result["data_hash"] = data_hash(frame)
    result["versions"] = versions()
    if "spline" in spec:
        result["spline"] = _optional(result, "spline", lambda: spline.spline_result(frame, spec))
    if "rmst" in spec:
        result["rmst"] = _optional(result, "rmst", lambda: rmst.rmst_result(frame, spec, result["groups"]))
    if "subgroup_forest" in spec:
        result["subgroup_forest"] = _optional(result, "subgroup_forest", lambda: subgroups.forest_result(frame, spec, keys))
    cleaned: dict[str, Any] = _clean(result)
    return cleaned


def _optional(result: dict[str, Any], name: str, analysis: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """An optional analysis's result, its warnings moved to result["warnings"]; None and a warning
    when it fails, so that it never takes the rest of the result with it."""
    found = result.setdefault("warnings", [])
    try:
        out = analysis()
    except Exception as exc:  # any failure of an optional analysis is reported, not raised
        logger.warning("optional analysis %s failed", name, exc_info=True)
        found.append(spline.warning("analysis_failed", f"The {name.replace('_', ' ')} could not be computed: {exc}", name))
        return None
    found.extend(out.pop("warnings", []))
    return out


def cutoffs_display(cuts: list[float], ics: pd.Series) -> list[str]:
    """The ICS cut-offs as the page shows them: at the data's precision (at most 3 decimals), rounded
    up, so that "ICS >= shown value" picks the same patients as the cut-off itself (a median of
    whole numbers, 59.5, or a quantile computed as 59.99999999999999, both show as 60)."""
    values = ics.dropna().to_numpy(float)
    decimals = next((d for d in range(3) if np.allclose(values, np.round(values, d), rtol=0, atol=1e-9)), 3)
    step = 10.0**-decimals
    # Rounding noise (1e-9 of a step) is not a value of its own: 59.99999999999999 is 60.
    return [f"{math.ceil(round(c / step, 6)) * step:.{decimals}f}" for c in cuts]


def _level(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return bool(value) if value in (0.0, 1.0) else int(value)
    return value


def _group_terms(keys: list[str]) -> list[str]:
    return ["ics_high"] if keys == ["low", "high"] else [f"group_{k}" for k in keys[1:]]


def _survival_results(
    frame: pd.DataFrame, spec: dict[str, Any], keys: list[str], cuts: list[float] | list[str]
) -> dict[str, Any]:
    endpoint = spec["endpoint"]
    time = frame[f"{endpoint}_days"].to_numpy(float)
    status = frame[f"{endpoint}_status"].to_numpy(int)
    event = status == 1
    group = frame["group"].to_numpy(object)
    labels = {k: _label(k, spec) for k in keys}
    out: dict[str, Any] = {
        "groups": [
            {"key": k, "label": labels[k], "n": int((group == k).sum()), "events": int(event[group == k].sum())}
            for k in keys
        ]
    }
    # Warnings name the groups as the page does, with the cut-offs as shown ("ICS tertile 1 (< 61)").
    names = {k: dictionary.group_label(k, variable=spec["grouping"]["variable"], cutoffs=cuts) for k in keys}
    fits = _Fits(keys, names, _group_terms(keys))
    fits.warnings += [
        safeguards.warning("no_events_in_group", f"no events in {names[g['key']]}") for g in out["groups"] if not g["events"]
    ]
    out["km"] = {k: _km_json(survival.kaplan_meier(time[group == k], event[group == k])) for k in keys}
    lr = survival.logrank_test(time, event, group)
    out["logrank"] = {"statistic": lr["statistic"], "df": lr["df"], "p": lr["p"]}
    group_x = np.column_stack([(group == k).astype(float) for k in keys[1:]])
    terms = fits.group_terms
    ics_100 = frame["ics"].to_numpy(float) / 100
    univariable, _ = fits.cox("cox_univariable_group", time, event, group_x, terms)
    if frame["ics"].notna().all():
        univariable += fits.cox("cox_univariable_continuous", time, event, ics_100[:, None], ["ics_per_100"])[0]
    covs = spec["covariates"]
    cov_x = frame[covs].astype(float).to_numpy() if covs else np.empty((len(frame), 0))
    complete = ~np.isnan(cov_x).any(axis=1) & ~np.isnan(ics_100)
    t, e = time[complete], event[complete]
    multi_group, _ = fits.cox("cox_multivariable_group", t, e, np.column_stack([group_x, cov_x])[complete], [*terms, *covs])
    x_cont = np.column_stack([ics_100, cov_x])[complete]
    multi_cont, fit = fits.cox("cox_multivariable_continuous", t, e, x_cont, ["ics_per_100", *covs])
    out["cox"] = {
        "univariable": univariable,
        "multivariable": {"group": multi_group, "continuous": multi_cont},
        "n_complete_cases": int(complete.sum()),
    }
    out["ph_test"] = fits.ph_test(fit)
    out["c_index"] = survival.concordance_index(t, e, fit.linear_predictor)["c_index"] if fit else None
    if endpoint not in cohort_data.FATAL_ENDPOINTS:
        out["competing_risks"] = _competing(fits, time, status, group, group_x, ics_100)
    out["warnings"] = fits.warnings
    return out


def _competing(
    fits: "_Fits", time: np.ndarray, status: np.ndarray, group: np.ndarray, group_x: np.ndarray, ics_100: np.ndarray
) -> dict[str, Any]:
    cif: dict[str, dict[str, np.ndarray]] = {}
    for k in fits.keys:
        est = survival.cumulative_incidence(time[group == k], status[group == k])
        cif[k] = {"time": est.time, "cif": est.cif, "at_risk": est.n_risk}
    gray = survival.gray_test(time, status, group)
    event = status == 1  # cause-specific: a competing death censors
    terms = fits.group_terms
    rows, _ = fits.cox("cause_specific_group", time, event, group_x, terms)
    subdistribution = fits.fine_gray("fine_gray_group", time, status, group_x, terms)
    if not np.isnan(ics_100).any():
        rows += fits.cox("cause_specific_continuous", time, event, ics_100[:, None], ["ics_per_100"])[0]
        subdistribution += fits.fine_gray("fine_gray_continuous", time, status, ics_100[:, None], ["ics_per_100"])
    return {
        "competing_event": "death",
        "cif": cif,
        "gray": {"statistic": gray["statistic"], "df": gray["df"], "p": gray["p"]},
        "cause_specific": rows,
        "fine_gray": subdistribution,
    }


@dataclass
class _Fits:
    """Fits the models of one result and collects their warnings (analytics.warnings): a model that
    cannot be fitted gives rows without numbers and a warning, never an exception."""

    keys: list[str]  # group keys, the reference group first
    labels: dict[str, str]
    group_terms: list[str]  # the terms of keys[1:]
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def cox(
        self, model: str, time: np.ndarray, event: np.ndarray, X: np.ndarray, terms: list[str]
    ) -> tuple[list[dict[str, Any]], survival.CoxFit | None]:
        """The rows of one Cox model (Efron, as coxph) and the fit (None when it cannot be fitted)."""
        found = self._empty_groups(model, event, X, terms)
        fit = None
        if not event.any():
            found.append(safeguards.model_failed(model, terms=terms, reason="no events in these patients"))
        else:
            try:
                fit = survival.cox_ph(time, event, X, terms=terms)
            except np.linalg.LinAlgError as exc:
                found.append(safeguards.model_failed(model, terms=terms, reason=str(exc)))
        if fit is not None:
            found += safeguards.fit_warnings(
                model,
                terms=terms,
                converged=fit.converged,
                iterations=fit.iterations,
                possibly_infinite=fit.possibly_infinite,
                infinite_unnamed=fit.infinite_unnamed,
                collinear=fit.singular,
            )
        found += safeguards.events_per_variable_warning(model, events=int(event.sum()), parameters=len(terms))
        extra = {"converged": fit.converged if fit else None}
        rows = [
            {**row, "possibly_infinite": row["term"] in (fit.possibly_infinite if fit else ()), **extra}
            for row in (fit.table() if fit else _no_numbers(terms))
        ]
        return self._finish(model, rows, found), fit

    def fine_gray(
        self, model: str, time: np.ndarray, status: np.ndarray, X: np.ndarray, terms: list[str]
    ) -> list[dict[str, Any]]:
        """The rows of one Fine-Gray model (as cmprsk::crr); crr warns of nothing, but says whether it converged."""
        event = status == 1
        found = self._empty_groups(model, event, X, terms)
        fit = None
        if not event.any():
            found.append(safeguards.model_failed(model, terms=terms, reason="no events in these patients"))
        else:
            try:
                fit = fine_gray(time, status, X, terms=terms)
            except np.linalg.LinAlgError as exc:
                found.append(safeguards.model_failed(model, terms=terms, reason=str(exc)))
        if fit is not None and not fit.converged:
            message = f"did not converge in {fit.iterations} iterations (crr's maxiter)"
            found.append(safeguards.warning("not_converged", message, model=model))
        found += safeguards.events_per_variable_warning(model, events=int(event.sum()), parameters=len(terms))
        extra = {"converged": fit.converged if fit else None}
        rows = [{**row, **extra} for row in (fit.table() if fit else _no_numbers(terms))]
        return self._finish(model, rows, found)

    def ph_test(self, fit: survival.CoxFit | None) -> dict[str, Any]:
        """cox.zph of the adjusted model with ICS per 100; None values and a warning when it cannot be computed."""
        out: dict[str, Any] = {"model": "continuous", "terms": [], "global_statistic": None, "global_p": None}
        if fit is None or np.isnan(fit.coef).all():
            self.warnings.append(
                safeguards.model_failed("ph_test", terms=fit.terms if fit else [], reason="no fitted model")
            )
            return out
        try:
            zph = survival.cox_zph(fit)
        except np.linalg.LinAlgError as exc:
            self.warnings.append(safeguards.model_failed("ph_test", terms=fit.terms, reason=str(exc)))
            return out
        out["terms"] = [{"term": r["term"], "statistic": r["statistic"], "p": r["p"]} for r in zph["terms"]]
        out["global_statistic"], out["global_p"] = zph["global"]["statistic"], zph["global"]["p"]
        return out

    def _empty_groups(self, model: str, event: np.ndarray, X: np.ndarray, terms: list[str]) -> list[dict[str, Any]]:
        """no_events_in_group for a model whose first columns are the group indicators."""
        k = len(self.group_terms)
        if list(terms[:k]) != self.group_terms:
            return []
        member = X[:, :k] == 1
        events = {self.keys[0]: int(event[~member.any(axis=1)].sum())}
        events |= {key: int(event[member[:, j]].sum()) for j, key in enumerate(self.keys[1:])}
        group_terms = dict(zip(self.keys[1:], self.group_terms, strict=True))
        return safeguards.no_events_warnings(model, events=events, labels=self.labels, group_terms=group_terms)

    def _finish(self, model: str, rows: list[dict[str, Any]], found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with their model, their warnings and whether each can be shown as a number; the
        model's warnings added to the result's."""
        self.warnings += found
        out = []
        for row in rows:
            row = {**row, "model": model}
            row["warnings"] = safeguards.for_row(row, found)
            blocked = any(safeguards.blocks_estimate(w) for w in row["warnings"])
            row["estimable"] = not blocked and all(_positive(row[k]) for k in ("hr", "ci_lower", "ci_upper"))
            out.append(row)
        return out


def _no_numbers(terms: list[str]) -> list[dict[str, Any]]:
    return [dict.fromkeys(("coef", "se", "hr", "ci_lower", "ci_upper", "p"), None) | {"term": t} for t in terms]


def _positive(value: object) -> bool:
    """A finite number > 0 (a ratio that can be drawn on a log axis)."""
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _label(key: str, spec: dict[str, Any]) -> str:
    if spec["grouping"]["variable"] != "ics":
        return f"{spec['grouping']['variable']} = {key}"
    return {"low": "ICS < cut-off", "high": "ICS >= cut-off"}.get(key, f"ICS {key}")


def _km_json(km: survival.KaplanMeier) -> dict[str, np.ndarray]:
    return {
        "time": km.time,
        "survival": km.survival,
        "ci_lower": km.ci_lower,
        "ci_upper": km.ci_upper,
        "at_risk": km.n_risk,
        "events": km.n_event,
    }


def data_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the analysed rows (sorted columns, CSV), to tell whether the data changed.

    The text hashed is exactly `frame.drop(columns=["group"]).sort_index(axis=1).to_csv(index=False)`
    (stored runs compare this hash); _csv_text writes the same text faster, or says it cannot and
    pandas writes it."""
    names = [c for c in frame.columns if c != "group"]
    text = None
    if frame.columns.is_unique and all(isinstance(c, str) for c in names):
        text = _csv_text(frame, sorted(names))  # sort_index's order of distinct text labels
    if text is None:
        text = frame.drop(columns=["group"], errors="ignore").sort_index(axis=1).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _csv_text(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """`frame[columns].to_csv(index=False)`, built column by column; None where that is not sure
    to be the same text (then the caller uses to_csv).

    pandas' to_csv turns each column into the cells it hands to the standard csv writer (float64:
    numpy's astype(str), "" for NaN; integers and booleans: Python int/bool; objects: "" where NA,
    else the object) and writes the rows with QUOTE_MINIMAL and os.linesep. Here the same cells are
    made once per distinct value (of all float64 columns together, of each other column), rendered
    by the same csv writer, and laid out. None when a field needed quoting, for other dtypes, for
    one column or no rows.
    """
    n_rows, n_cols = len(frame), len(columns)
    if n_rows == 0 or n_cols < 2:
        return None
    terminator = os.linesep
    header = _csv_fields(np.array(columns, dtype=object), terminator)
    if header is None:
        return None
    series = [frame[c] for c in columns]
    floats = [j for j, s in enumerate(series) if s.dtype == np.float64]
    parts: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}  # column -> (distinct cells, codes or None)
    if floats:
        values = np.column_stack([series[j].to_numpy() for j in floats])
        codes, bits = pd.factorize(values.view(np.int64).ravel())  # distinct bits: -0.0 is not 0.0
        distinct = bits.view(np.float64)
        cells = distinct.astype(str).astype(object)
        cells[np.isnan(distinct)] = ""
        codes = codes.reshape(values.shape)
        parts.update({j: (cells, codes[:, i]) for i, j in enumerate(floats)})
    for j, s in enumerate(series):
        if j not in parts:
            parts[j] = _csv_cells(s, s.dtype)
    table = np.empty((n_rows, n_cols), dtype=object)
    rendered: dict[int, np.ndarray | None] = {}  # id(cells) -> fields, for the shared float cells
    for j in range(n_cols):
        cells, codes = parts[j]
        if cells is None:
            return None
        if id(cells) not in rendered:
            rendered[id(cells)] = _csv_fields(cells, terminator)
        fields = rendered[id(cells)]
        if fields is None:
            return None
        fields = fields + ("," if j < n_cols - 1 else terminator)
        table[:, j] = fields if codes is None else fields[codes]
    return ",".join(header.tolist()) + terminator + "".join(table.ravel().tolist())


def _csv_cells(column: pd.Series, dtype: object) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(cells, codes) for a column not float64: the objects pandas hands the csv writer, as
    distinct cells and each row's index into them (codes None: one cell per row); (None, None) for
    dtypes not handled here."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iubO":
        return None, None
    values = column.to_numpy()
    if dtype.kind in "iub":
        codes, distinct = pd.factorize(values)
        return np.array(distinct, dtype=object), codes  # Python int / bool, as pandas hands them over
    cells = np.array(values, dtype=object)
    kind = pd.api.types.infer_dtype(cells, skipna=False)
    if kind != "string":  # "string": every cell a str, none missing
        cells[pd.isna(cells)] = ""
        kind = pd.api.types.infer_dtype(values, skipna=True)
    # Distinct values only where equal means written the same (not 1 == 1.0 == True, say).
    if kind in ("string", "date", "empty"):
        codes, cells = pd.factorize(cells)
        return np.asarray(cells, dtype=object), codes
    return cells, None


def _csv_fields(cells: np.ndarray, terminator: str) -> np.ndarray | None:
    """The text the csv writer writes for each cell (in a row of more than one field); None when
    any of them needed quoting."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerow([*cells, ""])
    text = buffer.getvalue()
    if '"' in text:  # quoted: a field held a comma, quote or line break
        return None
    fields = text[: len(text) - len(terminator)].split(",")
    return np.array(fields[:-1], dtype=object) if len(fields) == len(cells) + 1 else None


def versions() -> dict[str, str]:
    """The installed numpy, scipy and pandas versions (a new dict each call)."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    # Looked up once per process: importlib.metadata scans site-packages (~15 ms), and the modules
    # this process runs do not change when a package is upgraded under it.
    return tuple((name, importlib.metadata.version(name)) for name in ("numpy", "scipy", "pandas"))


def _clean(value: object) -> Any:
    """JSON-ready: numpy -> Python, NaN/inf -> None, full float precision kept."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        items = value.tolist()
        if value.ndim == 1 and value.dtype.kind in "iub":
            return items  # Python ints and bools: nothing to clean
        if value.ndim == 1 and value.dtype.kind == "f":
            return items if np.isfinite(value).all() else [v if math.isfinite(v) else None for v in items]
        return [_clean(v) for v in items]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
