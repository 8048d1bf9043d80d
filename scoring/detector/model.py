"""The fitted detector as plain arrays: scaler + (kernel-approximated) SVM + post-processing (no pickle).

Prediction is re-implemented in numpy from the stored parameters, so a model file never
needs unpickling; tests check it matches scikit-learn's ``decision_function``.

Two kinds:

- ``"linear"``: ``StandardScaler -> LinearSVC``; ``decision = ((x - mean) / scale) . coef + b``.
- ``"nystroem_rbf"``: ``StandardScaler -> Nystroem(rbf) -> LinearSVC``; with ``z`` the scaled
  features, ``decision = exp(-gamma * |z - c_j|^2)_j . normalization.T . coef + b`` over the
  Nystroem components ``c_j`` (the fitted ``components_`` and ``normalization_``).
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from scoring.detector.postprocess import PostProcessing

KINDS = ("linear", "nystroem_rbf")
_SAFE_EXP = 60.0  # float32 exp overflows above ~88
_BLOCK_ROWS = 16_384  # kernel rows per block: bounded memory (block x components float64)


class UnknownModelKind(ValueError):
    """A model kind this detector cannot evaluate."""


@dataclass
class DetectorModel:
    """A fitted detector (see the module docstring for the two kinds)."""

    feature_names: list
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_features,) linear; (n_components,) nystroem_rbf
    intercept: float
    post: PostProcessing
    n_alines: int = 256
    version: str = ""
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    kind: str = "linear"
    components: np.ndarray | None = None  # (n_components, n_features), in scaled units
    normalization: np.ndarray | None = None  # (n_components, n_components)
    gamma: float = 0.0
    threads: int = 2  # kernel evaluation in threads (numpy releases the GIL)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UnknownModelKind(f"Unknown detector model kind {self.kind!r}; this version knows {', '.join(KINDS)}.")

    def decision(self, features: np.ndarray, *, exact: bool = False, threads: int | None = None) -> np.ndarray:
        """SVM decision values of features (..., n_features) -> (...).

        ``exact=True`` computes in float64 (equal to scikit-learn to ~1e-12); the default
        computes the kernel in float32 (about 3x faster, differences ~1e-5). ``threads``
        overrides the model's thread count for the kernel (1 inside an outer thread pool).
        """
        if self.kind == "linear":
            if exact:
                return ((features - self.mean) / self.scale) @ self.coef + self.intercept
            w = (self.coef / self.scale).astype(np.float32)
            b = np.float32(self.intercept - np.dot(self.mean / self.scale, self.coef))
            return features @ w + b
        return self._kernel_decision(
            features, np.float64 if exact else np.float32, self.threads if threads is None else threads
        )

    def _kernel_decision(self, features: np.ndarray, dtype, threads: int) -> np.ndarray:
        assert self.components is not None and self.normalization is not None  # kind "nystroem_rbf"
        flat = features.reshape(-1, features.shape[-1])
        out = np.empty(len(flat), dtype)
        weights = (self.normalization.T @ self.coef).astype(dtype)  # (n_components,)
        c = np.asarray(self.components, np.float64)
        c_sq = np.einsum("ij,ij->i", c, c)
        gamma = self.gamma
        # float32 path: exp(-g|z-c|^2) = exp(g(2 z.c - |c|^2)) * exp(-g|z|^2), i.e. one GEMM with
        # the bias folded in as an extra column, one exp pass, one GEMV (vs six passes). Exact
        # in real arithmetic; g(2 z.c - |c|^2) <= g|z|^2, so rows with g|z|^2 < _SAFE_EXP
        # cannot overflow; the rare others take the direct formula.
        c_aug = np.vstack([(2.0 * gamma) * c.T, -gamma * c_sq[None, :]]).astype(dtype)  # (n_features + 1, m)
        c, c_sq = c.astype(dtype), c_sq.astype(dtype)
        mean, inv_scale = self.mean.astype(dtype), (1.0 / self.scale).astype(dtype)
        gamma, intercept = dtype(gamma), dtype(self.intercept)
        fused = dtype is np.float32

        def direct(z: np.ndarray) -> np.ndarray:
            # |z - c|^2 = |z|^2 - 2 z.c + |c|^2, clipped at 0, as scikit-learn's rbf_kernel
            d = z @ c.T
            d *= dtype(-2.0)
            d += np.einsum("ij,ij->i", z, z)[:, None]
            d += c_sq[None, :]
            np.maximum(d, dtype(0.0), out=d)
            d *= -gamma
            np.exp(d, out=d)
            return d @ weights + intercept

        def block(start: int) -> None:
            rows = flat[start : start + _BLOCK_ROWS]
            z = np.empty((len(rows), rows.shape[1] + 1), dtype)
            np.subtract(rows, mean, out=z[:, :-1], casting="unsafe")
            z[:, :-1] *= inv_scale
            if not fused:
                out[start : start + len(z)] = direct(z[:, :-1])
                return
            z[:, -1] = 1.0
            z_sq = gamma * np.einsum("ij,ij->i", z[:, :-1], z[:, :-1])
            g = z @ c_aug
            with np.errstate(over="ignore", invalid="ignore"):  # unsafe rows are recomputed below
                np.exp(g, out=g)
                values = (g @ weights) * np.exp(-z_sq)
            unsafe = z_sq >= _SAFE_EXP
            if unsafe.any():
                values[unsafe] = direct(np.ascontiguousarray(z[unsafe, :-1])) - intercept
            out[start : start + len(z)] = values + intercept

        starts = range(0, len(flat), _BLOCK_ROWS)
        if threads > 1 and len(flat) > 2 * _BLOCK_ROWS:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(block, starts))
        else:
            for start in starts:
                block(start)
        return out.reshape(features.shape[:-1])


def from_pipeline(pipeline, *, feature_names, post: PostProcessing, n_alines: int) -> DetectorModel:
    """Take the parameters out of a fitted ``StandardScaler -> [Nystroem(rbf) ->] LinearSVC`` pipeline."""
    scaler, svm = pipeline[0], pipeline[-1]
    common = {
        "feature_names": list(feature_names),
        "mean": scaler.mean_.astype(np.float64),
        "scale": scaler.scale_.astype(np.float64),
        "coef": svm.coef_[0].astype(np.float64),
        "intercept": float(svm.intercept_[0]),
        "post": post,
        "n_alines": n_alines,
    }
    if len(pipeline) == 2:
        return DetectorModel(**common)
    nystroem = pipeline[1]
    if type(nystroem).__name__ != "Nystroem" or nystroem.kernel != "rbf" or len(pipeline) != 3:
        raise UnknownModelKind(f"Cannot store a {[type(s).__name__ for s in pipeline]} pipeline.")
    gamma = nystroem.gamma if nystroem.gamma is not None else 1.0 / scaler.mean_.shape[0]
    return DetectorModel(
        **common,
        kind="nystroem_rbf",
        components=nystroem.components_.astype(np.float64),
        normalization=nystroem.normalization_.astype(np.float64),
        gamma=float(gamma),
    )
