"""Scoring runs: the task through Celery (eager), progress, failures with a readable message,
retry on the same row, idempotent re-execution, re-scoring with a new model keeps history."""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core import jobs
from scoring import services
from scoring.detector import calcium_map
from scoring.detector.model import DetectorModel
from scoring.detector.model_store import load_model, save_model
from scoring.detector.postprocess import PostProcessing
from scoring.models import ScoringRun
from scoring.tasks import scoring_run_task
from tests.scoring import pullback_files
from tests.scoring.pullback_files import phantom_file

pytestmark = pytest.mark.django_db

# Fixtures shared by the pullback tests (a small detector model in a temporary store).
scoring_model, _model_folder = pullback_files.scoring_model, pullback_files._model_folder


@pytest.fixture
def uploaded(tmp_path, coordinator, patient, scoring_model):
    """A pullback stored without running its scoring (on_commit callbacks not executed)."""
    src = phantom_file(tmp_path / "a.dcm", n_frames=8)
    outcome = services.pullback_upload(
        user=coordinator, patient=patient, uploaded_file=SimpleUploadedFile("a.dcm", src.read_bytes())
    )
    return outcome.pullback, outcome.run


def test_the_task_scores_a_queued_run_and_writes_progress(uploaded, monkeypatch):
    pullback, run = uploaded
    assert run.status == "queued"
    seen = []
    progress = jobs.JobRun.progress
    monkeypatch.setattr(services, "SCORING_CHUNK_FRAMES", 2)
    monkeypatch.setattr(jobs.JobRun, "progress", lambda self, p: (seen.append(p), progress(self, p)))
    scoring_run_task.delay(run.pk)
    run.refresh_from_db()
    assert seen == [23, 47, 71, 95]
    assert run.status == "succeeded" and run.progress_percent == 100 and run.attempts == 1 and run.is_current
    assert run.started_at <= run.finished_at and run.error == ""
    assert run.ics == pytest.approx(calcium_map.ics(run.labels()))


def test_a_failure_is_recorded_readably_and_retry_reuses_the_row(uploaded, coordinator):
    pullback, run = uploaded
    path = Path(pullback.file.path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    scoring_run_task.delay(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("The pullback could not be scored: The file is truncated")
    assert run.finished_at is not None and not run.is_current
    path.write_bytes(good)
    services.scoring_run_retry(user=coordinator, run=run)
    run.refresh_from_db()
    assert run.status == "queued" and run.error == ""
    scoring_run_task.delay(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 2 and ScoringRun.objects.count() == 1


def test_an_unexpected_error_is_recorded_and_re_raised(uploaded, monkeypatch):
    pullback, run = uploaded

    def boom(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(services, "_labels", boom)
    with pytest.raises(MemoryError):
        services.scoring_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "unexpected error (MemoryError: out of memory)" in run.error


def test_a_run_whose_worker_died_is_requeued_and_scored_once_on_its_own_row(uploaded):
    pullback, run = uploaded
    beat_long_ago = timezone.now() - timedelta(minutes=10)
    ScoringRun.objects.filter(pk=run.pk).update(
        status="running", progress_percent=40, attempts=1, lease="dead-worker", heartbeat_at=beat_long_ago
    )
    services.scoring_run_execute(run_id=run.pk)  # the broker re-delivers while it still looks running: no
    assert ScoringRun.objects.get(pk=run.pk).status == "running"

    assert jobs.requeue_stale_jobs()["scoring.ScoringRun"] == {"requeued": 1, "failed": 0, "resent": 0}
    first = ScoringRun.objects.get(pk=run.pk)  # eager Celery: the re-queued run ran at once
    services.scoring_run_execute(run_id=run.pk)  # a late duplicate delivery: already succeeded, left alone
    again = ScoringRun.objects.get(pk=run.pk)
    assert ScoringRun.objects.count() == 1 and first.status == "succeeded" and first.attempts == 2
    assert first.lease == "" and first.heartbeat_at is None
    assert again.finished_at == first.finished_at and again.attempts == 2


def test_rescoring_with_a_new_model_keeps_the_earlier_score_as_history(
    uploaded, coordinator, scoring_model, django_capture_on_commit_callbacks
):
    pullback, run = uploaded
    services.scoring_run_execute(run_id=run.pk)
    assert services.pullbacks_rescore(user=coordinator, pullbacks=[pullback])[0].pk == run.pk  # same model: no new run
    old = load_model("default", store=Path(scoring_model))
    save_model(
        DetectorModel(
            feature_names=old.feature_names,
            mean=old.mean,
            scale=old.scale,
            coef=-old.coef,
            intercept=0.5,
            post=PostProcessing(),
            n_alines=64,
        ),
        name="default",
        store=Path(scoring_model),
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            new_run = services.pullbacks_rescore(user=coordinator, pullbacks=[pullback])[0]
    finally:
        save_model(old, name="default", store=Path(scoring_model))
    run.refresh_from_db()
    new_run.refresh_from_db()
    assert new_run.pk != run.pk and new_run.status == "succeeded" and new_run.n_alines == 64
    assert new_run.is_current and not run.is_current and run.status == "succeeded" and run.ics is not None
    assert ScoringRun.objects.filter(pullback=pullback).count() == 2


def test_the_stored_map_round_trips_and_segment_ics_uses_it():
    labels = np.random.default_rng(0).random((300, 256)) < 0.2
    packed = calcium_map.pack(labels)
    assert np.array_equal(calcium_map.unpack(packed, n_frames=300, n_alines=256), labels)
    assert len(packed) < labels.size / 8 * 1.1
    spacing = 0.5 / 30
    part = calcium_map.segment_ics(labels, frame_spacing_mm=spacing, start_mm=1.0, end_mm=2.0)
    assert (part["first_frame"], part["last_frame"]) == (60, 120)  # 1/60 mm per frame
    assert part["ics"] == pytest.approx(labels[60:121].mean() * 1000)
    assert calcium_map.segment_ics(labels, frame_spacing_mm=spacing, start_mm=50, end_mm=60)["ics"] is None


def test_arc_runs_join_across_the_zero_angle():
    row = np.zeros(16, bool)
    row[[14, 15, 0, 1, 6, 7]] = True
    assert calcium_map.arc_runs(row) == [(6, 2), (14, 4)]
    assert calcium_map.arc_runs(np.ones(16, bool)) == [(0, 16)]
