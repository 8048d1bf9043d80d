"""Services: validation against the registry's state, and the audit trail of every write."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from registry import services
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient, PatientIdentity
from tests.factories import EventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine("2026-11-27 12:00 +0000", tick=False)]


def _enrol(site, **overrides):
    data = dict(
        study_id="ICS-0100",
        site=site,
        sex="F",
        age_at_index=70.2,
        index_date=date(2014, 5, 6),
        presentation="ACS",
        index_treatment="PCI",
        study_vessel="RCA",
        vessel_revascularized=True,
        hypertension=None,
        egfr=55.5,
    )
    return services.patient_create(user=None, data={**data, **overrides})


def test_enrolment_is_audited_with_all_new_values(site, coordinator):
    patient = services.patient_create(
        user=coordinator,
        data=dict(study_id="ICS-0100", site=site, index_date=date(2014, 5, 6), egfr=55.5),
        identity=dict(name="Anna de Vries", hospital_number="MRN42", date_of_birth=date(1950, 2, 3)),
    )
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.action, e.entity, e.username) for e in entries] == [
        ("create", "patient", "coordinator"),
        ("create", "patientidentity", "coordinator"),
    ]
    assert entries[0].changes["egfr"] == [None, 55.5]
    assert entries[0].changes["study_id"] == [None, "ICS-0100"]
    assert entries[1].changes["hospital_number"] == [None, "MRN42"]
    assert entries[0].patient == patient and entries[0].user == coordinator
    assert patient.age_at_index == pytest.approx(64.25, abs=0.01)  # derived from the date of birth
    assert patient.renal_impairment is True


def test_missing_baseline_stays_missing(site):
    patient = _enrol(site)
    patient.refresh_from_db()
    assert patient.hypertension is None and patient.diabetes is None


def test_enrolment_validation_names_fields(site):
    with pytest.raises(ValidationError) as exc:
        _enrol(site, age_at_index=111, egfr=-1, index_date=date(2027, 1, 1))
    assert exc.value.message_dict == {
        "age_at_index": ["must be between 18 and 110 years (got 111)"],
        "egfr": ["must be between 0 and 200 ml/min (got -1)"],
        "index_date": ["2027-01-01 is in the future (today is 2026-11-27)"],
    }
    assert Patient.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_duplicate_study_id_is_refused(site):
    _enrol(site)
    with pytest.raises(ValidationError) as exc:
        _enrol(site)
    assert "study_id" in exc.value.message_dict
    assert "already exists" in exc.value.message_dict["study_id"][0]


def test_a_change_needs_a_reason_and_records_old_and_new(site, coordinator):
    patient = _enrol(site)
    with pytest.raises(ValidationError) as exc:
        services.patient_update(user=coordinator, patient=patient, data={"egfr": 61.0}, reason="  ")
    assert exc.value.message_dict == {"reason": ["A reason is required when an existing value is changed."]}
    services.patient_update(user=coordinator, patient=patient, data={"egfr": 61.0, "diabetes": True}, reason="lab report")
    patient.refresh_from_db()
    assert patient.egfr == 61.0 and patient.diabetes is True
    entry = AuditEntry.objects.filter(action="update").get()
    assert entry.changes == {"egfr": [55.5, 61.0], "diabetes": [None, True]}
    assert entry.reason == "lab report" and entry.user == coordinator


def test_an_unchanged_save_writes_no_audit_row(site):
    patient = _enrol(site)
    before = AuditEntry.objects.count()
    services.patient_update(user=None, patient=patient, data={"egfr": 55.5})
    assert AuditEntry.objects.count() == before


def test_index_date_cannot_move_past_existing_follow_up(site):
    patient = _enrol(site)
    services.contact_record(user=None, patient=patient, data=dict(contact_date=date(2015, 1, 1), method="phone"))
    with pytest.raises(ValidationError) as exc:
        services.patient_update(user=None, patient=patient, data={"index_date": date(2015, 6, 1)}, reason="typo")
    assert exc.value.message_dict == {"index_date": ["2015-06-01 is after the patient's follow-up record on 2015-01-01"]}


def test_contact_rules_and_audit(site, coordinator):
    patient = _enrol(site)
    with pytest.raises(ValidationError) as exc:
        services.contact_record(user=coordinator, patient=patient, data=dict(contact_date=date(2014, 5, 5), method="phone"))
    assert exc.value.message_dict == {"contact_date": ["2014-05-05 is before the index date 2014-05-06"]}
    with pytest.raises(ValidationError) as exc:
        services.contact_record(user=coordinator, patient=patient, data=dict(contact_date=date(2016, 1, 1), method="fax"))
    assert "method" in exc.value.message_dict
    contact = services.contact_record(
        user=coordinator, patient=patient, data=dict(contact_date=date(2016, 1, 1), method="phone", vital_status="alive")
    )
    services.contact_update(user=coordinator, contact=contact, data={"contact_date": date(2016, 1, 2)}, reason="wrong day")
    services.contact_delete(user=coordinator, contact=contact, reason="duplicate entry")
    assert FollowUpContact.objects.count() == 0
    actions = list(
        AuditEntry.objects.filter(entity="followupcontact").order_by("id").values_list("action", "changes", "reason")
    )
    assert actions[0][0] == "create"
    assert actions[1] == ("update", {"contact_date": ["2016-01-01", "2016-01-02"]}, "wrong day")
    assert actions[2][0] == "delete" and actions[2][1]["contact_date"] == ["2016-01-02", None]
    assert actions[2][2] == "duplicate entry"


def test_delete_needs_a_reason(site):
    patient = _enrol(site)
    contact = services.contact_record(user=None, patient=patient, data=dict(contact_date=date(2016, 1, 1), method="gp"))
    with pytest.raises(ValidationError):
        services.contact_delete(user=None, contact=contact, reason="")
    assert FollowUpContact.objects.filter(pk=contact.pk).exists()


def test_nothing_after_death_and_one_death(site):
    patient = _enrol(site)
    services.event_record(
        user=None, patient=patient, data=dict(event_type="death", event_date=date(2018, 1, 1), source="civil_registry")
    )
    with pytest.raises(ValidationError) as exc:
        services.event_record(
            user=None,
            patient=patient,
            data=dict(event_type="mi", event_date=date(2018, 2, 1), source="gp", target_vessel=False),
        )
    assert exc.value.message_dict == {"event_date": ["2018-02-01 is after the patient's death on 2018-01-01"]}
    with pytest.raises(ValidationError) as exc:
        services.contact_record(user=None, patient=patient, data=dict(contact_date=date(2019, 1, 1), method="phone"))
    assert exc.value.message_dict == {"contact_date": ["2019-01-01 is after the patient's death on 2018-01-01"]}
    with pytest.raises(ValidationError) as exc:
        services.event_record(
            user=None, patient=patient, data=dict(event_type="death", event_date=date(2017, 1, 1), source="gp")
        )
    assert exc.value.message_dict["event_type"] == ["the patient already has a death on 2018-01-01: one death at most"]


def test_death_before_existing_follow_up_is_refused(site):
    patient = _enrol(site)
    services.contact_record(user=None, patient=patient, data=dict(contact_date=date(2019, 1, 1), method="phone"))
    with pytest.raises(ValidationError) as exc:
        services.event_record(
            user=None, patient=patient, data=dict(event_type="death", event_date=date(2018, 1, 1), source="gp")
        )
    assert exc.value.message_dict == {
        "event_date": [
            "death on 2018-01-01 is before the patient's follow-up record on 2019-01-01: nothing may follow death"
        ]
    }


def test_target_vessel_flag_only_on_mi_and_revascularization(site):
    patient = _enrol(site)
    with pytest.raises(ValidationError) as exc:
        services.event_record(
            user=None,
            patient=patient,
            data=dict(event_type="stroke", event_date=date(2016, 1, 1), source="gp", target_vessel=True),
        )
    assert exc.value.message_dict == {"target_vessel": ["applies only to MI and revascularization, not to stroke"]}


def test_verify_and_reject(site, coordinator):
    patient = _enrol(site)
    event = services.event_record(
        user=coordinator,
        patient=patient,
        data=dict(
            event_type="revascularization",
            event_date=date(2016, 1, 1),
            source="questionnaire",
            target_vessel=True,
            revascularization_method="PCI",
        ),
    )
    assert event.verification == "pending"
    with pytest.raises(ValidationError) as exc:
        services.event_verify(user=coordinator, event=event, source_document="")
    assert "source_document" in exc.value.message_dict
    services.event_verify(user=coordinator, event=event, source_document="discharge letter 2016-01-03")
    event.refresh_from_db()
    assert (event.verification, event.verified_by, event.source_document) == (
        "verified",
        coordinator,
        "discharge letter 2016-01-03",
    )
    assert event.verified_at is not None
    with pytest.raises(ValidationError) as exc:
        services.event_verify(user=coordinator, event=event, decision="rejected")
    assert exc.value.message_dict == {"reason": ["A reason is required to reject an event."]}
    services.event_verify(user=coordinator, event=event, decision="rejected", reason="no PCI in hospital records")
    event.refresh_from_db()
    assert event.verification == "rejected"
    entry = AuditEntry.objects.filter(action="verify").order_by("id").last()
    assert entry.changes["verification"] == ["verified", "rejected"] and entry.reason == "no PCI in hospital records"


def test_a_rejected_death_frees_the_one_death_rule(site):
    patient = _enrol(site)
    death = services.event_record(
        user=None, patient=patient, data=dict(event_type="death", event_date=date(2018, 1, 1), source="questionnaire")
    )
    services.event_verify(user=None, event=death, decision="rejected", reason="patient alive at phone check")
    services.event_record(
        user=None, patient=patient, data=dict(event_type="death", event_date=date(2019, 1, 1), source="civil_registry")
    )
    with pytest.raises(ValidationError):
        services.event_verify(user=None, event=death, decision="verified", source_document="x")


def test_withdrawal_keeps_the_patient(site, coordinator):
    patient = _enrol(site)
    with pytest.raises(ValidationError):
        services.patient_withdraw(user=coordinator, patient=patient, withdrawn_on=date(2020, 1, 1), reason="")
    services.patient_withdraw(user=coordinator, patient=patient, withdrawn_on=date(2020, 1, 1), reason="consent withdrawn")
    patient.refresh_from_db()
    assert patient.withdrawn_on == date(2020, 1, 1) and patient.withdrawal_reason == "consent withdrawn"
    entry = AuditEntry.objects.get(action="withdraw")
    assert entry.changes == {"withdrawn_on": [None, "2020-01-01"], "withdrawal_reason": ["", "consent withdrawn"]}
    with pytest.raises(ValidationError):
        services.patient_withdraw(user=coordinator, patient=patient, withdrawn_on=date(2020, 2, 1), reason="again")


def test_identity_changes_need_a_reason(site):
    patient = _enrol(site)
    services.identity_set(user=None, patient=patient, data={"name": "A", "hospital_number": "M1"})
    with pytest.raises(ValidationError):
        services.identity_set(user=None, patient=patient, data={"name": "B"})
    services.identity_set(user=None, patient=patient, data={"name": "B"}, reason="married name")
    assert PatientIdentity.objects.get().name == "B"
    with pytest.raises(ValidationError) as exc:
        services.identity_set(user=None, patient=patient, data={"date_of_birth": date(2015, 1, 1)}, reason="x")
    assert exc.value.message_dict == {"date_of_birth": ["must be before the index date"]}


def test_database_constraints_back_the_rules(patient):
    EventFactory(patient=patient, event_type="death", target_vessel=None, event_date=date(2018, 1, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(patient=patient, event_type="death", target_vessel=None, event_date=date(2018, 2, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(patient=patient, event_type="stroke", target_vessel=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(egfr=201)
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(age_at_index=17)
    assert ClinicalEvent.objects.count() == 1
