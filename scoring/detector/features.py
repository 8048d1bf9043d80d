"""Per-A-line features of "a sharp bright border with a dark acoustic shadow behind it".

Base features come from each polar frame alone (streamed in chunks); context features from
neighbouring A-lines (circular) and neighbouring frames are added on the small
(frames x A-lines x features) array of the whole pullback.
"""

import numpy as np

RINGDOWN_MM = 0.7  # catheter (0.45 mm) plus its ring-down: never calcium
SHADOW_GAP_MM = 0.12  # skip the far side of the bright echo itself
SHADOW_NEAR_MM = 0.6
EDGE_MM = 0.12
DARK_LEVEL = 0.25  # "shadow" = darker than 25 % of the frame's typical wall echo

BASE_FEATURES = (
    "peak", "edge", "before", "shadow_near", "shadow_far", "after_max", "dark_frac",
    "shadow_to_peak", "peak_depth_mm",
)
CONTEXT_SOURCES = ("shadow_near", "after_max", "dark_frac")
ALINE_HALF_WIDTHS = (2, 8)
FRAME_HALF_WIDTH = 2


def feature_names() -> list:
    """Names of the full feature vector, in order."""
    names = list(BASE_FEATURES)
    for w in ALINE_HALF_WIDTHS:
        names += [f"{s}_alines{w}" for s in CONTEXT_SOURCES]
    names += [f"{s}_frames{FRAME_HALF_WIDTH}" for s in CONTEXT_SOURCES]
    names.append("narrowness")
    return names


def _window_mean(cum: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Mean over samples [start, stop) from a cumulative sum with a leading zero (f, A, S+1)."""
    n = cum.shape[-1] - 1
    start = np.clip(start, 0, n)
    stop = np.clip(np.maximum(stop, start + 1), 0, n)
    start = np.minimum(start, stop - 1)
    total = np.take_along_axis(cum, stop[..., None], -1) - np.take_along_axis(cum, start[..., None], -1)
    return total[..., 0] / (stop - start)


def base_features(polar: np.ndarray, *, sample_spacing_mm: float) -> np.ndarray:
    """Base features of every A-line (f, A, len(BASE_FEATURES)) float32.

    Parameters
    ----------
    polar : ndarray, float32 (f, A, S)
        Polar frames (grey levels) from :func:`scoring.detector.polar.to_polar`.
    sample_spacing_mm : float
        Depth between samples (mm).

    Notes
    -----
    The peak is the brightest sample beyond the ring-down. Intensities are divided by the
    frame's reference echo (median peak over its A-lines), so gain does not matter.
    ``edge``: rise over the 0.12 mm before the peak; ``shadow_near``/``shadow_far``: mean
    0.12-0.72 mm / 0.12 mm-edge behind it; ``after_max``: brightest sample behind it;
    ``dark_frac``: fraction of the samples behind it darker than ``DARK_LEVEL``.
    """
    n_samples = polar.shape[-1]
    s0 = int(np.ceil(RINGDOWN_MM / sample_spacing_mm))
    gap = max(1, int(round(SHADOW_GAP_MM / sample_spacing_mm)))
    near = max(2, int(round(SHADOW_NEAR_MM / sample_spacing_mm)))
    edge = max(1, int(round(EDGE_MM / sample_spacing_mm)))
    tissue = polar[..., s0:]
    peak_idx = np.argmax(tissue, axis=-1)
    peak = np.take_along_axis(tissue, peak_idx[..., None], -1)[..., 0]
    ref = np.maximum(np.median(peak, axis=-1, keepdims=True), 1.0)
    cum = np.zeros(tissue.shape[:-1] + (tissue.shape[-1] + 1,), np.float32)
    np.cumsum(tissue, axis=-1, out=cum[..., 1:])
    dark = tissue < DARK_LEVEL * ref[..., None]
    dark_cum = np.zeros(cum.shape, np.float32)
    np.cumsum(dark, axis=-1, out=dark_cum[..., 1:])
    after_max = np.maximum.accumulate(tissue[..., ::-1], axis=-1)[..., ::-1]
    n_t = tissue.shape[-1]
    behind = peak_idx + gap
    before_edge = np.take_along_axis(tissue, np.maximum(peak_idx - edge, 0)[..., None], -1)[..., 0]
    out = np.empty(peak.shape + (len(BASE_FEATURES),), np.float32)
    out[..., 0] = peak / ref
    out[..., 1] = (peak - before_edge) / ref
    out[..., 2] = _window_mean(cum, np.zeros_like(peak_idx), peak_idx) / ref
    out[..., 3] = _window_mean(cum, behind, behind + near) / ref
    out[..., 4] = _window_mean(cum, behind, np.full_like(peak_idx, n_t)) / ref
    out[..., 5] = np.take_along_axis(after_max, np.minimum(behind + gap, n_t - 1)[..., None], -1)[..., 0] / ref
    out[..., 6] = _window_mean(dark_cum, behind, np.full_like(peak_idx, n_t))
    out[..., 7] = out[..., 3] / np.maximum(out[..., 0], 1e-3)
    out[..., 8] = (peak_idx + s0) * sample_spacing_mm
    del n_samples
    return out


def circular_mean(values: np.ndarray, half_width: int, axis: int) -> np.ndarray:
    """Moving mean over ``2*half_width+1`` neighbours, wrapping around (A-lines)."""
    total = np.zeros_like(values)
    for shift in range(-half_width, half_width + 1):
        total += np.roll(values, shift, axis=axis)
    return total / (2 * half_width + 1)


def edge_mean(values: np.ndarray, half_width: int, axis: int = 0) -> np.ndarray:
    """Moving mean over neighbours along a non-circular axis (frames), shrinking at the ends."""
    values = np.moveaxis(values, axis, 0)
    n = len(values)
    cum = np.concatenate([np.zeros_like(values[:1]), np.cumsum(values, axis=0)])
    lo = np.clip(np.arange(n) - half_width, 0, n)
    hi = np.clip(np.arange(n) + half_width + 1, 0, n)
    count = (hi - lo).reshape((-1,) + (1,) * (values.ndim - 1))
    return np.moveaxis((cum[hi] - cum[lo]) / count, 0, axis)


def add_context(base: np.ndarray) -> np.ndarray:
    """Full feature array (frames, A, n_features) from base features of the whole pullback."""
    src = base[..., [BASE_FEATURES.index(s) for s in CONTEXT_SOURCES]]
    parts = [base]
    for w in ALINE_HALF_WIDTHS:
        parts.append(circular_mean(src, w, axis=1))
    parts.append(edge_mean(src, FRAME_HALF_WIDTH, axis=0))
    narrow = circular_mean(src[..., 2:3], 1, axis=1) - circular_mean(src[..., 2:3], 10, axis=1)
    parts.append(narrow)
    return np.concatenate(parts, axis=-1).astype(np.float32)
