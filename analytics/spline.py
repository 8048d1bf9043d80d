"""ICS as a continuous exposure: a natural cubic spline of the ICS in a Cox model (issue 13).

Pure numpy/scipy, no Django. `natural_spline` places the knots as R's `splines::ns(x, df = k)` and
`NaturalSpline.basis` gives R's basis columns (checked against R in tests/analytics/test_spline_rmst.py);
`spline_cox` fits the Cox model with the spline, the HR curve against a reference ICS and the
likelihood-ratio tests.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import interpolate, stats

from analytics import cohort_data, survival
from analytics.cohort_data import SpecError, shown

MAX_DF = 6
DEFAULTS = {"df": 3, "reference": 85}  # the study's median ICS as the reference (HR = 1)
CURVE_STEP = 10.0  # the HR curve is given at ICS = 0, 10, 20, ... up to the largest ICS in the model
MODEL = "spline"  # the `model` of this analysis's warnings


@dataclass(frozen=True)
class NaturalSpline:
    """A natural cubic spline basis without intercept, as an R `ns` object (its knots fixed)."""

    knots: npt.NDArray[np.float64]  # interior knots
    boundary_knots: tuple[float, float]

    @property
    def df(self) -> int:
        return len(self.knots) + 1

    def basis(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The basis at `x` (len(x) x df), as R `predict(ns(...), x)`: linear beyond the boundary knots.

        Notes
        -----
        R's construction: the cubic B-splines on the knots (boundary knots 4 times), the first one
        dropped (no intercept), then projected onto the null space of the second derivatives at the
        two boundary knots with the QR decomposition of those constraints: basis Q[:, 2:]. LAPACK's
        Householder QR (numpy) and LINPACK's dqrdc2 (R's `qr`) choose the same reflectors, so the
        columns and their signs are R's. Outside the boundary knots each B-spline continues as its
        tangent at the nearer boundary knot (R's `ns` with `outside` points).
        """
        x = np.atleast_1d(np.asarray(x, dtype=float))
        lower, upper = self.boundary_knots
        design = np.empty((len(x), len(self._all_knots) - 4))
        inside = (x >= lower) & (x <= upper)
        design[inside] = _bspline_design(self._all_knots, x[inside])
        for pivot, side in ((lower, x < lower), (upper, x > upper)):
            if side.any():
                value, slope = _bspline_design(self._all_knots, np.array([pivot, pivot]), derivs=(0, 1))
                design[side] = value + np.outer(x[side] - pivot, slope)
        return design[:, 1:] @ self._projection

    @property
    def _all_knots(self) -> npt.NDArray[np.float64]:
        lower, upper = self.boundary_knots
        return np.sort(np.concatenate(([lower] * 4, self.knots, [upper] * 4)))

    @property
    def _projection(self) -> npt.NDArray[np.float64]:
        second = _bspline_design(self._all_knots, np.array(self.boundary_knots), derivs=(2, 2))[:, 1:]
        q, _ = np.linalg.qr(second.T, mode="complete")
        projection: npt.NDArray[np.float64] = q[:, 2:]
        return projection


def _bspline_design(
    knots: npt.NDArray[np.float64], x: npt.NDArray[np.float64], derivs: tuple[int, ...] = ()
) -> npt.NDArray[np.float64]:
    """Cubic B-spline basis (or a derivative per point) at x, as R `splines::splineDesign(knots, x, 4, derivs)`.

    scipy evaluates the right boundary knot on the last interval, as splineDesign does."""
    n_basis = len(knots) - 4
    spline = interpolate.BSpline(knots, np.eye(n_basis), 3, extrapolate=True)
    if not derivs:
        values: npt.NDArray[np.float64] = spline(x)
        return values
    # Evaluated directly (nu), not through BSpline.derivative, which refuses knots repeated inside:
    # an interior knot at a boundary knot when many patients share the lowest ICS (often 0).
    rows = [spline(np.array([xi]), nu=d)[0] for xi, d in zip(x, derivs, strict=True)]
    return np.array(rows, dtype=float)


