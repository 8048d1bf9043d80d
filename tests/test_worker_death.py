"""A worker killed (SIGKILL) in the middle of a job: the job is queued again by the next worker
(core.jobs: its heartbeat stopped) and finished exactly once.

Once on the embedded defaults of `make demo` (SQLite and kombu's file-system broker, which
deletes a message when a worker fetches it: nothing is ever re-delivered by the broker), and
once on PostgreSQL and Redis (the services pass of CI). Heartbeat, stale time and reaper interval
are shortened through the environment so that the test takes seconds, not minutes.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.worker_processes import FAST_JOBS, ROOT, kill, start_worker, stop

N_PATIENTS = 8000

ENQUEUE = f"""
from datetime import date
from django.core.files.uploadedfile import SimpleUploadedFile
from registry.importer import import_job_start
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv
patients, events = synthetic_cohort({N_PATIENTS}, seed=11, today=date(2026, 11, 1))
job = import_job_start(
    user=None,
    patients_file=SimpleUploadedFile("patients.csv", to_csv(PATIENT_COLUMNS, patients).encode()),
    events_file=SimpleUploadedFile("events.csv", to_csv(EVENT_COLUMNS, events).encode()),
)
print("JOB", job.pk, len(events))
"""


def _wait(predicate, *, timeout: float, what: str, log_path: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log_path.read_text()[-5000:]}")


def kill_mid_import_and_finish(env: dict, tmp_path: Path, *, job_row, counts) -> None:
    """`job_row(pk)` -> (status, progress_percent, attempts); `counts()` -> (patients, events, audit rows)."""
    env = {**env, **FAST_JOBS, "CELERY_TASK_ALWAYS_EAGER": "0"}
    log_path = tmp_path / "workers.log"
    workers = [start_worker(env, log_path, name="death")]
    try:
        enqueued = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", ENQUEUE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert enqueued.returncode == 0, enqueued.stderr[-3000:]
        job_id, n_events = (int(x) for x in enqueued.stdout.split("JOB", 1)[1].split())

        def under_way():
            status, progress, _ = job_row(job_id)
            return status == "running" and progress >= 20

        _wait(under_way, timeout=120, what="the import to be under way", log_path=log_path)
        kill(workers[0])
        status, progress, attempts = job_row(job_id)
        assert (status, attempts) == ("running", 1) and progress < 100
        assert counts()[0] == 0  # the killed worker's write transaction (if any) was rolled back

        workers.append(start_worker(env, log_path, name="death"))
        _wait(
            lambda: job_row(job_id)[0] in ("succeeded", "failed"),
            timeout=240,
            what="the re-queued import",
            log_path=log_path,
        )
        assert job_row(job_id) == ("succeeded", 100, 2), log_path.read_text()[-5000:]
        patients, events, audit = counts()
        assert (patients, events) == (N_PATIENTS, n_events)
        assert audit == N_PATIENTS + n_events + N_PATIENTS  # patients, events, last-contact rows: once each
    finally:
        for proc in workers:
            stop(proc)


def test_a_killed_worker_s_import_is_finished_once_on_sqlite_and_the_file_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)}
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    def db():
        return sqlite3.connect(tmp_path / "db.sqlite3", timeout=30)

    def job_row(pk):
        with db() as conn:
            return conn.execute(
                "select status, progress_percent, attempts from registry_importjob where id = ?", (pk,)
            ).fetchone()

    def counts():
        with db() as conn:
            return tuple(
                conn.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: S608 - fixed table names
                for table in (
                    "registry_patient",
                    "registry_clinicalevent",
                    "registry_auditentry",
                )
            )

    kill_mid_import_and_finish(env, tmp_path, job_row=job_row, counts=counts)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_s_import_is_finished_once_on_postgresql_and_redis(tmp_path, settings):
    from registry.models import AuditEntry, ClinicalEvent, ImportJob, Patient
    from tests.services.conftest import _database_url

    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "amqp://")):
        pytest.fail("this test needs CELERY_BROKER_URL pointing at Redis or RabbitMQ (see .ci/run)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DB_CONN_MAX_AGE": "0",
    }

    def job_row(pk):
        return ImportJob.objects.filter(pk=pk).values_list("status", "progress_percent", "attempts").get()

    def counts():
        return Patient.objects.count(), ClinicalEvent.objects.count(), AuditEntry.objects.count()

    kill_mid_import_and_finish(env, tmp_path, job_row=job_row, counts=counts)
