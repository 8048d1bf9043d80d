"""Behaviour of the registry pages: list search/filter/pagination, enrolment, edits with reasons,
contacts and events, one-click verification, withdrawal, the worklist, import and export."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
import time_machine

from registry import services
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, ImportJob, Patient, PatientIdentity
from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, IdentityFactory, PatientFactory, SiteFactory

TODAY = "2026-11-27"


@pytest.fixture
def coordinator_client(coordinator):
    return client_for(coordinator)


def _html(response) -> str:
    return response.content.decode()


def _field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def _patient_form(patient: Patient, **changes) -> dict:
    """The edit form as the browser posts it, with the patient's current values."""
    data = {
        "study_id": patient.study_id,
        "site": patient.site_id,
        "sex": patient.sex,
        "age_at_index": patient.age_at_index,
        "index_date": patient.index_date.isoformat(),
        "presentation": patient.presentation,
        "index_treatment": patient.index_treatment,
        "study_vessel": patient.study_vessel,
        "vessel_revascularized": "true",
        "hypertension": "true",
        "diabetes": "false",
        "egfr": patient.egfr,
        "hypercholesterolemia": "unknown",
        "reason": "",
        "version": patient.version,
    }
    return {**data, **changes}


# Patient list --------------------------------------------------------------------------------


def test_list_search_finds_study_ids_containing_the_text(coordinator_client, site):
    for study_id in ("ICS-0001", "ICS-0002", "XYZ-0100"):
        PatientFactory(study_id=study_id, site=site)

    response = coordinator_client.get("/patients/", {"q": "ics-000"})

    assert [r.patient.study_id for r in response.context["page"]] == ["ICS-0001", "ICS-0002"]


def test_list_search_finds_a_hospital_number_only_by_exact_match(clinician, site):
    IdentityFactory(patient=PatientFactory(study_id="ICS-0001", site=site), hospital_number="MRN0012345")
    PatientFactory(study_id="ICS-0002", site=site)
    client = client_for(clinician)

    exact = client.get("/patients/", {"q": "MRN0012345"})
    partial = client.get("/patients/", {"q": "MRN001"})

    assert [r.patient.study_id for r in exact.context["page"]] == ["ICS-0001"]
    assert list(partial.context["page"]) == []


def test_list_filters_by_site(coordinator_client, site, other_site):
    PatientFactory(study_id="ICS-0001", site=site)
    PatientFactory(study_id="OTH-0001", site=other_site)

    response = coordinator_client.get("/patients/", {"site": "OTH"})

    assert [r.patient.study_id for r in response.context["page"]] == ["OTH-0001"]


@time_machine.travel(TODAY)
def test_list_filters_by_follow_up_status(coordinator_client, site):
    recent = PatientFactory(study_id="ICS-0001", site=site, index_date=date(2024, 1, 1))
    ContactFactory(patient=recent, contact_date=date(2026, 6, 1))
    overdue = PatientFactory(study_id="ICS-0002", site=site, index_date=date(2024, 1, 1))
    ContactFactory(patient=overdue, contact_date=date(2025, 6, 1))

    response = coordinator_client.get("/patients/", {"status": "overdue"})

    assert [r.patient.study_id for r in response.context["page"]] == ["ICS-0002"]
    assert 'class="badge badge-overdue"' in _html(response)


def test_list_paginates_by_50_and_keeps_the_filters_in_page_links(coordinator_client, site):
    for n in range(120):
        PatientFactory(study_id=f"ICS-{n:04d}", site=site)

    first = coordinator_client.get("/patients/", {"q": "ICS", "site": "EMC"})
    last = coordinator_client.get("/patients/", {"q": "ICS", "site": "EMC", "page": 3})

    assert len(first.context["page"]) == 50
    assert first.context["page"].paginator.num_pages == 3
    assert 'href="?q=ICS&amp;site=EMC&amp;page=2"' in _html(first)
    assert [r.patient.study_id for r in last.context["page"]][:2] == ["ICS-0100", "ICS-0101"]
    assert len(last.context["page"]) == 20


