"""The home dashboard's figures: recruitment, completeness per year of follow-up and per site, the
ICS distribution, event rates, and the admins' job health."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from core.jobs import job_health
from registry import dashboard
from registry.models import ImportJob, Patient
from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, PatientFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 1)


@pytest.fixture
def cohort(site):
    other = SiteFactory(code="OTH")
    # Index 2020-01-10, contact 2022-03-01: state known at years 1 and 2, not at 3 (due, unknown).
    a = PatientFactory(study_id="A", site=site, index_date=date(2020, 1, 10), ics_imported=40)
    ContactFactory(patient=a, contact_date=date(2022, 3, 1))
    # Died 2021-06-01: known at every later anniversary.
    b = PatientFactory(study_id="B", site=site, index_date=date(2020, 2, 1), ics_imported=90)
    EventFactory(patient=b, event_type="death", event_date=date(2021, 6, 1), verification="verified", target_vessel=None)
    # Index 2026-06-01: no anniversary yet; a contact last month keeps the site up to date.
    c = PatientFactory(study_id="C", site=other, index_date=date(2026, 6, 1), ics_imported=200)
    ContactFactory(patient=c, contact_date=date(2026, 11, 1))
    EventFactory(patient=c, event_type="mi", event_date=date(2026, 7, 1), verification="pending")
    # Withdrawn 2020-06-01, before its first anniversary: never due.
    PatientFactory(
        study_id="D", site=other, index_date=date(2019, 12, 1), withdrawn_on=date(2020, 6, 1), withdrawal_reason="moved"
    )
    return Patient.objects.all()


def test_the_study_overview_counts_what_it_says(cohort):
    overview = dashboard.study_overview(cohort, today=TODAY)

    assert overview["recruitment"]["rows"] == [
        {"year": 2019, "patients": 1, "cumulative": 1},
        {"year": 2020, "patients": 2, "cumulative": 3},
        {"year": 2026, "patients": 1, "cumulative": 4},
    ]
    years = {y["year"]: (y["due"], y["known"]) for y in overview["completeness_by_year"]}
    assert years[1] == (2, 2) and years[2] == (2, 2) and years[3] == (2, 1) and years[6] == (2, 1)
    sites = {s["site"]: (s["patients"], s["up_to_date"]) for s in overview["by_site"]}
    # EMC: A overdue (last contact 2022), B died; OTH: C contacted last month, D withdrawn.
    assert sites == {"EMC": (2, 1), "OTH": (2, 2)}
    ics = overview["ics"]
    assert (ics["n"], ics["median"], ics["at_or_above_cutoff"]) == (3, 90, 2)
    assert [b["count"] for b in ics["bins"]] == [1, 1, 0, 0, 1]
    rates = {e["event"]: e for e in overview["event_rates"]}
    assert (rates["Death"]["verified"], rates["Myocardial infarction"]["pending"]) == (1, 1)
    assert overview["verification"]["pending"]["count"] == 1


def test_the_overview_counts_only_the_viewers_sites(cohort, site):
    local = UserFactory(username="local-investigator", roles=["investigator"], sites=[site])
    page = client_for(local).get("/").content.decode()
    assert "2 patients of your sites" in page and "OTH" not in page


def test_admins_see_silent_workers(admin_user):
    now = timezone.now()
    ImportJob.objects.create(patients_file="x.csv", status="running", heartbeat_at=now - timedelta(hours=1))
    ImportJob.objects.create(patients_file="y.csv", status="queued", enqueued_at=now - timedelta(minutes=5))
    health = {row["kind"]: row for row in job_health(now=now)}
    imports = health["Import jobs"]
    assert (imports["running"], imports["stale"], imports["queued"]) == (1, 1, 1)
    assert imports["oldest_queued_seconds"] == pytest.approx(300)
    page = client_for(admin_user).get("/").content.decode()
    assert "Background jobs" in page and "Import jobs" in page


def test_a_coordinator_sees_todays_work_and_the_running_waves(coordinator, cohort):
    from followup import services

    services.wave_create(user=coordinator, name="autumn", patients=cohort)
    page = client_for(coordinator).get("/").content.decode()
    assert "Today's work" in page and "events to verify" in page
    assert ">autumn</a>" in page
