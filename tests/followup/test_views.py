"""The coordinators' follow-up pages: roles, site scope, and the paper entry and requests flows."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from followup import services
from followup.models import MemberStatus, RequestStatus, SourceDocumentRequest, Wave, WaveMember
from registry.models import AuditEntry, ClinicalEvent, Patient
from tests.conftest import client_for
from tests.factories import PatientFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wave(coordinator, site):
    PatientFactory(study_id="P-A", site=site)
    PatientFactory(study_id="P-B", site=site)
    PatientFactory(study_id="P-OTHER", site=SiteFactory(code="OTH"))
    return services.wave_create(user=coordinator, name="2026 autumn", patients=Patient.objects.all())


def _member(study_id) -> WaveMember:
    return WaveMember.objects.get(patient__study_id=study_id)


PAGES = ["followup_wave_list", "followup_wave_create", "followup_paper_find", "followup_requests"]


@pytest.mark.parametrize("name", PAGES + ["followup_wave_detail", "followup_paper_entry"])
@pytest.mark.parametrize(
    ("persona", "expected"),
    [("coordinator", 200), ("admin", 200), ("clinician", 403), ("investigator", 403), ("outsider", 403)],
)
def test_only_coordinators_and_admins_open_the_follow_up_pages(personas, wave, name, persona, expected):
    kwargs = {"followup_wave_detail": {"pk": wave.pk}, "followup_paper_entry": {"code": _member("P-A").response_code}}
    response = client_for(personas[persona]).get(reverse(name, kwargs=kwargs.get(name)))
    assert response.status_code == expected


def test_anonymous_users_are_sent_to_sign_in(wave):
    response = client_for(None).get(reverse("followup_wave_detail", kwargs={"pk": wave.pk}))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_wave_is_created_from_the_page_after_a_preview(coordinator, site):
    PatientFactory(study_id="NEW-1", site=site)
    client = client_for(coordinator)
    data = {"name": "spring", "site": "", "no_contact_days": "", "reminder_weeks": "4", "answer_days": "90"}
    preview = client.post(reverse("followup_wave_create"), {**data, "preview": "1"})
    assert preview.status_code == 200 and "1 patient due" in preview.content.decode() and not Wave.objects.exists()
    response = client.post(reverse("followup_wave_create"), data)
    wave = Wave.objects.get(name="spring")
    assert response.status_code == 302 and response["Location"] == reverse("followup_wave_detail", kwargs={"pk": wave.pk})
    again = client.post(reverse("followup_wave_create"), {**data, "name": "Spring"})
    assert "There is already a wave called" in again.content.decode()


def test_a_site_coordinator_sees_and_sends_only_their_sites_patients(wave, site):
    local = UserFactory(username="local-coord", roles=["coordinator"], sites=[site])
    client = client_for(local)
    page = client.get(reverse("followup_wave_detail", kwargs={"pk": wave.pk})).content.decode()
    assert "P-A" in page and "P-OTHER" not in page
    client.post(reverse("followup_letters_sent", kwargs={"pk": wave.pk}), {"on": timezone.localdate().isoformat()})
    assert _member("P-A").status == MemberStatus.SENT and _member("P-OTHER").status == MemberStatus.TO_SEND
    other = _member("P-OTHER")
    assert client.get(reverse("followup_paper_entry", kwargs={"code": other.response_code})).status_code == 404
    assert (
        client.post(reverse("followup_member_mark", kwargs={"pk": other.pk}), {"status": "no_response"}).status_code == 404
    )
    client.post(reverse("followup_wave_close", kwargs={"pk": wave.pk}))
    assert Wave.objects.get(pk=wave.pk).is_open


def test_a_paper_questionnaire_is_found_by_its_code_and_entered(coordinator, wave):
    member = _member("P-A")
    client = client_for(coordinator)
    typed = member.response_code.replace("-", " ").lower()
    found = client.get(reverse("followup_paper_find"), {"code": typed})
    assert found.status_code == 302 and found["Location"] == reverse(
        "followup_paper_entry", kwargs={"code": member.response_code}
    )
    missing = client.get(reverse("followup_paper_find"), {"code": "AAAA-AAAA"})
    assert "No questionnaire of your sites has the response code AAAA-AAAA" in missing.content.decode()

    url = reverse("followup_paper_entry", kwargs={"code": member.response_code})
    returned_on = timezone.localdate() - timedelta(days=2)
    answers = {
        "returned_on": returned_on.isoformat(),
        "health": "well",
        "mi": "yes",
        "mi_0_year": "2024",
        "mi_0_month": "6",
        "mi_0_hospital": "Isala",
        "admissions": "no",
        "chest_pain": "",
        "stroke": "",
        "pci": "",
        "cabg": "no",
    }
    bad = client.post(url, {**answers, "mi_0_year": ""})
    assert bad.status_code == 200 and "Give at least the year." in bad.content.decode()
    assert not ClinicalEvent.objects.exists()
    response = client.post(url, answers)
    assert response.status_code == 302
    event = ClinicalEvent.objects.get()
    assert (event.event_type, event.event_date, event.event_date_precision, event.verification) == (
        "mi",
        date(2024, 6, 15),
        "month",
        "pending",
    )
    member.refresh_from_db()
    assert (member.status, member.returned_on, member.response.entered_via, member.response.entered_by) == (
        MemberStatus.RETURNED,
        returned_on,
        "paper",
        coordinator,
    )
    # A second entry of the same code saves nothing and says when it came back.
    again = client.post(url, answers)
    assert "Already returned on" in again.content.decode() and ClinicalEvent.objects.count() == 1


def test_a_request_moves_on_and_closes_when_its_event_is_verified(coordinator, wave):
    member = _member("P-B")
    client = client_for(coordinator)
    client.post(
        reverse("followup_paper_entry", kwargs={"code": member.response_code}),
        {
            "returned_on": timezone.localdate().isoformat(),
            "health": "not_well",
            "pci": "yes",
            "pci_0_year": "2023",
            "pci_0_hospital": "UMCU",
        },
    )
    request = SourceDocumentRequest.objects.get()
    assert request.status == RequestStatus.REQUESTED and request.hospital == "UMCU"
    listed = client.get(reverse("followup_requests")).content.decode()
    assert "UMCU" in listed and "PCI (balloon or stent), 2023" in listed
    url = reverse("followup_request_update", kwargs={"pk": request.pk})
    today = timezone.localdate().isoformat()
    no_reference = client.post(url, {"status": "received", "on": today, "version": request.version})
    assert "Name the document received" in no_reference.content.decode()
    client.post(
        url, {"status": "received", "on": today, "document_reference": "UMCU PCI report", "version": request.version}
    )
    request.refresh_from_db()
    assert (request.status, request.document_reference) == (RequestStatus.RECEIVED, "UMCU PCI report")
    stale = client.post(url, {"status": "not_available", "on": today, "version": 1})
    assert "changed after you opened the page" in stale.content.decode()
    event = request.clinical_event
    verify = client.post(
        reverse("event_verify", kwargs={"study_id": "P-B", "pk": event.pk}),
        {"decision": "verified", "source_document": "UMCU PCI report", "version": event.version},
    )
    assert verify.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.CLOSED_VERIFIED
    assert AuditEntry.objects.filter(entity="sourcedocumentrequest", object_id=str(request.pk)).count() == 3


def test_closing_a_wave_marks_the_rest_no_response(coordinator, wave):
    client_for(coordinator).post(reverse("followup_wave_close", kwargs={"pk": wave.pk}))
    assert set(WaveMember.objects.values_list("status", flat=True)) == {MemberStatus.NO_RESPONSE}
    assert not Wave.objects.get(pk=wave.pk).is_open