@pytest.mark.parametrize("patient_count", [1, 80])
@pytest.mark.parametrize("persona", ["coordinator", "investigator"])
def test_list_page_query_count_does_not_grow_with_patients(
    personas, site, patient_count, persona, django_assert_max_num_queries
):
    for n in range(patient_count):
        patient = PatientFactory(study_id=f"ICS-{n:04d}", site=site)
        IdentityFactory(patient=patient)
        ContactFactory(patient=patient)
        EventFactory(patient=patient)
    client = client_for(personas[persona])

    # session, user, groups, site profile, sites, patients (+identity), contacts, events
    with django_assert_max_num_queries(9):
        response = client.get("/patients/")

    assert response.status_code == 200
    assert response.context["page"].paginator.count == patient_count


# Enrolment -----------------------------------------------------------------------------------


def test_enrol_creates_the_patient_with_unknown_baseline_and_identity(coordinator_client, coordinator, site):
    response = coordinator_client.post(
        "/patients/new/",
        {
            "study_id": "ICS-0500",
            "site": site.pk,
            "sex": "F",
            "index_date": "2020-02-03",
            "hypertension": "true",
            "diabetes": "false",
            "egfr": "45",
            "name": "Anna Voorbeeld",
            "hospital_number": "MRN0000500",
            "date_of_birth": "1950-02-03",
        },
        follow=True,
    )

    patient = Patient.objects.get(study_id="ICS-0500")
    assert response.redirect_chain == [("/patients/ICS-0500/", 302)]
    assert (patient.hypertension, patient.diabetes, patient.smoking, patient.statin) == (True, False, None, None)
    assert patient.age_at_index == 70.0
    assert patient.identity.hospital_number == "MRN0000500"
    assert AuditEntry.objects.filter(patient=patient, action="create", entity="patient", user=coordinator).exists()
    assert "Patient ICS-0500 enrolled." in _html(response)


def test_enrol_form_defaults_baseline_to_unknown_never_no(coordinator_client):
    form = coordinator_client.get("/patients/new/").context["form"]

    html = str(form["smoking"])
    assert '<option value="unknown" selected>Unknown</option>' in html
    assert 'type="date"' in str(form["index_date"])
    assert "autofocus" in str(form["study_id"])


def test_enrol_shows_a_service_error_next_to_the_field(coordinator_client, site):
    response = coordinator_client.post(
        "/patients/new/", {"study_id": "ICS-0501", "site": site.pk, "index_date": "2020-02-03", "age_at_index": "15"}
    )

    assert response.status_code == 200
    assert _field_errors(response, "age_at_index") == ["must be between 18 and 110 years (got 15)"]
    assert '<ul class="field-errors" id="id_age_at_index_errors"><li>must be between 18 and 110 years (got 15)' in _html(
        response
    )
    assert not Patient.objects.filter(study_id="ICS-0501").exists()


def test_enrol_shows_the_ics_rule_next_to_the_imported_ics_field(coordinator_client, site):
    response = coordinator_client.post(
        "/patients/new/", {"study_id": "ICS-0503", "site": site.pk, "index_date": "2020-02-03", "ics_imported": "2000"}
    )

    assert _field_errors(response, "ics_imported") == ["must be between 0 and 1000 (got 2000)"]


def test_enrol_rejects_a_duplicate_hospital_number_next_to_its_field(coordinator_client, site):
    IdentityFactory(patient=PatientFactory(study_id="ICS-0001", site=site), hospital_number="MRN0000001")

    response = coordinator_client.post(
        "/patients/new/",
        {"study_id": "ICS-0502", "site": site.pk, "index_date": "2020-02-03", "hospital_number": "MRN0000001"},
    )

    assert response.status_code == 200
    assert _field_errors(response, "hospital_number")
    assert not Patient.objects.filter(study_id="ICS-0502").exists()


def test_enrol_offers_a_site_restricted_coordinator_only_their_site(other_site_coordinator, site, other_site):
    form = client_for(other_site_coordinator).get("/patients/new/").context["form"]

    assert list(form.fields["site"].queryset) == [other_site]


# Patient detail ------------------------------------------------------------------------------


def test_detail_shows_missing_baseline_derived_renal_impairment_and_imported_ics(clinician, site):
    PatientFactory(
        study_id="ICS-0001", site=site, egfr=45.0, smoking=None, ics_imported=212.5, ics_imported_source="study core lab"
    )

    html = _html(client_for(clinician).get("/patients/ICS-0001/"))

    assert '<dt>Smoking</dt><dd><span class="missing">missing</span>' in html
    assert "<dt>Renal impairment (eGFR &lt; 60)</dt><dd>yes" in html
    assert 'id="patient-ics">212.5<' in html and "Imported (Study core lab)" in html
    assert "Imported ICS: 212.5 (Study core lab): this is the ICS that counts." in html


