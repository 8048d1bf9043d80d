"""A wave's dashboard: response per site and over time, reported versus verified events, what the
hospitals still owe, who is due a reminder; scoped to the viewer's sites, and cheap to compute."""

from contextlib import contextmanager
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from followup import services
from followup.dashboard import wave_dashboard
from followup.forms import QuestionnaireForm
from followup.models import (
    MemberStatus,
    QuestionnaireResponse,
    ReportedEvent,
    RequestStatus,
    SourceDocumentRequest,
    WaveMember,
)
from registry import services as registry_services
from registry.access import patients_of_sites, user_site_ids
from registry.models import ClinicalEvent, Patient
from tests.conftest import client_for
from tests.factories import EventFactory, PatientFactory, SiteFactory, assert_no_external_assets

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 30)
FIVE_WEEKS_AGO = date(2026, 10, 26)
THREE_WEEKS_AGO = date(2026, 11, 9)
_NO = dict.fromkeys(["admissions", "chest_pain", "mi", "stroke", "pci", "cabg"], "no")


@contextmanager
def _on(day: date):
    """Run as if it were noon of `day` in Amsterdam (services date requests and returns by 'today')."""
    with time_machine.travel(datetime.combine(day, time(12), tzinfo=ZoneInfo("Europe/Amsterdam")), tick=False):
        yield


def _answers(wave, data: dict) -> dict:
    form = QuestionnaireForm(data, definition=wave.questionnaire.definition)
    assert form.is_valid(), form.errors
    return form.answers()


def _return(user, wave, study_id: str, data: dict, on: date) -> None:
    member = wave.members.get(patient__study_id=study_id)
    with _on(on):
        services.response_submit(user=user, member=member, answers=_answers(wave, data), via="paper", returned_on=on)


@pytest.fixture
def wave(coordinator, site, other_site):
    """EMC: 1 and 2 returned, 3 returned to sender, 4 sent three weeks ago, 5 sent five weeks ago
    (due a reminder), 6 not sent. OTH: 1 returned (a death already recorded: not entered), 2 due a
    reminder, 3 no response."""
    for n in range(1, 7):
        PatientFactory(study_id=f"EMC-{n}", site=site)
    for n in range(1, 4):
        PatientFactory(study_id=f"OTH-{n}", site=other_site)
    with _on(date(2026, 10, 1)):
        wave = services.wave_create(
            user=coordinator, name="autumn", patients=Patient.objects.all(), today=date(2026, 10, 1), reminder_weeks=4
        )
    members = wave.members.all()
    with _on(FIVE_WEEKS_AGO):
        services.letters_sent(
            user=coordinator,
            wave=wave,
            on=FIVE_WEEKS_AGO,
            members=members.filter(patient__study_id__in=["EMC-1", "EMC-2", "EMC-3", "EMC-5", "OTH-1", "OTH-2"]),
        )
    with _on(THREE_WEEKS_AGO):
        services.letters_sent(
            user=coordinator, wave=wave, on=THREE_WEEKS_AGO, members=members.filter(patient__study_id__in=["EMC-4", "OTH-3"])
        )
    EventFactory(
        patient=Patient.objects.get(study_id="OTH-1"),
        event_type="death",
        event_date=date(2026, 6, 10),
        verification="verified",
        target_vessel=None,
    )
    _return_questionnaires(coordinator, wave)
    with _on(date(2026, 11, 20)):
        services.member_mark(user=coordinator, member=members.get(patient__study_id="EMC-3"), status="return_to_sender")
        services.member_mark(user=coordinator, member=members.get(patient__study_id="OTH-3"), status="no_response")
        _verify_and_answer_requests(coordinator)
    return wave


def _return_questionnaires(user, wave) -> None:
    _return(
        user,
        wave,
        "EMC-1",
        {
            **_NO,
            "health": "not_well",
            "mi": "yes",
            "mi_0_year": "2025",
            "mi_0_month": "3",
            "mi_0_hospital": "Isala",
            "pci": "yes",
            "pci_0_year": "2025",
            "pci_0_month": "3",
            "pci_0_hospital": " isala ",
            "admissions": "yes",
            "admissions_0_year": "2024",
            "admissions_0_reason": "pneumonia",
        },
        date(2026, 11, 2),
    )
    _return(
        user,
        wave,
        "EMC-2",
        {
            **_NO,
            "health": "well",
            "stroke": "yes",
            "stroke_0_which": "stroke",
            "stroke_0_year": "2020",
            "stroke_0_month": "2",
            "stroke_0_hospital": "UMCU",
            "stroke_1_which": "tia",
            "stroke_1_year": "2023",
            "stroke_1_hospital": "Isala",
            "chest_pain": "yes",
            "chest_pain_0_year": "2025",
            "chest_pain_0_hospital": "UMCU",
        },
        date(2026, 11, 5),
    )
    _return(
        user,
        wave,
        "OTH-1",
        {
            **_NO,
            "health": "deceased",
            "death": "yes",
            "death_0_year": "2026",
            "death_0_month": "6",
            "death_0_hospital": "St. Antonius",
        },
        date(2026, 11, 16),
    )


