"""Two people saving the same row: nothing one of them saved is lost, and the audit trail says
what the database holds.

Rows carry a version; forms and API clients post back the version they read. A save from a
stale copy is refused (the page shows the current values, the API answers 409 with the current
representation). Services re-read the row under a lock and write only the fields they change,
so a verification and a notes edit at the same moment both stand.
"""

import csv
import io
from datetime import date

import pytest
from django.test import Client
from rest_framework.test import APIClient

from registry import csv_io, services
from registry.importer import ImportFailed, registry_import
from registry.models import AuditEntry, ClinicalEvent, Patient
from tests.factories import ContactFactory, EventFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine("2026-11-27 12:00 +0000", tick=False)]


@pytest.fixture
def second_coordinator(db):
    from core.roles import COORDINATOR

    return UserFactory(username="second-coordinator", roles=[COORDINATOR])


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _patient_form(patient: Patient, **changes) -> dict:
    """The edit form as a browser posts it: every field with the values it was opened with."""
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
        "reason": "",
        "version": patient.version,
    }
    return {**data, **changes}


def _replay(entity: str, object_id: int, fields: list[str]) -> dict:
    """The values the audit trail says a row has: the last 'new' value of each field."""
    values: dict = {}
    for entry in AuditEntry.objects.filter(entity=entity, object_id=str(object_id)).order_by("at", "id"):
        for name, (_old, new) in entry.changes.items():
            if name in fields:
                values[name] = new
    return values


# Web forms ----------------------------------------------------------------------------------


def test_a_stale_patient_form_is_refused_and_the_other_save_stands(patient, coordinator, second_coordinator):
    patient.egfr, patient.age_at_index = 74.0, 65.5
    patient.save()
    opened = Patient.objects.get(pk=patient.pk)  # both users open the edit page now
    first, second = _browser(coordinator), _browser(second_coordinator)
    assert first.get("/patients/ICS-0001/edit/").status_code == 200

    saved = first.post("/patients/ICS-0001/edit/", _patient_form(opened, egfr=33, reason="new lab report"))
    assert saved.status_code == 302
    refused = second.post("/patients/ICS-0001/edit/", _patient_form(opened, age_at_index=66, reason="corrected age"))

    patient.refresh_from_db()
    assert (patient.egfr, patient.age_at_index, patient.version) == (33.0, 65.5, 2)
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "This patient was changed by coordinator at 2026-11-27 13:00 after you opened it" in page
    assert "your changes were not saved" in page
    assert "eGFR (ml/min/1.73 m²): you submitted 74.0, it is now 33.0." in page
    assert "Age at index (years): you submitted 66.0, it is now 65.5." in page
    # The form now holds the current values and version, so a second try saves on top of them.
    assert 'name="egfr" value="33.0"' in page and 'name="version" value="2"' in page
    updates = AuditEntry.objects.filter(entity="patient", action="update")
    assert [(e.username, e.changes, e.reason) for e in updates] == [
        ("coordinator", {"egfr": [74.0, 33.0]}, "new lab report"),
    ]


def test_after_reloading_the_second_user_saves_only_their_change(patient, coordinator, second_coordinator):
    opened = Patient.objects.get(pk=patient.pk)
    _browser(coordinator).post("/patients/ICS-0001/edit/", _patient_form(opened, egfr=33, reason="lab"))
    reloaded = Patient.objects.get(pk=patient.pk)
    response = _browser(second_coordinator).post(
        "/patients/ICS-0001/edit/", _patient_form(reloaded, age_at_index=66, reason="corrected age")
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.egfr, patient.age_at_index, patient.version) == (33.0, 66.0, 3)
    assert AuditEntry.objects.filter(reason="corrected age").get().changes == {"age_at_index": [65.5, 66.0]}


def test_a_patient_form_without_a_version_is_refused(coordinator_client_factory, patient):
    data = _patient_form(patient, egfr=33, reason="lab")
    del data["version"]
    response = coordinator_client_factory().post("/patients/ICS-0001/edit/", data)
    assert response.status_code == 200
    assert "This form was opened without the record&#x27;s version" in response.content.decode()
    patient.refresh_from_db()
    assert patient.egfr == 78.0