def test_detail_shows_the_audit_history_with_old_and_new_values(coordinator, patient):
    services.patient_update(user=coordinator, patient=patient, data={"egfr": 55.0}, reason="lab report corrected")

    html = _html(client_for(coordinator).get("/patients/ICS-0001/"))

    assert "eGFR (ml/min/1.73 m²): 78.0 → 55.0" in html and "<code>egfr</code>" not in html
    assert "lab report corrected" in html


def test_detail_shows_who_verified_an_event_when_and_against_what(coordinator, patient):
    event = EventFactory(patient=patient)
    services.event_verify(user=coordinator, event=event, source_document="discharge letter 2016-05-12")

    html = _html(client_for(coordinator).get("/patients/ICS-0001/"))

    assert 'class="badge badge-verified"' in html
    assert "by coordinator on" in html
    assert "against discharge letter 2016-05-12" in html


# Edits -----------------------------------------------------------------------------------------


def test_edit_requires_a_reason(coordinator_client, patient):
    response = coordinator_client.post("/patients/ICS-0001/edit/", _patient_form(patient, egfr="55"))

    patient.refresh_from_db()
    assert response.status_code == 200
    assert _field_errors(response, "reason") == ["This field is required."]
    assert patient.egfr == 78.0


def test_edit_with_a_reason_saves_and_writes_an_audit_row(coordinator_client, coordinator, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/edit/", _patient_form(patient, egfr="55", reason="lab report corrected")
    )

    patient.refresh_from_db()
    entry = AuditEntry.objects.get(patient=patient, action="update")
    assert response.status_code == 302
    assert patient.egfr == 55.0
    assert patient.hypercholesterolemia is None
    assert (entry.user, entry.changes, entry.reason) == (coordinator, {"egfr": [78.0, 55.0]}, "lab report corrected")


def test_identity_change_needs_a_reason(coordinator_client, patient):
    IdentityFactory(patient=patient, name="Jan Jansen", hospital_number="MRN0000001")
    data = {"name": "Jan Janssen", "hospital_number": "MRN0000001", "date_of_birth": "1950-01-31"}

    without = coordinator_client.post("/patients/ICS-0001/identity/", data)
    with_reason = coordinator_client.post("/patients/ICS-0001/identity/", {**data, "reason": "spelling"})

    assert _field_errors(without, "reason") == ["A reason is required when an existing value is changed."]
    assert with_reason.status_code == 302
    assert PatientIdentity.objects.get(patient=patient).name == "Jan Janssen"
    entry = AuditEntry.objects.get(entity="patientidentity", action="update")
    assert (entry.changes, entry.reason) == ({"name": ["Jan Jansen", "Jan Janssen"]}, "spelling")


def test_withdraw_records_date_and_reason(coordinator_client, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/withdraw/", {"withdrawn_on": "2020-01-01", "reason": "withdrew consent"}, follow=True
    )

    patient.refresh_from_db()
    assert (patient.withdrawn_on, patient.withdrawal_reason) == (date(2020, 1, 1), "withdrew consent")
    assert AuditEntry.objects.filter(patient=patient, action="withdraw", reason="withdrew consent").exists()
    assert 'class="badge badge-withdrawn"' in _html(response)


def test_withdraw_before_the_index_date_is_refused_next_to_the_date(coordinator_client, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/withdraw/", {"withdrawn_on": "2010-01-01", "reason": "withdrew consent"}
    )

    patient.refresh_from_db()
    assert _field_errors(response, "withdrawn_on") == ["2010-01-01 is before the index date 2015-03-02"]
    assert patient.withdrawn_on is None


# Contacts and events --------------------------------------------------------------------------


def test_add_contact(coordinator_client, coordinator, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/contacts/new/",
        {
            "contact_date": "2020-01-01",
            "method": "phone",
            "vital_status": "alive",
            "notes": "feels well",
        },
    )

    contact = FollowUpContact.objects.get(patient=patient)
    assert response.status_code == 302
    assert (contact.contact_date, contact.method, contact.vital_status, contact.created_by) == (
        date(2020, 1, 1),
        "phone",
        "alive",
        coordinator,
    )
    assert AuditEntry.objects.filter(entity="followupcontact", action="create", object_id=str(contact.pk)).exists()


