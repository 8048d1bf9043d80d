"""Table 1 (baseline characteristics by group) and Table 2 (linear regression of sqrt(ICS)),
reproducing the study's rules with R's numbers. Pure numpy/scipy/pandas; no Django.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

# The variable lists live in analytics.variables (plain Python, for the forms and the API).
from analytics.variables import CATEGORICAL as CATEGORICAL
from analytics.variables import CONTINUOUS as CONTINUOUS
from analytics.variables import TABLE2_VARIABLES as TABLE2_VARIABLES

FloatArray = npt.NDArray[np.float64]

NORMALITY_ALPHA = 0.05
SELECTION_P = 0.1  # Table 2: univariable p < 0.1 enters the multivariable model


def describe(x: FloatArray) -> dict[str, Any]:
    """n, mean, SD (n - 1), median and IQR (R quantile type 7), Shapiro-Wilk p (None outside 3..5000)."""
    n = len(x)
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75]) if n else (np.nan,) * 3
    return {
        "n": n,
        "mean": float(np.mean(x)) if n else None,
        "sd": float(np.std(x, ddof=1)) if n > 1 else None,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "shapiro_p": shapiro_p(x),
    }


def shapiro_p(x: FloatArray) -> float | None:
    """Shapiro-Wilk p as R shapiro.test (AS R94; scipy uses the same algorithm). R refuses n > 5000."""
    if not 3 <= len(x) <= 5000 or np.ptp(x) == 0:
        return None
    return float(stats.shapiro(x).pvalue)


def continuous_row(x: pd.Series, groups: pd.Series, keys: list[str]) -> dict[str, Any]:
    """Shapiro-Wilk p >= 0.05 in every group -> mean +/- SD and Student's t (two groups) / one-way
    ANOVA (more); otherwise median (IQR) and Mann-Whitney U, normal approximation with continuity
    correction (R wilcox.test(exact = FALSE, correct = TRUE)) / Kruskal-Wallis (more groups)."""
    return _continuous_row(x.to_numpy(float), _group_codes(groups, keys), keys)


def categorical_row(x: pd.Series, groups: pd.Series, keys: list[str]) -> dict[str, Any]:
    """Counts n (%) of non-missing values per group (denominators given); Pearson chi-square
    without continuity correction, Fisher's exact test for a 2x2 table with an expected count < 5."""
    return _categorical_row(x.to_numpy(), _group_codes(groups, keys), keys)


def _group_codes(groups: pd.Series, keys: list[str]) -> npt.NDArray[np.intp]:
    """Each row's group as its index in `keys`; -1 for a group not in `keys`, -2 where missing.
    Table 1 works on these codes and numpy arrays: per variable, pandas' masks, crosstab and
    groupby cost ten times the arithmetic (5,000 patients: 170 ms of a 260 ms analysis)."""
    values = groups.to_numpy()
    codes = np.asarray(pd.Categorical(values, categories=keys).codes, dtype=np.intp)
    codes[pd.isna(values)] = -2
    return codes


def _continuous_row(x: FloatArray, codes: npt.NDArray[np.intp], keys: list[str]) -> dict[str, Any]:
    keep = ~np.isnan(x) & (codes != -2)
    x, codes = x[keep], codes[keep]
    parts = [x[codes == j] for j in range(len(keys))]
    by_group = {k: describe(p) for k, p in zip(keys, parts, strict=True)}
    group_ps = [d["shapiro_p"] for d in by_group.values()]
    normal = all(p is not None and p >= NORMALITY_ALPHA for p in group_ps) or all(len(p) > 5000 for p in parts)
    usable = [p for p in parts if len(p)]
    p = None
    if len(usable) >= 2:
        if normal:
            test = "t-test" if len(usable) == 2 else "anova"
            p = stats.ttest_ind(*usable, equal_var=True).pvalue if len(usable) == 2 else stats.f_oneway(*usable).pvalue
        else:
            test = "mann-whitney" if len(usable) == 2 else "kruskal-wallis"
            p = (
                stats.mannwhitneyu(*usable, use_continuity=True, alternative="two-sided", method="asymptotic").pvalue
                if len(usable) == 2
                else stats.kruskal(*usable).pvalue
            )
    else:
        test = "none"
    return {
        "kind": "continuous",
        "summary": "mean_sd" if normal else "median_iqr",
        "overall": describe(x),
        "by_group": by_group,
        "test": test,
        "p": _float(p),
    }


def _categorical_row(x: np.ndarray, codes: npt.NDArray[np.intp], keys: list[str]) -> dict[str, Any]:
    counts, levels = _crosstab(x, codes, len(keys))
    row: dict[str, Any] = {
        "kind": "categorical",
        "levels": levels,
        "overall": _counts(counts.sum(axis=1)),
        "by_group": {k: _counts(counts[:, j]) for j, k in enumerate(keys)},
        "test": "none",
        "p": None,
    }
    counts = counts[:, counts.sum(axis=0) > 0]
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        return row
    chi2, p, expected = _chi_square(counts)
    row.update(test="chi-square", statistic=chi2, p=p, min_expected=float(expected.min()))
    if counts.shape == (2, 2) and expected.min() < 5:
        row.update(test="fisher", statistic=None, p=float(stats.fisher_exact(counts).pvalue))
    return row


