"""run_analysis: the result format of issue 5, spec validation, and the same numbers as R."""

import json

import pandas as pd
import pytest

from analytics.analysis import run_analysis
from analytics.cohort_data import SpecError
from tests.analytics.conftest import FIXTURES, assert_close


@pytest.fixture(scope="module")
def rows():
    return pd.read_csv(FIXTURES / "study_408.csv")


@pytest.fixture(scope="module")
def reference():
    return json.loads((FIXTURES / "study_408.json").read_text())


def test_it_reproduces_r_for_a_non_fatal_endpoint(rows, reference):
    result = run_analysis(rows, {"endpoint": "revascularization", "grouping": {"variable": "ics", "cutoff": "median"}})
    ref = reference["endpoints"]["revascularization"]
    assert [g["key"] for g in result["groups"]] == ["low", "high"]
    assert_close(result["km"]["high"]["survival"], ref["km"]["high"]["surv"])
    assert_close(result["logrank"]["p"], ref["logrank"]["p"])
    uni = {r["term"]: r for r in result["cox"]["univariable"]}
    assert_close(uni["ics_high"]["hr"], ref["cox_uni"]["ics_high"]["terms"]["ics_high"]["hr"])
    assert_close(uni["ics_per_100"]["p"], ref["cox_uni"]["ics_per_100"]["terms"]["ics_per_100"]["p"])
    for model, key in (("group", "cox_multi_group"), ("continuous", "cox_multi_continuous")):
        for row in result["cox"]["multivariable"][model]:
            assert_close(row["hr"], ref[key]["terms"][row["term"]]["hr"])
    assert_close(result["ph_test"]["global_p"], ref["zph_multi_continuous"]["GLOBAL"]["p"])
    assert_close(result["c_index"], ref["concordance_multi_continuous"])
    assert_close(result["competing_risks"]["gray"]["p"], ref["gray"]["p"])
    assert_close(result["competing_risks"]["cif"]["low"]["cif"], ref["cif"]["low"]["cif"], abs_=1e-15)
    json.dumps(result, allow_nan=False)  # plain JSON, no NaN


def test_a_fatal_endpoint_has_no_competing_risks(rows):
    result = run_analysis(rows, {"endpoint": "poce"})
    assert "competing_risks" not in result
    assert {"km", "logrank", "cox", "ph_test", "c_index", "baseline_table", "sqrt_ics_regression",
            "data_hash", "versions", "spec"} <= set(result)


def test_filters_and_fixed_cutoff_select_the_cohort(rows):
    spec = {"cohort": {"filters": [{"field": "vessel_revascularized", "op": "eq", "value": True},
                                   {"field": "age_at_index", "op": "between", "value": [40, 80]}]},
            "grouping": {"variable": "ics", "cutoff": 85}}
    result = run_analysis(rows, spec)
    expected = rows[(rows["vessel_revascularized"] == 1) & rows["age_at_index"].between(40, 80)]
    assert result["n"] == len(expected)
    assert {g["key"]: g["n"] for g in result["groups"]} == {"high": int((expected["ics"] >= 85).sum()),
                                                             "low": int((expected["ics"] < 85).sum())}


def test_shorter_horizon_censors_later_events(rows):
    result = run_analysis(rows, {"horizon_days": 365})
    assert max(max(km["time"]) for km in result["km"].values()) <= 365


@pytest.mark.parametrize("spec,message", [
    ({"colour": "red"}, "unknown spec field"),
    ({"cohort": {"filters": [{"field": "password", "op": "eq", "value": 1}]}}, "unknown filter field"),
    ({"cohort": {"filters": [{"field": "ics", "op": "drop table", "value": 1}]}}, "unknown filter op"),
    ({"cohort": {"filters": [{"field": "ics", "op": "gt", "value": "lots"}]}}, "needs a number"),
    ({"endpoint": "happiness"}, "unknown endpoint"),
    ({"covariates": ["shoe_size"]}, "covariate"),
    ({"grouping": {"variable": "ics", "cutoff": "deciles"}}, "cut-off"),
])
def test_it_rejects_a_bad_spec_with_a_clear_message(rows, spec, message):
    with pytest.raises(SpecError, match=message):
        run_analysis(rows, spec)
    assert issubclass(SpecError, ValueError)


def test_fixture_columns_are_the_registry_analysis_columns():
    from registry.selectors import analysis_columns

    assert list(pd.read_csv(FIXTURES / "study_408.csv", nrows=1).columns) == analysis_columns()
