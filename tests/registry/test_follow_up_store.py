"""The follow-up summary stored on each patient row (services.follow_up_refresh) always equals the
derivation from the contacts and events (registry.follow_up), whatever the writes; and the status
filter in SQL (selectors.with_status) puts every patient where follow_up.follow_up_state does."""

import random
from datetime import date, timedelta

import pytest
from django.conf import settings

from registry import follow_up, selectors, services
from registry.models import ClinicalEvent, Patient
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine("2026-11-27 12:00 +0000", tick=False)]

STATUSES = ("withdrawn", "deceased", "complete", "lost", "overdue", "active")


def _derived(patient: Patient, as_of: date) -> follow_up.FollowUpState:
    return selectors.follow_up_state_of(patient, as_of=as_of)


def _random_history(rng: random.Random, patient: Patient, user) -> None:
    """Contacts and events through the services, some verified, rejected, changed or deleted."""
    day = patient.index_date
    for _ in range(rng.randint(0, 6)):
        day += timedelta(days=rng.randint(20, 900))
        if day >= date(2026, 11, 27):
            break
        if rng.random() < 0.55:
            contact = services.contact_record(
                user=user,
                patient=patient,
                data={"contact_date": day, "method": "phone", "vital_status": rng.choice(["alive", "alive", "unknown"])},
            )
            if rng.random() < 0.15:
                services.contact_delete(user=user, contact=contact, reason="duplicate")
        elif _random_event(rng, patient, user, day) == "death":
            break
    if rng.random() < 0.1:
        services.patient_withdraw(user=user, patient=patient, withdrawn_on=date(2026, 1, 5), reason="consent")


def _random_event(rng: random.Random, patient: Patient, user, day: date) -> str | None:
    """An event on ``day``, then verified, rejected, deleted or left pending; its type (None: none)."""
    kind = rng.choice(["mi", "stroke", "revascularization", "death"])
    if kind == "death" and ClinicalEvent.objects.filter(patient=patient, event_type="death").exists():
        return None
    event = services.event_record(
        user=user,
        patient=patient,
        data={
            "event_type": kind,
            "event_date": day,
            "source": "hospital_record",
            "target_vessel": None if kind in ("stroke", "death") else rng.random() < 0.5,
            "revascularization_method": "PCI" if kind == "revascularization" else "",
        },
    )
    roll = rng.random()
    if roll < 0.5:
        services.event_verify(user=user, event=event, source_document="letter")
    elif roll < 0.65:
        services.event_verify(user=user, event=event, decision="rejected", reason="not confirmed")
    elif roll < 0.75:
        services.event_delete(user=user, event=event, reason="entered twice")
    return kind


@pytest.fixture
def histories(site, coordinator):
    rng = random.Random(20261127)
    patients = []
    for n in range(60):
        index = date(2012, 1, 1) + timedelta(days=rng.randint(0, 5000))
        patient = PatientFactory(study_id=f"ICS-{n:04d}", site=site, index_date=index)
        _random_history(rng, patient, coordinator)
        patients.append(patient)
    return patients


def test_summary_state_and_sql_status_agree_with_the_derivation_after_every_kind_of_write(histories):
    today = date(2026, 11, 27)
    patients = list(Patient.objects.order_by("study_id"))
    for patient in patients:
        state = _derived(patient, today)
        stored = (patient.fu_last_contact, patient.fu_days, patient.fu_death_date, patient.fu_vital_status)
        assert stored == (state.last_contact_date, state.follow_up_days, state.death_date, state.vital_status), (
            patient.study_id
        )
        assert selectors.stored_state(patient, as_of=today) == state
    assert {_derived(p, today).status for p in patients} == set(STATUSES)  # the histories reach every status

    for as_of in (today, date(2020, 6, 1), date(2031, 1, 1)):
        expected = {status: [] for status in STATUSES}
        for patient in patients:
            expected[_derived(patient, as_of).status].append(patient.study_id)
        for status in STATUSES:
            found = list(
                selectors.with_status(Patient.objects.all(), status, as_of=as_of)
                .order_by("study_id")
                .values_list("study_id", flat=True)
            )
            assert found == expected[status], (as_of, status)


def test_changing_the_index_date_refreshes_the_follow_up_days(site, coordinator):
    patient = PatientFactory(study_id="ICS-0001", site=site, index_date=date(2015, 3, 2))
    services.contact_record(
        user=coordinator,
        patient=patient,
        data={"contact_date": date(2016, 3, 1), "method": "phone", "vital_status": "alive"},
    )
    assert Patient.objects.get(pk=patient.pk).fu_days == 365
    services.patient_update(user=coordinator, patient=patient, data={"index_date": date(2015, 3, 1)}, reason="typo")
    assert Patient.objects.get(pk=patient.pk).fu_days == 366


def test_the_boundaries_of_overdue_and_lost_are_the_same_in_sql(site, coordinator, settings):
    as_of = date(2026, 11, 27)
    expected = {}
    for n, days_ago in enumerate(
        (
            settings.FOLLOW_UP_OVERDUE_DAYS,
            settings.FOLLOW_UP_OVERDUE_DAYS + 1,
            settings.FOLLOW_UP_LOST_DAYS,
            settings.FOLLOW_UP_LOST_DAYS + 1,
        )
    ):
        patient = PatientFactory(study_id=f"ICS-B{n}", site=site, index_date=date(2021, 1, 1))
        services.contact_record(
            user=coordinator,
            patient=patient,
            data={"contact_date": as_of - timedelta(days=days_ago), "method": "phone", "vital_status": "alive"},
        )
        expected[patient.study_id] = _derived(patient, as_of).status
    assert list(expected.values()) == ["active", "overdue", "overdue", "lost"]
    for study_id, status in expected.items():
        assert selectors.with_status(Patient.objects.filter(study_id=study_id), status, as_of=as_of).exists()


def test_an_import_stores_the_summary_of_the_patients_it_writes(coordinator):
    import io

    from registry.importer import registry_import
    from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv

    patients, events = synthetic_cohort(80, seed=5, today=date(2026, 11, 1))
    registry_import(
        user=coordinator,
        patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, patients)),
        events_csv=io.StringIO(to_csv(EVENT_COLUMNS, events)),
    )
    assert Patient.objects.count() == 80
    for patient in Patient.objects.all():
        state = _derived(patient, date(2026, 11, 27))
        assert (patient.fu_last_contact, patient.fu_days, patient.fu_death_date, patient.fu_vital_status) == (
            state.last_contact_date,
            state.follow_up_days,
            state.death_date,
            state.vital_status,
        )
    assert settings.FOLLOW_UP_HORIZON_DAYS == 2191
