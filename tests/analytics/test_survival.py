"""analytics.survival against R 4.2 / survival 3.5 / cmprsk 2.2 on the synthetic cohorts
(tests/fixtures/analytics, regenerate with `make analytics-fixtures`). Tolerance: relative 1e-6
unless stated."""

import numpy as np
import pytest

from analytics import survival
from tests.analytics.conftest import assert_close


def _data(cohort, kind):
    name, ref = cohort.endpoint(kind)
    df = cohort.df
    return df, df[f"{name}_days"].to_numpy(float), df[f"{name}_status"].to_numpy(int), ref


@pytest.mark.parametrize("kind", ["fatal", "non_fatal"])
def test_kaplan_meier_matches_survfit(cohort, kind):
    df, time, status, ref = _data(cohort, kind)
    for key, r in ref["km"].items():
        mask = (df["group"] == key).to_numpy()
        km = survival.kaplan_meier(time[mask], status[mask] == 1)
        assert_close(km.time, r["time"])
        assert_close(km.n_risk, r["n_risk"])
        assert_close(km.n_event, r["n_event"])
        assert_close(km.survival, r["surv"])
        assert_close(km.std_err, r["std_err"])
        assert_close(km.ci_lower, r["lower"])
        assert_close(km.ci_upper, r["upper"])


@pytest.mark.parametrize("kind", ["fatal", "non_fatal"])
def test_logrank_matches_survdiff(cohort, kind):
    df, time, status, ref = _data(cohort, kind)
    two = survival.logrank_test(time, status == 1, df["group"].to_numpy())
    assert_close(two["statistic"], ref["logrank"]["chisq"])
    assert_close(two["p"], ref["logrank"]["p"])
    four = survival.logrank_test(time, status == 1, df["quartile"].to_numpy())
    assert_close(four["statistic"], ref["logrank_quartiles"]["chisq"])
    assert_close(four["p"], ref["logrank_quartiles"]["p"])


def _fit(cohort, kind, terms):
    df, _, _, ref = _data(cohort, kind)
    name = cohort.endpoint(kind)[0]
    data = df.dropna(subset=terms)
    return (
        survival.cox_ph(data[f"{name}_days"], data[f"{name}_status"] == 1, data[terms].to_numpy(float), terms=terms),
        data,
        name,
        ref,
    )


def _assert_cox(fit, ref):
    assert fit.n == ref["n"] and fit.n_events == ref["nevent"] and fit.iterations == ref["iter"]
    assert_close(fit.loglik, ref["loglik"])
    for row in fit.table():
        r = ref["terms"][row["term"]]
        if row["term"] in fit.possibly_infinite:
            # An infinite coefficient: R stops where its loglik stops moving. Its value depends on
            # the last Newton step only, so it agrees to ~1e-8, not 1e-6 relative of a p near 1.
            assert_close(row["coef"], r["coef"], rel=1e-6)
            continue
        for key in ("coef", "se", "hr", "ci_lower", "ci_upper", "p"):
            assert_close(row[key], r[key])


@pytest.mark.parametrize("kind", ["fatal", "non_fatal"])
@pytest.mark.parametrize("term", ["ics_high", "ics_per_100"])
def test_univariable_cox_matches_coxph_efron(cohort, kind, term):
    fit, _, _, ref = _fit(cohort, kind, [term])
    _assert_cox(fit, ref["cox_uni"][term])
    assert bool(fit.possibly_infinite) == bool(ref["cox_uni"][term]["warnings"])


@pytest.mark.parametrize("kind", ["fatal", "non_fatal"])
@pytest.mark.parametrize("model,term", [("multi_group", "ics_high"), ("multi_continuous", "ics_per_100")])
def test_multivariable_cox_and_cox_zph_match_r(cohort, kind, model, term):
    fit, data, name, ref = _fit(cohort, kind, [term, *cohort.covariates])
    _assert_cox(fit, ref[f"cox_{model}"])
    assert bool(fit.possibly_infinite) == bool(ref[f"cox_{model}"]["warnings"])
    zph = survival.cox_zph(fit)
    for row in zph["terms"]:
        assert_close(row["statistic"], ref[f"zph_{model}"][row["term"]]["chisq"])
        assert_close(row["p"], ref[f"zph_{model}"][row["term"]]["p"])
    assert_close(zph["global"]["statistic"], ref[f"zph_{model}"]["GLOBAL"]["chisq"])
    assert_close(zph["global"]["p"], ref[f"zph_{model}"]["GLOBAL"]["p"])
    if model == "multi_continuous":
        c = survival.concordance_index(data[f"{name}_days"], data[f"{name}_status"] == 1, fit.linear_predictor)
        assert_close(c["c_index"], ref["concordance_multi_continuous"])


