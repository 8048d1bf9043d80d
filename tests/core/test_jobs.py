"""The one job runner (core.jobs): claims with a lease, progress, outcomes, a worker that lost
its job writes nothing, and jobs whose worker stopped are queued again and finished once."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from core import jobs
from registry.importer import import_job_run, import_job_start
from registry.models import AuditEntry, ImportJob, Patient

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "registry" / "canonical"


@pytest.fixture
def job(coordinator):
    upload = SimpleUploadedFile("patients.csv", (FIXTURES / "patients.csv").read_bytes(), content_type="text/csv")
    return import_job_start(user=coordinator, patients_file=upload)  # queued: on_commit not run in this test


def test_of_two_deliveries_only_one_claims_the_job(job):
    first, second = jobs.claim(ImportJob, job.pk), jobs.claim(ImportJob, job.pk)
    assert first is not None and second is None
    row = ImportJob.objects.get(pk=job.pk)
    assert (row.status, row.lease, row.attempts) == ("running", first.lease, 1)
    assert row.heartbeat_at is not None and row.started_at is not None


def test_progress_is_written_at_most_every_5_percent_and_only_success_shows_100(job):
    run = jobs.claim(ImportJob, job.pk)
    seen = []
    for percent in (1, 3, 5, 6, 9, 10, 50, 52, 100):
        run.progress(percent)
        seen.append(ImportJob.objects.get(pk=job.pk).progress_percent)
    assert seen == [0, 0, 5, 5, 5, 10, 50, 50, 99]


def test_success_failure_and_unexpected_errors_are_recorded_and_the_lease_released(job, coordinator):
    jobs.run_job(ImportJob, job.pk, lambda run: {"summary": {"patients_created": 3}}, unexpected=str)
    done = ImportJob.objects.get(pk=job.pk)
    assert (done.status, done.progress_percent, done.summary, done.lease, done.heartbeat_at) == (
        "succeeded",
        100,
        {"patients_created": 3},
        "",
        None,
    )
    assert done.finished_at >= done.started_at

    failing = ImportJob.objects.create(created_by=coordinator, patients_file="imports/x.csv")

    def fails(run):
        raise jobs.JobFailed("row 2: no study_id", problems=[{"row": 2}])

    jobs.run_job(ImportJob, failing.pk, fails, unexpected=str)
    failing.refresh_from_db()
    assert (failing.status, failing.error, failing.problems) == ("failed", "row 2: no study_id", [{"row": 2}])

    crashing = ImportJob.objects.create(created_by=coordinator, patients_file="imports/y.csv")
    with pytest.raises(ZeroDivisionError):
        jobs.run_job(ImportJob, crashing.pk, lambda run: 1 / 0, unexpected=lambda exc: f"stopped: {exc}")
    crashing.refresh_from_db()
    assert (crashing.status, crashing.error) == ("failed", "stopped: division by zero")


def test_a_worker_that_lost_its_job_commits_nothing_and_does_not_touch_the_row(job):
    run = jobs.claim(ImportJob, job.pk)
    # Its heartbeat stopped long enough for the job to be handed on, and another worker took it.
    ImportJob.objects.filter(pk=job.pk).update(status="queued", lease="")
    other = jobs.claim(ImportJob, job.pk)

    with pytest.raises(jobs.LeaseLost), transaction.atomic():
        run.hold()
    with transaction.atomic():
        other.hold()  # the holder may write
    row = ImportJob.objects.get(pk=job.pk)
    assert (row.status, row.lease, row.attempts) == ("running", other.lease, 2)


@pytest.mark.django_db(transaction=True)
def test_hold_outside_a_transaction_is_a_programming_error(coordinator):
    queued = ImportJob.objects.create(created_by=coordinator, patients_file="imports/x.csv")
    run = jobs.claim(ImportJob, queued.pk)
    with pytest.raises(RuntimeError, match="inside the transaction"):
        run.hold()


def _stale(job, *, attempts=1, minutes=10):
    ImportJob.objects.filter(pk=job.pk).update(
        status="running",
        lease="dead-worker",
        attempts=attempts,
        progress_percent=25,
        heartbeat_at=timezone.now() - timedelta(minutes=minutes),
        started_at=timezone.now() - timedelta(minutes=11),
    )


def test_a_job_whose_worker_died_at_25_percent_is_requeued_and_imported_exactly_once(job):
    _stale(job)
    report = jobs.requeue_stale_jobs()  # eager Celery: the re-sent task runs at once
    assert report["registry.ImportJob"] == {"requeued": 1, "failed": 0, "resent": 0}
    done = ImportJob.objects.get(pk=job.pk)
    assert (done.status, done.attempts, done.progress_percent) == ("succeeded", 2, 100)
    assert done.summary["patients_created"] == Patient.objects.count() > 0
    assert AuditEntry.objects.filter(action="import", entity="patient").count() == Patient.objects.count()

    import_job_run(job_id=job.pk)  # the broker re-delivers the first message late: nothing happens
    assert ImportJob.objects.get(pk=job.pk).attempts == 2
    assert AuditEntry.objects.filter(action="import", entity="patient").count() == Patient.objects.count()
    assert jobs.requeue_stale_jobs()["registry.ImportJob"] == {"requeued": 0, "failed": 0, "resent": 0}


def test_a_job_with_a_recent_heartbeat_is_left_alone(job):
    _stale(job, minutes=1)
    assert jobs.requeue_stale_jobs()["registry.ImportJob"] == {"requeued": 0, "failed": 0, "resent": 0}
    assert ImportJob.objects.get(pk=job.pk).lease == "dead-worker"


def test_a_job_whose_worker_died_three_times_is_given_up_with_a_message(job, settings):
    settings.JOB_MAX_ATTEMPTS = 3
    _stale(job, attempts=3)
    assert jobs.requeue_stale_jobs()["registry.ImportJob"] == {"requeued": 0, "failed": 1, "resent": 0}
    row = ImportJob.objects.get(pk=job.pk)
    assert row.status == "failed" and row.lease == ""
    assert row.error == (
        "The worker stopped 3 times while running this job, so it was given up. "
        "Start it again, or tell the registry administrator if it keeps failing."
    )
    assert not Patient.objects.exists()


def test_a_queued_job_whose_message_was_lost_is_sent_again(job):
    ImportJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=10))
    assert jobs.requeue_stale_jobs()["registry.ImportJob"] == {"requeued": 0, "failed": 0, "resent": 1}
    assert ImportJob.objects.get(pk=job.pk).status == "succeeded"


def test_a_queued_job_sent_a_moment_ago_is_not_sent_again(job):
    assert ImportJob.objects.get(pk=job.pk).enqueued_at is not None
    assert jobs.requeue_stale_jobs()["registry.ImportJob"] == {"requeued": 0, "failed": 0, "resent": 0}
    assert ImportJob.objects.get(pk=job.pk).status == "queued"


def test_a_job_its_caller_runs_itself_is_never_sent_to_a_worker(coordinator):
    # An analysis small enough for the web request is created queued and claimed by the request.
    run_here = ImportJob.objects.create(created_by=coordinator, patients_file="imports/x.csv")
    ImportJob.objects.filter(pk=run_here.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert jobs.requeue_stale_jobs()["registry.ImportJob"] == {"requeued": 0, "failed": 0, "resent": 0}
    assert ImportJob.objects.get(pk=run_here.pk).status == "queued"


def test_the_command_reports_what_it_requeued(job, capsys):
    from django.core.management import call_command

    _stale(job)
    call_command("requeue_stale_jobs")
    out = capsys.readouterr().out
    assert "registry.ImportJob: 1 re-queued, 0 re-sent, 0 given up" in out
    assert "scoring.ScoringRun: 0 re-queued, 0 re-sent, 0 given up" in out
