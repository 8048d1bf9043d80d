"""cohort_data's vectorised conversions give what their per-element rules give (values, dtype,
index and name, errors), for the registry's rows, CSV rows and odd values."""

import datetime
import decimal

import numpy as np
import pandas as pd
import pytest

from analytics import cohort_data
from tests.analytics.conftest import FIXTURES

ODD_SERIES = [
    pd.Series([True, False, None, True], index=[5, 3, 9, 1], name="flag"),
    pd.Series([1.0, 0.0, np.nan]),
    pd.Series([1, 0, 1]),
    pd.Series([True, False]),
    pd.Series([1, 2], dtype="int32"),
    pd.Series(["1", "0", "", None, " 2.5 ", "nan", "1e3"], dtype=object),
    pd.Series([], dtype=object),
    pd.Series([], dtype=float),
    pd.Series([], dtype=bool),
    pd.Series(["M", "F", "", None, np.nan, "LAD", 3, 1.5, True], name="sex"),
    pd.Series(["M", "F", "M"]),
    pd.Series([np.float32("nan"), "M"], dtype=object),
    pd.Series(["x", "M"]),
    pd.Series(["True", "False"]),
    pd.Series([datetime.date(2020, 1, 2), None]),
    pd.Series(pd.to_datetime(["2020-01-01", None])),
    pd.Series([decimal.Decimal("1.5"), None]),
    pd.Series([pd.NaT, "M"], dtype=object),
    pd.Series([np.nan, np.nan]),
    pd.Series(["", ""]),
    pd.Series([None, None]),
    pd.Series([pd.NA, "M"], dtype=object),
]


def _outcome(function, values):
    try:
        return function(values.copy())
    except Exception as exc:  # noqa: BLE001 - the rule's error is part of its behaviour
        return type(exc)


def _assert_same(got, expected):
    if isinstance(expected, type):
        assert got is expected
        return
    pd.testing.assert_series_equal(got, expected, check_exact=True)
    assert [type(v) for v in got] == [type(v) for v in expected]


@pytest.mark.parametrize("values", ODD_SERIES, ids=range(len(ODD_SERIES)))
def test_conversions_give_what_the_per_element_rules_give(values):
    mapped_float = _outcome(lambda s: pd.to_numeric(s.map(cohort_data._float_rule), errors="coerce"), values)
    _assert_same(_outcome(cohort_data._to_float, values), mapped_float)
    _assert_same(_outcome(cohort_data._category, values), _outcome(lambda s: s.map(cohort_data._category_rule), values))
    for level in ("M", "LAD"):
        rule = cohort_data._indicator_rule(level)
        got = _outcome(lambda s, lv=level: cohort_data._indicator(s, lv), values)
        _assert_same(got, _outcome(lambda s, r=rule: s.map(r), values))


def _analysis_frame_by_rules(rows) -> pd.DataFrame:
    """analysis_frame written with Series.map over the per-element rules."""
    df = pd.DataFrame(rows).copy()
    for col in (*cohort_data.BOOLEAN_COLUMNS, *cohort_data.NUMERIC_COLUMNS):
        if col in df:
            df[col] = pd.to_numeric(df[col].map(cohort_data._float_rule), errors="coerce")
    for col in cohort_data.CATEGORICAL_COLUMNS:
        if col in df:
            df[col] = df[col].map(cohort_data._category_rule)
    for name in cohort_data.ENDPOINTS:
        if f"{name}_days" in df:
            df[f"{name}_days"] = df[f"{name}_days"].astype(float)
            df[f"{name}_status"] = df[f"{name}_status"].astype(int)
    df["male"] = df["sex"].map(cohort_data._indicator_rule("M"))
    df["study_vessel_lad"] = df["study_vessel"].map(cohort_data._indicator_rule("LAD"))
    return df


def test_analysis_frame_is_the_per_element_rules_on_registry_and_csv_rows():
    csv_rows = pd.read_csv(FIXTURES / "study_408.csv")
    registry_like = csv_rows.astype(object).where(csv_rows.notna(), None)  # Python values, None for missing
    registry_like.loc[registry_like.index[:5], "site"] = ""
    registry_like.loc[registry_like.index[5:9], "egfr"] = ""
    for rows in (csv_rows, registry_like, csv_rows.iloc[:1], csv_rows.iloc[:0], registry_like.to_dict("records")):
        got, expected = cohort_data.analysis_frame(rows), _analysis_frame_by_rules(rows)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_censor_at_horizon_is_the_row_by_row_update():
    frame = cohort_data.analysis_frame(pd.read_csv(FIXTURES / "study_408.csv"))
    for horizon in (1, 365, 400.5, 2191, 10**5):
        got = cohort_data.censor_at_horizon(frame, horizon)
        expected = frame.copy()
        for name in cohort_data.ENDPOINTS:
            late = expected[f"{name}_days"] > horizon
            expected.loc[late, f"{name}_status"] = 0
            expected.loc[late, f"{name}_days"] = float(horizon)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert frame["poce_days"].max() > 365  # the input is not changed
