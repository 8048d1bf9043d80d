import json
import shutil

import numpy as np
import pytest

from scoring.detector.features import feature_names
from scoring.detector.model import DetectorModel
from scoring.detector.model_store import DEFAULT_STORE, ModelStoreError, load_model, save_model
from scoring.detector.postprocess import PostProcessing


def _model():
    n = len(feature_names())
    rng = np.random.default_rng(0)
    return DetectorModel(
        feature_names=feature_names(),
        mean=rng.normal(size=n),
        scale=rng.uniform(1, 2, n),
        coef=rng.normal(size=n),
        intercept=0.3,
        post=PostProcessing(threshold=0.25),
    )


def test_a_saved_model_loads_back_identically(tmp_path):
    saved = save_model(_model(), name="m1", store=tmp_path)
    loaded = load_model("m1", store=tmp_path)
    assert loaded.version == saved.version and loaded.post == saved.post
    x = np.random.default_rng(1).normal(size=(5, len(feature_names()))).astype(np.float32)
    assert np.allclose(loaded.decision(x), ((x - saved.mean) / saved.scale) @ saved.coef + saved.intercept, atol=1e-4)


def test_the_shipped_default_model_loads():
    model = load_model()
    assert model.version.startswith("default-") and model.kind == "nystroem_rbf"
    assert model.components.shape == (len(model.coef), len(feature_names())) and model.gamma > 0
    assert (
        DEFAULT_STORE / "default.npz"
    ).stat().st_size < 500_000  # 200 components + their 200 x 200 normalization, float64


def _kernel_model():
    model = _model()
    rng = np.random.default_rng(2)
    n = len(feature_names())
    model.kind, model.gamma = "nystroem_rbf", 0.05
    model.components, model.normalization = rng.normal(size=(6, n)), rng.normal(size=(6, 6))
    model.coef = rng.normal(size=6)
    return model


def test_a_saved_kernel_model_loads_back_with_the_same_decisions(tmp_path):
    saved = save_model(_kernel_model(), name="k", store=tmp_path)
    loaded = load_model("k", store=tmp_path)
    assert loaded.kind == "nystroem_rbf" and loaded.gamma == 0.05
    assert json.loads((tmp_path / "k.json").read_text())["kind"] == "nystroem_rbf"
    x = np.random.default_rng(1).normal(size=(50, len(feature_names())))
    assert np.array_equal(loaded.decision(x, exact=True), saved.decision(x, exact=True))
    z = (x - saved.mean) / saved.scale
    kernel = np.exp(-0.05 * ((z[:, None, :] - saved.components[None]) ** 2).sum(-1))
    assert np.allclose(loaded.decision(x, exact=True), kernel @ saved.normalization.T @ saved.coef + 0.3, atol=1e-12)
    x[:5] *= 60.0  # far outliers: the float32 path must not overflow (direct formula for them)
    assert np.allclose(loaded.decision(x.astype(np.float32)), loaded.decision(x, exact=True), atol=1e-4)


def test_it_refuses_an_unknown_model_kind(tmp_path):
    save_model(_model(), name="m", store=tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["kind"] = "random_forest"
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStoreError, match="kind 'random_forest'.*cannot evaluate"):
        load_model("m", store=tmp_path)


def test_it_refuses_a_kernel_manifest_over_linear_arrays(tmp_path):
    save_model(_model(), name="m", store=tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["kind"] = "nystroem_rbf"
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStoreError, match="lacks the arrays of a nystroem_rbf model"):
        load_model("m", store=tmp_path)


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
