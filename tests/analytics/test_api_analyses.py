"""The analyses API: roles, the same numbers as run_analysis on the same rows, clear 400s, background
runs with progress, re-runs that show what changed, live counts and saved cohorts."""

import json

import pandas as pd
import pytest
from django.test import Client

from analytics import dictionary
from analytics.analysis import run_analysis
from analytics.models import AnalysisRun, SavedCohort
from registry.selectors import analysis_rows
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for
from tests.factories import EventFactory, IdentityFactory

SPEC = {
    "cohort": {"filters": [{"field": "age_at_index", "op": "ge", "value": 40}]},
    "grouping": {"variable": "ics", "cutoff": "median"},
    "endpoint": "revascularization",
    "horizon_days": 2191,
    "covariates": ["age_at_index", "acs", "egfr", "diabetes", "prior_cabg"],
    "competing_event": "death",
}


@pytest.fixture
def registry(db):
    return registry_cohort(240, seed=7)


def _post(user, spec):
    return client_for(user).post("/api/analyses/", spec, content_type="application/json")


def test_the_api_result_equals_run_analysis_on_the_same_rows_to_full_precision(registry, investigator):
    response = _post(investigator, SPEC)
    assert response.status_code == 201
    body = response.json()
    expected = run_analysis(pd.DataFrame(analysis_rows(user=investigator)), SPEC)
    assert body["status"] == "succeeded" and body["progress_percent"] == 100
    # The stored result, with the data dictionary's `label` fields (and endpoint_label, title) added.
    assert body["result"] == json.loads(json.dumps(dictionary.label_result(expected), allow_nan=False))
    assert body["result"]["groups"][0]["label"] == f"ICS < {dictionary.grouping_context(expected)['cutoffs'][0]}"
    assert body["result"]["competing_risks"]["gray"]["p"] == expected["competing_risks"]["gray"]["p"]
    run = AnalysisRun.objects.get(pk=body["id"])
    assert run.data_hash == expected["data_hash"] and run.n_patients == expected["n"]
    assert run.versions == expected["versions"] and run.created_by == investigator
    assert json.loads(client_for(investigator).get(f"/api/analyses/{run.pk}/").content)["result"] == body["result"]


