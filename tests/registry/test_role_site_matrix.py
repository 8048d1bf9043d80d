"""Role x site matrix: for each role (coordinator, clinician, investigator, admin) with one site,
two sites, all sites or no site, exactly the expected patients in the patient list (page and API),
patient pages (200 vs 404), the analysis data set (API), the cohort count and an analysis run.

Sites are deny-by-default (registry.access): a user sees every site only with `all_sites`."""

import json

import pytest
from rest_framework.test import APIClient

from analytics.selectors import cohort_fields
from analytics.services import analysis_run_rerun, analysis_run_start
from core.roles import ADMIN, CLINICIAN, COORDINATOR, INVESTIGATOR
from registry.access import user_site_ids
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for
from tests.factories import UserFactory, set_user_sites

pytestmark = pytest.mark.django_db

SIZES = {"A": 22, "B": 14, "C": 9}  # 45 patients: the whole registry fits on one list page (50)
# The sites each scope grants; None: all sites.
SCOPES = {"one site": ["A"], "two sites": ["A", "B"], "all sites": None, "no site": []}
ROLES = (COORDINATOR, CLINICIAN, INVESTIGATOR, ADMIN)
ANALYSTS = (COORDINATOR, INVESTIGATOR, ADMIN)
SPEC = {"grouping": {"variable": "ics", "cutoff": "median"}}


@pytest.fixture
def registry(db):
    """{site code: (Site, sorted study IDs)} for three sites of synthetic patients."""
    out = {}
    for seed, (code, n) in enumerate(SIZES.items(), start=1):
        patients = registry_cohort(n, seed=seed, site_code=code, prefix=f"P{code}")
        out[code] = (patients[0].site, sorted(p.study_id for p in patients))
    return out


def _user(registry, role: str, scope: str):
    codes = SCOPES[scope]
    sites = None if codes is None else [registry[c][0] for c in codes]
    return UserFactory(username=f"{role}-{scope.replace(' ', '-')}", roles=[role], sites=sites)


def _expected(registry, scope: str) -> list[str]:
    codes = SCOPES[scope] if SCOPES[scope] is not None else list(SIZES)
    return sorted(study_id for c in codes for study_id in registry[c][1])


def _page_ids(client) -> list[str]:
    response = client.get("/patients/")
    assert response.status_code == 200
    page = response.context["page"]
    assert page.paginator.num_pages == 1
    return sorted(row.patient.study_id for row in page)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_the_patients_of_its_sites(registry, role, scope):
    user = _user(registry, role, scope)
    expected = _expected(registry, scope)
    web, api = client_for(user), APIClient()
    api.force_login(user)

    assert _page_ids(web) == expected
    listed = api.get("/api/patients/", {"page_size": 500})
    assert listed.status_code == 200
    assert sorted(p["study_id"] for p in listed.json()["results"]) == expected
    one_per_site = {code: ids[0] for code, (_, ids) in registry.items()}
    assert {code: web.get(f"/patients/{sid}/").status_code for code, sid in one_per_site.items()} == {
        code: 200 if sid in expected else 404 for code, sid in one_per_site.items()
    }
    assert {code: api.get(f"/api/patients/{sid}/").status_code for code, sid in one_per_site.items()} == {
        code: 200 if sid in expected else 404 for code, sid in one_per_site.items()
    }

    dataset = api.get("/api/analysis-dataset/", {"page_size": 500})
    count = api.get("/api/analyses/cohort-count/", {"filters": json.dumps([])})
    builder_count = web.get("/analytics/count.json", {"filter-TOTAL_FORMS": 0, "filter-INITIAL_FORMS": 0})
    if role not in ANALYSTS:
        assert (dataset.status_code, count.status_code, builder_count.status_code) == (403, 403, 403)
        return
    assert dataset.status_code == 200
    assert sorted(r["study_id"] for r in dataset.json()["results"]) == expected
    assert count.json() == {"count": len(expected), "with_ics": len(expected)}
    assert (builder_count.json()["count"], builder_count.json()["with_ics"]) == (len(expected), len(expected))
    site_levels = next(f["levels"] for f in cohort_fields(user=user) if f["name"] == "site")
    assert site_levels == (list(SIZES) if SCOPES[scope] is None else SCOPES[scope])


@pytest.mark.parametrize("scope", SCOPES)
def test_an_analysis_run_uses_exactly_its_creator_s_sites(registry, scope):
    user = _user(registry, INVESTIGATOR, scope)
    expected = _expected(registry, scope)
    site_ids = None if SCOPES[scope] is None else sorted(registry[c][0].pk for c in SCOPES[scope])

    run = analysis_run_start(spec=SPEC, user=user)

    assert run.site_ids == site_ids
    if expected:
        assert (run.status, run.n_patients, run.result["n"]) == ("succeeded", len(expected), len(expected))
    else:
        assert (run.status, run.n_patients) == ("failed", None)


