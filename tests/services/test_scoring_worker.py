"""Scoring on real services: a pullback uploaded through the API, queued through Redis, scored by a
real Celery worker process, written to PostgreSQL; and a worker killed mid-run (SIGKILL) whose
run another worker finishes (core.jobs: the run's heartbeat stops, the next worker queues it again;
Redis may also re-deliver the unacknowledged message, which then finds the run claimed or done).

The second test starts its own workers with a short heartbeat, stale time and visibility timeout
so that it takes seconds.
"""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from config.celery import app as celery_app
from scoring.detector.features import feature_names
from scoring.detector.model import DetectorModel
from scoring.detector.model_store import save_model
from scoring.detector.phantoms import polar_speckle as phantom
from scoring.detector.postprocess import PostProcessing
from scoring.models import Pullback, ScoringRun
from tests.scoring.pullback_files import _frames, phantom_file
from tests.services.conftest import _database_url, wait_for
from tests.worker_processes import FAST_JOBS, kill, start_worker, stop

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _upload(user, study_id: str, path: Path) -> dict:
    client = APIClient()
    client.force_login(user)
    with open(path, "rb") as fp:
        response = client.post(f"/api/pullbacks/patients/{study_id}/", {"file": fp}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_worker_scores_a_pullback_uploaded_through_the_api(celery_worker_process, coordinator, patient, tmp_path):
    path = phantom_file(tmp_path / "pullback.dcm", n_frames=24, seed=5, preset="heavy")
    body = _upload(coordinator, patient.study_id, path)
    assert body["status"] == "queued" and body["ics"] is None
    client = APIClient()
    client.force_login(coordinator)

    def scored():
        data = client.get(f"/api/pullbacks/{body['id']}/").json()
        return data if data["status"] in ("succeeded", "failed") else None

    done = wait_for(scored, timeout=120, what="the scoring run", proc=celery_worker_process)
    assert done["status"] == "succeeded", done["error"]
    run = ScoringRun.objects.get(pullback_id=body["id"])
    assert done["ics"] == pytest.approx(run.ics) and 0 <= run.ics <= 1000
    assert run.ics == pytest.approx(run.labels().mean() * 1000) and run.n_frames == 24
    assert run.progress_percent == 100 and run.attempts == 1 and run.is_current
    # The detector's accuracy is tested in tests/scoring; here only that a real model ran (232 vs 232 measured).
    truth = phantom.phantom_truth(phantom.make_phantom(24, seed=5, preset="heavy"), n_alines=run.n_alines)
    assert abs(run.ics - truth.ics) < 100


def _slow_model_store(folder: Path) -> Path:
    """2048 A-lines per frame: ~40 ms per frame, so that a 400-frame run lasts long enough to be killed."""
    names = feature_names()
    save_model(
        DetectorModel(
            feature_names=names,
            mean=np.zeros(len(names)),
            scale=np.ones(len(names)),
            coef=np.ones(len(names)),
            intercept=0.0,
            post=PostProcessing(),
            n_alines=2048,
        ),
        name="default",
        store=folder,
    )
    return folder


def test_a_run_whose_worker_dies_is_finished_by_another_worker(transactional_db, coordinator, patient, tmp_path):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        pytest.fail("this test needs CELERY_BROKER_URL pointing at Redis (see .ci/run)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DB_CONN_MAX_AGE": "0",
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "SCORING_MODEL_STORE": str(_slow_model_store(tmp_path / "models")),
        **FAST_JOBS,
    }
    frames = _frames(32, 5, "heavy")
    path = tmp_path / "long.dcm"
    from scoring.dicom import files as dicom_io

    dicom_io.write_pullback(path, (frames for _ in range(13)), n_frames=416)
    log_path = tmp_path / "workers.log"
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    workers = []
    try:
        workers.append(start_worker(env, log_path, name="kill"))
        body = _upload(coordinator, patient.study_id, path)
        workers[0].log_path = log_path

        def running():
            return ScoringRun.objects.filter(pullback_id=body["id"], status="running", progress_percent__gte=10).first()

        wait_for(running, timeout=120, what="the run to be under way", proc=workers[0])
        kill(workers[0])
        killed = ScoringRun.objects.get(pullback_id=body["id"])
        assert killed.status == "running" and killed.progress_percent < 100
        time.sleep(6)  # past the stale time (and Redis's visibility timeout)
        workers.append(start_worker(env, log_path, name="kill"))
        workers[1].log_path = log_path
        done = wait_for(
            lambda: ScoringRun.objects.filter(pullback_id=body["id"], status__in=["succeeded", "failed"]).first(),
            timeout=180,
            what="the re-delivered run",
            proc=workers[1],
        )
        assert done.status == "succeeded", done.error
        assert done.attempts == 2 and done.n_alines == 2048 and done.n_frames == 416 and done.is_current
        assert ScoringRun.objects.filter(pullback_id=body["id"]).count() == 1 and Pullback.objects.count() == 1
    finally:
        celery_app.conf.task_always_eager = eager
        for proc in workers:
            stop(proc)
