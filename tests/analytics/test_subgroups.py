"""analytics.subgroups (the study's Fig. 3b/c as a forest plot) against R 4.2.2 / survival 3.5.3:
the ICS hazard ratio per subgroup level (`coxph(Surv ~ exposure, subset = level)`) and the
likelihood-ratio test of exposure x subgroup (`coxph(~ exposure * factor(v))` against
`~ exposure + factor(v)`), from tests/fixtures/analytics/subgroups_*.json written by
tests/reference/make_spline_rmst_reference.R. Tolerance: relative 1e-6."""

import json

import numpy as np
import pandas as pd
import pytest

from analytics import subgroups
from analytics.analysis import run_analysis
from analytics.cohort_data import SpecError
from analytics.models import AnalysisRun
from tests.analytics.conftest import FIXTURES, Cohort, assert_close

CASES = [
    (path.stem.removeprefix("subgroups_"), i)
    for path in sorted(FIXTURES.glob("subgroups_*.json"))
    for i in range(len(json.loads(path.read_text())["cases"]))
]


@pytest.mark.parametrize("name,index", CASES)
def test_subgroup_hazard_ratios_and_interaction_tests_match_r(name, index):
    ref = json.loads((FIXTURES / f"subgroups_{name}.json").read_text())["cases"][index]
    df = Cohort(name).df
    out = subgroups.subgroup_forest(
        df,
        endpoint=ref["endpoint"],
        variables=list(ref["variables"]),
        exposure=df[ref["exposure"]],
        exposure_term=ref["exposure"],
    )
    assert out["exposure"] == ref["exposure"]
    for row in out["variables"]:
        r = ref["variables"][row["variable"]]
        assert row["n"] == r["n"]
        assert {level["level"] for level in row["levels"]} == set(r["levels"])
        for level in row["levels"]:
            _assert_level(level, r["levels"][level["level"]])
        if r.get("p_interaction") is None:
            assert row["p_interaction"] is None
            continue
        assert row["df_interaction"] == r["df_interaction"]
        # A chi-square of ~1e-9 (two infinite coefficients) agrees in absolute terms only.
        assert_close(row["chisq_interaction"], r["chisq_interaction"], abs_=1e-7)
        assert_close(row["p_interaction"], r["p_interaction"], abs_=1e-7)


def _assert_level(level, r):
    assert (level["n"], level["events"]) == (r["n"], r["events"])
    if "hr" not in r:  # no events, or one exposure value: R fits nothing either
        assert level["hr"] is None and not level["estimable"]
        return
    infinite = bool(r["warnings"])
    assert level["estimable"] is not infinite
    if infinite:
        # An infinite coefficient: R stops where its loglik stops moving (as in test_survival).
        assert_close(level["coef"], r["coef"])
        assert level["note"] == "not estimable (coefficient may be infinite)"
        return
    for key in ("coef", "se", "hr", "ci_lower", "ci_upper", "p"):
        assert_close(level[key], r[key])


def _frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    ics = rng.integers(0, 400, n).astype(float)
    return pd.DataFrame(
        {
            "poce_days": rng.exponential(1500, n).clip(1, 2191),
            "poce_status": (rng.random(n) < 0.5).astype(int),
            "ics": ics,
            "diabetes": (rng.random(n) < 0.3).astype(float),
            "vessel_revascularized": np.ones(n),
            "index_treatment": rng.choice(["PCI", "CABG"], n),
        }
    )


def test_a_single_level_variable_and_a_level_without_events_warn_and_never_crash():
    df = _frame()
    df.loc[df["index_treatment"] == "CABG", "poce_status"] = 0
    out = subgroups.subgroup_forest(
        df,
        endpoint="poce",
        variables=["vessel_revascularized", "index_treatment", "diabetes"],
        exposure=df["ics"] / 100,
        exposure_term="ics_per_100",
    )
    single, treatment, diabetes = out["variables"]
    assert [lv["hr"] for lv in single["levels"]] == [None] and single["p_interaction"] is None
    cabg = next(lv for lv in treatment["levels"] if lv["level"] == "CABG")
    assert cabg["hr"] is None and cabg["events"] == 0 and cabg["note"] == "no events"
    assert treatment["p_interaction"] is None  # one level left: nothing to compare
    assert diabetes["p_interaction"] is not None and all(lv["estimable"] for lv in diabetes["levels"])
    codes = [(w["code"], w["term"]) for w in out["warnings"]]
    assert codes == [
        ("single_level_subgroup", "vessel_revascularized"),
        ("no_events_in_subgroup", "index_treatment = CABG"),
        ("no_interaction_test", "index_treatment"),
    ]
    assert all(w["model"] == "subgroup_forest" for w in out["warnings"])