def _verify_and_answer_requests(user) -> None:
    mi = ClinicalEvent.objects.get(patient__study_id="EMC-1", event_type="mi")
    registry_services.event_verify(user=user, event=mi, source_document="Isala discharge letter")
    stroke = ClinicalEvent.objects.get(patient__study_id="EMC-2", event_type="stroke")
    registry_services.event_verify(user=user, event=stroke, decision="rejected", reason="UMCU: no stroke")
    chest_pain = SourceDocumentRequest.objects.get(reported_event__question="chest_pain")
    services.request_update(
        user=user, request=chest_pain, status=RequestStatus.RECEIVED, on=date(2026, 11, 20), document_reference="UMCU letter"
    )
    admission = SourceDocumentRequest.objects.get(reported_event__question="admissions")
    services.request_update(user=user, request=admission, status=RequestStatus.NOT_AVAILABLE, on=date(2026, 11, 20))


def _dashboard(wave, user=None) -> dict:
    patients = Patient.objects.all() if user is None else patients_of_sites(user_site_ids(user))
    return wave_dashboard(wave, patients=patients, today=TODAY)


def test_response_per_site_and_in_total(wave):
    dashboard = _dashboard(wave)
    assert dashboard["by_site"] == [
        {
            "site": "EMC",
            "members": 6,
            "sent": 5,
            "returned": 2,
            "return_to_sender": 1,
            "no_response": 0,
            "response_rate": 40.0,
        },
        {
            "site": "OTH",
            "members": 3,
            "sent": 3,
            "returned": 1,
            "return_to_sender": 0,
            "no_response": 1,
            "response_rate": 33.3,
        },
    ]
    assert dashboard["totals"] == {
        "members": 9,
        "sent": 8,
        "returned": 3,
        "return_to_sender": 1,
        "no_response": 1,
        "response_rate": 37.5,
        "outstanding_requests": 3,
    }


def test_cumulative_returns_per_day_from_the_first_letter_to_today(wave):
    points = {p["date"]: p for p in _dashboard(wave)["response_over_time"]}
    assert min(points) == FIVE_WEEKS_AGO and max(points) == TODAY and len(points) == 36
    expected = {
        FIVE_WEEKS_AGO: (6, 0, 0.0),
        date(2026, 11, 1): (6, 0, 0.0),
        date(2026, 11, 2): (6, 1, 16.7),
        date(2026, 11, 5): (6, 2, 33.3),
        THREE_WEEKS_AGO: (8, 2, 25.0),
        date(2026, 11, 16): (8, 3, 37.5),
        TODAY: (8, 3, 37.5),
    }
    assert {
        day: (points[day]["sent"], points[day]["returned"], points[day]["response_rate"]) for day in expected
    } == expected
    assert [day for day, p in points.items() if p["changed"]] == [
        FIVE_WEEKS_AGO,
        date(2026, 11, 2),
        date(2026, 11, 5),
        THREE_WEEKS_AGO,
        date(2026, 11, 16),
        TODAY,
    ]


def test_a_closed_wave_draws_up_to_its_close_date(wave, coordinator):
    with _on(date(2026, 11, 25)):
        services.wave_close(user=coordinator, wave=wave, on=date(2026, 11, 25))
    wave.refresh_from_db()
    dashboard = _dashboard(wave)
    assert dashboard["response_over_time"][-1]["date"] == date(2026, 11, 25)
    # Closing makes every letter still out "no response": EMC-4, EMC-5, EMC-6 (never sent), OTH-2, and OTH-3 already.
    assert dashboard["totals"]["no_response"] == 5
    assert dashboard["reminders_due"] == []


