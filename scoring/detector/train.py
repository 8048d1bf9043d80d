"""Train and evaluate the detector on phantoms, with cross-validation grouped by pullback."""

import time
from dataclasses import dataclass

import numpy as np
import sklearn
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from scoring import phantom
from scoring.detector import features as fe
from scoring.detector.guidewire import guidewire_mask
from scoring.detector.model import DetectorModel, from_pipeline
from scoring.detector.pipeline import base_features_from_chunks
from scoring.detector.postprocess import PostProcessing, ics, postprocess

N_ALINES = 256
TRAIN_SAMPLES = 120_000  # A-lines subsampled for fitting (the SVM sees a balanced view anyway)


@dataclass
class PhantomSet:
    """Features and truth of one phantom pullback."""

    seed: int
    preset: str
    features: np.ndarray  # (frames, A, n_features)
    truth: phantom.PhantomTruth


def phantom_set(seed: int, preset: str, n_frames: int) -> PhantomSet:
    """Render a phantom and compute its full features (no DICOM round trip: same pixels)."""
    plan = phantom.make_phantom(n_frames, seed=seed, preset=preset)
    base = base_features_from_chunks(phantom.iter_frames(plan), n_alines=N_ALINES,
                                     pixel_spacing_mm=plan.spec.pixel_spacing_mm)
    return PhantomSet(seed, preset, fe.add_context(base), phantom.phantom_truth(plan, n_alines=N_ALINES))


def phantom_sets(*, n_per_preset: int, seed: int, n_frames: int) -> list:
    """``n_per_preset`` phantoms of every preset, seeds ``seed, seed+1, ...``."""
    return [phantom_set(seed + i, preset, n_frames) for i in range(n_per_preset) for preset in phantom.PRESETS]


def _xy(sets):
    x = np.concatenate([s.features.reshape(-1, s.features.shape[-1]) for s in sets])
    y = np.concatenate([s.truth.calcium.ravel() for s in sets])
    groups = np.concatenate([np.full(s.truth.calcium.size, i) for i, s in enumerate(sets)])
    return x, y, groups


def _subsample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, min(n, TRAIN_SAMPLES), replace=False))


def linear_svm():
    return make_pipeline(StandardScaler(), LinearSVC(class_weight="balanced", C=1.0, random_state=0))


def kernel_svm():
    return make_pipeline(StandardScaler(), Nystroem(gamma=0.05, n_components=200, random_state=0),
                         LinearSVC(class_weight="balanced", C=1.0, random_state=0))


def aline_metrics(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Per-A-line accuracy, precision, recall and F1."""
    tp = int((pred & truth).sum())
    precision = tp / max(int(pred.sum()), 1) if pred.any() else float(not truth.any())
    recall = tp / max(int(truth.sum()), 1) if truth.any() else 1.0
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"accuracy": float((pred == truth).mean()), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def compare_classifiers(sets, *, seed: int, n_splits: int = 3) -> dict:
    """Grouped (by pullback) CV of a linear and a kernel-approximation SVM, raw per-A-line labels."""
    x, y, groups = _xy(sets)
    results = {}
    for name, factory in (("linear_svc", linear_svm), ("nystroem200_linear_svc", kernel_svm)):
        preds, fit_s = np.zeros_like(y), 0.0
        for train, test in GroupKFold(n_splits=n_splits).split(x, y, groups):
            pick = train[_subsample(len(train), seed)]
            clf = factory()
            t0 = time.perf_counter()
            clf.fit(x[pick], y[pick])
            fit_s += time.perf_counter() - t0
            preds[test] = clf.decision_function(x[test]) > 0
        results[name] = {**aline_metrics(preds, y), "fit_seconds": round(fit_s, 2)}
    return results


def fit_model(sets, *, seed: int) -> DetectorModel:
    """Fit the scaler + linear SVM, then choose the post-processing threshold on the training set."""
    x, y, _ = _xy(sets)
    pick = _subsample(len(x), seed)
    pipe = linear_svm().fit(x[pick], y[pick])
    model = from_pipeline(pipe, feature_names=fe.feature_names(), post=PostProcessing(), n_alines=N_ALINES)
    model.post = _tune_threshold(model, sets)
    return model


def _tune_threshold(model: DetectorModel, sets) -> PostProcessing:
    best, best_acc = PostProcessing(), -1.0
    for threshold in (-0.5, -0.25, 0.0, 0.25, 0.5):
        post = PostProcessing(threshold=threshold)
        acc = np.mean([aline_metrics(predict(model, s, post), s.truth.calcium)["accuracy"] for s in sets])
        if acc > best_acc:
            best, best_acc = post, acc
    return best


def predict(model: DetectorModel, s: PhantomSet, post: PostProcessing | None = None) -> np.ndarray:
    narrow = s.features[..., fe.feature_names().index("narrowness")]
    return postprocess(model.decision(s.features), guidewire_mask(narrow), post or model.post)


def evaluate(model: DetectorModel, sets) -> dict:
    """Pooled per-A-line metrics, per-preset metrics and ICS agreement on held-out phantoms."""
    preds = [predict(model, s) for s in sets]
    pooled = aline_metrics(np.concatenate([p.ravel() for p in preds]),
                           np.concatenate([s.truth.calcium.ravel() for s in sets]))
    ics_rows = [{"seed": s.seed, "preset": s.preset, "ics": round(ics(p), 1), "ics_truth": round(s.truth.ics, 1)}
                for s, p in zip(sets, preds, strict=True)]
    diffs = np.array([r["ics"] - r["ics_truth"] for r in ics_rows])
    per_preset = {}
    for preset in phantom.PRESETS:
        idx = [i for i, s in enumerate(sets) if s.preset == preset]
        if idx:
            per_preset[preset] = aline_metrics(np.concatenate([preds[i].ravel() for i in idx]),
                                               np.concatenate([sets[i].truth.calcium.ravel() for i in idx]))
    return {"pooled": pooled, "per_preset": per_preset, "ics": ics_rows,
            "ics_mean_diff": float(diffs.mean()), "ics_max_abs_diff": float(np.abs(diffs).max()),
            "ics_limits_of_agreement": [float(diffs.mean() - 1.96 * diffs.std(ddof=1)),
                                        float(diffs.mean() + 1.96 * diffs.std(ddof=1))] if len(diffs) > 1 else None}


def train_on_phantoms(*, n_per_preset: int, seed: int, n_frames: int, compare: bool = True) -> DetectorModel:
    """Reproducible model from phantoms: same arguments -> same parameters."""
    sets = phantom_sets(n_per_preset=n_per_preset, seed=seed, n_frames=n_frames)
    model = fit_model(sets, seed=seed)
    model.training = {"source": "phantoms", "seed": seed, "n_per_preset": n_per_preset, "n_frames": n_frames,
                      "presets": list(phantom.PRESETS), "sklearn_version": sklearn.__version__}
    model.metrics = {"training": evaluate(model, sets)["pooled"]}
    if compare:
        model.metrics["grouped_cv_raw"] = compare_classifiers(sets, seed=seed)
    return model
