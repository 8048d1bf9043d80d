"""R reference fixtures (tests/fixtures/analytics): synthetic cohorts from
tests/reference/make_cohorts.py and R's numbers from tests/reference/make_reference.R."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import cohort_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analytics"
COHORTS = list(json.loads((FIXTURES / "cohorts.json").read_text()))
REL = 1e-6  # issue 5: relative tolerance against R


class Cohort:
    def __init__(self, name):
        self.name = name
        self.manifest = json.loads((FIXTURES / "cohorts.json").read_text())[name]
        self.r = json.loads((FIXTURES / f"{name}.json").read_text())
        frame = cohort_data.analysis_frame(pd.read_csv(FIXTURES / f"{name}.csv"))
        frame = frame[frame["ics"].notna()].copy()
        labels, self.keys, self.cuts = cohort_data.ics_groups(frame["ics"], self.manifest["cutoff"])
        frame["group"] = labels
        frame["ics_high"] = (frame["group"] == "high").astype(float)
        frame["ics_per_100"] = frame["ics"] / 100
        quartiles, _, _ = cohort_data.ics_groups(frame["ics"], "quartiles")
        frame["quartile"] = quartiles
        self.df = frame
        self.covariates = self.manifest["covariates"]

    def endpoint(self, kind):
        name = self.manifest["endpoints"][kind]
        return name, self.r["endpoints"][name]


@pytest.fixture(scope="session", params=COHORTS)
def cohort(request):
    return Cohort(request.param)


def assert_close(actual, expected, rel=REL, abs_=0.0):
    """Arrays or scalars equal to R's within `rel`; R's NA (None) must be NaN here."""
    expected = np.array([np.nan if v is None else v for v in np.atleast_1d(expected)], dtype=float)
    actual = np.atleast_1d(np.asarray(actual, dtype=float))
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=abs_, equal_nan=True)