def test_reported_versus_verified_per_kind(wave):
    events = _dashboard(wave)["events"]
    columns = ("reported", "pending", "verified", "rejected", "not_entered", "request_only")
    assert {row["kind"]: tuple(row[c] for c in columns) for row in events} == {
        "Heart attack (MI)": (1, 0, 1, 0, 0, 0),
        "Stroke": (1, 0, 0, 1, 0, 0),
        "TIA": (1, 0, 0, 0, 0, 1),
        "PCI": (1, 1, 0, 0, 0, 0),
        "Death": (1, 0, 0, 0, 1, 0),
        "Hospital admission": (1, 0, 0, 0, 0, 1),
        "Chest pain admission": (1, 0, 0, 0, 0, 1),
    }
    assert [row["kind"] for row in events] == [
        "Heart attack (MI)",
        "Stroke",
        "TIA",
        "PCI",
        "Death",
        "Hospital admission",
        "Chest pain admission",
    ]
    assert ReportedEvent.objects.get(question="death").problem  # the second death was refused


def test_requests_per_hospital_group_spellings_and_put_the_most_outstanding_first(wave):
    rows = _dashboard(wave)["requests_by_hospital"]
    columns = ("hospital", "outstanding", "oldest_outstanding", "oldest_age_days", "received", "not_available", "closed")
    assert [tuple(row[c] for c in columns) for row in rows] == [
        # "Isala" (MI, verified: closed; TIA) and " isala " (PCI) are one hospital.
        ("Isala", 2, date(2026, 11, 2), 28, 0, 0, 1),
        ("St. Antonius", 1, date(2026, 11, 16), 14, 0, 0, 0),
        ("Hospital not named", 0, None, None, 0, 1, 0),
        ("UMCU", 0, None, None, 1, 0, 1),
    ]


def test_who_is_due_a_reminder(wave):
    due = _dashboard(wave)["reminders_due"]
    # EMC-4 was sent three weeks ago; EMC-1, EMC-2 and OTH-1 returned, EMC-3 came back unopened.
    assert [(r["study_id"], r["site"], r["sent_on"], r["weeks_since"]) for r in due] == [
        ("EMC-5", "EMC", FIVE_WEEKS_AGO, 5),
        ("OTH-2", "OTH", FIVE_WEEKS_AGO, 5),
    ]


def test_a_coordinator_of_one_site_counts_only_that_sites_patients(wave, other_site_coordinator):
    dashboard = _dashboard(wave, other_site_coordinator)
    assert [row["site"] for row in dashboard["by_site"]] == ["OTH"]
    assert (dashboard["totals"]["members"], dashboard["totals"]["sent"], dashboard["totals"]["returned"]) == (3, 3, 1)
    assert [row["kind"] for row in dashboard["events"]] == ["Death"]
    assert [row["hospital"] for row in dashboard["requests_by_hospital"]] == ["St. Antonius"]
    assert [row["study_id"] for row in dashboard["reminders_due"]] == ["OTH-2"]
    assert dashboard["response_over_time"][-1]["sent"] == 3

    with _on(TODAY):
        html = client_for(other_site_coordinator).get(reverse("followup_wave_dashboard", args=[wave.pk])).content.decode()
    assert "OTH-2" in html and "EMC-5" not in html and "Isala" not in html


@pytest.mark.parametrize(
    ("persona", "status"),
    [("coordinator", 200), ("admin", 200), ("clinician", 403), ("investigator", 403), ("outsider", 403)],
)
def test_only_coordinators_and_admins_see_the_dashboard(personas, site, coordinator, persona, status):
    PatientFactory(site=site)
    wave = services.wave_create(user=coordinator, name="w", patients=Patient.objects.all(), today=TODAY)
    assert client_for(personas[persona]).get(reverse("followup_wave_dashboard", args=[wave.pk])).status_code == status