def test_add_contact_before_the_index_date_shows_the_rule_next_to_the_date(coordinator_client, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/contacts/new/",
        {
            "contact_date": "2014-01-01",
            "method": "phone",
            "vital_status": "alive",
        },
    )

    assert _field_errors(response, "contact_date") == ["2014-01-01 is before the index date 2015-03-02"]
    assert not FollowUpContact.objects.exists()


def test_edit_and_delete_contact_with_reasons(coordinator_client, patient):
    contact = ContactFactory(patient=patient, contact_date=date(2017, 6, 1))
    url = f"/patients/ICS-0001/contacts/{contact.pk}/"

    coordinator_client.post(
        url + "edit/",
        {
            "contact_date": "2017-06-02",
            "method": "phone",
            "vital_status": "alive",
            "reason": "wrong day",
            "version": contact.version,
        },
    )
    contact.refresh_from_db()
    assert contact.contact_date == date(2017, 6, 2)

    refused = coordinator_client.post(url + "delete/", {"reason": ""})
    assert _field_errors(refused, "reason") == ["This field is required."]
    coordinator_client.post(url + "delete/", {"reason": "wrong patient"})
    assert not FollowUpContact.objects.filter(pk=contact.pk).exists()
    assert AuditEntry.objects.get(entity="followupcontact", action="delete").reason == "wrong patient"


def test_contact_of_another_patient_is_404_through_this_patients_url(coordinator_client, patient, site):
    other = ContactFactory(patient=PatientFactory(study_id="ICS-0002", site=site))

    response = coordinator_client.get(f"/patients/ICS-0001/contacts/{other.pk}/edit/")

    assert response.status_code == 404


def test_add_revascularization_event(coordinator_client, coordinator, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/events/new/",
        {
            "event_type": "revascularization",
            "event_date": "2018-04-05",
            "revascularization_method": "CABG",
            "target_vessel": "true",
            "source": "hospital_record",
        },
    )

    event = ClinicalEvent.objects.get(patient=patient)
    assert response.status_code == 302
    assert (event.event_type, event.revascularization_method, event.target_vessel, event.verification) == (
        "revascularization",
        "CABG",
        True,
        "pending",
    )
    assert event.created_by == coordinator


def test_add_event_with_unknown_target_vessel_stores_none(coordinator_client, patient):
    coordinator_client.post(
        "/patients/ICS-0001/events/new/",
        {
            "event_type": "mi",
            "event_date": "2018-04-05",
            "target_vessel": "unknown",
            "source": "gp",
        },
    )

    assert ClinicalEvent.objects.get(patient=patient).target_vessel is None


def test_target_vessel_on_a_stroke_is_refused_next_to_the_field(coordinator_client, patient):
    response = coordinator_client.post(
        "/patients/ICS-0001/events/new/",
        {
            "event_type": "stroke",
            "event_date": "2018-04-05",
            "target_vessel": "true",
            "source": "gp",
        },
    )

    assert _field_errors(response, "target_vessel") == ["applies only to MI and revascularization, not to stroke"]
    assert not ClinicalEvent.objects.exists()


def test_edit_event_requires_a_reason_and_delete_removes_it(coordinator_client, patient):
    event = EventFactory(patient=patient)
    url = f"/patients/ICS-0001/events/{event.pk}/"
    data = {
        "event_type": "mi",
        "event_date": "2016-05-11",
        "target_vessel": "true",
        "source": "hospital_record",
        "version": event.version,
    }

    refused = coordinator_client.post(url + "edit/", data)
    coordinator_client.post(url + "edit/", {**data, "reason": "date from the discharge letter"})
    event.refresh_from_db()

    assert _field_errors(refused, "reason") == ["This field is required."]
    assert event.event_date == date(2016, 5, 11)
    coordinator_client.post(url + "delete/", {"reason": "duplicate"})
    assert not ClinicalEvent.objects.filter(pk=event.pk).exists()


# Verification ----------------------------------------------------------------------------------