def _crosstab(x: np.ndarray, codes: npt.NDArray[np.intp], n_keys: int) -> tuple[FloatArray, list[object]]:
    """`pd.crosstab(x, groups).reindex(columns=keys, fill_value=0)` over the rows with a value (not
    NA, not "") and a group: the counts (levels x keys) and the levels, sorted as crosstab's index."""
    keep = ~pd.isna(x) & (codes != -2)
    if x.dtype == object:
        keep &= x != ""
    level_codes, uniques = pd.factorize(x[keep], sort=True)
    in_keys = codes[keep] >= 0
    cells = level_codes[in_keys] * n_keys + codes[keep][in_keys]
    counts = np.bincount(cells, minlength=len(uniques) * n_keys).astype(float)
    return counts.reshape(len(uniques), n_keys), [_level(v) for v in np.asarray(uniques).tolist()]


def _chi_square(counts: FloatArray) -> tuple[float, float, FloatArray]:
    """Pearson's chi-square, p and the expected counts: scipy.stats.chi2_contingency(correction=False)'s
    arithmetic (expected = row sums x column sums / total, sum of (O - E)^2 / E, chdtrc) without its
    per-call argument checks."""
    expected = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0, keepdims=True) / counts.sum()
    if (expected == 0).any():  # chi2_contingency's refusal, kept
        raise ValueError("The internally computed table of expected frequencies has a zero element.")
    statistic = float(((counts - expected) ** 2 / expected).sum())
    dof = (counts.shape[0] - 1) * (counts.shape[1] - 1)
    return statistic, float(special.chdtrc(dof, statistic)), expected


def _counts(column: FloatArray) -> dict[str, Any]:
    total = float(column.sum())
    return {
        "n": [int(c) for c in column],
        "denominator": int(total),
        "percent": [float(100 * c / total) if total else None for c in column],
    }


def _level(value: object) -> object:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return bool(value) if value in (0.0, 1.0) else int(value)
    return value


def _float(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def baseline_table(
    df: pd.DataFrame,
    *,
    group_col: str,
    keys: list[str],
    continuous: Sequence[str] = CONTINUOUS,
    categorical: Sequence[str] = CATEGORICAL,
) -> list[dict[str, Any]]:
    """Table 1: one row per variable, {variable, overall, by_group, test, p, ...}."""
    codes = _group_codes(df[group_col], keys)
    rows = [{"variable": v, **_continuous_row(df[v].to_numpy(float), codes, keys)} for v in continuous if v in df]
    rows += [{"variable": v, **_categorical_row(df[v].to_numpy(), codes, keys)} for v in categorical if v in df]
    return rows


def ols(y: FloatArray, X: FloatArray, terms: list[str]) -> list[dict[str, Any]]:
    """Least squares with intercept, as R lm: beta, se, 95% CI (t quantile), p per term."""
    design = np.column_stack([np.ones(len(y)), X])
    q, r = np.linalg.qr(design)
    beta = np.linalg.solve(r, q.T @ y)
    df_resid = len(y) - design.shape[1]
    sigma2 = float(((y - design @ beta) ** 2).sum() / df_resid)
    r_inv = np.linalg.inv(r)
    se = np.sqrt(sigma2 * (r_inv**2).sum(axis=1))
    # scipy.stats.t's ppf and sf are these special functions behind per-call argument checks.
    t_crit = special.stdtrit(df_resid, 0.975)
    p = 2 * special.stdtr(df_resid, -np.abs(beta / se))
    return [
        {
            "term": t,
            "beta": float(b),
            "se": float(s),
            "ci_lower": float(b - t_crit * s),
            "ci_upper": float(b + t_crit * s),
            "p": float(pp),
            "n": len(y),
        }
        for t, b, s, pp in zip(terms, beta[1:], se[1:], p[1:], strict=True)
    ]


def sqrt_ics_regression(df: pd.DataFrame, variables: Sequence[str] = TABLE2_VARIABLES) -> dict[str, Any]:
    """Table 2: sqrt(ICS) on each variable (complete cases per model), then the multivariable model
    of the variables with univariable p < 0.1 (complete cases over them), as R lm."""
    y_all = np.sqrt(df["ics"].to_numpy(float))
    present = [v for v in variables if v in df]
    columns = {v: df[v].to_numpy(float) for v in present}
    univariable: list[dict[str, Any]] = []
    for v in present:
        keep = ~np.isnan(y_all) & ~np.isnan(columns[v])
        x = columns[v][keep]
        if keep.sum() > 2 and np.ptp(x) > 0:
            univariable += ols(y_all[keep], x[:, None], [v])
    selected = [r["term"] for r in univariable if r["p"] < SELECTION_P]
    multivariable: list[dict[str, Any]] = []
    if selected:
        X = np.column_stack([columns[v] for v in selected])
        keep = ~np.isnan(y_all) & ~np.isnan(X).any(axis=1)
        multivariable = ols(y_all[keep], X[keep], selected)
    return {"univariable": univariable, "selected": selected, "multivariable": multivariable}