def natural_spline(x: npt.ArrayLike, *, df: int) -> NaturalSpline:
    """The natural spline of R `splines::ns(x, df = df)`: df - 1 interior knots at the quantiles
    seq(0, 1, length = df + 1) (R's type 7, numpy's default) of x, boundary knots at its range.
    Missing values are left out, as ns does."""
    values = np.asarray(x, dtype=float)
    values = values[~np.isnan(values)]
    if not 1 <= df <= MAX_DF:
        raise ValueError(f"the spline's df must be from 1 to {MAX_DF}, got {df}")
    if len(values) == 0:
        raise ValueError("no ICS values for the spline")
    probs = np.linspace(0, 1, df + 1)[1:-1]
    knots = np.quantile(values, probs) if len(probs) else np.zeros(0)
    return NaturalSpline(np.asarray(knots, dtype=float), (float(values.min()), float(values.max())))


def spline_cox(
    duration: npt.ArrayLike,
    event: npt.ArrayLike,
    ics: npt.ArrayLike,
    covariates: npt.ArrayLike,
    *,
    covariate_names: list[str],
    df: int = 3,
    reference: float = 85.0,
) -> dict[str, Any]:
    """Cox model (Efron ties) with a natural cubic spline of the ICS, adjusted for `covariates`.

    As R `coxph(Surv(duration, event) ~ ns(ics, df = df) + covariates, ties = "efron")` on the
    complete cases (rows with ICS and every covariate; the knots come from those rows' ICS).

    Parameters
    ----------
    duration : days; event : bool; ics : ICS units (NaN = missing)
    covariates : patients x covariates (NaN = missing), names in `covariate_names`
    df : degrees of freedom of the spline, 1-6 (df - 1 interior knots)
    reference : the ICS at which the HR is 1; within the model's ICS range

    Returns
    -------
    dict: df, reference, n, events, knots, boundary_knots, curve (ics, hr, ci_lower, ci_upper at
    ICS 0, 10, 20, ... up to the largest ICS), p_overall and chisq_overall (likelihood-ratio test
    against the covariates-only model, df degrees of freedom), p_nonlinear and chisq_nonlinear
    (against the model with the ICS linear, df - 1; None for df = 1), rug (the model's patients
    counted per whole ICS unit, [{ics, n}], for the figure's rug: a frequency table, no patient's
    row), warnings.

    Notes
    -----
    HR(x) = exp((B(x) - B(ref)) beta), its 95% CI exp(log HR +- 1.96 se) with
    se^2 = (B(x) - B(ref)) V (B(x) - B(ref))', V the spline block of the inverse information:
    R's `predict(..., type = "terms")` differences, or termplot's curve shifted to the reference.
    """
    time, died = np.asarray(duration, dtype=float), np.asarray(event, dtype=bool)
    x = np.asarray(ics, dtype=float)
    covs = np.asarray(covariates, dtype=float).reshape(len(x), -1)
    complete = ~np.isnan(x) & ~np.isnan(covs).any(axis=1)
    time, died, x, covs = time[complete], died[complete], x[complete], covs[complete]
    spline = natural_spline(x, df=df)
    lower, upper = spline.boundary_knots
    if not lower <= reference <= upper:
        raise ValueError(f"the reference ICS {reference:g} is outside the cohort's ICS range {lower:g}-{upper:g}")
    terms = [f"ics_ns{j}" for j in range(1, df + 1)]
    fit = survival.cox_ph(time, died, np.column_stack([spline.basis(x), covs]), terms=[*terms, *covariate_names])
    grid = np.arange(0.0, upper + 1e-9 * max(upper, 1.0), CURVE_STEP)
    contrast = spline.basis(grid) - spline.basis([reference])
    log_hr = contrast @ fit.coef[:df]
    se = np.sqrt(np.einsum("ij,jk,ik->i", contrast, fit.var[:df, :df], contrast))
    overall, nonlinear = _likelihood_ratio_tests(fit, time, died, x, covs, covariate_names, df)
    return {
        "df": df,
        "reference": reference,
        "n": fit.n,
        "events": fit.n_events,
        "knots": spline.knots,
        "boundary_knots": list(spline.boundary_knots),
        "rug": _rug(x),
        "curve": [
            {"ics": float(g), "hr": float(np.exp(b)), "ci_lower": float(lo), "ci_upper": float(hi)}
            for g, b, lo, hi in zip(
                grid, log_hr, np.exp(log_hr - survival.Z_95 * se), np.exp(log_hr + survival.Z_95 * se), strict=True
            )
        ],
        "chisq_overall": overall[0],
        "p_overall": overall[1],
        "chisq_nonlinear": nonlinear[0],
        "p_nonlinear": nonlinear[1],
        "warnings": fit_warnings(fit, MODEL, terms),
    }