def test_an_unknown_wave_is_404_and_anonymous_users_sign_in(coordinator):
    url = reverse("followup_wave_dashboard", args=[999])
    assert client_for(coordinator).get(url).status_code == 404
    response = client_for(None).get(url)
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_page_shows_the_numbers_in_words(wave, coordinator):
    with _on(TODAY):
        response = client_for(coordinator).get(reverse("followup_wave_dashboard", args=[wave.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "37.5%",
        "40.0%",
        "33.3%",
        "Returned to sender",
        "Heart attack (MI)",
        "Chest pain admission",
        "Hospital not named",
        "2026-11-02",
        "Reminders posted on",
        "Record reminders sent (2)",
        'id="response-over-time"',
        "js/followup_dashboard.js",
        "vendor/plotly/plotly.min.js",
        reverse("followup_wave_detail", args=[wave.pk]),
        reverse("followup_reminders_sent", args=[wave.pk]),
    ):
        assert text in html, text
    snake_case = {
        v for v in [*MemberStatus.values, *RequestStatus.values, "chest_pain", "not_entered", "request_only"] if "_" in v
    }
    assert [v for v in snake_case if v in html] == []
    assert_no_external_assets(html)


def test_an_empty_wave_says_so_in_words(site, coordinator):
    PatientFactory(site=site)
    wave = services.wave_create(user=coordinator, name="new", patients=Patient.objects.all(), today=TODAY)
    html = client_for(coordinator).get(reverse("followup_wave_dashboard", args=[wave.pk])).content.decode()
    for text in (
        "No letters sent yet",
        "No events reported yet",
        "No source documents requested yet",
        "Nobody is due a reminder",
    ):
        assert text in html, text
    assert "plotly" not in html and "Record reminders sent" not in html


def test_a_wave_of_2000_takes_a_bounded_number_of_queries(coordinator, django_assert_max_num_queries):
    wave = _big_wave(coordinator, n=2000)
    with django_assert_max_num_queries(5):
        dashboard = _dashboard(wave)
    assert dashboard["totals"]["members"] == 2000
    assert (
        sum(row["outstanding"] for row in dashboard["requests_by_hospital"]) == dashboard["totals"]["outstanding_requests"]
    )
    client, url = client_for(coordinator), reverse("followup_wave_dashboard", args=[wave.pk])
    with _on(TODAY), django_assert_max_num_queries(12):  # the session, user, roles and sites, the wave, five for the numbers
        assert client.get(url).status_code == 200


def _big_wave(user, *, n: int):
    """A wave of `n` patients at two sites, written in bulk: letters over 40 days, a third returned,
    each return reporting one event with a source-document request to one of five hospitals."""
    sites = [SiteFactory(code="BIG1"), SiteFactory(code="BIG2")]
    Patient.objects.bulk_create(PatientFactory.build(study_id=f"B-{i:05d}", site=sites[i % 2]) for i in range(n))
    PatientFactory(study_id="FIRST", site=sites[0])
    wave = services.wave_create(
        user=user, name="big", patients=Patient.objects.filter(study_id="FIRST"), today=date(2026, 9, 1)
    )
    statuses = [
        MemberStatus.SENT,
        MemberStatus.RETURNED,
        MemberStatus.REMINDED,
        MemberStatus.RETURNED,
        MemberStatus.NO_RESPONSE,
    ]
    WaveMember.objects.bulk_create(
        WaveMember(
            wave=wave,
            patient=p,
            reason="bulk",
            status=statuses[i % 5],
            sent_on=date(2026, 9, 1 + i % 30),
            returned_on=date(2026, 10, 1 + i % 30) if statuses[i % 5] == MemberStatus.RETURNED else None,
            response_code=f"B{i:07d}",
            token=f"token-{i}",
            token_expires_on=TODAY,
        )
        for i, p in enumerate(Patient.objects.filter(study_id__startswith="B-").order_by("study_id"))
    )
    WaveMember.objects.filter(patient__study_id="FIRST").delete()
    returned = list(wave.members.filter(status=MemberStatus.RETURNED).select_related("patient"))
    responses = QuestionnaireResponse.objects.bulk_create(
        QuestionnaireResponse(
            member=m, questionnaire=wave.questionnaire, answers={}, entered_via="paper", returned_on=m.returned_on
        )
        for m in returned
    )
    kinds = ["mi", "stroke", "pci", "admissions", "chest_pain"]
    reported = ReportedEvent.objects.bulk_create(
        ReportedEvent(
            response=r,
            patient=r.member.patient,
            question=kinds[i % 5],
            description="x",
            year=2025,
            hospital=f"Hospital {i % 5}",
        )
        for i, r in enumerate(responses)
    )
    SourceDocumentRequest.objects.bulk_create(
        SourceDocumentRequest(
            patient=e.patient,
            reported_event=e,
            hospital=e.hospital if i % 2 else e.hospital.upper(),
            what="x",
            status=[RequestStatus.REQUESTED, RequestStatus.REMINDED, RequestStatus.NOT_AVAILABLE][i % 3],
            requested_on=date(2026, 10, 1 + i % 30),
        )
        for i, e in enumerate(reported)
    )
    return wave
