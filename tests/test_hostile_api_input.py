"""Hostile input to the API and the analytics pages is a 400 naming the field and the problem, never
a 500 (issue 9, finding 6): numbers too large for a float, values of the wrong type, JSON nested
thousands deep, 5,000-digit query parameters."""

import json

import pytest
from django.test import Client

from analytics.models import AnalysisRun, SavedCohort
from core.api_parsers import JSONInputError, json_loads
from tests.conftest import client_for
from tests.factories import PatientFactory
from tests.scoring.pullback_files import make_pullback

pytestmark = pytest.mark.django_db

HUGE = "1" + "0" * 400  # 10**400 written out: a valid JSON integer that no float can hold
HUGE_SHOWN = "1" + "0" * 29 + "... (401 characters)"
DEEP = "[" * 5000 + "]" * 5000
TOO_DEEP = {"detail": "JSON nested too deeply (more than 64 levels)."}


def _post_json(user, url, text: str):
    return client_for(user).post(url, text, content_type="application/json")


@pytest.fixture
def cohort_patient(site):
    return PatientFactory(site=site)


# POST /api/analyses/: the spec ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body,detail",
    [
        (
            '{"horizon_days": HUGE}'.replace("HUGE", HUGE),
            f"horizon_days must be a number of days from 1 to 36525, got {HUGE_SHOWN}",
        ),
        ('{"horizon_days": 36526}', "horizon_days must be a number of days from 1 to 36525, got 36526"),
        ('{"horizon_days": 1e400}', "JSON parse error - the number 1e400 is too large."),
        ('{"covariates": [{"a": 1}]}', "covariates must be a list of field names, got [{'a': 1}]"),
        ('{"cohort": {"filters": 5}}', "cohort.filters must be a list of {field, op, value} objects, got 5"),
        (
            '{"cohort": {"filters": {"field": "ics"}}}',
            "cohort.filters must be a list of {field, op, value} objects, got {'field': 'ics'}",
        ),
        (
            '{"cohort": {"filters": [{"field": "ics", "op": "ge", "value": HUGE}]}}'.replace("HUGE", HUGE),
            f"ics ge needs a number (or true/false), got {HUGE_SHOWN}",
        ),
        (
            '{"cohort": {"filters": [{"field": "egfr", "op": "in", "value": [HUGE]}]}}'.replace("HUGE", HUGE),
            f"egfr in needs a number (or true/false), got {HUGE_SHOWN}",
        ),
        (
            '{"cohort": {"filters": [{"field": "age_at_index", "op": "between", "value": [0, HUGE]}]}}'.replace(
                "HUGE", HUGE
            ),
            f"age_at_index between needs a number (or true/false), got {HUGE_SHOWN}",
        ),
        (
            '{"cohort": {"filters": [{"field": "sex", "op": "in", "value": {"a": 1}}]}}',
            "sex in needs a list of values, got {'a': 1}",
        ),
        (
            '{"cohort": {"filters": [{"field": "ics", "op": "is_missing", "value": [1]}]}}',
            "ics is_missing takes true or false, got [1]",
        ),
        (
            '{"grouping": {"variable": "ics", "cutoff": HUGE}}'.replace("HUGE", HUGE),
            f"unknown ICS cut-off {HUGE_SHOWN}; a number from 0 to 1000, 'median', 'tertiles' or 'quartiles'",
        ),
        ('{"cohort": []}', "cohort must be an object with 'filters'"),
        (DEEP, TOO_DEEP["detail"]),
        ('{"a":' * 5000 + "1" + "}" * 5000, TOO_DEEP["detail"]),
    ],
)
def test_a_hostile_spec_is_a_400_naming_the_field(cohort_patient, investigator, body, detail):
    response = _post_json(investigator, "/api/analyses/", body)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert not AnalysisRun.objects.exists()


def test_saved_cohort_filters_are_checked_like_a_spec(investigator):
    body = '{"name": "x", "filters": [{"field": "ics", "op": "ge", "value": HUGE}]}'.replace("HUGE", HUGE)
    response = _post_json(investigator, "/api/analyses/cohorts/", body)
    assert response.status_code == 400
    assert response.json() == {"detail": f"ics ge needs a number (or true/false), got {HUGE_SHOWN}"}
    assert _post_json(investigator, "/api/analyses/cohorts/", DEEP).json() == TOO_DEEP
    assert not SavedCohort.objects.exists()


# GET /api/analyses/cohort-count/ -------------------------------------------------------------


@pytest.mark.parametrize(
    "query,body",
    [
        (
            "filters=" + "1" * 5000,
            {
                "detail": "filters must be a JSON list of {field, op, value} objects "
                "(JSON parse error - a number has more than 4300 digits.)"
            },
        ),
        (
            "filters=" + "[" * 5000,
            {
                "detail": "filters must be a JSON list of {field, op, value} objects "
                "(JSON nested too deeply (more than 64 levels).)"
            },
        ),
        (
            'filters=[{"field":"ics","op":"ge","value":HUGE}]'.replace("HUGE", HUGE),
            {"detail": f"ics ge needs a number (or true/false), got {HUGE_SHOWN}"},
        ),
        (
            'filters=[{"field":"ics","op":"ge","value":NaN}]',
            {
                "detail": "filters must be a JSON list of {field, op, value} objects "
                "(JSON parse error - NaN is not a number JSON allows.)"
            },
        ),
        ("horizon_days=" + HUGE, {"horizon_days": ["Ensure this value is less than or equal to 36525."]}),
        (
            'filters=[{"field":"follow_up_days","op":"ge","value":1}]&horizon_days=99999999999999',
            {"horizon_days": ["Ensure this value is less than or equal to 36525."]},
        ),
    ],
)
def test_cohort_count_query_parameters_are_checked(cohort_patient, investigator, query, body):
    response = client_for(investigator).get("/api/analyses/cohort-count/?" + query)
    assert response.status_code == 400
    assert response.json() == body


