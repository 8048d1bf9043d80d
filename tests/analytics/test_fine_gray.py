"""Fine-Gray regression against R's cmprsk::crr (cmprsk 2.2.11, R 4.2.2).

Reference: tests/fixtures/analytics/finegray.json, written by tests/reference/make_finegray_reference.R
on the synthetic cohorts of make_cohorts.py. Tolerance: relative 1e-6 (we agree to ~1e-11).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.fine_gray import fine_gray

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analytics"
REFERENCE = json.loads((FIXTURES / "finegray.json").read_text())
RTOL = 1e-6


def _cohort(name: str) -> pd.DataFrame:
    df = pd.read_csv(FIXTURES / f"{name}.csv")
    df["ics_per_100"] = df["ics"] / 100
    return df


@pytest.mark.parametrize("key", sorted(k for k, v in REFERENCE.items() if v is not None))
def test_it_matches_crr(key):
    ref = REFERENCE[key]
    cohort, endpoint, _ = key.split("/")
    df = _cohort(cohort)
    fit = fine_gray(df[f"{endpoint}_days"], df[f"{endpoint}_status"], df[ref["terms"]], terms=ref["terms"])
    p = len(ref["coef"])
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(fit.var, np.reshape(ref["var"], (p, p)), rtol=RTOL, atol=1e-15)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=RTOL)
    assert fit.converged is ref["converged"]
    assert fit.n == ref["n"]


def test_the_table_is_the_wald_summary_of_crr():
    ref = REFERENCE["study_408/tvr/ics_per_100"]
    df = _cohort("study_408")
    row = fine_gray(df["tvr_days"], df["tvr_status"], df[["ics_per_100"]], terms=["ics_per_100"]).table()[0]
    se = np.sqrt(ref["var"][0])
    assert row["hr"] == pytest.approx(np.exp(ref["coef"][0]), rel=RTOL)
    assert row["ci_lower"] == pytest.approx(np.exp(ref["coef"][0] - stats.norm.ppf(0.975) * se), rel=RTOL)
    assert row["p"] == pytest.approx(2 * stats.norm.sf(abs(ref["coef"][0] / se)), rel=RTOL)


def test_rows_with_missing_values_are_dropped_like_na_omit():
    df = _cohort("missing_1500")
    fit = fine_gray(df["mi_days"], df["mi_status"], df[["ics_per_100", "egfr"]], terms=["ics_per_100", "egfr"])
    complete = df[["ics_per_100", "egfr"]].notna().all(axis=1)
    assert (fit.n, fit.n_missing) == (int(complete.sum()), int((~complete).sum()))


def test_no_competing_events_gives_cox_with_breslow_ties():
    # Without competing events the subdistribution hazard is the cause-specific one: crr's
    # estimate equals coxph(ties = "breslow"). Checked on a tiny hand-made data set.
    time = np.array([1, 2, 2, 3, 4, 5, 6, 7], dtype=float)
    status = np.array([1, 1, 0, 1, 0, 1, 1, 0])
    x = np.array([0.5, 1.2, -0.3, 0.8, 0.1, -1.0, 0.4, -0.6])
    fit = fine_gray(time, status, x[:, None], terms=["x"])
    # Breslow partial likelihood score at the estimate is zero.
    b = fit.coef[0]
    score = 0.0
    for t in np.unique(time[status == 1]):
        at_risk = time >= t
        dying = (time == t) & (status == 1)
        w = np.exp(b * x[at_risk])
        score += x[dying].sum() - dying.sum() * (w @ x[at_risk]) / w.sum()
    assert abs(score) < 1e-6


def test_run_analysis_reports_fine_gray_for_non_fatal_endpoints():
    from analytics.analysis import run_analysis

    df = _cohort("study_408")
    result = run_analysis(
        df.drop(columns=["ics_per_100"]), {"endpoint": "tvr", "grouping": {"variable": "ics", "cutoff": "median"}}
    )
    rows = {r["term"]: r for r in result["competing_risks"]["fine_gray"]}
    ref = REFERENCE["study_408/tvr/ics_per_100"]
    assert rows["ics_per_100"]["coef"] == pytest.approx(ref["coef"][0], rel=RTOL)
    assert rows["ics_per_100"]["se"] == pytest.approx(np.sqrt(ref["var"][0]), rel=RTOL)
    assert set(rows) == {"ics_high", "ics_per_100"}
    assert "competing_risks" not in run_analysis(df.drop(columns=["ics_per_100"]), {"endpoint": "poce"})
