"""The JSON API: list filters and pagination, enrolment, validation errors keyed by field,
reasons for changes, verification, the audit history, the analysis dataset and the schema."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient, PatientIdentity
from tests.factories import ContactFactory, EventFactory, IdentityFactory, PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine("2026-11-27 12:00 +0000", tick=False)]

INDEX = date(2015, 3, 2)  # PatientFactory's index date


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _enrolment(**overrides) -> dict:
    data = {
        "study_id": "ICS-0100",
        "site": "EMC",
        "sex": "F",
        "age_at_index": 70.2,
        "index_date": "2014-05-06",
        "presentation": "ACS",
        "index_treatment": "PCI",
        "study_vessel": "RCA",
        "vessel_revascularized": True,
        "hypertension": True,
        "diabetes": None,
        "egfr": 55.5,
    }
    return {**data, **overrides}


# Patient list -------------------------------------------------------------------------------


def test_list_item_has_patient_fields_follow_up_and_identifiers(coordinator, site):
    patient = PatientFactory(study_id="ICS-0001", site=site, index_date=date(2024, 1, 15))
    IdentityFactory(patient=patient, name="Anna de Vries", hospital_number="MRN42", date_of_birth=date(1950, 2, 3))
    ContactFactory(patient=patient, contact_date=date(2026, 5, 1), vital_status="alive")

    response = api(coordinator).get("/api/patients/")

    assert response.status_code == 200
    assert response.json()["count"] == 1
    item = response.json()["results"][0]
    assert item["study_id"] == "ICS-0001" and item["site"] == "EMC" and item["sex"] == "M"
    assert item["index_date"] == "2024-01-15" and item["study_vessel"] == "LAD"
    assert item["hypertension"] is True and item["diabetes"] is False and item["smoking"] is None
    assert item["egfr"] == 78.0 and item["renal_impairment"] is False
    assert item["withdrawn_on"] is None
    assert item["follow_up"] == {
        "last_contact_date": "2026-05-01",
        "follow_up_days": (date(2026, 5, 1) - date(2024, 1, 15)).days,
        "vital_status": "alive",
        "status": "active",
    }
    assert item["identifiers"] == {
        "name": "Anna de Vries",
        "family_name": "",
        "hospital_number": "MRN42",
        "date_of_birth": "1950-02-03",
        "postal_address": "",
    }


def test_list_shows_null_identifiers_when_none_were_recorded(clinician, patient):
    item = api(clinician).get("/api/patients/").json()["results"][0]
    assert item["identifiers"] is None


def test_list_filters_by_study_id_site_status_and_index_date(coordinator, site, other_site):
    PatientFactory(study_id="ICS-0001", site=site, index_date=date(2015, 1, 10))
    recent = PatientFactory(study_id="ICS-0002", site=site, index_date=date(2022, 6, 1))
    PatientFactory(study_id="OTH-0001", site=other_site, index_date=date(2016, 1, 1))
    ContactFactory(patient=recent, contact_date=date(2026, 10, 1))
    client = api(coordinator)

    def study_ids(query: str) -> list[str]:
        response = client.get(f"/api/patients/?{query}")
        assert response.status_code == 200
        return [item["study_id"] for item in response.json()["results"]]

    assert study_ids("") == ["ICS-0001", "ICS-0002", "OTH-0001"]
    assert study_ids("q=ics-") == ["ICS-0001", "ICS-0002"]
    assert study_ids("site=OTH") == ["OTH-0001"]
    assert study_ids("status=active") == ["ICS-0002"]
    assert study_ids("status=lost") == ["ICS-0001", "OTH-0001"]
    assert study_ids("index_date_after=2015-06-01") == ["ICS-0002", "OTH-0001"]
    assert study_ids("index_date_before=2016-01-01") == ["ICS-0001", "OTH-0001"]
    assert study_ids("index_date_after=2015-06-01&index_date_before=2018-12-31&site=OTH") == ["OTH-0001"]


def test_list_rejects_unknown_status_and_bad_dates(coordinator):
    response = api(coordinator).get("/api/patients/?status=sleeping&index_date_after=yesterday")
    assert response.status_code == 400
    assert set(response.json()) == {"status", "index_date_after"}


def test_list_is_paginated(coordinator, site):
    for n in range(5):
        PatientFactory(study_id=f"ICS-{n:04d}", site=site)
    client = api(coordinator)

    first = client.get("/api/patients/?page_size=2").json()
    last = client.get("/api/patients/?page_size=2&page=3").json()

    assert first["count"] == 5 and [p["study_id"] for p in first["results"]] == ["ICS-0000", "ICS-0001"]
    assert first["next"].endswith("page=2&page_size=2") and first["previous"] is None
    assert [p["study_id"] for p in last["results"]] == ["ICS-0004"] and last["next"] is None
    assert client.get("/api/patients/?page=9").status_code == 404


@pytest.mark.parametrize("n_patients", [2, 40])
def test_list_runs_a_constant_number_of_queries(coordinator, site, n_patients, django_assert_max_num_queries):
    for n in range(n_patients):
        p = PatientFactory(study_id=f"ICS-{n:04d}", site=site)
        IdentityFactory(patient=p)
        ContactFactory(patient=p)
        EventFactory(patient=p)
    client = api(coordinator)

    # session, user, roles, site restriction, count, patients, contacts, events, identities
    with django_assert_max_num_queries(9):
        response = client.get("/api/patients/")
    with django_assert_max_num_queries(7):
        events = client.get("/api/events/")
    # session, user, roles, site restriction, count, the page's patients, their rows, contacts, events
    with django_assert_max_num_queries(9):
        rows = client.get("/api/analysis-dataset/")

    assert response.status_code == 200 and len(response.json()["results"]) == n_patients
    assert all(item["identifiers"]["hospital_number"] for item in response.json()["results"])
    assert len(events.json()["results"]) == n_patients and len(rows.json()["results"]) == n_patients


def test_other_sites_patients_are_not_listed_for_a_site_restricted_user(other_site_coordinator, patient, other_site):
    PatientFactory(study_id="OTH-0001", site=other_site)
    results = api(other_site_coordinator).get("/api/patients/").json()["results"]
    assert [item["study_id"] for item in results] == ["OTH-0001"]


# Enrolment and changes ----------------------------------------------------------------------


def test_it_enrols_a_patient_with_identifiers(coordinator, site):
    payload = _enrolment(identifiers={"name": "Anna de Vries", "hospital_number": "MRN42", "date_of_birth": "1944-02-03"})

    response = api(coordinator).post("/api/patients/", payload, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["study_id"] == "ICS-0100"
    assert response.json()["follow_up"]["status"] == "lost"  # no contact since 2014
    patient = Patient.objects.get(study_id="ICS-0100")
    assert patient.site == site and patient.egfr == 55.5 and patient.hypertension is True
    assert patient.diabetes is None and patient.statin is None
    assert PatientIdentity.objects.get(patient=patient).hospital_number == "MRN42"
    entry = AuditEntry.objects.get(entity="patient", action="create")
    assert entry.patient == patient and entry.username == "coordinator"
    assert entry.changes["egfr"] == [None, 55.5]


def test_an_age_that_does_not_fit_the_date_of_birth_is_refused_as_on_the_form(coordinator, site):
    payload = _enrolment(identifiers={"name": "Anna de Vries", "date_of_birth": "1950-02-03"})  # 64 at index, not 70.2
    response = api(coordinator).post("/api/patients/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["age_at_index"][0].startswith("Age at index 70.2 does not match the date of birth 1950-02-03")
    assert not Patient.objects.exists() and not PatientIdentity.objects.exists()


def test_it_rejects_egfr_out_of_range_with_the_rules_message(coordinator, site):
    response = api(coordinator).post("/api/patients/", _enrolment(egfr=250), format="json")

    assert response.status_code == 400
    assert response.json() == {"egfr": ["must be between 0 and 200 ml/min (got 250)"]}
    assert not Patient.objects.exists()


def test_it_reports_the_ics_rule_under_the_api_field_name(coordinator, site):
    response = api(coordinator).post("/api/patients/", _enrolment(ics_imported=1200), format="json")
    assert response.status_code == 400
    assert response.json() == {"ics_imported": ["must be between 0 and 1000 (got 1200)"]}


def test_it_reports_identifier_problems_under_identifiers(coordinator, site):
    payload = _enrolment(identifiers={"date_of_birth": "2020-01-01"})

    response = api(coordinator).post("/api/patients/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"identifiers": {"date_of_birth": ["must be before the index date"]}}
    assert not Patient.objects.exists()


def test_it_rejects_a_duplicate_study_id(coordinator, patient):
    response = api(coordinator).post("/api/patients/", _enrolment(study_id="ICS-0001"), format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["study_id"]


def test_it_rejects_unknown_fields_and_unknown_sites(coordinator, site):
    response = api(coordinator).post("/api/patients/", _enrolment(site="XYZ", egfr_typo=1), format="json")
    assert response.status_code == 400
    assert response.json() == {"egfr_typo": ["is not an accepted field here"]}

    response = api(coordinator).post("/api/patients/", _enrolment(site="XYZ"), format="json")
    assert response.status_code == 400 and list(response.json()) == ["site"]


def test_a_site_restricted_user_cannot_enrol_at_another_site(other_site_coordinator, site):
    response = api(other_site_coordinator).post("/api/patients/", _enrolment(site="EMC"), format="json")
    assert response.status_code == 400 and list(response.json()) == ["site"]
    assert not Patient.objects.exists()


def test_patch_without_reason_is_refused(coordinator, patient):
    response = api(coordinator).patch(f"/api/patients/{patient.study_id}/", {"egfr": 55}, format="json")

    assert response.status_code == 400
    assert response.json() == {"reason": ["A reason is required when an existing value is changed."]}
    patient.refresh_from_db()
    assert patient.egfr == 78.0


def test_patch_with_reason_changes_the_patient_and_audits_old_and_new(coordinator, patient):
    response = api(coordinator).patch(
        f"/api/patients/{patient.study_id}/", {"egfr": 55, "diabetes": None, "reason": "lab report"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["egfr"] == 55.0 and response.json()["renal_impairment"] is True
    patient.refresh_from_db()
    assert patient.egfr == 55.0 and patient.diabetes is None
    entry = AuditEntry.objects.get(action="update")
    assert entry.changes == {"egfr": [78.0, 55.0], "diabetes": [False, None]}
    assert entry.reason == "lab report" and entry.user == coordinator


def test_patch_without_changes_needs_no_reason(coordinator, patient):
    response = api(coordinator).patch(f"/api/patients/{patient.study_id}/", {"egfr": 78.0}, format="json")
    assert response.status_code == 200
    assert not AuditEntry.objects.exists()


def test_patch_refuses_identifiers(coordinator, patient):
    response = api(coordinator).patch(
        f"/api/patients/{patient.study_id}/", {"identifiers": {"name": "X"}, "reason": "r"}, format="json"
    )
    assert response.status_code == 400 and list(response.json()) == ["identifiers"]


def test_withdraw_sets_date_and_reason(coordinator, patient):
    url = f"/api/patients/{patient.study_id}/withdraw/"

    refused = api(coordinator).post(url, {"withdrawn_on": "2020-01-01", "reason": ""}, format="json")
    response = api(coordinator).post(url, {"withdrawn_on": "2020-01-01", "reason": "consent withdrawn"}, format="json")

    assert refused.status_code == 400 and list(refused.json()) == ["reason"]
    assert response.status_code == 200
    assert response.json()["follow_up"]["status"] == "withdrawn"
    patient.refresh_from_db()
    assert patient.withdrawn_on == date(2020, 1, 1) and patient.withdrawal_reason == "consent withdrawn"
    assert AuditEntry.objects.get(action="withdraw").reason == "consent withdrawn"


# Contacts -----------------------------------------------------------------------------------


def test_it_records_a_contact(coordinator, patient):
    response = api(coordinator).post(
        f"/api/patients/{patient.study_id}/contacts/",
        {"contact_date": "2020-02-03", "method": "phone", "vital_status": "alive", "notes": "spoke to patient"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    contact = FollowUpContact.objects.get(patient=patient)
    assert contact.contact_date == date(2020, 2, 3) and contact.created_by == coordinator
    assert response.json()["id"] == contact.pk and response.json()["notes"] == "spoke to patient"
    assert AuditEntry.objects.get(entity="followupcontact").action == "create"


def test_it_rejects_a_contact_before_the_index_date(coordinator, patient):
    response = api(coordinator).post(
        f"/api/patients/{patient.study_id}/contacts/", {"contact_date": "2015-01-01", "method": "phone"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"contact_date": ["2015-01-01 is before the index date 2015-03-02"]}
    assert not FollowUpContact.objects.exists()


def test_contacts_are_listed_in_date_order(clinician, patient):
    later = ContactFactory(patient=patient, contact_date=date(2019, 1, 1), notes="later")
    earlier = ContactFactory(patient=patient, contact_date=date(2016, 1, 1), method="gp")

    response = api(clinician).get(f"/api/patients/{patient.study_id}/contacts/")

    assert [c["id"] for c in response.json()] == [earlier.pk, later.pk]
    assert response.json()[1]["notes"] == "later"


def test_contact_change_and_delete_need_a_reason(coordinator, patient):
    contact = ContactFactory(patient=patient)
    url = f"/api/patients/{patient.study_id}/contacts/{contact.pk}/"
    client = api(coordinator)

    assert client.patch(url, {"method": "gp"}, format="json").json() == {
        "reason": ["A reason is required when an existing value is changed."]
    }
    changed = client.patch(url, {"method": "gp", "reason": "typo"}, format="json")
    assert changed.status_code == 200 and changed.json()["method"] == "gp"
    assert client.delete(url, {}, format="json").status_code == 400
    assert client.delete(url, {"reason": "duplicate"}, format="json").status_code == 204

    assert not FollowUpContact.objects.exists()
    assert [(e.action, e.reason) for e in AuditEntry.objects.order_by("id")] == [("update", "typo"), ("delete", "duplicate")]


def test_delete_accepts_the_reason_as_query_parameter(coordinator, patient):
    event = EventFactory(patient=patient)
    response = api(coordinator).delete(f"/api/patients/{patient.study_id}/events/{event.pk}/?reason=entered+twice")
    assert response.status_code == 204
    assert AuditEntry.objects.get(action="delete").reason == "entered twice"


def test_a_contact_of_another_patient_is_404(coordinator, patient, site):
    other = ContactFactory(patient=PatientFactory(study_id="ICS-0002", site=site))
    response = api(coordinator).patch(
        f"/api/patients/{patient.study_id}/contacts/{other.pk}/", {"method": "gp", "reason": "r"}, format="json"
    )
    assert response.status_code == 404


# Events -------------------------------------------------------------------------------------


def test_it_records_an_event_pending_verification(coordinator, patient):
    response = api(coordinator).post(
        f"/api/patients/{patient.study_id}/events/",
        {
            "event_type": "revascularization",
            "event_date": "2017-04-05",
            "revascularization_method": "PCI",
            "target_vessel": True,
            "source": "hospital_record",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    event = ClinicalEvent.objects.get(patient=patient)
    assert event.verification == "pending" and event.target_vessel is True and event.created_by == coordinator
    assert response.json()["study_id"] == "ICS-0001" and response.json()["verification"] == "pending"


def test_it_rejects_target_vessel_on_a_stroke(coordinator, patient):
    response = api(coordinator).post(
        f"/api/patients/{patient.study_id}/events/",
        {"event_type": "stroke", "event_date": "2017-04-05", "target_vessel": True, "source": "gp"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"target_vessel": ["applies only to MI and revascularization, not to stroke"]}


def test_it_rejects_a_second_death(coordinator, patient):
    EventFactory(patient=patient, event_type="death", event_date=date(2020, 1, 1), target_vessel=None)
    response = api(coordinator).post(
        f"/api/patients/{patient.study_id}/events/",
        {"event_type": "death", "event_date": "2020-01-01", "source": "civil_registry"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"event_type": ["the patient already has a death on 2020-01-01: one death at most"]}
    assert ClinicalEvent.objects.count() == 1


def test_event_change_needs_a_reason(coordinator, patient):
    event = EventFactory(patient=patient)
    url = f"/api/patients/{patient.study_id}/events/{event.pk}/"

    refused = api(coordinator).patch(url, {"event_date": "2016-05-11"}, format="json")
    changed = api(coordinator).patch(url, {"event_date": "2016-05-11", "reason": "letter"}, format="json")

    assert refused.status_code == 400 and list(refused.json()) == ["reason"]
    assert changed.status_code == 200
    event.refresh_from_db()
    assert event.event_date == date(2016, 5, 11)
    assert AuditEntry.objects.get(action="update").changes == {"event_date": ["2016-05-10", "2016-05-11"]}


def test_verify_records_who_when_and_the_source_document(coordinator, patient):
    event = EventFactory(patient=patient)

    response = api(coordinator).post(
        f"/api/patients/{patient.study_id}/events/{event.pk}/verify/",
        {"decision": "verified", "source_document": "discharge letter 2016-05-14"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    event.refresh_from_db()
    assert event.verification == "verified" and event.verified_by == coordinator
    assert event.verified_at is not None and event.verified_at.date() == date(2026, 11, 27)
    assert event.source_document == "discharge letter 2016-05-14"
    assert response.json()["verified_by"] == "coordinator"
    assert AuditEntry.objects.get(action="verify").changes["verification"] == ["pending", "verified"]


def test_rejecting_an_event_needs_a_reason(coordinator, patient):
    event = EventFactory(patient=patient)
    url = f"/api/patients/{patient.study_id}/events/{event.pk}/verify/"

    refused = api(coordinator).post(url, {"decision": "rejected"}, format="json")
    rejected = api(coordinator).post(url, {"decision": "rejected", "reason": "not an MI"}, format="json")

    assert refused.status_code == 400 and refused.json() == {"reason": ["A reason is required to reject an event."]}
    assert rejected.status_code == 200 and rejected.json()["verification"] == "rejected"


def test_event_list_filters_across_patients(clinician, site):
    first, second = PatientFactory(study_id="ICS-0001", site=site), PatientFactory(study_id="ICS-0002", site=site)
    pending_mi = EventFactory(patient=second, event_type="mi", event_date=date(2016, 1, 1))
    pending_stroke = EventFactory(patient=first, event_type="stroke", event_date=date(2017, 1, 1), target_vessel=None)
    EventFactory(patient=first, verification="verified", event_date=date(2016, 6, 1))
    client = api(clinician)

    pending = client.get("/api/events/?verification=pending").json()
    strokes = client.get("/api/events/?verification=pending&event_type=stroke").json()

    assert [(e["id"], e["study_id"]) for e in pending["results"]] == [
        (pending_mi.pk, "ICS-0002"),
        (pending_stroke.pk, "ICS-0001"),
    ]
    assert [e["id"] for e in strokes["results"]] == [pending_stroke.pk]
    assert client.get("/api/events/").json()["count"] == 3
    assert client.get("/api/events/?verification=maybe").status_code == 400


def test_event_list_leaves_out_other_sites(other_site_coordinator, patient, other_site):
    EventFactory(patient=patient)
    mine = EventFactory(patient=PatientFactory(study_id="OTH-0001", site=other_site))
    results = api(other_site_coordinator).get("/api/events/").json()["results"]
    assert [e["id"] for e in results] == [mine.pk]


# History ------------------------------------------------------------------------------------


def test_history_lists_the_patients_audit_entries_newest_first(coordinator, site):
    client = api(coordinator)
    client.post("/api/patients/", _enrolment(), format="json")
    client.patch("/api/patients/ICS-0100/", {"egfr": 40, "reason": "new lab"}, format="json")
    client.post("/api/patients/ICS-0100/contacts/", {"contact_date": "2020-01-02", "method": "gp"}, format="json")
    PatientFactory(study_id="ICS-0200", site=site)  # someone else's history stays out

    response = client.get("/api/patients/ICS-0100/history/")

    assert response.status_code == 200
    entries = response.json()["results"]
    assert [(e["action"], e["entity"]) for e in entries] == [
        ("create", "followupcontact"),
        ("update", "patient"),
        ("create", "patient"),
    ]
    assert entries[1] == {
        "at": entries[1]["at"],
        "username": "coordinator",
        "action": "update",
        "entity": "patient",
        "object_id": str(Patient.objects.get(study_id="ICS-0100").pk),
        "changes": {"egfr": [55.5, 40.0]},
        "reason": "new lab",
    }


# Analysis dataset ---------------------------------------------------------------------------


def test_analysis_dataset_has_time_and_status_per_endpoint(investigator, patient):
    EventFactory(
        patient=patient, event_type="mi", event_date=INDEX + timedelta(days=400), target_vessel=True, verification="verified"
    )
    EventFactory(
        patient=patient,
        event_type="death",
        event_date=INDEX + timedelta(days=900),
        target_vessel=None,
        verification="verified",
    )

    response = api(investigator).get("/api/analysis-dataset/")

    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["study_id"] == "ICS-0001" and row["site"] == "EMC" and row["index_date"] == "2015-03-02"
    assert row["follow_up_days"] == 900 and row["last_contact_date"] == (INDEX + timedelta(days=900)).isoformat()
    assert (row["poce_days"], row["poce_status"]) == (400, 1)
    assert (row["mi_days"], row["mi_status"]) == (400, 1)
    assert (row["tv_mi_days"], row["tv_mi_status"]) == (400, 1)
    assert (row["death_days"], row["death_status"]) == (900, 1)
    assert (row["stroke_days"], row["stroke_status"]) == (900, 2)
    assert (row["tvr_days"], row["tvr_status"]) == (900, 2)
    assert row["egfr"] == 78.0 and row["hypertension"] is True and row["smoking"] is None


def test_analysis_dataset_honours_horizon_and_pending_events(coordinator, patient):
    ContactFactory(patient=patient, contact_date=INDEX + timedelta(days=1000))
    EventFactory(patient=patient, event_type="mi", event_date=INDEX + timedelta(days=400))  # pending
    client = api(coordinator)

    default = client.get("/api/analysis-dataset/").json()["results"][0]
    verified_only = client.get("/api/analysis-dataset/?count_pending=false").json()["results"][0]
    short = client.get("/api/analysis-dataset/?horizon_days=365&count_pending=false").json()["results"][0]

    assert (default["mi_days"], default["mi_status"]) == (400, 1)
    assert (verified_only["mi_days"], verified_only["mi_status"]) == (1000, 0)
    assert (short["mi_days"], short["mi_status"]) == (365, 0)
    assert client.get("/api/analysis-dataset/?horizon_days=0").status_code == 400


def test_analysis_dataset_has_no_identifiers(admin_user, patient):
    IdentityFactory(patient=patient, name="Anna de Vries", hospital_number="MRN42", date_of_birth=date(1950, 2, 3))
    response = api(admin_user).get("/api/analysis-dataset/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Anna" not in body and "MRN42" not in body and "1950-02-03" not in body
    assert not {"name", "hospital_number", "date_of_birth", "identifiers"} & set(response.json()["results"][0])


# Schema and docs ----------------------------------------------------------------------------


def test_schema_lists_every_endpoint(coordinator):
    response = api(coordinator).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert paths == {
        "/api/auth/token/",
        "/api/patients/",
        "/api/patients/{study_id}/",
        "/api/patients/{study_id}/withdraw/",
        "/api/patients/{study_id}/history/",
        "/api/patients/{study_id}/contacts/",
        "/api/patients/{study_id}/contacts/{id}/",
        "/api/patients/{study_id}/events/",
        "/api/patients/{study_id}/events/{id}/",
        "/api/patients/{study_id}/events/{id}/verify/",
        "/api/events/",
        "/api/analysis-dataset/",
        # analytics
        "/api/analyses/",
        "/api/analyses/cohort-count/",
        "/api/analyses/cohorts/",
        "/api/analyses/cohorts/{id}/",
        "/api/analyses/{id}/",
        "/api/analyses/{id}/rerun/",
        # pullbacks
        "/api/pullbacks/patients/{study_id}/",
        "/api/pullbacks/{id}/",
        "/api/pullbacks/{id}/calcium-map/",
        "/api/pullbacks/{id}/frames/{frame}.png",
        "/api/pullbacks/{id}/lmode.png",
        "/api/pullbacks/{id}/qc/",
        "/api/pullbacks/{id}/results/",
        "/api/pullbacks/{id}/retry/",
        "/api/pullbacks/{id}/segment-ics/",
        "/api/pullbacks/{id}/annotations/",
        "/api/pullbacks/{id}/annotations/{annotation_pk}/",
    }


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn exits non-zero on any drf-spectacular warning or error.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/patients/{study_id}/events/{id}/verify/" in (tmp_path / "schema.yaml").read_text()


def test_docs_render_with_local_assets(coordinator):
    response = api(coordinator).get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
