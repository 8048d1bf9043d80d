"""analytics.spline and analytics.rmst against R 4.2.2 / survival 3.5.3 / splines (issue 13, "ICS as
a continuous exposure"): the reference values are tests/fixtures/analytics/spline_*.json and rmst_*.json,
written by tests/reference/make_spline_rmst_reference.R on the committed synthetic cohorts.
Tolerance: relative 1e-6 (REL), as the other R comparisons."""

import json

import numpy as np
import pandas as pd
import pytest

from analytics import rmst, spline
from analytics.analysis import run_analysis
from analytics.cohort_data import SpecError
from tests.analytics.conftest import FIXTURES, Cohort, assert_close


def _cases(kind: str) -> list[tuple[str, int]]:
    return [
        (path.stem.removeprefix(f"{kind}_"), i)
        for path in sorted(FIXTURES.glob(f"{kind}_*.json"))
        for i in range(len(json.loads(path.read_text())["cases"]))
    ]


_cohorts: dict[str, Cohort] = {}


def _cohort(name: str) -> Cohort:
    if name not in _cohorts:
        _cohorts[name] = Cohort(name)
    return _cohorts[name]


def _reference(kind: str, name: str, index: int) -> dict:
    return json.loads((FIXTURES / f"{kind}_{name}.json").read_text())["cases"][index]


def _spline(name: str, ref: dict) -> tuple[dict, pd.DataFrame]:
    df = _cohort(name).df
    covs = list(ref["covariates"] or [])
    ep = ref["endpoint"]
    out = spline.spline_cox(
        df[f"{ep}_days"],
        df[f"{ep}_status"] == 1,
        df["ics"],
        df[covs].to_numpy(float) if covs else np.empty((len(df), 0)),
        covariate_names=covs,
        df=ref["df"],
        reference=ref["reference"],
    )
    return out, df.dropna(subset=["ics", *covs])


