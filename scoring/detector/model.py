"""The fitted detector as plain arrays: scaler + linear SVM + post-processing (no pickle).

Prediction is re-implemented in numpy from the stored parameters, so a model file never
needs unpickling; tests check it matches scikit-learn's ``decision_function``.
"""

from dataclasses import dataclass, field

import numpy as np

from scoring.detector.postprocess import PostProcessing


@dataclass
class DetectorModel:
    """A fitted detector: ``decision = ((x - mean) / scale) . coef + intercept``."""

    feature_names: list
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    post: PostProcessing
    n_alines: int = 256
    version: str = ""
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def decision(self, features: np.ndarray) -> np.ndarray:
        """SVM decision values of features (..., n_features) -> (...)."""
        w = (self.coef / self.scale).astype(np.float32)
        b = np.float32(self.intercept - np.dot(self.mean / self.scale, self.coef))
        return features @ w + b


def from_pipeline(pipeline, *, feature_names, post: PostProcessing, n_alines: int) -> DetectorModel:
    """Take the parameters out of a fitted ``StandardScaler -> LinearSVC`` pipeline."""
    scaler, svm = pipeline[0], pipeline[-1]
    return DetectorModel(
        feature_names=list(feature_names), mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64), coef=svm.coef_[0].astype(np.float64),
        intercept=float(svm.intercept_[0]), post=post, n_alines=n_alines,
    )