@time_machine.travel(datetime(2026, 11, 27, 9, 30, tzinfo=UTC), tick=False)
def test_verify_in_one_click_records_who_when_and_the_source_document(coordinator_client, coordinator, patient):
    event = EventFactory(patient=patient)

    response = coordinator_client.post(
        f"/patients/ICS-0001/events/{event.pk}/verify/",
        {
            "decision": "verified",
            "source_document": "discharge letter 2016-05-12",
            "next": "/worklist/",
        },
    )

    event.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == "/worklist/"
    assert event.verification == "verified"
    assert event.verified_by == coordinator
    assert event.verified_at == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert event.source_document == "discharge letter 2016-05-12"
    assert AuditEntry.objects.filter(entity="clinicalevent", action="verify", object_id=str(event.pk)).exists()


def test_the_timeline_and_worklist_offer_the_one_click_verify_form(coordinator_client, patient):
    event = EventFactory(patient=patient)
    action = f'action="/patients/ICS-0001/events/{event.pk}/verify/"'

    for page in ("/patients/ICS-0001/", "/worklist/"):
        html = _html(coordinator_client.get(page))
        assert action in html
        assert 'name="source_document"' in html
        assert '<button type="submit" name="decision" value="verified"' in html


def test_verify_without_a_source_document_shows_the_error_next_to_the_field(coordinator_client, patient):
    event = EventFactory(patient=patient)

    response = coordinator_client.post(f"/patients/ICS-0001/events/{event.pk}/verify/", {"decision": "verified"})

    event.refresh_from_db()
    assert response.status_code == 200
    assert _field_errors(response, "source_document") == ["Name the source document the event was verified against."]
    assert event.verification == "pending"


def test_reject_requires_a_reason(coordinator_client, patient):
    event = EventFactory(patient=patient)
    url = f"/patients/ICS-0001/events/{event.pk}/verify/"

    refused = coordinator_client.post(url, {"decision": "rejected"})
    event.refresh_from_db()
    assert _field_errors(refused, "reason") == ["A reason is required to reject an event."]
    assert event.verification == "pending"

    coordinator_client.post(url, {"decision": "rejected", "reason": "no MI in the hospital record"})
    event.refresh_from_db()
    assert event.verification == "rejected"
    assert AuditEntry.objects.get(action="verify").reason == "no MI in the hospital record"


def test_a_service_error_about_a_field_the_form_lacks_is_shown_above_the_form(coordinator_client, patient):
    rejected = EventFactory(
        patient=patient, event_type="death", target_vessel=None, event_date=date(2017, 1, 1), verification="rejected"
    )
    EventFactory(patient=patient, event_type="death", target_vessel=None, event_date=date(2018, 1, 1))

    response = coordinator_client.post(
        f"/patients/ICS-0001/events/{rejected.pk}/verify/", {"decision": "verified", "source_document": "death certificate"}
    )

    assert response.context["form"].non_field_errors() == [
        "the patient already has a death on 2018-01-01: one death at most"
    ]
    assert '<div class="errors" role="alert">' in _html(response)


def test_verify_ignores_a_next_url_on_another_host(coordinator_client, patient):
    event = EventFactory(patient=patient)

    response = coordinator_client.post(
        f"/patients/ICS-0001/events/{event.pk}/verify/",
        {
            "decision": "verified",
            "source_document": "letter",
            "next": "https://evil.example/",
        },
    )

    assert response["Location"] == "/patients/ICS-0001/"


# Worklist --------------------------------------------------------------------------------------


@time_machine.travel(TODAY)
def test_worklist_sections_contain_the_right_patients(coordinator_client, site):
    def patient_with_contact(study_id: str, contact_date: date) -> Patient:
        patient = PatientFactory(study_id=study_id, site=site, index_date=date(2020, 1, 1))
        ContactFactory(patient=patient, contact_date=contact_date)
        return patient

    patient_with_contact("ICS-ACTIVE", date(2026, 6, 1))
    patient_with_contact("ICS-OVERDUE", date(2025, 6, 1))  # 544 days ago: > 12 months
    patient_with_contact("ICS-LOST", date(2023, 6, 1))  # > 24 months
    pending = patient_with_contact("ICS-PENDING", date(2026, 9, 1))
    EventFactory(patient=pending, event_type="stroke", target_vessel=None, event_date=date(2026, 8, 1))

    response = coordinator_client.get("/worklist/")

    assert [r.patient.study_id for r in response.context["overdue"]] == ["ICS-OVERDUE"]
    assert [r.patient.study_id for r in response.context["lost"]] == ["ICS-LOST"]
    assert [e.patient.study_id for e in response.context["pending_events"]] == ["ICS-PENDING"]
    html = _html(response)
    assert 'No contact for more than 12 months <span class="count-badge">1</span>' in html
    assert 'Lost to follow-up <span class="count-badge">1</span>' in html
    assert 'Events pending verification <span class="count-badge">1</span>' in html
    assert "ICS-ACTIVE" not in html


