"""The worklist's sections: a reported death waits for verification in its own section (never
"lost to follow-up"), overdue and lost patients show their days overdue, most overdue first."""

from datetime import date

import pytest
import time_machine

from registry.models import Patient
from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, PatientFactory

TODAY = "2026-11-27"


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY):
        yield


def _patient(site, study_id: str, last_contact: date | None) -> Patient:
    patient = PatientFactory(study_id=study_id, site=site, index_date=date(2020, 1, 1))
    if last_contact is not None:
        ContactFactory(patient=patient, contact_date=last_contact)
    return patient


def _death(patient: Patient, verification: str = "pending", **fields):
    return EventFactory(
        patient=patient,
        event_type="death",
        target_vessel=None,
        event_date=date(2026, 9, 1),
        source="questionnaire",
        verification=verification,
        **fields,
    )


def _ids(rows) -> list[str]:
    return [row.patient.study_id for row in rows]


def test_a_reported_death_is_its_own_section_with_a_verify_action_never_lost(coordinator, site):
    reported = _patient(site, "ICS-DEATH", date(2023, 6, 1))  # no contact for 3.5 years: would be lost
    death = _death(reported)
    _patient(site, "ICS-LOST", date(2023, 6, 1))

    response = client_for(coordinator).get("/worklist/")

    assert [e.patient.study_id for e in response.context["deaths"]] == ["ICS-DEATH"]
    assert _ids(response.context["lost"]) == ["ICS-LOST"]
    assert _ids(response.context["overdue"]) == []
    assert list(response.context["pending_events"]) == []  # the death is not listed twice
    html = response.content.decode()
    assert 'Death reported, to verify <span class="count-badge">1</span>' in html
    assert f'href="/patients/ICS-DEATH/events/{death.pk}/verify/?next=/worklist/">Verify' in html
    assert "/patients/ICS-DEATH/contacts/new/" not in html
    assert "/patients/ICS-LOST/contacts/new/" in html


def test_a_verified_death_leaves_the_worklist_and_a_rejected_one_sends_the_patient_back(coordinator, site):
    _death(_patient(site, "ICS-VERIFIED", date(2023, 6, 1)), verification="verified")
    _death(_patient(site, "ICS-REJECTED", date(2023, 6, 1)), verification="rejected")

    response = client_for(coordinator).get("/worklist/")

    assert list(response.context["deaths"]) == []
    assert _ids(response.context["lost"]) == ["ICS-REJECTED"]
    assert "ICS-VERIFIED" not in response.content.decode()


def test_a_reported_death_of_an_overdue_patient_is_not_overdue_either(coordinator, site):
    _death(_patient(site, "ICS-DEATH", date(2025, 6, 1)))

    response = client_for(coordinator).get("/worklist/")

    assert _ids(response.context["overdue"]) == [] and len(response.context["deaths"]) == 1


def test_overdue_and_lost_patients_show_days_overdue_most_overdue_first(coordinator, site):
    _patient(site, "ICS-A", date(2025, 9, 1))  # 452 days ago: 87 days beyond 365
    _patient(site, "ICS-B", date(2025, 6, 1))  # 544 days: 179
    _patient(site, "ICS-C", date(2023, 6, 1))  # 1275 days: lost, 910
    _patient(site, "ICS-D", None)  # no contact since the index date 2020-01-01: 2522 days, 2157

    response = client_for(coordinator).get("/worklist/")

    overdue, lost = response.context["overdue"], response.context["lost"]
    assert [(r.patient.study_id, r.days_overdue) for r in overdue] == [("ICS-B", 179), ("ICS-A", 87)]
    assert [(r.patient.study_id, r.days_overdue) for r in lost] == [("ICS-D", 2157), ("ICS-C", 910)]
    html = response.content.decode()
    assert '<th scope="col" class="num">Days overdue</th>' in html
    assert "Follow-up days" not in html
    assert '<td class="num">179</td>' in html and '<td class="num">2157</td>' in html


def test_other_pending_events_keep_their_section_with_one_click_verification(coordinator, site):
    patient = _patient(site, "ICS-MI", date(2026, 9, 1))
    EventFactory(patient=patient, event_type="mi", event_date=date(2026, 8, 1))

    response = client_for(coordinator).get("/worklist/")

    assert [e.patient.study_id for e in response.context["pending_events"]] == ["ICS-MI"]
    assert list(response.context["deaths"]) == []
    assert "Verify against source" in response.content.decode()


def test_a_clinician_sees_reported_deaths_without_the_verify_action(clinician, site):
    _death(_patient(site, "ICS-DEATH", date(2023, 6, 1)))

    html = client_for(clinician).get("/worklist/").content.decode()

    assert "ICS-DEATH" in html and "/verify/" not in html


def test_the_reported_deaths_are_paged_on_their_own(coordinator, site):
    for n in range(30):
        _death(_patient(site, f"ICS-D{n:02d}", date(2026, 1, 1)))

    first = client_for(coordinator).get("/worklist/")
    second = client_for(coordinator).get("/worklist/", {"deaths_page": 2})

    assert len(first.context["deaths"]) == 25 and len(second.context["deaths"]) == 5
    assert 'href="?deaths_page=2" rel="next"' in first.content.decode()


@pytest.mark.parametrize("count", [1, 40])
def test_the_worklist_costs_the_same_queries_whatever_the_size(coordinator, site, count, django_assert_max_num_queries):
    for n in range(count):
        _death(_patient(site, f"ICS-D{n:02d}", date(2023, 1, 1)))
        _patient(site, f"ICS-L{n:02d}", date(2023, 1, 1))
        _patient(site, f"ICS-O{n:02d}", date(2025, 6, 1))
        EventFactory(patient=_patient(site, f"ICS-E{n:02d}", date(2026, 9, 1)), event_date=date(2026, 8, 1))
    client = client_for(coordinator)

    # session, user, groups, site profile; per section a count and a page (4 x 2)
    with django_assert_max_num_queries(13):
        response = client.get("/worklist/")

    assert response.status_code == 200