def test_a_run_keeps_its_scope_and_a_rerun_takes_the_re_running_user_s(registry):
    one = _user(registry, INVESTIGATOR, "one site")
    two = _user(registry, INVESTIGATOR, "two sites")
    run = analysis_run_start(spec=SPEC, user=one)
    set_user_sites(one, sites=[registry["A"][0], registry["C"][0]])  # granted another site later

    again = analysis_run_rerun(run=run, user=two)

    run.refresh_from_db()
    assert (run.site_ids, run.n_patients) == ([registry["A"][0].pk], SIZES["A"])
    assert (again.site_ids, again.n_patients) == (
        sorted([registry["A"][0].pk, registry["B"][0].pk]),
        SIZES["A"] + SIZES["B"],
    )


def test_a_user_sees_the_runs_whose_sites_are_all_theirs(registry):
    runs = {
        scope: analysis_run_start(spec=SPEC, user=_user(registry, INVESTIGATOR, scope)).pk
        for scope in ("one site", "two sites", "all sites")
    }
    seen = {}
    for scope in SCOPES:
        client = APIClient()
        client.force_login(_user(registry, COORDINATOR, scope))
        listed = client.get("/api/analyses/").json()["results"]
        seen[scope] = sorted(r["id"] for r in listed)
        if scope == "all sites":
            assert {r["id"]: r["sites"] for r in listed} == {
                runs["one site"]: ["A"],
                runs["two sites"]: ["A", "B"],
                runs["all sites"]: None,
            }
        assert client.get(f"/api/analyses/{runs['two sites']}/").status_code == (
            200 if scope in ("two sites", "all sites") else 404
        )

    assert seen == {
        "one site": [runs["one site"]],
        "two sites": sorted([runs["one site"], runs["two sites"]]),
        "all sites": sorted(runs.values()),
        "no site": [],
    }


def test_without_a_profile_a_user_sees_no_patient_and_a_superuser_sees_all(registry):
    nobody = UserFactory(username="no-profile", roles=[COORDINATOR])
    nobody.registry_profile.delete()
    nobody = type(nobody).objects.get(pk=nobody.pk)
    root = UserFactory(username="root", roles=[], sites=[], is_superuser=True)

    assert (user_site_ids(nobody), user_site_ids(root)) == (frozenset(), None)
    assert _page_ids(client_for(nobody)) == []
    assert _page_ids(client_for(root)) == _expected(registry, "all sites")


def test_the_site_select_offers_only_the_user_s_sites(registry):
    user = _user(registry, COORDINATOR, "two sites")

    form = client_for(user).get("/patients/new/").context["form"]
    api = APIClient()
    api.force_login(user)
    refused = api.post("/api/patients/", {"study_id": "NEW-1", "site": "C", "index_date": "2020-01-01"}, format="json")
    enrolled = api.post("/api/patients/", {"study_id": "NEW-2", "site": "B", "index_date": "2020-01-01"}, format="json")

    assert sorted(s.code for s in form.fields["site"].queryset) == ["A", "B"]
    assert (refused.status_code, refused.json()) == (400, {"site": ["Object with code=C does not exist."]})
    assert (enrolled.status_code, enrolled.json()["site"]) == (201, "B")


def test_an_admin_gives_a_user_sites_on_the_user_s_admin_page(registry):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    user = UserFactory(username="coordinator-x", roles=[COORDINATOR])  # all sites (the factory's default)
    client = client_for(root)
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    profile_id = user.registry_profile.pk
    data = {
        "username": user.username,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
        "is_active": "on",
        "registry_profile-TOTAL_FORMS": "1",
        "registry_profile-INITIAL_FORMS": "1",
        "registry_profile-MIN_NUM_FORMS": "0",
        "registry_profile-MAX_NUM_FORMS": "1",
        "registry_profile-0-id": str(profile_id),
        "registry_profile-0-user": str(user.pk),
        "registry_profile-0-sites": [str(registry["B"][0].pk), str(registry["C"][0].pk)],
    }

    saved = client.post(f"/admin/auth/user/{user.pk}/change/", data)

    assert page.status_code == 200 and 'name="registry_profile-0-all_sites"' in page.content.decode()
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved
    user = type(user).objects.get(pk=user.pk)
    assert (user.registry_profile.all_sites, user_site_ids(user)) == (
        False,
        frozenset({registry["B"][0].pk, registry["C"][0].pk}),
    )
    listing = client.get("/admin/auth/user/").content.decode()
    assert '<td class="field-registry_sites">B, C</td>' in listing
