"""The pullback list (every pullback the user may see, filtered by state) and the scoring queue
(queued and running runs with their progress). The views live in scoring (the registry does not
import it); the menu links them for every role that sees patients."""

import pytest

from scoring.models import ScoringRun
from tests.conftest import client_for
from tests.factories import IdentityFactory, PatientFactory
from tests.scoring.pullback_files import make_pullback


def _run(pullback, status: str, progress: int = 0, **fields) -> ScoringRun:
    return ScoringRun.objects.create(
        pullback=pullback, model_name="default", status=status, progress_percent=progress, **fields
    )


@pytest.fixture
def pullbacks(site, other_site):
    """One pullback in each state at the coordinator's site, and one at another site."""
    patient = PatientFactory(study_id="ICS-0001", site=site)
    IdentityFactory(patient=patient, name="Johanna Testpersoon", hospital_number="MRN7654321")
    scored = make_pullback(patient, ics=120.0)
    queued = make_pullback(patient, ics=None)
    _run(queued, "queued")
    scoring = make_pullback(patient, ics=None)
    _run(scoring, "running", progress=40)
    failed = make_pullback(patient, ics=None)
    _run(failed, "failed", error="could not read frame 3")
    excluded = make_pullback(patient, ics=80.0, qc_status="excluded")
    elsewhere = make_pullback(PatientFactory(study_id="OTH-0001", site=other_site), ics=None)
    _run(elsewhere, "queued")
    return {
        "scored": scored,
        "queued": queued,
        "scoring": scoring,
        "failed": failed,
        "excluded": excluded,
        "elsewhere": elsewhere,
    }


def _pks(response) -> list[int]:
    return [p.pk for p in response.context["page"]]


def test_the_list_shows_every_pullback_the_user_may_see_newest_first(coordinator, pullbacks):
    response = client_for(coordinator).get("/pullbacks/")

    expected = ["elsewhere", "excluded", "failed", "scoring", "queued", "scored"]
    assert _pks(response) == [pullbacks[name].pk for name in expected]
    html = response.content.decode()
    assert '<td class="num">120.0</td>' in html  # the current run's ICS
    assert 'aria-label="Scoring progress of pullback' in html and "40%" in html


def test_another_sites_pullbacks_are_not_listed(other_site_coordinator, pullbacks):
    response = client_for(other_site_coordinator).get("/pullbacks/")

    assert _pks(response) == [pullbacks["elsewhere"].pk]


@pytest.mark.parametrize("state", ["queued", "scoring", "scored", "failed", "excluded"])
def test_the_state_filters_each_find_their_pullbacks_and_are_counted(coordinator, pullbacks, state):
    response = client_for(coordinator).get("/pullbacks/", {"state": state})

    expected = [pullbacks[state].pk] + ([pullbacks["elsewhere"].pk] if state == "queued" else [])
    assert sorted(_pks(response)) == sorted(expected)
    counts = {f["value"]: f["count"] for f in response.context["filters"]}
    assert counts == {"queued": 2, "scoring": 1, "scored": 1, "failed": 1, "excluded": 1}
    assert f'<a href="?state={state}" aria-current="true">' in response.content.decode()


def test_an_unknown_state_shows_everything(coordinator, pullbacks):
    assert len(_pks(client_for(coordinator).get("/pullbacks/", {"state": "lost"}))) == 6


def test_the_scoring_queue_lists_queued_and_running_runs_in_worker_order_with_progress(coordinator, pullbacks):
    response = client_for(coordinator).get("/pullbacks/queue/")

    runs = response.context["runs"]
    assert [r.pullback_id for r in runs] == [pullbacks[n].pk for n in ("queued", "scoring", "elsewhere")]
    html = response.content.decode()
    assert '<progress max="100" value="40"' in html
    assert 'aria-current="page">Scoring queue</a>' in html


def test_the_queue_of_a_site_restricted_user_holds_only_their_sites_runs(other_site_coordinator, pullbacks):
    runs = client_for(other_site_coordinator).get("/pullbacks/queue/").context["runs"]

    assert [r.pullback_id for r in runs] == [pullbacks["elsewhere"].pk]


@pytest.mark.parametrize("path", ["/pullbacks/", "/pullbacks/queue/"])
def test_an_investigator_sees_the_lists_without_identifiers(investigator, pullbacks, path):
    response = client_for(investigator).get(path)

    html = response.content.decode()
    assert response.status_code == 200 and "ICS-0001" in html
    assert "Testpersoon" not in html and "MRN7654321" not in html


@pytest.mark.parametrize("path", ["/pullbacks/", "/pullbacks/queue/"])
def test_someone_without_a_role_gets_403(outsider, path):
    assert client_for(outsider).get(path).status_code == 403


def test_the_menu_links_the_pullback_list_for_every_role_that_sees_patients(clinician, outsider):
    assert 'href="/pullbacks/">Pullbacks</a>' in client_for(clinician).get("/patients/").content.decode()
    assert 'href="/pullbacks/"' not in client_for(outsider).get("/patients/").content.decode()


@pytest.mark.parametrize("count", [1, 30])
def test_the_lists_cost_the_same_queries_whatever_the_size(coordinator, site, count, django_assert_max_num_queries):
    for n in range(count):
        patient = PatientFactory(study_id=f"ICS-{n:04d}", site=site)
        _run(make_pullback(patient, ics=10.0), "queued")
    client = client_for(coordinator)

    # session, user, groups, site profile, sites; the page and its count; the state counts
    with django_assert_max_num_queries(9):
        assert client.get("/pullbacks/").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/pullbacks/queue/").status_code == 200
