"""End to end on real services: a registry import queued through Redis, run by a real Celery
worker process, written to PostgreSQL."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from registry.importer import import_job_start
from registry.models import AuditEntry, ClinicalEvent, ImportJob, Patient
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv
from tests.services.conftest import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_a_worker_imports_a_registry_queued_through_the_broker(celery_worker_process, coordinator, settings):

    patients, events = synthetic_cohort(120, seed=7, today=date(2026, 11, 1))
    with transaction.atomic():
        job = import_job_start(
            user=coordinator,
            patients_file=_upload("patients.csv", to_csv(PATIENT_COLUMNS, patients)),
            events_file=_upload("events.csv", to_csv(EVENT_COLUMNS, events)),
        )
    assert connection.vendor == "postgresql"
    done = wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(),
        what="the import job",
        proc=celery_worker_process,
    )
    assert done.status == "succeeded", (done.problems, done.error)
    assert done.progress_percent == 100
    assert Patient.objects.count() == 120
    assert ClinicalEvent.objects.count() == len(events)
    assert done.summary["patients_created"] == 120
    assert AuditEntry.objects.filter(action="import", entity="patient").count() == 120


def test_a_failing_import_is_reported_by_the_worker(celery_worker_process, coordinator):

    patients, _ = synthetic_cohort(3, seed=1, today=date(2026, 11, 1))
    patients[1]["age_at_index"] = "17"
    bad = to_csv(PATIENT_COLUMNS, patients)
    with transaction.atomic():
        job = import_job_start(user=coordinator, patients_file=_upload("patients.csv", bad))
    done = wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(),
        what="the import job",
        proc=celery_worker_process,
    )
    assert done.status == "failed"
    assert [(p["row"], p["column"]) for p in done.problems] == [(3, "age_at_index")]
    assert Patient.objects.count() == 0
