"""analytics.charts and the at-risk numbers: figures built from a result, checked against it."""

import json

import numpy as np
import pandas as pd
import pytest

from analytics import charts, exports
from analytics.analysis import run_analysis
from tests.analytics.conftest import FIXTURES


@pytest.fixture(scope="module")
def rows():
    return pd.read_csv(FIXTURES / "study_408.csv")


@pytest.fixture(scope="module")
def result(rows):
    return run_analysis(rows, {"endpoint": "revascularization"})


def test_km_as_cumulative_incidence_is_one_minus_survival_with_bands(result):
    fig = charts.km_figure(result, cumulative=True, filename="km")
    json.dumps(fig, allow_nan=False)
    assert len(fig["data"]) == 3 * len(result["groups"])
    upper, lower, line = fig["data"][:3]
    km = result["km"]["low"]
    assert line["x"][0] == 0 and line["y"][0] == 0
    np.testing.assert_allclose(line["y"][1:], 1 - np.asarray(km["survival"]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(line["x"][1:]) * 365.25, km["time"])
    assert lower["fill"] == "tonexty" and line["line"]["shape"] == "hv"
    assert all(lo <= y + 1e-12 <= up + 2e-12 for lo, y, up in zip(lower["y"], line["y"], upper["y"], strict=True))
    assert fig["config"]["toImageButtonOptions"]["filename"] == "km"
    assert "log-rank p" in fig["layout"]["title"]["text"]


def test_km_as_survival_starts_at_one(result):
    line = charts.km_figure(result, cumulative=False)["data"][2]
    assert line["y"][0] == 1 and line["y"][1:] == pytest.approx(result["km"]["low"]["survival"], abs=0)


def test_cif_figure_follows_the_aalen_johansen_estimate(result):
    fig = charts.cif_figure(result)
    assert fig["data"][1]["y"][1:] == pytest.approx(result["competing_risks"]["cif"]["high"]["cif"], abs=0)
    assert "Gray's test" in fig["layout"]["title"]["text"]


def test_hazard_ratio_figure_has_every_model_term(result):
    fig = charts.hazard_ratio_figure(result)
    n_terms = len(result["cox"]["univariable"]) + sum(len(v) for v in result["cox"]["multivariable"].values())
    assert len(fig["data"][0]["x"]) == n_terms
    assert fig["layout"]["xaxis"]["type"] == "log"


def test_numbers_at_risk_count_patients_still_followed(rows, result):
    frame = rows[rows["ics"].notna()]
    cut = result["cutoffs"][0]
    days = exports.at_risk_days(result)
    high = frame[frame["ics"] >= cut]["revascularization_days"].to_numpy()
    expected = [int((high >= t).sum()) for t in days]
    assert exports.numbers_at_risk(result["km"]["high"], days) == expected
    assert expected[0] == next(g["n"] for g in result["groups"] if g["key"] == "high")