def test_results_carry_no_identifiers(registry, investigator):
    IdentityFactory(patient=registry[0], name="Jan Jansen", hospital_number="MRN7654321")
    text = json.dumps(_post(investigator, {**SPEC, "subgroup": "vessel_revascularized"}).json())
    assert "Jan Jansen" not in text and "MRN7654321" not in text and registry[0].study_id not in text


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"cohort": {"filters": [{"field": "password", "op": "eq", "value": 1}]}}, "unknown filter field 'password'"),
        ({"cohort": {"filters": [{"field": "ics", "op": "; DROP TABLE", "value": 1}]}}, "unknown filter op"),
        ({"cohort": {"filters": [{"field": "index_date", "op": "ge", "value": "yesterday"}]}}, "bad filter value"),
        ({"endpoint": "happiness"}, "unknown endpoint 'happiness'"),
        ({"covariates": ["shoe_size"]}, "covariate(s): shoe_size"),
        ({"grouping": {"variable": "ics", "cutoff": "deciles"}}, "cut-off"),
        ({"subgroup": "study_id"}, "cannot split into subgroups"),
        ({"colour": "red"}, "unknown spec field(s): colour"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_a_bad_spec_is_a_400_with_the_reason(registry, investigator, spec, message):
    response = _post(investigator, spec)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not AnalysisRun.objects.exists()


def test_a_cohort_that_cannot_be_analysed_is_stored_as_failed(registry, investigator):
    response = _post(investigator, {"cohort": {"filters": [{"field": "ics", "op": "lt", "value": -1}]}})
    assert response.status_code == 201
    run = AnalysisRun.objects.get(pk=response.json()["id"])
    assert run.status == "failed" and "no patient in the cohort has an ICS" in run.error and run.result is None


def test_a_large_registry_runs_in_the_background_with_progress(
    registry, investigator, settings, django_capture_on_commit_callbacks
):
    settings.ANALYSIS_SYNC_MAX_PATIENTS = 100
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(investigator, SPEC)
    assert response.status_code == 202
    run = AnalysisRun.objects.get(pk=response.json()["id"])
    assert run.status == "queued" and run.result is None and response.json()["done"] is False
    for callback in callbacks:  # the worker (eager Celery), through .delay
        callback()
    body = client_for(investigator).get(f"/api/analyses/{run.pk}/").json()
    assert body["status"] == "succeeded" and body["progress_percent"] == 100
    assert body["result"]["n"] == run_analysis(pd.DataFrame(analysis_rows(user=investigator)), SPEC)["n"]


def test_a_rerun_on_changed_data_shows_what_changed(registry, investigator):
    first = _post(investigator, SPEC).json()
    same = client_for(investigator).post(f"/api/analyses/{first['id']}/rerun/").json()
    assert same["changes"]["previous_id"] == first["id"]
    assert same["changes"]["data_changed"] is False and same["changes"]["n_changed"] == 0
    patient = next(p for p in registry if p.age_at_index >= 40)
    EventFactory(patient=patient, event_type="revascularization", event_date=patient.index_date, verification="verified")
    changed = client_for(investigator).post(f"/api/analyses/{same['id']}/rerun/").json()
    assert changed["changes"]["previous_id"] == same["id"]
    assert changed["changes"]["data_changed"] is True
    numbers = {n["name"]: n for n in changed["changes"]["numbers"]}
    assert numbers["log-rank p"]["changed"] is True
    events = sum(g["events"] for g in changed["result"]["groups"]) - sum(g["events"] for g in same["result"]["groups"])
    assert events in (0, 1)  # 0 when the patient already had a revascularization before death/censoring
    assert changed["data_hash"] != same["data_hash"]


def test_the_cohort_count_matches_the_filters(registry, investigator):
    filters = [{"field": "ics", "op": "ge", "value": 100}, {"field": "study_vessel", "op": "in", "value": ["LAD", "RCA"]}]
    response = client_for(investigator).get("/api/analyses/cohort-count/", {"filters": json.dumps(filters)})
    rows = pd.DataFrame(analysis_rows(user=investigator))
    expected = ((rows["ics"] >= 100) & rows["study_vessel"].isin(["LAD", "RCA"])).sum()
    assert response.status_code == 200 and response.json() == {"count": int(expected), "with_ics": int(expected)}
    follow_up = [{"field": "follow_up_days", "op": "gt", "value": 1000}]
    response = client_for(investigator).get("/api/analyses/cohort-count/", {"filters": json.dumps(follow_up)})
    assert response.json()["count"] == int((rows["follow_up_days"] > 1000).sum())
    bad = client_for(investigator).get("/api/analyses/cohort-count/", {"filters": '[{"field": "name", "op": "eq"}]'})
    assert bad.status_code == 400 and "unknown filter field 'name'" in bad.json()["detail"]
    assert client_for(investigator).get("/api/analyses/cohort-count/", {"filters": "{oops"}).status_code == 400


def test_saved_cohorts_crud(db, investigator, coordinator):
    client = client_for(investigator)
    filters = [{"field": "vessel_revascularized", "op": "eq", "value": True}]
    created = client.post(
        "/api/analyses/cohorts/", {"name": "Revascularized", "filters": filters}, content_type="application/json"
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    assert SavedCohort.objects.get(pk=pk).owner == investigator
    duplicate = client.post(
        "/api/analyses/cohorts/", {"name": "Revascularized", "filters": []}, content_type="application/json"
    )
    assert duplicate.status_code == 400
    bad = client.post(
        "/api/analyses/cohorts/",
        {"name": "Bad", "filters": [{"field": "x", "op": "eq", "value": 1}]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "unknown filter field" in bad.json()["detail"]
    assert [c["name"] for c in client.get("/api/analyses/cohorts/").json()] == ["Revascularized"]
    patched = client.patch(f"/api/analyses/cohorts/{pk}/", {"name": "Revasc at index"}, content_type="application/json")
    assert patched.status_code == 200
    cohort = SavedCohort.objects.get(pk=pk)
    assert cohort.name == "Revasc at index" and cohort.filters == filters
    assert client_for(coordinator).get(f"/api/analyses/cohorts/{pk}/").status_code == 404  # someone else's
    assert client.delete(f"/api/analyses/cohorts/{pk}/").status_code == 204
    assert not SavedCohort.objects.filter(pk=pk).exists()


def _statuses(users: dict, call) -> dict:
    return {name: call(client_for(user) if user else Client()).status_code for name, user in users.items()}


def test_role_matrix(registry, coordinator, clinician, investigator, admin_user, outsider, other_site_coordinator):
    run_id = _post(investigator, SPEC).json()["id"]
    cohort = SavedCohort.objects.create(owner=investigator, name="mine", filters=[])
    users = {
        "coordinator": coordinator,
        "clinician": clinician,
        "investigator": investigator,
        "admin": admin_user,
        "outsider": outsider,
        "anonymous": None,
    }
    allowed = {"coordinator": 200, "clinician": 403, "investigator": 200, "admin": 200, "outsider": 403, "anonymous": 401}
    assert _statuses(users, lambda c: c.get("/api/analyses/")) == allowed
    assert _statuses(users, lambda c: c.get(f"/api/analyses/{run_id}/")) == allowed
    assert _statuses(users, lambda c: c.get("/api/analyses/cohort-count/")) == allowed
    assert _statuses(users, lambda c: c.get("/api/analyses/cohorts/")) == allowed
    posted = _statuses(users, lambda c: c.post("/api/analyses/", {"endpoint": "poce"}, content_type="application/json"))
    assert posted == {**allowed, "coordinator": 201, "investigator": 201, "admin": 201}
    owner_only = _statuses(users, lambda c: c.get(f"/api/analyses/cohorts/{cohort.pk}/"))
    assert owner_only == {**allowed, "coordinator": 404, "admin": 404}
    # A site-restricted user sees neither runs on all sites nor others' cohorts.
    other = client_for(other_site_coordinator)
    assert other.get(f"/api/analyses/{run_id}/").status_code == 404
    assert other.post(f"/api/analyses/{run_id}/rerun/").status_code == 404
    assert other.get("/api/analyses/").json()["count"] == 0