@pytest.fixture
def coordinator_client_factory(coordinator):
    return lambda: _browser(coordinator)


def test_a_stale_event_form_is_refused(patient, coordinator, second_coordinator):
    event = EventFactory(
        patient=patient,
        event_type="mi",
        event_date=date(2016, 5, 10),
        target_vessel=True,
        source="hospital_record",
        notes="",
    )
    opened_version = event.version
    form = {
        "event_type": "mi",
        "event_date": "2016-05-10",
        "target_vessel": "true",
        "source": "hospital_record",
        "notes": "",
        "version": opened_version,
    }
    url = f"/patients/ICS-0001/events/{event.pk}/edit/"
    assert _browser(coordinator).post(url, {**form, "event_date": "2016-05-11", "reason": "letter"}).status_code == 302
    refused = _browser(second_coordinator).post(url, {**form, "notes": "called the GP", "reason": "note"})

    event.refresh_from_db()
    assert (event.event_date, event.notes, event.version) == (date(2016, 5, 11), "", 2)
    assert "This event was changed by coordinator" in refused.content.decode()
    assert "Event date: you submitted 2016-05-10, it is now 2016-05-11." in refused.content.decode()


def test_a_stale_contact_delete_is_refused(patient, coordinator, second_coordinator):
    contact = ContactFactory(patient=patient, contact_date=date(2017, 6, 1))
    opened_version = contact.version
    services.contact_update(user=coordinator, contact=contact, data={"vital_status": "dead"}, reason="registry")
    response = _browser(second_coordinator).post(
        f"/patients/ICS-0001/contacts/{contact.pk}/delete/", {"reason": "duplicate", "version": opened_version}
    )
    assert response.status_code == 200
    assert "This contact was changed by coordinator" in response.content.decode()
    assert patient.contacts.filter(pk=contact.pk).exists()


def test_the_one_click_verify_form_carries_the_version(coordinator, patient):
    event = EventFactory(patient=patient)
    page = _browser(coordinator).get("/patients/ICS-0001/").content.decode()
    assert page.count(f'name="version" value="{event.version}"') == 2  # verify and reject


# API ----------------------------------------------------------------------------------------


def test_patient_representation_has_its_version(coordinator, patient):
    assert _api(coordinator).get("/api/patients/ICS-0001/").json()["version"] == 1


def test_a_patch_with_a_stale_version_is_a_409_with_the_current_representation(coordinator, second_coordinator, patient):
    first = _api(coordinator).patch("/api/patients/ICS-0001/", {"egfr": 33, "reason": "lab", "version": 1}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2

    stale = _api(second_coordinator).patch(
        "/api/patients/ICS-0001/", {"age_at_index": 66, "reason": "age", "version": 1}, format="json"
    )
    assert stale.status_code == 409
    body = stale.json()
    assert (body["version"], body["egfr"], body["age_at_index"]) == (2, 33.0, 65.5)
    assert body["detail"].startswith("This patient was changed by coordinator at 2026-11-27 13:00")
    patient.refresh_from_db()
    assert (patient.egfr, patient.age_at_index) == (33.0, 65.5)
    assert AuditEntry.objects.filter(reason="age").count() == 0


def test_a_patch_without_a_version_changes_only_the_fields_sent(coordinator, second_coordinator, patient):
    _api(coordinator).patch("/api/patients/ICS-0001/", {"egfr": 33, "reason": "lab"}, format="json")
    response = _api(second_coordinator).patch(
        "/api/patients/ICS-0001/", {"age_at_index": 66, "reason": "age"}, format="json"
    )
    assert response.status_code == 200 and response.json()["version"] == 3
    patient.refresh_from_db()
    assert (patient.egfr, patient.age_at_index) == (33.0, 66.0)


def test_contact_and_event_patches_check_the_version(coordinator, patient):
    contact = ContactFactory(patient=patient)
    event = EventFactory(patient=patient)
    client = _api(coordinator)
    contact_url = f"/api/patients/ICS-0001/contacts/{contact.pk}/"
    event_url = f"/api/patients/ICS-0001/events/{event.pk}/"

    assert client.get("/api/patients/ICS-0001/contacts/").json()[0]["version"] == 1
    assert client.patch(contact_url, {"notes": "a", "reason": "r", "version": 1}, format="json").status_code == 200
    stale = client.patch(contact_url, {"notes": "b", "reason": "r", "version": 1}, format="json")
    assert stale.status_code == 409 and stale.json()["notes"] == "a" and stale.json()["version"] == 2

    assert client.patch(event_url, {"notes": "a", "reason": "r", "version": 1}, format="json").status_code == 200
    stale = client.patch(event_url, {"notes": "b", "reason": "r", "version": 1}, format="json")
    assert stale.status_code == 409 and stale.json()["notes"] == "a" and stale.json()["version"] == 2
    refused_delete = client.delete(event_url + "?reason=duplicate&version=1")
    assert refused_delete.status_code == 409
    assert ClinicalEvent.objects.filter(pk=event.pk).exists()


# Verification against a concurrent edit --------------------------------------------------------


def test_a_notes_edit_from_a_copy_read_before_a_rejection_does_not_undo_it(coordinator, second_coordinator, patient):
    event = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10), notes="")
    copy_read_by_the_edit = ClinicalEvent.objects.get(pk=event.pk)  # the PATCH loaded the row here

    services.event_verify(user=coordinator, event=event, decision="rejected", reason="no MI in the record")
    services.event_update(user=second_coordinator, event=copy_read_by_the_edit, data={"notes": "phoned"}, reason="note")

    event.refresh_from_db()
    assert (event.verification, event.notes, event.verified_by, event.version) == ("rejected", "phoned", coordinator, 3)
    replayed = _replay("clinicalevent", event.pk, ["verification", "notes"])
    assert replayed == {"verification": "rejected", "notes": "phoned"}