# The cohort builder's pages ------------------------------------------------------------------

_ROW = "filter-TOTAL_FORMS=1&filter-INITIAL_FORMS=0&filter-0-field=ics&filter-0-op=ge&filter-0-value="


@pytest.mark.parametrize("value", ["1e400", "nan", "inf"])
def test_the_builder_count_refuses_numbers_that_are_not_finite(cohort_patient, investigator, value):
    response = client_for(investigator).get("/analytics/count.json?" + _ROW + value)
    assert response.status_code == 400
    assert response.json() == {"error": f"value: not a finite number: {value}"}


def test_the_builder_does_not_run_a_spec_with_an_infinite_filter(cohort_patient, investigator):
    data = {
        "grouping": "ics",
        "cutoff": "median",
        "endpoint": "poce",
        "horizon_days": 2191,
        "action": "run",
        "filter-TOTAL_FORMS": 1,
        "filter-INITIAL_FORMS": 0,
        "filter-0-field": "ics",
        "filter-0-op": "ge",
        "filter-0-value": "1e400",
    }
    response = client_for(investigator).post("/analytics/", data)
    assert response.status_code == 400
    assert "not a finite number: 1e400" in response.content.decode()
    assert not AnalysisRun.objects.exists()


@pytest.mark.parametrize("cohort", ["²", "9" * 5000, "99999999999999999999"])
def test_the_builder_ignores_a_cohort_id_that_is_no_id(investigator, cohort):
    assert client_for(investigator).get("/analytics/", {"cohort": cohort}).status_code == 200


# Pullbacks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,body",
    [
        ("start_mm=0&end_mm=1e307", {"end_mm": ["Ensure this value is less than or equal to 10000."]}),
        (
            "start_mm=1e307&end_mm=1e308",
            {
                "start_mm": ["Ensure this value is less than or equal to 10000."],
                "end_mm": ["Ensure this value is less than or equal to 10000."],
            },
        ),
    ],
)
def test_segment_positions_beyond_any_pullback_are_a_400(patient, clinician, query, body):
    pullback = make_pullback(patient, length_mm=5.0, ics=10)  # 0.05 mm between frames: 1e307 mm overflowed
    response = client_for(clinician).get(f"/api/pullbacks/{pullback.pk}/segment-ics/?{query}")
    assert response.status_code == 400
    assert response.json() == body


@pytest.mark.parametrize("frame", ["²", "9" * 5000])
def test_an_annotation_frame_filter_that_is_no_number_is_a_400(patient, coordinator, frame):
    pullback = make_pullback(patient, ics=10)
    response = client_for(coordinator).get(f"/api/pullbacks/{pullback.pk}/annotations/", {"frame": frame})
    assert response.status_code == 400
    assert response.json() == {"frame": ["A whole frame number."]}


# Deep JSON anywhere ---------------------------------------------------------------------------


def test_deep_json_is_refused_by_every_json_api(patient, coordinator):
    pullback = make_pullback(patient, ics=10)
    for url in (
        "/api/patients/",
        f"/api/patients/{patient.study_id}/contacts/",
        f"/api/pullbacks/{pullback.pk}/qc/",
        f"/api/pullbacks/{pullback.pk}/annotations/",
        "/api/analyses/",
        "/api/analyses/cohorts/",
    ):
        response = _post_json(coordinator, url, DEEP)
        assert (url, response.status_code, response.json()) == (url, 400, TOO_DEEP)
    token = Client().post("/api/auth/token/", DEEP, content_type="application/json")
    assert (token.status_code, token.json()) == (400, TOO_DEEP)


def test_json_loads_allows_64_levels_and_counts_no_brackets_in_strings():
    assert json_loads("[" * 64 + "]" * 64) == json.loads("[" * 64 + "]" * 64)
    assert json_loads('{"a": "' + "[" * 100 + '\\"["}') == {"a": "[" * 100 + '"['}
    with pytest.raises(JSONInputError, match=r"^JSON nested too deeply \(more than 64 levels\)\.$"):
        json_loads("[" * 65 + "]" * 65)
    with pytest.raises(JSONInputError, match=r"^JSON parse error - Infinity is not a number JSON allows\.$"):
        json_loads("[Infinity]")
    assert json_loads(HUGE) == 10**400  # an integer is exact; the fields that take one check its range


def test_the_analysis_dataset_horizon_is_capped_like_the_analyses(investigator):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(investigator)
    response = client.get("/api/analysis-dataset/", {"horizon_days": 36526})
    assert response.status_code == 400
    assert response.json() == {"horizon_days": ["Ensure this value is less than or equal to 36525."]}
    assert client.get("/api/analysis-dataset/", {"horizon_days": 36525}).status_code == 200
