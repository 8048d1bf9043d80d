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


def test_score_pullback_prints_json_and_writes_labels(tiny_phantom, tmp_path, capsys):
    labels_path = tmp_path / "labels.npz"
    call_command("score_pullback", str(tiny_phantom), "--json", "--labels", str(labels_path), "--workers", "1")
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"ics", "frames", "alines", "length_mm", "calcium_alines", "max_arc_deg",
                           "model_version", "seconds"}
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
