"""The embedded defaults that `make demo` uses: SQLite in WAL mode and kombu's file-system broker,
with a real Celery worker process. No server needed; runs in `make test`."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ENQUEUE = """
from datetime import date
from django.core.files.uploadedfile import SimpleUploadedFile
from registry.importer import import_job_start
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv
patients, events = synthetic_cohort(25, seed=3, today=date(2026, 11, 1))
job = import_job_start(
    user=None,
    patients_file=SimpleUploadedFile("patients.csv", to_csv(PATIENT_COLUMNS, patients).encode()),
    events_file=SimpleUploadedFile("events.csv", to_csv(EVENT_COLUMNS, events).encode()),
)
print("JOB", job.pk, len(events))
"""


def _env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(var_dir), "CELERY_TASK_ALWAYS_EAGER": "0"}


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_worker_runs_a_job_on_sqlite_and_the_file_broker(tmp_path):
    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput", "-v0")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        out = _manage(env, "shell", "-c", ENQUEUE)
        job_id, n_events = (int(x) for x in out.split("JOB", 1)[1].split())
        db = sqlite3.connect(tmp_path / "db.sqlite3", timeout=30)
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            status = db.execute("select status from registry_importjob where id = ?", (job_id,)).fetchone()[0]
            if status in ("succeeded", "failed") or worker.poll() is not None:
                break
            time.sleep(0.5)
        if status != "succeeded":
            pytest.fail(f"job status {status!r}; worker log:\n{log_path.read_text()[-4000:]}")
        assert db.execute("select count(*) from registry_patient").fetchone()[0] == 25
        assert db.execute("select count(*) from registry_clinicalevent").fetchone()[0] == n_events
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