def _rug(ics: np.ndarray) -> list[dict[str, float | int]]:
    values, counts = np.unique(np.round(ics), return_counts=True)
    return [{"ics": float(v), "n": int(c)} for v, c in zip(values, counts, strict=True)]


def _likelihood_ratio_tests(
    fit: survival.CoxFit,
    time: np.ndarray,
    died: np.ndarray,
    x: np.ndarray,
    covs: np.ndarray,
    names: list[str],
    df: int,
) -> tuple[tuple[float, float], tuple[float | None, float | None]]:
    """((chi-square, p) against the covariates-only model, (chi-square, p) against the linear ICS)."""
    # Without covariates the null model is beta = 0, whose log-likelihood every fit reports first.
    null = survival.cox_ph(time, died, covs, terms=names).loglik[1] if names else fit.loglik[0]
    linear = survival.cox_ph(time, died, np.column_stack([x, covs]), terms=["ics", *names]).loglik[1]
    overall = 2 * (fit.loglik[1] - null)
    if df == 1:  # ns with df = 1 is linear in the ICS: nothing to test
        return (overall, float(stats.chi2.sf(overall, df))), (None, None)
    bend = 2 * (fit.loglik[1] - linear)
    return (overall, float(stats.chi2.sf(overall, df))), (bend, float(stats.chi2.sf(bend, df - 1)))


def check_spec(value: object, ics: pd.Series) -> dict[str, Any]:
    """The spec's `"spline": {"df": 3, "reference": 85}` with defaults filled in; SpecError otherwise.
    `ics`: the data's ICS, whose observed range the reference must lie in (when there is any)."""
    if not isinstance(value, dict) or set(value) - set(DEFAULTS):
        raise SpecError('spline must be an object {"df": 1-6, "reference": an ICS}')
    checked = {**DEFAULTS, **value}
    df, reference = checked["df"], checked["reference"]
    if isinstance(df, bool) or not isinstance(df, int) or not 1 <= df <= MAX_DF:
        raise SpecError(f"spline.df must be a whole number from 1 to {MAX_DF}, got {shown(df)}")
    low, high = cohort_data.ICS_RANGE
    present = ics.dropna()
    if len(present):
        low, high = float(present.min()), float(present.max())
    number = cohort_data.finite_number(reference)
    if number is None or not low <= number <= high:
        raise SpecError(
            f"spline.reference must be an ICS within the observed range {low:g}-{high:g}, got {shown(reference)}"
        )
    return checked


def spline_result(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    """`spline_cox` on the cohort's endpoint and covariates (run_analysis's frame and checked spec)."""
    endpoint, covs = spec["endpoint"], spec["covariates"]
    return spline_cox(
        frame[f"{endpoint}_days"].to_numpy(float),
        frame[f"{endpoint}_status"].to_numpy(int) == 1,
        frame["ics"].to_numpy(float),
        frame[covs].to_numpy(float) if covs else np.empty((len(frame), 0)),
        covariate_names=list(covs),
        df=spec["spline"]["df"],
        reference=float(spec["spline"]["reference"]),
    )


def fit_warnings(fit: survival.CoxFit, model: str, terms: list[str]) -> list[dict[str, Any]]:
    """R's coxph warnings for `terms` of a fit: not converged, coefficient may be infinite."""
    out = []
    if not fit.converged:
        out.append(warning("not_converged", f"The Cox model did not converge in {fit.iterations} iterations.", model))
    for term in fit.possibly_infinite:
        if term in terms:
            message = f"Loglik converged before variable {term}; coefficient may be infinite."
            out.append(warning("coefficient_may_be_infinite", message, model, term))
    return out


def warning(code: str, message: str, model: str, term: str | None = None) -> dict[str, Any]:
    """A result warning in the issue-13 shape {code, message, model, term}."""
    return {"code": code, "message": message, "model": model, "term": term}