@time_machine.travel(TODAY)
def test_worklist_sections_are_paged_each_on_its_own(coordinator_client, site):
    for n in range(30):
        ContactFactory(
            patient=PatientFactory(study_id=f"ICS-O{n:02d}", site=site, index_date=date(2020, 1, 1)),
            contact_date=date(2025, 6, 1),
        )
    first = coordinator_client.get("/worklist/")
    assert [r.patient.study_id for r in first.context["overdue"]] == [f"ICS-O{n:02d}" for n in range(25)]
    html = _html(first)
    assert 'No contact for more than 12 months <span class="count-badge">30</span>' in html
    assert '<span class="current">1–25 of 30</span>' in html and 'href="?overdue_page=2" rel="next"' in html

    second = coordinator_client.get("/worklist/?overdue_page=2")
    assert [r.patient.study_id for r in second.context["overdue"]] == [f"ICS-O{n:02d}" for n in range(25, 30)]
    assert 'href="?overdue_page=1" rel="prev"' in _html(second)


@time_machine.travel(TODAY)
def test_worklist_for_a_clinician_has_no_verify_forms(clinician, patient):
    EventFactory(patient=patient)

    html = _html(client_for(clinician).get("/worklist/"))

    assert "ICS-0001" in html
    assert "Verify against source" not in html


# Export ----------------------------------------------------------------------------------------


def test_export_patients_and_events_are_csv_attachments(coordinator_client, patient):
    EventFactory(patient=patient)

    patients = coordinator_client.get("/export/patients.csv")
    events = coordinator_client.get("/export/events.csv")

    for response, name in ((patients, "patients"), (events, "events")):
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith(f'attachment; filename="{name}-')
    assert [r["study_id"] for r in csv.DictReader(io.StringIO(patients.content.decode()))] == ["ICS-0001"]
    assert [r["event_type"] for r in csv.DictReader(io.StringIO(events.content.decode()))] == ["mi"]


def test_export_of_a_site_restricted_coordinator_holds_only_their_site(other_site_coordinator, patient, other_site):
    PatientFactory(study_id="OTH-0001", site=other_site)

    response = client_for(other_site_coordinator).get("/export/patients.csv")

    assert [r["study_id"] for r in csv.DictReader(io.StringIO(response.content.decode()))] == ["OTH-0001"]


def test_analysis_export_honours_horizon_and_pending_options(investigator, patient):
    ContactFactory(patient=patient, contact_date=date(2023, 3, 2))
    EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10))  # pending
    client = client_for(investigator)

    counted = next(csv.DictReader(io.StringIO(client.get("/export/analysis_dataset.csv").content.decode())))
    verified_only = next(
        csv.DictReader(
            io.StringIO(
                client.get("/export/analysis_dataset.csv", {"horizon_days": "365", "count_pending": "no"}).content.decode()
            )
        )
    )

    assert (counted["mi_status"], counted["mi_days"]) == ("1", "435")
    assert (verified_only["mi_status"], verified_only["mi_days"]) == ("0", "365")
    assert "name" not in counted and "hospital_number" not in counted


def test_analysis_export_with_a_bad_horizon_shows_the_error(investigator):
    response = client_for(investigator).get("/export/analysis_dataset.csv", {"horizon_days": "0"})

    assert response.status_code == 400
    assert response.context["analysis_form"].errors["horizon_days"]


# Import ----------------------------------------------------------------------------------------

PATIENTS_HEADER = (
    "study_id,sex,age_at_index,index_date,hypertension,hypercholesterolemia,statin,diabetes,family_history,smoking,"
    "prior_mi,prior_pci,prior_cabg,prior_stroke,prior_pad,egfr,presentation,index_treatment,study_vessel,"
    "vessel_revascularized,ics,last_contact_date,site\n"
)