@pytest.mark.parametrize("name,index", _cases("spline"))
def test_spline_knots_and_basis_are_those_of_r_ns(name, index):
    ref = _reference("spline", name, index)
    _, complete = _spline(name, ref)
    ns = spline.natural_spline(complete["ics"], df=ref["df"])
    assert_close(ns.knots, ref["knots"] or [])
    assert_close(ns.boundary_knots, ref["boundary_knots"])
    rows = np.array(ref["basis_first_rows"], dtype=float)
    np.testing.assert_allclose(ns.basis(complete["ics"].to_numpy()[: len(rows)]), rows, rtol=1e-6, atol=1e-12)
    grid = np.arange(0, ref["boundary_knots"][1] + 1e-9, 10.0)
    np.testing.assert_allclose(ns.basis(grid), np.array(ref["basis_grid"], dtype=float), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name,index", _cases("spline"))
def test_spline_cox_curve_and_likelihood_ratio_tests_match_r(name, index):
    ref = _reference("spline", name, index)
    out, _ = _spline(name, ref)
    assert (out["n"], out["events"], out["df"]) == (ref["n"], ref["nevent"], ref["df"])
    curve = pd.DataFrame(out["curve"])
    assert_close(curve["ics"], ref["curve"]["ics"])
    for key in ("hr", "ci_lower", "ci_upper"):
        assert_close(curve[key], ref["curve"][key])
    assert_close(out["chisq_overall"], ref["chisq_overall"])
    assert_close(out["p_overall"], ref["p_overall"])
    if ref["df"] == 1:
        assert out["p_nonlinear"] is None and ref["p_nonlinear"] is None
    else:
        assert_close(out["chisq_nonlinear"], ref["chisq_nonlinear"])
        assert_close(out["p_nonlinear"], ref["p_nonlinear"])
    assert bool(out["warnings"]) == bool(ref["warnings"])


def test_spline_hr_is_one_at_the_reference_and_rejects_a_reference_outside_the_range():
    rng = np.random.default_rng(0)
    ics = rng.integers(0, 300, 200).astype(float)
    time = rng.exponential(1000 / (1 + ics / 100))
    event = rng.random(200) < 0.7
    out = spline.spline_cox(time, event, ics, np.empty((200, 0)), covariate_names=[], df=3, reference=100)
    at_100 = next(p for p in out["curve"] if p["ics"] == 100)
    assert at_100 == {"ics": 100.0, "hr": 1.0, "ci_lower": 1.0, "ci_upper": 1.0}
    assert out["curve"][-1]["ics"] == 10 * (ics.max() // 10)
    with pytest.raises(ValueError, match="outside the cohort's ICS range"):
        spline.spline_cox(time, event, ics, np.empty((200, 0)), covariate_names=[], df=3, reference=400)
    with pytest.raises(ValueError, match="df must be from 1 to 6"):
        spline.natural_spline(ics, df=7)


@pytest.mark.parametrize("name,index", _cases("rmst"))
def test_rmst_and_its_se_match_r_survfit_rmean(name, index):
    ref = _reference("rmst", name, index)
    df = _cohort(name).df
    ep = ref["endpoint"]
    keys = [g["group"] for g in ref["groups"]]
    out = rmst.rmst_by_group(df[f"{ep}_days"], df[f"{ep}_status"] == 1, df[ref["grouping"]], keys=keys, tau=ref["tau"])
    for mine, r in zip(out["groups"], ref["groups"], strict=True):
        assert (mine["group"], mine["n"]) == (r["group"], r["n"])
        assert_close(mine["rmst"], r["rmst"])
        assert_close(mine["se"], r["se"])
    for mine, r in zip(out["differences"], ref["differences"], strict=True):
        assert (mine["group"], mine["reference"]) == (r["group"], r["reference"])
        for key in ("difference", "ci_lower", "ci_upper"):
            assert_close(mine[key], r[key])
    if len(keys) == 2:
        assert out["difference"] == out["differences"][0]["difference"]
    else:
        assert out["difference"] is out["ci_lower"] is out["ci_upper"] is None


def test_rmst_before_the_first_time_is_tau_and_beyond_follow_up_is_flagged():
    assert rmst.restricted_mean([10.0, 20.0], [True, False], tau=5.0) == (5.0, 0.0)
    # S = 1 up to 10, 1/2 after: area 10 + 0.5 * 20 = 20 up to tau 30 (the curve held after day 20)
    out = rmst.rmst_by_group([10.0, 20.0, 40.0], [True, False, False], ["a", "a", "b"], keys=["a", "b"], tau=30)
    assert out["groups"][0]["rmst"] == pytest.approx(20.0)
    assert [(w["code"], w["term"]) for w in out["warnings"]] == [("rmst_beyond_follow_up", "a")]


# run_analysis: the spec keys, the result keys, and a failure kept to a warning ------------------


@pytest.fixture(scope="module")
def rows():
    return pd.read_csv(FIXTURES / "study_408.csv")


def test_run_analysis_adds_spline_and_rmst_when_asked(rows):
    ref = _reference("spline", "study_408", 0)
    result = run_analysis(rows, {"spline": {"df": 3, "reference": 85}, "rmst": {}})
    assert result["spec"]["spline"] == {"df": 3, "reference": 85} and result["spec"]["rmst"] == {"tau": 2191}
    assert_close([p["hr"] for p in result["spline"]["curve"]], ref["curve"]["hr"])
    assert_close(result["spline"]["p_nonlinear"], ref["p_nonlinear"])
    r = _reference("rmst", "study_408", 0)
    assert [g["group"] for g in result["rmst"]["groups"]] == ["low", "high"]
    assert_close([g["rmst"] for g in result["rmst"]["groups"]], [g["rmst"] for g in r["groups"]][::-1])
    assert_close(result["rmst"]["difference"], r["groups"][0]["rmst"] - r["groups"][1]["rmst"])


def test_run_analysis_without_the_keys_is_unchanged(rows):
    result = run_analysis(rows, {})
    assert not {"spline", "rmst", "subgroup_forest"} & (set(result) | set(result["spec"]))


def test_a_spline_that_cannot_be_fitted_is_a_warning_and_the_rest_is_kept(rows):
    # The whole registry's ICS reaches 503; this cohort's stays below 100.
    spec = {"cohort": {"filters": [{"field": "ics", "op": "le", "value": 100}]}, "spline": {"df": 3, "reference": 300}}
    result = run_analysis(rows, spec)
    assert result["spline"] is None
    assert result["cox"]["multivariable"]["continuous"]
    (found,) = [w for w in result["warnings"] if w["model"] == "spline"]
    assert found["code"] == "analysis_failed" and "outside the cohort's ICS range" in found["message"]


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"spline": {"df": 0}}, "spline.df"),
        ({"spline": {"df": 3.5}}, "spline.df"),
        ({"spline": {"df": 3, "reference": "85"}}, "spline.reference"),
        ({"spline": {"df": 3, "reference": 900}}, "spline.reference"),
        ({"spline": {"knots": 3}}, "spline"),
        ({"rmst": {"tau": 3000}}, "rmst.tau"),
        ({"rmst": {"tau": 0}}, "rmst.tau"),
        ({"rmst": 5}, "rmst"),
    ],
)
def test_bad_spline_and_rmst_specs_are_refused(rows, spec, message):
    with pytest.raises(SpecError, match=message):
        run_analysis(rows, spec)