def test_concordance_of_univariable_model_matches_r(cohort):
    fit, data, name, ref = _fit(cohort, "fatal", ["ics_per_100"])
    c = survival.concordance_index(data[f"{name}_days"], data[f"{name}_status"] == 1, fit.linear_predictor)
    assert_close(c["c_index"], ref["concordance_uni_continuous"])


def test_cumulative_incidence_matches_cuminc(cohort):
    df, time, status, ref = _data(cohort, "non_fatal")
    for key, r in ref["cif"].items():
        mask = (df["group"] == key).to_numpy()
        est = survival.cumulative_incidence(time[mask], status[mask])
        assert_close(est.time, r["time"])
        assert_close(est.cif, r["cif"], abs_=1e-15)  # zeros before the first event


def test_gray_test_matches_cuminc(cohort):
    df, time, status, ref = _data(cohort, "non_fatal")
    for col, key in (("group", "gray"), ("quartile", "gray_quartiles")):
        gray = survival.gray_test(time, status, df[col].to_numpy())
        assert_close(gray["statistic"], ref[key]["statistic"])
        assert gray["df"] == ref[key]["df"]
        # cmprsk computes p as 1 - pchisq(stat), which loses digits below ~1e-9; we use the
        # survival function, so tiny p-values agree in absolute terms only.
        assert_close(gray["p"], ref[key]["p"], abs_=1e-12)


def test_kaplan_meier_is_deterministic_with_ties():
    time = np.array([0, 5, 5, 5, 10, 10, 20])
    event = np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool)
    km = survival.kaplan_meier(time, event)
    np.testing.assert_allclose(km.survival, [6 / 7, 6 / 7 * 4 / 6, 6 / 7 * 4 / 6 * 1 / 3, 6 / 7 * 4 / 6 * 1 / 3])
    np.testing.assert_array_equal(km.n_risk, [7, 6, 3, 1])


def _brute_force_concordance(time, event, risk):
    """Every ordered pair (i, j), O(n^2), by concordance_index's counting rules."""
    concordant = discordant = tied = 0
    for i in np.flatnonzero(event):
        longer = (time > time[i]) | ((time == time[i]) & ~event)  # a censored time equal to an event time is longer
        concordant += int((longer & (risk < risk[i])).sum())
        tied += int((longer & (risk == risk[i])).sum())
        discordant += int((longer & (risk > risk[i])).sum())
    return concordant, discordant, tied


@pytest.mark.parametrize("seed", range(6))
def test_concordance_counts_every_comparable_pair_as_brute_force(seed):
    rng = np.random.default_rng(seed)
    sizes = [1, 2, 3, 5, 17, 64, 65, 128, 129, 300, *rng.integers(1, 301, 10)]
    for n in sizes:
        n_times, n_risks = int(rng.integers(1, 40)), int(rng.integers(1, 25))  # few distinct values: many ties
        time = rng.integers(0, n_times, n).astype(float) * 7.5
        event = rng.random(n) < rng.uniform(0.05, 0.95)
        risk = rng.integers(-n_risks, n_risks + 1, n) / 3
        got = survival.concordance_index(time, event, risk)
        concordant, discordant, tied = _brute_force_concordance(time, event, risk)
        assert (got["concordant"], got["discordant"], got["tied_risk"]) == (concordant, discordant, tied), n
        assert all(type(got[k]) is float for k in ("c_index", "concordant", "discordant", "tied_risk"))
        total = concordant + discordant + tied
        if total:
            assert got["c_index"] == (concordant + tied / 2) / total
        else:
            assert np.isnan(got["c_index"])


def test_concordance_of_continuous_risk_without_ties_matches_brute_force():
    rng = np.random.default_rng(99)
    time, event, risk = rng.exponential(100, 300).round(1), rng.random(300) < 0.4, rng.normal(size=300)
    got = survival.concordance_index(time, event, risk)
    assert (got["concordant"], got["discordant"], got["tied_risk"]) == _brute_force_concordance(time, event, risk)


def test_concordance_without_a_comparable_pair_is_nan():
    # no events; events all at one time (tied in y) and nothing longer; nobody
    for time, event in (([3, 5, 8], [False] * 3), ([4, 4], [True, True]), ([], [])):
        got = survival.concordance_index(np.array(time, float), np.array(event, bool), np.zeros(len(time)))
        assert np.isnan(got["c_index"]) and got["concordant"] == got["discordant"] == got["tied_risk"] == 0


def test_count_below_prefix_matches_brute_force():
    rng = np.random.default_rng(7)
    for n in (1, 2, 7, 8, 9, 100, 257):
        values = rng.integers(0, 10, n)
        ends = rng.integers(0, n + 1, 50)
        bounds = rng.integers(0, 12, 50)
        expected = [int((values[:e] < b).sum()) for e, b in zip(ends, bounds, strict=True)]
        assert survival._count_below_prefix(values, ends, bounds).tolist() == expected