def test_a_level_where_the_ics_group_does_not_vary_has_no_hr():
    df = _frame()
    high = (df["ics"] >= 200).astype(float)
    high[df["diabetes"] == 1] = 1.0
    out = subgroups.subgroup_forest(df, endpoint="poce", variables=["diabetes"], exposure=high, exposure_term="ics_high")
    yes = out["variables"][0]["levels"][0]
    assert (yes["level"], yes["hr"], yes["note"]) == ("yes", None, "one exposure value")
    assert out["warnings"][0]["code"] == "exposure_constant_in_subgroup"


@pytest.fixture(scope="module")
def rows():
    return pd.read_csv(FIXTURES / "study_408.csv")


def test_run_analysis_gives_the_forest_of_the_ics_split_or_per_100_units(rows):
    ref = json.loads((FIXTURES / "subgroups_study_408.json").read_text())["cases"]
    result = run_analysis(rows, {"subgroup_forest": True})
    assert result["spec"]["subgroup_forest"] == ["vessel_revascularized"]
    forest = result["subgroup_forest"]
    assert forest["exposure"] == "ics_high"
    (row,) = forest["variables"]
    assert_close(row["p_interaction"], ref[0]["variables"]["vessel_revascularized"]["p_interaction"])
    quartiles = run_analysis(rows, {"grouping": {"cutoff": "quartiles"}, "subgroup_forest": ["diabetes", "sex"]})
    assert quartiles["subgroup_forest"]["exposure"] == "ics_per_100"
    sex = quartiles["subgroup_forest"]["variables"][1]
    assert_close(sex["p_interaction"], ref[1]["variables"]["sex"]["p_interaction"])


@pytest.mark.parametrize("value", [False, [], ["age_at_index"], ["diabetes", "diabetes"], "diabetes", [1]])
def test_a_bad_subgroup_forest_spec_is_refused(rows, value):
    with pytest.raises(SpecError, match="subgroup_forest"):
        run_analysis(rows, {"subgroup_forest": value})


# Display -------------------------------------------------------------------------------------------


def test_the_forest_plot_shows_each_level_and_the_interaction_p_and_leaves_out_what_is_not_estimable():
    from analytics import charts_extra

    df = _frame()
    df.loc[df["index_treatment"] == "CABG", "poce_status"] = 0
    forest = subgroups.subgroup_forest(
        df, endpoint="poce", variables=["diabetes", "index_treatment"], exposure=df["ics"] / 100, exposure_term="ics_per_100"
    )
    figure = charts_extra.forest_figure(forest, cutoffs=[], filename="x")
    (points,) = figure["data"]
    assert len(points["x"]) == 3  # diabetes yes, no, PCI; not CABG (no events)
    labels = figure["layout"]["yaxis"]["ticktext"]
    assert labels[0] == "<b>Diabetes mellitus</b>" and labels[3] == "<b>Index treatment</b>"
    right = [a["text"] for a in figure["layout"]["annotations"]]
    assert right[0].startswith("<b>p interaction = ") and "not estimable (no events)" in right
    assert right[3] == "<b>p interaction n/a</b>"
    axis = figure["layout"]["xaxis"]
    assert axis["type"] == "log" and "1" in axis["ticktext"] and not any("μ" in t for t in axis["ticktext"])
    assert "ICS (per 100 units)" in figure["layout"]["title"]["text"]


@pytest.mark.django_db
def test_the_builder_asks_for_the_forest_and_the_page_draws_it(investigator):
    from tests.analytics.registry_cohort import registry_cohort
    from tests.analytics.test_web_analytics import BUILDER
    from tests.conftest import client_for

    registry_cohort(200, seed=11)
    client = client_for(investigator)
    builder = client.get("/analytics/").content.decode()
    assert "Subgroup forest plot" in builder and "Study vessel revascularized at index" in builder
    data = {**BUILDER, "subgroup": "", "subgroup_forest": ["vessel_revascularized", "diabetes"], "action": "run"}
    response = client.post("/analytics/", data)
    assert response.status_code == 302
    run = AnalysisRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert run.spec["subgroup_forest"] == ["vessel_revascularized", "diabetes"]
    page = client.get(response["Location"]).content.decode()
    assert 'data-figure="subgroup_forest"' in page and "p interaction" in page and "Diabetes mellitus" in page
    figures = json.loads(page.split('id="analysis-figures" type="application/json">')[1].split("</script>")[0])
    assert len(figures["subgroup_forest"]["data"][0]["x"]) == 4
