"""run_analysis: the result format of issue 5, spec validation, and the same numbers as R."""

import datetime
import hashlib
import importlib.metadata
import json
import math

import numpy as np
import pandas as pd
import pytest

from analytics import cohort_data
from analytics.analysis import _clean, _csv_text, data_hash, run_analysis, versions
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
    assert {
        "km",
        "logrank",
        "cox",
        "ph_test",
        "c_index",
        "baseline_table",
        "sqrt_ics_regression",
        "data_hash",
        "versions",
        "spec",
    } <= set(result)


def test_filters_and_fixed_cutoff_select_the_cohort(rows):
    spec = {
        "cohort": {
            "filters": [
                {"field": "vessel_revascularized", "op": "eq", "value": True},
                {"field": "age_at_index", "op": "between", "value": [40, 80]},
            ]
        },
        "grouping": {"variable": "ics", "cutoff": 85},
    }
    result = run_analysis(rows, spec)
    expected = rows[(rows["vessel_revascularized"] == 1) & rows["age_at_index"].between(40, 80)]
    assert result["n"] == len(expected)
    assert {g["key"]: g["n"] for g in result["groups"]} == {
        "high": int((expected["ics"] >= 85).sum()),
        "low": int((expected["ics"] < 85).sum()),
    }


def test_shorter_horizon_censors_later_events(rows):
    result = run_analysis(rows, {"horizon_days": 365})
    assert max(max(km["time"]) for km in result["km"].values()) <= 365


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"colour": "red"}, "unknown spec field"),
        ({"cohort": {"filters": [{"field": "password", "op": "eq", "value": 1}]}}, "unknown filter field"),
        ({"cohort": {"filters": [{"field": "ics", "op": "drop table", "value": 1}]}}, "unknown filter op"),
        ({"cohort": {"filters": [{"field": "ics", "op": "gt", "value": "lots"}]}}, "needs a number"),
        ({"endpoint": "happiness"}, "unknown endpoint"),
        ({"covariates": ["shoe_size"]}, "covariate"),
        ({"grouping": {"variable": "ics", "cutoff": "deciles"}}, "cut-off"),
    ],
)
def test_it_rejects_a_bad_spec_with_a_clear_message(rows, spec, message):
    with pytest.raises(SpecError, match=message):
        run_analysis(rows, spec)
    assert issubclass(SpecError, ValueError)


def test_fixture_columns_are_the_registry_analysis_columns():
    from registry.selectors import analysis_columns

    assert list(pd.read_csv(FIXTURES / "study_408.csv", nrows=1).columns) == analysis_columns()


def _pandas_csv_hash(frame: pd.DataFrame) -> str:
    """data_hash as it was defined: SHA-256 of pandas' CSV of the sorted columns, without `group`."""
    canonical = frame.drop(columns=["group"], errors="ignore").sort_index(axis=1)
    return hashlib.sha256(canonical.to_csv(index=False).encode()).hexdigest()


def _odd_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16, 1e-5, 0.1 + 0.2, 123456789.125, 5e-324],
            "b": np.arange(10) - 3,
            "c": [True, False] * 5,
            "e": np.array([1, 2] * 5, dtype=np.uint8),
            "d": ["x", None, np.nan, "", " y", "a\rb", 1.5, 2, True, datetime.date(2020, 1, 2)],
            "f": [pd.NA, pd.NaT] + ["é"] * 8,
            "g": [1, 1.0, True, "1", 0, 0.0, False, -0.0, None, "0"],
            "h": [datetime.date(2020, 1, 2), None] * 5,
            "group": "high",
        }
    )


def test_data_hash_is_the_sha256_of_the_pandas_csv(rows):
    frame = cohort_data.analysis_frame(rows)
    odd = _odd_frame()
    frames = [
        frame,
        rows,
        frame.iloc[:1],
        frame.iloc[:0],
        frame[["ics"]],
        frame.assign(group="low"),
        odd,
        # pandas writes these (quoting, other dtypes, one column): the same hash by the other way
        odd.assign(q=["a,b"] * 10),
        odd.assign(q=['say "hi"'] * 10),
        odd.assign(q=["two\nlines"] * 10),
        odd.rename(columns={"a": "a,b"}),
        odd.assign(t=pd.to_datetime(["2020-01-01"] * 10)),
        odd.assign(s=np.float32(1.1)),
        odd.assign(n=pd.array([1, None] * 5, dtype="Int64")),
        odd.assign(c=pd.Categorical(["u", "v"] * 5)),
        odd[["a"]],
        odd[["d", "group"]],
        pd.DataFrame(),
        odd.drop(columns="group").set_axis(range(8, 0, -1), axis=1),  # labels not text
        odd.set_axis([*odd.columns[:-2], "a", "group"], axis=1),  # twice "a"
        odd[["h", "g", "f", "e", "d", "c", "b", "a"]],  # unsorted
    ]
    for frame in frames:
        assert data_hash(frame) == _pandas_csv_hash(frame), list(frame.columns)


def test_data_hash_writes_the_common_frames_itself():
    """The fast way is taken for the analysis frame and the odd frame (else it is only as fast as pandas)."""
    for frame in (cohort_data.analysis_frame(pd.read_csv(FIXTURES / "study_408.csv")), _odd_frame()):
        columns = sorted(c for c in frame.columns if c != "group")
        assert _csv_text(frame, columns) == frame[columns].to_csv(index=False)


def test_clean_turns_arrays_into_json_values():
    value = {
        "f": np.array([1.5, np.nan, -np.inf, -0.0]),
        "g": np.array([0.25, 2.0]),
        "i": np.array([1, -2]),
        "b": np.array([True, False]),
        "m": np.array([[1.0, np.nan]]),
        "o": np.array(["x", None], dtype=object),
        "s": [np.float64(np.inf), np.int64(3), np.bool_(True), (1, 2.5)],
        3: "key",
    }
    cleaned = _clean(value)
    assert cleaned == {
        "f": [1.5, None, None, -0.0],
        "g": [0.25, 2.0],
        "i": [1, -2],
        "b": [True, False],
        "m": [[1.0, None]],
        "o": ["x", None],
        "s": [None, 3, True, [1, 2.5]],
        "3": "key",
    }
    assert [type(v) for v in cleaned["i"] + cleaned["b"] + cleaned["g"]] == [int, int, bool, bool, float, float]
    assert math.copysign(1, cleaned["f"][3]) == -1


def test_versions_are_the_installed_ones_in_a_new_dict():
    first = versions()
    assert first == {name: importlib.metadata.version(name) for name in ("numpy", "scipy", "pandas")}
    first["numpy"] = "changed"
    assert versions()["numpy"] == importlib.metadata.version("numpy")