def test_a_verification_from_a_copy_read_before_an_edit_keeps_the_edit(coordinator, second_coordinator, patient):
    event = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10), notes="")
    copy_read_by_the_verify = ClinicalEvent.objects.get(pk=event.pk)

    services.event_update(user=second_coordinator, event=event, data={"event_date": date(2016, 5, 12)}, reason="letter")
    services.event_verify(user=coordinator, event=copy_read_by_the_verify, source_document="discharge letter")

    event.refresh_from_db()
    assert (event.event_date, event.verification, event.source_document) == (
        date(2016, 5, 12),
        "verified",
        "discharge letter",
    )
    assert _replay("clinicalevent", event.pk, ["event_date", "verification"]) == {
        "event_date": "2016-05-12",
        "verification": "verified",
    }


# The CSV import against a save made while it was checking ------------------------------------


def _patients_csv_changing_the_age() -> io.StringIO:
    header = [c.name for c in csv_io.PATIENT_COLUMNS]
    row = dict.fromkeys(header, "") | {
        "study_id": "ICS-0001",
        "sex": "M",
        "age_at_index": "66",
        "index_date": "2015-03-02",
        "egfr": "78",
        "presentation": "stable",
        "index_treatment": "PCI",
        "study_vessel": "LAD",
        "hypertension": "1",
        "diabetes": "0",
        "vessel_revascularized": "1",
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, header)
    writer.writeheader()
    writer.writerow(row)
    return io.StringIO(text.getvalue())


def test_an_import_refuses_to_overwrite_a_save_made_while_it_was_checking(coordinator, patient):

    def save_during_the_check(percent: int) -> None:
        if percent == 60:  # the plan is made; the write transaction has not begun
            services.patient_update(user=coordinator, patient=patient, data={"egfr": 33.0}, reason="new lab")

    with pytest.raises(ImportFailed) as failed:
        registry_import(user=coordinator, patients_csv=_patients_csv_changing_the_age(), progress=save_during_the_check)

    assert [p.message for p in failed.value.problems] == [
        "ICS-0001 was changed by someone else while this import was being checked. "
        "Nothing was imported: run the import again."
    ]
    patient.refresh_from_db()
    assert (patient.egfr, patient.age_at_index, patient.version) == (33.0, 65.5, 2)
    assert not AuditEntry.objects.filter(action="import").exists()


def test_an_import_raises_the_version_of_what_it_changes(coordinator, patient):
    registry_import(user=coordinator, patients_csv=_patients_csv_changing_the_age())
    patient.refresh_from_db()
    assert (patient.age_at_index, patient.version) == (66.0, 2)
