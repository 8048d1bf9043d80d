"""Our own detector model files: an .npz of plain arrays plus a JSON manifest. No pickle.

A model is ``<store>/<name>.npz`` (scaler mean/scale, SVM coef/intercept and, for the
``nystroem_rbf`` kind, the Nystroem components and normalization; loaded with
``allow_pickle=False``) and ``<store>/<name>.json`` (format, model kind and gamma,
scikit-learn version, feature spec, post-processing, metrics, training summary and the
SHA-256 of the .npz). Loading refuses anything whose format, kind, library version, feature
spec or hash does not match.
Models are only ever loaded by name from the project's store, never from an upload.
"""

import hashlib
import io
import json
import re
from importlib.metadata import version as _installed_version
from pathlib import Path

import numpy as np

from scoring.detector.features import feature_names
from scoring.detector.model import KINDS, DetectorModel
from scoring.detector.postprocess import PostProcessing

FORMAT = "ics-detector/1"
DEFAULT_STORE = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ARRAYS = {"linear": ("mean", "scale", "coef"), "nystroem_rbf": ("mean", "scale", "coef", "components", "normalization")}


class ModelStoreError(ValueError):
    """A model file that must not be used, with the reason."""


def _sklearn_version() -> str:
    # From the package metadata: importing scikit-learn itself costs a second per scoring run.
    return _installed_version("scikit-learn")


def _sklearn_series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _paths(name: str, store: Path):
    if not _NAME.match(name) or name.startswith("."):
        raise ModelStoreError(f"Invalid model name {name!r}: models are loaded by name from the store only.")
    return store / f"{name}.npz", store / f"{name}.json"


def _npz_bytes(model: DetectorModel) -> bytes:
    buffer = io.BytesIO()
    arrays = {key: np.asarray(getattr(model, key), np.float64) for key in _ARRAYS[model.kind]}
    if model.kind == "nystroem_rbf":
        arrays["gamma"] = np.array([model.gamma], np.float64)  # in the hashed file, not only the manifest
    arrays["intercept"] = np.array([model.intercept], np.float64)
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def save_model(model: DetectorModel, *, name: str, store: Path = DEFAULT_STORE) -> DetectorModel:
    """Write ``model`` as ``name`` in ``store``; returns it with its content version set."""
    npz_path, json_path = _paths(name, store)
    store.mkdir(parents=True, exist_ok=True)
    data = _npz_bytes(model)
    digest = hashlib.sha256(data).hexdigest()
    model.version = f"{name}-{digest[:12]}"
    manifest = {
        "format": FORMAT,
        "kind": model.kind,
        "version": model.version,
        "sha256": digest,
        "sklearn_version": _sklearn_version(),
        "numpy_version": np.__version__,
        "feature_names": model.feature_names,
        "n_alines": model.n_alines,
        "postprocessing": model.post.as_dict(),
        "metrics": model.metrics,
        "training": model.training,
    }
    if model.kind == "nystroem_rbf":
        manifest["gamma"] = model.gamma
    npz_path.write_bytes(data)
    json_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return model


def load_model(name: str = DEFAULT_MODEL, *, store: Path = DEFAULT_STORE) -> DetectorModel:
    """Load and verify a model from the store.

    Raises
    ------
    ModelStoreError
        Missing files, unknown format, other scikit-learn series, other feature spec, or an
        .npz whose SHA-256 differs from the manifest (tampered or foreign).
    """
    npz_path, json_path = _paths(name, store)
    if not npz_path.is_file() or not json_path.is_file():
        raise ModelStoreError(f"Model {name!r} not found in {store} (run `python -m scoring.detector.train_default`).")
    manifest = _read_manifest(json_path)
    data = npz_path.read_bytes()
    _verify(manifest, data, name)
    kind = manifest.get("kind", "linear")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            params = {key: arrays[key].astype(np.float64) for key in (*_ARRAYS[kind], "intercept")}
            if kind == "nystroem_rbf":
                params["gamma"] = float(arrays["gamma"][0])
    except (KeyError, ValueError, OSError) as exc:
        raise ModelStoreError(f"Model {name!r}: the .npz lacks the arrays of a {kind} model ({exc}).") from exc
    intercept = float(params.pop("intercept")[0])
    return DetectorModel(
        feature_names=manifest["feature_names"],
        **params,
        intercept=intercept,
        post=PostProcessing(**manifest["postprocessing"]),
        n_alines=int(manifest["n_alines"]),
        version=manifest["version"],
        metrics=manifest.get("metrics", {}),
        training=manifest.get("training", {}),
        kind=kind,
    )


def _read_manifest(json_path: Path) -> dict:
    try:
        manifest = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"{json_path.name} is not a model manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelStoreError(
            f"{json_path.name}: unknown model format {manifest.get('format') if isinstance(manifest, dict) else None!r}, expected {FORMAT}."
        )
    return manifest


def _verify(manifest: dict, data: bytes, name: str) -> None:
    kind = manifest.get("kind", "linear")
    if kind not in KINDS:
        raise ModelStoreError(
            f"Model {name!r} is of kind {kind!r}, which this detector cannot evaluate (known: {', '.join(KINDS)}); "
            "use a model trained by this version."
        )
    made_with = str(manifest.get("sklearn_version", "?"))
    if _sklearn_series(made_with) != _sklearn_series(_sklearn_version()):
        raise ModelStoreError(
            f"Model {name!r} was made with scikit-learn {made_with}; this installation has "
            f"{_sklearn_version()}. Retrain it (python -m scoring.detector.train_default)."
        )
    if manifest.get("feature_names") != feature_names():
        raise ModelStoreError(f"Model {name!r} uses another feature set than this detector; retrain it.")
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise ModelStoreError(f"Model {name!r}: the .npz does not match its manifest hash (modified or foreign file).")
    try:
        post = PostProcessing(**manifest["postprocessing"])
    except (KeyError, TypeError) as exc:
        raise ModelStoreError(f"Model {name!r}: bad post-processing parameters ({exc}).") from exc
    del post
