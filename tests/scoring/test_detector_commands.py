"""The detector's management commands on a tiny phantom: make_phantom, then score_pullback --json --labels."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command


@pytest.fixture(scope="module")
def tiny_phantom(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "tiny.dcm"
    call_command("make_phantom", str(out), "--frames", "6", "--seed", "3", "--preset", "heavy", "--rle")
    return out


def test_make_phantom_writes_the_dicom_and_its_truth(tiny_phantom):
    truth = np.load(tiny_phantom.with_suffix(".truth.npz"))
    assert tiny_phantom.stat().st_size > 6 * 1000
    assert truth["calcium"].shape == (6, 256) and truth["calcium"].dtype == bool
    assert float(truth["ics"]) == pytest.approx(truth["calcium"].mean() * 1000)
    # the morphology masks too, as family 2 writes them: superficial and deep split the calcium
    assert {"guidewire", "fibrous", "superficial", "deep", "spotty", "side_branch"} <= set(truth.files)
    assert int(truth["family"]) == 1
    assert np.array_equal(truth["superficial"] | truth["deep"], truth["calcium"])
    assert not (truth["superficial"] & truth["deep"]).any()


def test_score_pullback_prints_json_and_writes_labels(tiny_phantom, tmp_path, capsys):
    labels_path = tmp_path / "labels.npz"
    call_command("score_pullback", str(tiny_phantom), "--json", "--labels", str(labels_path), "--workers", "1")
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {
        "ics",
        "frames",
        "alines",
        "length_mm",
        "calcium_alines",
        "max_arc_deg",
        "model_version",
        "seconds",
    }
    assert result["frames"] == 6 and result["alines"] == 256
    assert result["model_version"].startswith("default-")
    labels = np.load(labels_path)["labels"]
    assert labels.shape == (6, 256) and labels.dtype == bool
    assert result["calcium_alines"] == int(labels.sum())
    truth = np.load(tiny_phantom.with_suffix(".truth.npz"))["calcium"]
    assert (labels == truth).mean() >= 0.9
    assert result["ics"] == pytest.approx(labels.mean() * 1000, abs=0.01)


def test_score_pullback_refuses_a_file_that_is_not_dicom(tmp_path):
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"not a dicom file at all" * 20)
    with pytest.raises(CommandError):
        call_command("score_pullback", str(bad), "--json")


def _truth_arcs(row: np.ndarray) -> list:
    """(start_deg, end_deg) of the circular runs of a truth row (A-line k at 360 k / n degrees)."""
    n = len(row)
    if row.all():
        return [(0.0, 0.0)]  # equal ends: the full circle
    first = int(np.argmin(row))  # start the scan on a negative A-line: no run wraps past the scan
    arcs, run = [], None
    for step in range(1, n + 1):
        k = (first + step) % n
        if row[k] and run is None:
            run = k
        elif not row[k] and run is not None:
            arcs.append((360.0 * run / n, 360.0 * ((k - 1) % n) / n))
            run = None
    return arcs


@pytest.mark.django_db
def test_train_detector_annotated_trains_on_the_annotated_frames_and_registers_a_version(
    settings, tmp_path, patient, coordinator, django_capture_on_commit_callbacks, capsys
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from scoring import annotations
    from scoring.detector.phantoms import polar_speckle
    from scoring.models import DetectorModelVersion
    from scoring.services import pullback_upload
    from tests.scoring.pullback_files import phantom_file

    settings.SCORING_MODEL_STORE = str(tmp_path / "store")
    annotated_frames = {3: [1, 2, 5], 4: [0, 3, 6]}  # phantom seed -> annotated frames
    pullbacks = {}
    for seed, frames in annotated_frames.items():
        with django_capture_on_commit_callbacks(execute=False):  # no background scoring run
            pullback = pullback_upload(
                user=coordinator,
                patient=patient,
                uploaded_file=SimpleUploadedFile(
                    f"p{seed}.dcm", phantom_file(tmp_path / f"p{seed}.dcm", n_frames=8, seed=seed).read_bytes()
                ),
            ).pullback
        truth = polar_speckle.phantom_truth(polar_speckle.make_phantom(8, seed=seed, preset="heavy"), n_alines=256).calcium
        for frame in frames:
            arcs = _truth_arcs(truth[frame])
            for start, end in arcs:
                annotations.annotation_add(user=coordinator, pullback=pullback, frame=frame, start_deg=start, end_deg=end)
            if not arcs:
                annotations.annotation_add(
                    user=coordinator, pullback=pullback, frame=frame, start_deg=0.0, end_deg=0.0, no_calcium=True
                )
        pullbacks[pullback.pk] = truth[frames]
    call_command("train_detector", "--annotated", "--out", "site-model", "--workers", "1", "--seed", "5")
    result = json.loads(capsys.readouterr().out)
    row = DetectorModelVersion.objects.get(pk=result["registered_version_id"])
    assert row.name == "site-model" and row.version == result["version"] and not row.is_active
    assert row.training_summary["annotated_pullbacks"] == sorted(pullbacks)
    assert row.training_summary["annotated_frames"] == 6 and row.training_summary["alines"] == 6 * 256
    assert row.training_summary["n_per_preset"] == 0  # annotations only
    assert result["metrics"]["grouped_cv_folds"] == 2  # one fold per pullback, never split
    # The annotated labels reached the classifier: trained on them, it reproduces them.
    assert result["metrics"]["training"]["accuracy"] >= 0.9
    from scoring.detector.model_store import load_model

    assert load_model("site-model", store=tmp_path / "store").version == row.version


@pytest.mark.django_db
def test_train_detector_annotated_without_annotations_says_so(settings, tmp_path):
    settings.SCORING_MODEL_STORE = str(tmp_path / "store")
    with pytest.raises(CommandError, match="Nothing to train on"):
        call_command("train_detector", "--annotated")
