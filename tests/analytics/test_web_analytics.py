"""The analytics pages: roles, the cohort builder (filters, live count, saved cohorts), the result
and report pages, CSV/XLSX downloads, and no identifiers anywhere."""

import io
import json

import pytest
from django.test import Client
from openpyxl import load_workbook

from analytics import dictionary, forms
from analytics.models import AnalysisRun, SavedCohort
from analytics.services import analysis_run
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for
from tests.factories import IdentityFactory, assert_no_external_assets

BUILDER = {
    "grouping": "ics",
    "cutoff": "median",
    "endpoint": "revascularization",
    "horizon_days": "2191",
    "covariates": ["age_at_index", "acs", "egfr"],
    "count_pending": "on",
    "subgroup": "vessel_revascularized",
    "filter-TOTAL_FORMS": "3",
    "filter-INITIAL_FORMS": "0",
    "filter-MIN_NUM_FORMS": "0",
    "filter-MAX_NUM_FORMS": "20",
}


@pytest.fixture
def registry(db):
    return registry_cohort(200, seed=11)


@pytest.fixture
def run(registry, investigator):
    return analysis_run(spec={"endpoint": "revascularization", "subgroup": "vessel_revascularized"}, user=investigator)


def test_role_matrix_for_every_page(run, coordinator, clinician, investigator, admin_user, outsider, other_site_coordinator):
    pages = [
        "/analytics/",
        "/analytics/runs/",
        f"/analytics/runs/{run.pk}/",
        f"/analytics/runs/{run.pk}/report/",
        f"/analytics/runs/{run.pk}/tables.xlsx",
        f"/analytics/runs/{run.pk}/tables/table1.csv",
        "/analytics/count.json?" + "filter-TOTAL_FORMS=0&filter-INITIAL_FORMS=0",
    ]
    for url in pages:
        for user in (coordinator, investigator, admin_user):
            assert client_for(user).get(url).status_code == 200, (url, user)
        for user in (clinician, outsider):
            assert client_for(user).get(url).status_code == 403, (url, user)
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    for url in pages[2:6]:
        assert client_for(other_site_coordinator).get(url).status_code == 404
    assert client_for(clinician).post(f"/analytics/runs/{run.pk}/rerun/").status_code == 403
    assert client_for(other_site_coordinator).post(f"/analytics/runs/{run.pk}/rerun/").status_code == 404


def test_the_nav_shows_analytics_to_analysis_roles_only(db, investigator, clinician):
    assert 'href="/analytics/"' in client_for(investigator).get("/analytics/runs/").content.decode()
    assert 'href="/analytics/"' not in client_for(clinician).get("/patients/").content.decode()


def test_the_builder_runs_the_spec_of_its_filters(registry, investigator):
    data = {
        **BUILDER,
        "study_vessel": ["LAD", "RCA"],
        "vessel_revascularized": "yes",
        "ics_min": "10",
        "index_date_from": "2009-01-01",
        "filter-0-field": "age_at_index",
        "filter-0-op": "between",
        "filter-0-value": "40, 80",
        "filter-1-field": "diabetes",
        "filter-1-op": "is_missing",
        "filter-1-value": "no",
    }
    response = client_for(investigator).post("/analytics/", {**data, "action": "run"})
    run = AnalysisRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/analytics/runs/{run.pk}/"
    assert run.status == "succeeded"
    assert run.spec["cohort"]["filters"] == [
        {"field": "index_date", "op": "ge", "value": "2009-01-01"},
        {"field": "study_vessel", "op": "in", "value": ["LAD", "RCA"]},
        {"field": "vessel_revascularized", "op": "eq", "value": True},
        {"field": "ics", "op": "ge", "value": 10.0},
        {"field": "age_at_index", "op": "between", "value": [40.0, 80.0]},
        {"field": "diabetes", "op": "is_missing", "value": False},
    ]
    assert run.spec["subgroup"] == "vessel_revascularized" and run.spec["covariates"] == ["age_at_index", "acs", "egfr"]
    count = client_for(investigator).get("/analytics/count.json", data).json()
    assert count["count"] == run.result["n"]


def test_a_bad_filter_value_shows_the_form_again(registry, investigator):
    data = {**BUILDER, "filter-0-field": "age_at_index", "filter-0-op": "gt", "filter-0-value": "old", "action": "run"}
    response = client_for(investigator).post("/analytics/", data)
    assert response.status_code == 400 and "not a number: old" in response.content.decode()
    assert not AnalysisRun.objects.exists()
    count = client_for(investigator).get("/analytics/count.json", data)
    assert count.status_code == 400 and "not a number" in count.json()["error"]


def test_saving_and_loading_a_cohort(registry, investigator):
    data = {
        **BUILDER,
        "index_treatment": ["PCI"],
        "ics_available": "yes",
        "cohort_name": "PCI with ICS",
        "filter-0-field": "sex",
        "filter-0-op": "eq",
        "filter-0-value": "F",
        "action": "save",
    }
    response = client_for(investigator).post("/analytics/", data)
    cohort = SavedCohort.objects.get(owner=investigator)
    assert response.status_code == 302 and response["Location"] == f"/analytics/?cohort={cohort.pk}"
    assert cohort.name == "PCI with ICS"
    assert cohort.filters == [
        {"field": "index_treatment", "op": "in", "value": ["PCI"]},
        {"field": "ics", "op": "is_missing", "value": False},
        {"field": "sex", "op": "eq", "value": "F"},
    ]
    page = client_for(investigator).get(f"/analytics/?cohort={cohort.pk}")
    form, formset = page.context["form"], page.context["formset"]
    assert form.initial["index_treatment"] == ["PCI"] and form.initial["ics_available"] == "yes"
    assert formset.initial == [{"field": "sex", "op": "eq", "value": "F"}]