# Display: the figure, the page, the builder ------------------------------------------------------


def test_the_spline_figure_has_the_band_the_curve_and_a_rug_on_a_plain_number_log_axis(rows):
    from analytics import charts_extra

    result = run_analysis(rows, {"spline": {"df": 3, "reference": 85}})
    figure = charts_extra.spline_figure(result["spline"], filename="x")
    upper, lower, line, reference, rug = figure["data"]
    assert lower["fill"] == "tonexty" and line["y"] == [p["hr"] for p in result["spline"]["curve"]]
    assert reference["x"] == [85] and reference["y"] == [1.0]
    assert sum(rug["customdata"]) == result["spline"]["n"] and rug["yaxis"] == "y2"
    axis = figure["layout"]["yaxis"]
    assert axis["type"] == "log" and "1" in axis["ticktext"] and all("μ" not in t and "e" not in t for t in axis["ticktext"])
    json.dumps(figure)


@pytest.mark.django_db
def test_the_builder_asks_for_the_spline_and_rmst_and_the_page_shows_them(investigator):
    from tests.analytics.registry_cohort import registry_cohort
    from tests.analytics.test_web_analytics import BUILDER
    from tests.conftest import client_for
    from tests.factories import assert_no_external_assets

    registry_cohort(200, seed=11)
    client = client_for(investigator)
    data = {**BUILDER, "subgroup": "", "spline": "on", "spline_df": "4", "spline_reference": "85", "rmst": "on"}
    response = client.post("/analytics/", {**data, "rmst_tau": "1826", "action": "run"})
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(response["Location"]).content.decode()
    for text in ("ICS as a continuous exposure", 'data-figure="spline"', "non-linearity p", "Restricted mean survival time"):
        assert text in page, text
    assert "up to day 1826" in page and "Difference: " in page
    figures = json.loads(page.split('id="analysis-figures" type="application/json">')[1].split("</script>")[0])
    assert figures["spline"]["data"][2]["name"] == "Hazard ratio"
    assert_no_external_assets(page)
    report = client.get(response["Location"] + "report/").content.decode()
    assert 'data-figure="spline"' in report and "Restricted mean survival time" in report
    too_long = client.post("/analytics/", {**data, "rmst_tau": "2500", "action": "run"})
    assert too_long.status_code == 400 and "rmst.tau" in too_long.content.decode()


@pytest.mark.django_db
def test_the_api_takes_the_keys_and_refuses_a_bad_one_with_400(investigator):
    from tests.analytics.registry_cohort import registry_cohort
    from tests.conftest import client_for

    registry_cohort(120, seed=3)
    client = client_for(investigator)
    spec = {"endpoint": "poce", "spline": {"df": 2}, "rmst": {"tau": 1000}, "subgroup_forest": True}
    response = client.post("/api/analyses/", spec, content_type="application/json")
    assert response.status_code == 201, response.content
    result = response.json()["result"]
    assert result["spline"]["df"] == 2 and result["rmst"]["tau"] == 1000
    assert result["subgroup_forest"]["variables"][0]["variable"] == "vessel_revascularized"
    bad = client.post("/api/analyses/", {"spline": {"df": 9}}, content_type="application/json")
    assert bad.status_code == 400 and "spline.df" in bad.content.decode()
