"""The synthetic cohort generator gives data that the registry's own import accepts."""

import io
from datetime import date

import pytest

from registry.importer import registry_import
from registry.models import ClinicalEvent, Patient
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv


@pytest.mark.django_db
@pytest.mark.time_machine("2026-11-27 12:00 +0000", tick=False)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_cohorts_pass_every_import_rule(seed):

    patients, events = synthetic_cohort(400, seed=seed, today=date(2026, 11, 27))
    report = registry_import(
        user=None,
        patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, patients)),
        events_csv=io.StringIO(to_csv(EVENT_COLUMNS, events)),
    )
    assert report.summary["patients_created"] == Patient.objects.count() == 400
    assert ClinicalEvent.objects.count() == len(events)


def test_synthetic_cohorts_are_deterministic():
    assert synthetic_cohort(50, seed=9, today=date(2026, 1, 1)) == synthetic_cohort(50, seed=9, today=date(2026, 1, 1))
    assert synthetic_cohort(50, seed=9, today=date(2026, 1, 1)) != synthetic_cohort(50, seed=10, today=date(2026, 1, 1))
