"""Follow-up waves: who is due, what a returned questionnaire becomes, and what verification closes."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from followup import services
from followup.forms import QuestionnaireForm
from followup.models import MemberStatus, ReportedEvent, RequestStatus, SourceDocumentRequest, WaveMember
from registry import services as registry_services
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient
from tests.factories import ContactFactory, EventFactory, PatientFactory, SiteFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 30)


def _wave(user, name="autumn", **kwargs):
    return services.wave_create(
        user=user, name=name, patients=Patient.objects.all(), today=kwargs.pop("today", TODAY), **kwargs
    )


def test_a_wave_leaves_out_the_dead_the_withdrawn_and_the_recently_contacted(coordinator, site):
    due = PatientFactory(study_id="DUE", site=site)
    never = PatientFactory(study_id="NEVER", site=site)
    ContactFactory(patient=due, contact_date=TODAY - timedelta(days=400))
    recent = PatientFactory(study_id="RECENT", site=site)
    ContactFactory(patient=recent, contact_date=TODAY - timedelta(days=30))
    dead = PatientFactory(study_id="DEAD", site=site)
    EventFactory(patient=dead, event_type="death", event_date=date(2020, 1, 1), verification="verified", target_vessel=None)
    pending_death = PatientFactory(study_id="PENDING-DEATH", site=site)
    EventFactory(patient=pending_death, event_type="death", event_date=date(2021, 1, 1), target_vessel=None)
    rejected_death = PatientFactory(study_id="REJECTED-DEATH", site=site)
    EventFactory(
        patient=rejected_death, event_type="death", event_date=date(2021, 1, 1), verification="rejected", target_vessel=None
    )
    PatientFactory(study_id="WITHDRAWN", site=site, withdrawn_on=date(2019, 1, 1), withdrawal_reason="asked to")

    wave = _wave(coordinator, no_contact_days=365)

    members = {m.patient.study_id: m for m in wave.members.select_related("patient")}
    assert sorted(members) == ["DUE", "NEVER", "REJECTED-DEATH"]
    assert members["DUE"].reason == "living, not withdrawn; last contact 2025-10-26 (400 days before)"
    assert members["NEVER"].reason == "living, not withdrawn; no contact recorded"
    assert never.pk in {m.patient_id for m in wave.members.all()}
    # Without the contact rule the recently contacted patient is due too.
    assert sorted(m.patient.study_id for m in _wave(coordinator, name="all", today=TODAY).members.all()) == ["RECENT"]


def test_a_wave_can_be_one_sites_and_nobody_waits_on_two_open_waves(coordinator, site):
    other = SiteFactory(code="OTHER")
    PatientFactory(study_id="A", site=site)
    PatientFactory(study_id="B", site=other)
    wave = _wave(coordinator, site=other)
    assert [m.patient.study_id for m in wave.members.all()] == ["B"]
    assert wave.members.get().reason == "living, not withdrawn; site OTHER"
    second = _wave(coordinator, name="second")
    assert [m.patient.study_id for m in second.members.all()] == ["A"]
    with pytest.raises(ValidationError, match="No patient is due"):
        _wave(coordinator, name="third")
    with pytest.raises(ValidationError, match="already a wave"):
        _wave(coordinator, name="Second")


def _answers(definition, data):
    form = QuestionnaireForm(data, definition=definition)
    assert form.is_valid(), form.errors
    return form.answers()


def test_a_returned_questionnaire_becomes_pending_events_requests_and_a_contact(coordinator, site):
    patient = PatientFactory(study_id="P1", site=site, index_date=date(2020, 5, 20))
    wave = _wave(coordinator)
    member = wave.members.get()
    answers = _answers(
        wave.questionnaire.definition,
        {
            "health": "not_well",
            "admissions": "yes",
            "admissions_0_year": "2024",
            "admissions_0_hospital": "St. Antonius",
            "admissions_0_reason": "pneumonia",
            "chest_pain": "no",
            "mi": "yes",
            "mi_0_year": "2025",
            "mi_0_month": "3",
            "mi_0_hospital": "Isala",
            "stroke": "yes",
            "stroke_0_which": "tia",
            "stroke_0_year": "2023",
            "pci": "yes",
            "pci_0_year": "2020",
            "pci_0_month": "5",
            "pci_0_hospital": "Isala",
            "cabg": "no",
            "remark": "",
        },
    )
    services.response_submit(user=coordinator, member=member, answers=answers, via="paper", returned_on=date(2026, 11, 2))

    events = {e.event_type: e for e in ClinicalEvent.objects.filter(patient=patient)}
    assert set(events) == {"mi", "revascularization"}
    mi = events["mi"]
    assert (mi.event_date, mi.event_date_precision, mi.source, mi.verification) == (
        date(2025, 3, 15),
        "month",
        "questionnaire",
        "pending",
    )
    # May 2020 straddles the index date (20 May): the date moves inside follow-up.
    pci = events["revascularization"]
    assert (pci.event_date, pci.revascularization_method, pci.event_date_precision) == (date(2020, 5, 20), "PCI", "month")
    reported = list(ReportedEvent.objects.filter(patient=patient).order_by("id"))
    assert [r.question for r in reported] == ["admissions", "mi", "stroke", "pci"]
    assert reported[2].clinical_event is None and reported[2].description == "TIA, 2023"
    requests = SourceDocumentRequest.objects.filter(patient=patient)
    assert requests.count() == 4
    assert sorted(r.hospital for r in requests) == ["", "Isala", "Isala", "St. Antonius"]
    assert all(r.status == RequestStatus.REQUESTED for r in requests)
    contact = FollowUpContact.objects.get(patient=patient)
    assert (contact.contact_date, contact.method, contact.vital_status) == (
        date(2026, 11, 2),
        "questionnaire_returned",
        "alive",
    )
    member.refresh_from_db()
    assert (member.status, member.returned_on) == (MemberStatus.RETURNED, date(2026, 11, 2))
    assert member.token_used_at is not None
    with pytest.raises(services.AlreadyReturned):
        services.response_submit(user=coordinator, member=member, answers=answers, via="online")


def test_verifying_a_reported_event_closes_its_request_and_rejecting_records_why(coordinator, site):
    patient = PatientFactory(study_id="P2", site=site)
    wave = _wave(coordinator)
    answers = _answers(
        wave.questionnaire.definition,
        {
            "health": "well",
            "admissions": "no",
            "chest_pain": "no",
            "mi": "yes",
            "mi_0_year": "2019",
            "mi_0_hospital": "Isala",
            "stroke": "yes",
            "stroke_0_which": "stroke",
            "stroke_0_year": "2020",
            "stroke_0_month": "2",
            "stroke_0_day": "29",
            "stroke_0_hospital": "UMCU",
            "pci": "no",
            "cabg": "no",
        },
    )
    services.response_submit(user=coordinator, member=wave.members.get(), answers=answers, via="online")
    mi = ClinicalEvent.objects.get(patient=patient, event_type="mi")
    stroke = ClinicalEvent.objects.get(patient=patient, event_type="stroke")
    assert (stroke.event_date, stroke.event_date_precision) == (date(2020, 2, 29), "day")

    registry_services.event_verify(user=coordinator, event=mi, source_document="Isala discharge letter 2019-07-03")
    request = SourceDocumentRequest.objects.get(clinical_event=mi)
    assert (request.status, request.document_reference) == (
        RequestStatus.CLOSED_VERIFIED,
        "Isala discharge letter 2019-07-03",
    )
    registry_services.event_verify(user=coordinator, event=stroke, decision="rejected", reason="UMCU: a TIA, no stroke")
    request = SourceDocumentRequest.objects.get(clinical_event=stroke)
    assert (request.status, request.closed_reason) == (RequestStatus.CLOSED_REJECTED, "UMCU: a TIA, no stroke")
    assert AuditEntry.objects.filter(entity="sourcedocumentrequest", action="update").count() == 2


def test_tokens_are_single_use_expire_and_die_with_the_wave(coordinator, site):
    PatientFactory(study_id="P3", site=site)
    PatientFactory(study_id="P4", site=site)
    wave = _wave(coordinator, today=timezone.localdate())
    first, second = wave.members.order_by("patient__study_id")
    today = timezone.localdate()
    assert services.member_for_token(first.token, today=today) == (first, "ok")
    assert services.member_for_token(first.token[:-1] + ("A" if first.token[-1] != "A" else "B"), today=today) == (
        None,
        "unknown",
    )
    assert services.member_for_token("", today=today) == (None, "unknown")
    assert services.member_for_token(first.token, today=first.token_expires_on + timedelta(days=1))[1] == "expired"
    answers = _answers(
        wave.questionnaire.definition,
        {"health": "well", **dict.fromkeys(["admissions", "chest_pain", "mi", "stroke", "pci", "cabg"], "no")},
    )
    services.response_submit(user=services.PATIENT_ONLINE, member=first, answers=answers, via="online")
    assert services.member_for_token(first.token, today=today)[1] == "used"
    services.wave_close(user=coordinator, wave=wave, on=today)
    assert services.member_for_token(second.token, today=today)[1] == "closed"
    assert WaveMember.objects.get(pk=second.pk).status == MemberStatus.NO_RESPONSE
    assert AuditEntry.objects.filter(entity="questionnaireresponse", username="patient (online questionnaire)").count() == 1
