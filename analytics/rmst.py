"""Restricted mean survival time per group (issue 13), as R's `summary(survfit(...), rmean = tau)`.

Pure numpy, no Django.
"""

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analytics import cohort_data, survival
from analytics.cohort_data import SpecError, shown
from analytics.spline import warning

MODEL = "rmst"  # the `model` of this analysis's warnings


def check_spec(value: object, horizon_days: float) -> dict[str, Any]:
    """The spec's `"rmst": {"tau": days}` (tau defaults to the horizon, and may not exceed it)."""
    if not isinstance(value, dict) or set(value) - {"tau"}:
        raise SpecError('rmst must be an object {"tau": days}, tau optional (the horizon)')
    tau = value.get("tau", horizon_days)
    number = cohort_data.finite_number(tau)
    if number is None or not 1 <= number <= horizon_days:
        raise SpecError(f"rmst.tau must be a number of days from 1 to the horizon ({horizon_days:g}), got {shown(tau)}")
    return {"tau": tau}


def rmst_result(frame: pd.DataFrame, spec: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """`rmst_by_group` for the analysis groups (run_analysis's frame, checked spec and `groups`), each
    group with its label."""
    endpoint = spec["endpoint"]
    out = rmst_by_group(
        frame[f"{endpoint}_days"].to_numpy(float),
        frame[f"{endpoint}_status"].to_numpy(int) == 1,
        frame["group"].to_numpy(object),
        keys=[g["key"] for g in groups],
        tau=float(spec["rmst"]["tau"]),
    )
    labels = {g["key"]: g["label"] for g in groups}
    for row in [*out["groups"], *out["differences"]]:
        row["label"] = labels.get(row["group"], row["group"])
    return out


def restricted_mean(duration: npt.ArrayLike, event: npt.ArrayLike, *, tau: float) -> tuple[float, float]:
    """(RMST, its standard error) up to `tau` days, as R
    `summary(survfit(Surv(duration, event) ~ 1), rmean = tau)$table[c("rmean", "se(rmean)")]`.

    Notes
    -----
    The area under the Kaplan-Meier curve from 0 to tau (the curve held at its last value when the
    follow-up ends before tau). Variance as survival's `survmean`: the sum over the distinct times
    t_i <= tau of A(t_i)^2 d_i / (n_i (n_i - d_i)), A(t_i) the area between t_i and tau (terms with
    n_i = d_i count 0).
    """
    km = survival.kaplan_meier(duration, event)
    keep = km.time <= tau
    if not keep.any():  # tau before the first time: everyone alive throughout
        return float(tau), 0.0
    times = np.append(km.time[keep], tau)
    surv = km.survival[keep]
    widths = np.diff(times, prepend=0.0)
    rectangles = widths * np.concatenate(([1.0], surv))
    n, d = km.n_risk[keep], km.n_event[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(n - d == 0, 0.0, d / (n * (n - d)))
    area_after = np.cumsum(rectangles[::-1])[::-1][1:]  # the area from each time t_i to tau
    return float(rectangles.sum()), float(np.sqrt((area_after**2 * hazard).sum()))


def rmst_by_group(
    duration: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike, *, keys: list[str], tau: float
) -> dict[str, Any]:
    """RMST and its SE per group, and the differences against the first group.

    Returns
    -------
    dict: tau; groups [{group, n, rmst, se}] in the order of `keys`; differences [{group, reference,
    difference, ci_lower, ci_upper}], each group but the first minus the first; difference,
    ci_lower, ci_upper: for two groups the second minus the first (the only difference), else None;
    warnings.

    Notes
    -----
    95% CI of a difference: difference +- 1.96 sqrt(se_1^2 + se_2^2) (1.96 = R's qnorm(0.975); the
    groups are independent samples).
    """
    time, died, labels = np.asarray(duration, dtype=float), np.asarray(event, dtype=bool), np.asarray(group)
    rows, warnings = [], []
    for key in keys:
        mask = labels == key
        if not mask.any():
            warnings.append(warning("empty_group", f"No patients in group {key}: no RMST.", MODEL, key))
            rows.append({"group": key, "n": 0, "rmst": None, "se": None})
            continue
        rmst, se = restricted_mean(time[mask], died[mask], tau=tau)
        rows.append({"group": key, "n": int(mask.sum()), "rmst": rmst, "se": se})
        if time[mask].max() < tau:
            message = (
                f"Follow-up in group {key} ends at day {time[mask].max():g}, before tau = {tau:g}: "
                "the Kaplan-Meier curve is held at its last value up to tau."
            )
            warnings.append(warning("rmst_beyond_follow_up", message, MODEL, key))
    differences = [_difference(row, rows[0]) for row in rows[1:]]
    two = differences[0] if len(differences) == 1 else {}
    return {
        "tau": tau,
        "groups": rows,
        "differences": differences,
        "difference": two.get("difference"),
        "ci_lower": two.get("ci_lower"),
        "ci_upper": two.get("ci_upper"),
        "warnings": warnings,
    }


def _difference(row: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"group": row["group"], "reference": first["group"]}
    if row["rmst"] is None or first["rmst"] is None:
        return out | {"difference": None, "ci_lower": None, "ci_upper": None}
    difference = row["rmst"] - first["rmst"]
    half = survival.Z_95 * float(np.hypot(row["se"], first["se"]))
    return out | {"difference": difference, "ci_lower": difference - half, "ci_upper": difference + half}