def test_form_and_filters_round_trip():
    filters = [
        {"field": "index_date", "op": "le", "value": "2015-12-31"},
        {"field": "vessel_revascularized", "op": "is_missing", "value": True},
        {"field": "ics", "op": "le", "value": 300.0},
        {"field": "site", "op": "in", "value": ["EMC"]},
        {"field": "egfr", "op": "lt", "value": 60.0},
    ]
    initial, rows = forms.initial_from(filters)
    form = forms.CohortForm(
        {**initial, "grouping": "ics", "cutoff": "median", "endpoint": "poce", "horizon_days": 2191}, sites=["EMC"]
    )
    assert form.is_valid(), form.errors
    cleaned_rows = [{"filter": forms._row_filter(r["field"], r["op"], r["value"], "number")} for r in rows]
    assert sorted(map(json.dumps, forms.filters_from(form.cleaned_data, cleaned_rows))) == sorted(map(json.dumps, filters))


def test_the_result_page_shows_tables_charts_and_subgroups(run, investigator):
    page = client_for(investigator).get(f"/analytics/runs/{run.pk}/").content.decode()
    for text in (
        "Table 1. Baseline characteristics",
        "Table 2. Uni- and multivariable linear regression of √ICS",
        "Table 3. Cox regression for Revascularization",
        "Numbers at risk",
        "Gray's test",
        "cox.zph",
        "vendor/plotly/plotly.min.js",
        "analysis-figures",
        "Study vessel revascularized at index: yes",
        "Study vessel revascularized at index: no",
        "toImageButtonOptions",
    ):
        assert text in page, text
    assert_no_external_assets(page)
    report = client_for(investigator).get(f"/analytics/runs/{run.pk}/report/").content.decode()
    assert "css/analytics.css" in report and "print-report" in report and "Table 1." in report


def test_downloads_keep_full_precision(run, investigator):
    csv_text = client_for(investigator).get(f"/analytics/runs/{run.pk}/tables/cox.csv").content.decode()
    first = run.result["cox"]["univariable"][0]
    label = dictionary.term_label(first["term"], **dictionary.grouping_context(run.result))
    assert f"Univariable,{label},{first['hr']!r},{first['ci_lower']!r}" in csv_text
    xlsx = client_for(investigator).get(f"/analytics/runs/{run.pk}/tables.xlsx")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert {
        "Groups",
        "Table 1",
        "Table 2",
        "Cox regression",
        "PH test",
        "At risk",
        "Kaplan-Meier",
        "Cumulative incidence",
        "Subgroups",
        "Analysis",
    } <= set(book.sheetnames)
    # openpyxl writes 16 significant digits ("%.16g"): 1e-15 relative; CSV and JSON are exact.
    assert book["Cox regression"].cell(row=3, column=3).value == pytest.approx(first["hr"], rel=1e-15)
    assert client_for(investigator).get(f"/analytics/runs/{run.pk}/tables/nope.csv").status_code == 404


def test_no_identifier_on_any_page_or_download(registry, investigator):
    IdentityFactory(patient=registry[0], name="Jan Jansen", hospital_number="MRN7654321")
    run = analysis_run(spec={"endpoint": "poce"}, user=investigator)
    client = client_for(investigator)
    for url in (
        f"/analytics/runs/{run.pk}/",
        f"/analytics/runs/{run.pk}/report/",
        "/analytics/runs/",
        f"/analytics/runs/{run.pk}/tables/km.csv",
    ):
        text = client.get(url).content.decode()
        assert "Jan Jansen" not in text and "MRN7654321" not in text and registry[0].study_id not in text


def test_rerun_page_shows_the_comparison(run, investigator):
    response = client_for(investigator).post(f"/analytics/runs/{run.pk}/rerun/")
    new = AnalysisRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/analytics/runs/{new.pk}/"
    page = client_for(investigator).get(f"/analytics/runs/{new.pk}/").content.decode()
    assert "Compared with analysis" in page and "Same data" in page


def test_a_running_analysis_shows_a_progress_bar(registry, investigator):
    run = AnalysisRun.objects.create(
        spec={"endpoint": "poce", "cohort": {"filters": []}, "grouping": {"variable": "ics"}, "horizon_days": 2191},
        spec_hash="x",
        progress_percent=40,
        status="running",
        created_by=investigator,
    )
    page = client_for(investigator).get(f"/analytics/runs/{run.pk}/").content.decode()
    assert 'id="run-progress"' in page and 'value="40"' in page and f"/api/analyses/{run.pk}/" in page
    assert client_for(investigator).get(f"/analytics/runs/{run.pk}/tables.xlsx").status_code == 409