def _upload(name: str, text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def _import(client, django_capture_on_commit_callbacks, patients: str, events: str | None = None):
    files = {"patients_file": _upload("patients.csv", patients)}
    if events is not None:
        files["events_file"] = _upload("events.csv", events)
    # The import runs after the upload's transaction commits (eager Celery in tests).
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/import/", files)


def test_import_runs_and_the_page_shows_the_summary(coordinator_client, site, django_capture_on_commit_callbacks):
    patients = PATIENTS_HEADER + (
        "ICS-0101,M,64.5,2016-03-01,1,0,1,0,,1,0,0,0,0,0,72,ACS,PCI,LAD,1,180.5,2021-03-01,EMC\n"
        "ICS-0102,F,71,2017-05-02,0,1,1,1,0,0,0,1,0,0,0,48,stable,CABG,RCA,0,,2022-01-10,EMC\n"
    )
    events = "study_id,event_type,event_date,target_vessel,verified\nICS-0101,mi,2018-02-01,1,0\n"

    response = _import(coordinator_client, django_capture_on_commit_callbacks, patients, events)

    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/import/{job.pk}/"
    assert (job.status, job.progress_percent) == ("succeeded", 100)
    assert job.summary["patients_created"] == 2 and job.summary["events_created"] == 1
    assert Patient.objects.get(study_id="ICS-0101").family_history is None
    page = _html(coordinator_client.get(f"/import/{job.pk}/"))
    assert '<progress id="import-progress" max="100" value="100">' in page
    assert "<li>2 patients created</li>" in page and "Patients_created" not in page
    assert coordinator_client.get(f"/import/{job.pk}/status.json").json() == {
        "id": job.pk,
        "status": "succeeded",
        "progress_percent": 100,
        "done": True,
    }


def test_import_with_a_bad_row_fails_whole_and_lists_the_problem(
    coordinator_client, site, django_capture_on_commit_callbacks
):
    patients = PATIENTS_HEADER + (
        "ICS-0101,M,64.5,2016-03-01,1,0,1,0,0,1,0,0,0,0,0,72,ACS,PCI,LAD,1,180.5,2021-03-01,EMC\n"
        "ICS-0102,F,12,2017-05-02,0,1,1,1,0,0,0,1,0,0,0,48,stable,CABG,RCA,0,,2022-01-10,EMC\n"
    )

    _import(coordinator_client, django_capture_on_commit_callbacks, patients)

    job = ImportJob.objects.get()
    assert job.status == "failed"
    assert not Patient.objects.exists()
    page = _html(coordinator_client.get(f"/import/{job.pk}/"))
    assert '<ul class="problem-list">' in page
    problem = job.problems[0]
    assert (problem["file"], problem["column"]) == ("patients.csv", "age_at_index")
    assert f"<li>Row {problem['row']}, column age_at_index: " in page and "Column: None" not in page
    assert "js/import_detail.js" in page


def test_import_page_requires_the_patients_file(coordinator_client):
    response = coordinator_client.post("/import/", {})

    assert _field_errors(response, "patients_file") == ["This field is required."]
    assert not ImportJob.objects.exists()


def test_import_of_a_queued_job_polls_its_status(coordinator_client, coordinator):
    job = ImportJob.objects.create(
        created_by=coordinator, patients_file="imports/p.csv", progress_percent=40, status="running"
    )

    page = _html(coordinator_client.get(f"/import/{job.pk}/"))
    status = coordinator_client.get(f"/import/{job.pk}/status.json").json()

    assert 'data-done="false"' in page and f'data-status-url="/import/{job.pk}/status.json"' in page
    assert status == {"id": job.pk, "status": "running", "progress_percent": 40, "done": False}


def test_sites_other_than_the_users_are_not_in_the_list_filter(other_site_coordinator, site, other_site):
    SiteFactory(code="THIRD")

    form = client_for(other_site_coordinator).get("/patients/").context["form"]

    assert form.fields["site"].choices == [("", "All sites"), ("OTH", "OTH")]


def test_event_form_pages_load_their_script_and_other_forms_do_not(patient, coordinator):
    client = client_for(coordinator)
    event_page = client.get(f"/patients/{patient.study_id}/events/new/").content.decode()
    contact_page = client.get(f"/patients/{patient.study_id}/contacts/new/").content.decode()
    assert 'id="event-form"' in event_page and "js/event_form" in event_page
    assert "js/event_form" not in contact_page
    withdraw_page = client.get(f"/patients/{patient.study_id}/withdraw/").content.decode()
    assert "Withdraw patient</button>" in withdraw_page
