"""The ICS hazard ratio within subgroups and the interaction test, as the study's Fig. 3b/c (issue 13).

Pure pandas/numpy, no Django. Fig. 3b/c compares ICS >= 85 with ICS < 85 within the patients
whose study vessel was, or was not, revascularized at index; this module gives that comparison as
a Cox hazard ratio per level of any yes/no or categorical variable, with the likelihood-ratio test
of ICS x subgroup.
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analytics import cohort_data, survival
from analytics.cohort_data import SpecError, shown
from analytics.spline import fit_warnings, warning

MODEL = "subgroup_forest"  # the `model` of this analysis's warnings
DEFAULT_VARIABLES = ("vessel_revascularized",)  # the study's subgroups (Fig. 3b/c)
VARIABLES = (*cohort_data.BOOLEAN_COLUMNS, *cohort_data.CATEGORICAL_COLUMNS, *cohort_data.DERIVED)
YES_NO = (*cohort_data.BOOLEAN_COLUMNS, *cohort_data.DERIVED)
_NO_HR = dict.fromkeys(("coef", "se", "hr", "ci_lower", "ci_upper", "p"))


def check_spec(value: object) -> list[str]:
    """The spec's `"subgroup_forest"`: true (the study's subgroups) or a list of yes/no or
    categorical variables."""
    if value is True:
        return list(DEFAULT_VARIABLES)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError(f"subgroup_forest must be true or a list of variable names, got {shown(value)}")
    bad = [v for v in value if v not in VARIABLES]
    if bad or len(set(value)) != len(value):
        raise SpecError(
            f"subgroup_forest: unknown or repeated variable(s) {', '.join(map(shown, bad or value))}; from {', '.join(VARIABLES)}"
        )
    return list(value)


def forest_result(frame: pd.DataFrame, spec: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """`subgroup_forest` for run_analysis's frame and checked spec: the exposure is the analysis's
    ICS split, high against low, when it has two groups (Fig. 3b/c: ICS >= 85 against < 85, the
    whole cohort's cut-off in every subgroup), else the ICS per 100 units."""
    if spec["grouping"]["variable"] == "ics" and keys == ["low", "high"]:
        exposure, term = (frame["group"] == "high").astype(float), "ics_high"
    else:
        exposure, term = frame["ics"].astype(float) / 100, "ics_per_100"
    return subgroup_forest(
        frame, endpoint=spec["endpoint"], variables=spec["subgroup_forest"], exposure=exposure, exposure_term=term
    )


def subgroup_forest(
    frame: pd.DataFrame, *, endpoint: str, variables: list[str], exposure: pd.Series, exposure_term: str
) -> dict[str, Any]:
    """The exposure's Cox HR (Efron, unadjusted as Fig. 3) in each level of each subgroup variable,
    and per variable the likelihood-ratio test of the interaction.

    Parameters
    ----------
    frame : one row per patient with `<endpoint>_days`, `<endpoint>_status` and the variables
    exposure : per patient, the ICS group indicator (1 = high) or the ICS per 100 units; NaN = missing
    exposure_term : "ics_high" or "ics_per_100", the exposure's name

    Returns
    -------
    dict: exposure, variables [{variable, n, levels [{level, n, events, coef, se, hr, ci_lower,
    ci_upper, p, estimable, note}], chisq_interaction, df_interaction, p_interaction}], warnings.

    Notes
    -----
    Within a level: R `coxph(Surv(t, e) ~ exposure, subset = level)`. Interaction: R
    `coxph(Surv(t, e) ~ exposure * factor(v))` against `~ exposure + factor(v)`, chi-square
    2 (loglik_1 - loglik_0) on (levels - 1) df, on the patients with the exposure and v. A level
    without events, or with one exposure value only, has no HR (a warning says why) and is left out
    of the interaction test, which needs two levels with an HR.
    """
    time = frame[f"{endpoint}_days"].to_numpy(float)
    event = frame[f"{endpoint}_status"].to_numpy(int) == 1
    x = exposure.to_numpy(float)
    rows, warnings = [], []
    for variable in variables:
        row, found = _variable(time, event, x, frame[variable], variable, exposure_term)
        rows.append(row)
        warnings += found
    return {"exposure": exposure_term, "variables": rows, "warnings": warnings}


def _levels(column: pd.Series, variable: str) -> list[tuple[Any, str]]:
    """(value, label) of each level present: yes before no for flags, else sorted."""
    present = column[column.notna() & (column != "")].unique().tolist()
    if variable in YES_NO:
        return [(v, "yes" if v else "no") for v in (1.0, 0.0) if v in present]
    return [(v, str(v)) for v in sorted(present, key=str)]


def _variable(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, column: pd.Series, variable: str, term: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = column.to_numpy(object)
    usable = ~np.isnan(x) & column.notna().to_numpy() & (column != "").to_numpy()
    levels = _levels(column[usable], variable)
    row: dict[str, Any] = {"variable": variable, "n": int(usable.sum()), "levels": []}
    row |= {"chisq_interaction": None, "df_interaction": None, "p_interaction": None}
    if len(levels) < 2:
        for value, label in levels:
            mask = usable & (values == value)
            counts = {"n": int(mask.sum()), "events": int(event[mask].sum())}
            row["levels"].append({"level": label, **counts, **_NO_HR, "estimable": False, "note": "the only level"})
        message = (
            f"{variable} has {len(levels)} level{'s' if len(levels) != 1 else ''} in the cohort: no subgroups to compare."
        )
        return row, [warning("single_level_subgroup", message, MODEL, variable)]
    warnings: list[dict[str, Any]] = []
    fitted = []
    for value, label in levels:
        mask = usable & (values == value)
        level, found = _level(time[mask], event[mask], x[mask], f"{variable} = {label}")
        row["levels"].append({"level": label, **level})
        warnings += found
        if level["hr"] is not None:
            fitted.append(value)
    if len(fitted) < 2:
        message = f"Fewer than two levels of {variable} have an HR: no interaction test."
        return row, [*warnings, warning("no_interaction_test", message, MODEL, variable)]
    mask = usable & np.logical_or.reduce([values == v for v in fitted])
    test, found = _interaction(time[mask], event[mask], x[mask], values[mask], fitted, variable, term)
    return row | test, warnings + found


def _level(time: np.ndarray, event: np.ndarray, x: np.ndarray, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The exposure's HR in one level, or None with the reason (a warning and a short note)."""
    counts: dict[str, Any] = {"n": len(time), "events": int(event.sum())}
    reason = None
    if not event.any():
        reason = ("no_events_in_subgroup", "no events", f"No events in {name}")
    elif np.ptp(x) == 0:
        reason = ("exposure_constant_in_subgroup", "one exposure value", f"The ICS does not vary in {name}")
    if reason is not None:
        code, note, why = reason
        message = f"{why}: no hazard ratio; the level is left out of the interaction test."
        return counts | _NO_HR | {"estimable": False, "note": note}, [warning(code, message, MODEL, name)]
    fit = survival.cox_ph(time, event, x[:, None], terms=[name])
    (row,) = fit.table()
    found = fit_warnings(fit, MODEL, [name])
    note = "not estimable (" + "; ".join(w["code"].replace("_", " ") for w in found) + ")" if found else ""
    return counts | {k: row[k] for k in _NO_HR} | {"estimable": not found, "note": note}, found


def _interaction(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, values: np.ndarray, levels: list[Any], variable: str, term: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Likelihood-ratio test of exposure x variable (main effects in both models)."""
    dummies = np.column_stack([(values == v).astype(float) for v in levels[1:]])
    main = np.column_stack([x, dummies])
    names = [term, *[f"{variable}_{j}" for j in range(1, len(levels))]]
    full = np.column_stack([main, x[:, None] * dummies])
    names_full = [*names, *[f"{term}:{variable}_{j}" for j in range(1, len(levels))]]
    try:
        fit0 = survival.cox_ph(time, event, main, terms=names)
        fit1 = survival.cox_ph(time, event, full, terms=names_full)
    except np.linalg.LinAlgError:
        message = f"The interaction model for {variable} is singular: no interaction test."
        return {}, [warning("singular", message, MODEL, variable)]
    chisq = 2 * (fit1.loglik[1] - fit0.loglik[1])
    df = len(levels) - 1
    found = [w for w in fit_warnings(fit1, MODEL, names_full) if w["code"] == "not_converged"]
    return {"chisq_interaction": chisq, "df_interaction": df, "p_interaction": float(stats.chi2.sf(chisq, df))}, found
