import json
import shutil

import numpy as np
import pytest

from scoring.detector.features import feature_names
from scoring.detector.model import DetectorModel
from scoring.detector.postprocess import PostProcessing
from scoring.model_store import DEFAULT_STORE, ModelStoreError, load_model, save_model


def _model():
    n = len(feature_names())
    rng = np.random.default_rng(0)
    return DetectorModel(feature_names=feature_names(), mean=rng.normal(size=n), scale=rng.uniform(1, 2, n),
                         coef=rng.normal(size=n), intercept=0.3, post=PostProcessing(threshold=0.25))


def test_a_saved_model_loads_back_identically(tmp_path):
    saved = save_model(_model(), name="m1", store=tmp_path)
    loaded = load_model("m1", store=tmp_path)
    assert loaded.version == saved.version and loaded.post == saved.post
    x = np.random.default_rng(1).normal(size=(5, len(feature_names()))).astype(np.float32)
    assert np.allclose(loaded.decision(x), ((x - saved.mean) / saved.scale) @ saved.coef + saved.intercept, atol=1e-4)


def test_the_shipped_default_model_loads():
    assert load_model().version.startswith("default-")
    assert (DEFAULT_STORE / "default.npz").stat().st_size < 20_000


def test_it_refuses_a_tampered_file(tmp_path):
    save_model(_model(), name="m", store=tmp_path)
    model = _model()
    model.coef = -model.coef
    other = tmp_path / "other"
    save_model(model, name="m", store=other)
    shutil.copy(other / "m.npz", tmp_path / "m.npz")
    with pytest.raises(ModelStoreError, match="hash"):
        load_model("m", store=tmp_path)


def test_it_refuses_another_scikit_learn_version(tmp_path):
    save_model(_model(), name="m", store=tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["sklearn_version"] = "0.24.2"
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStoreError, match="scikit-learn 0.24.2"):
        load_model("m", store=tmp_path)


def test_it_refuses_a_foreign_file(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"\x80\x04pickle")
    (tmp_path / "m.json").write_text('{"format": "joblib"}')
    with pytest.raises(ModelStoreError, match="unknown model format"):
        load_model("m", store=tmp_path)


def test_it_refuses_another_feature_set(tmp_path):
    save_model(_model(), name="m", store=tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["feature_names"] = manifest["feature_names"][:-1]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStoreError, match="feature set"):
        load_model("m", store=tmp_path)


@pytest.mark.parametrize("name", ["../etc/passwd", "/tmp/x", ""])  # noqa: S108 - a name, never opened
def test_models_are_loaded_by_name_from_the_store_only(name):
    with pytest.raises(ModelStoreError, match="Invalid model name"):
        load_model(name)
