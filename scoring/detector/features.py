"""Per-A-line features of "a sharp bright border with a dark acoustic shadow behind it".

Base features come from each polar frame alone (streamed in chunks); context features from
neighbouring A-lines (circular), neighbouring frames and the whole pullback are added on the
small (frames x A-lines x features) array of the whole pullback.

Gain and contrast invariance: a console shows log-compressed echo, so an overall gain change
shifts every grey level by a constant and a change of dynamic range scales them. Every
intensity is therefore mapped per frame to ``z = (x - dark) / (bright - dark)``, where
``dark`` and ``bright`` are robust percentiles of the frame's tissue samples (the noise /
shadow / blood floor and the brightest echoes), so ``z`` is unchanged by any increasing affine
change of grey levels. The shadow criterion ("darker than ``DARK_Z``") and the end of the
catheter ring-down are both defined on ``z``, i.e. adaptive to the frame.

What two independent phantom generators and real images share (issue 11): the brightness of the
leading edge against the wall (``edge_contrast``, ``peak_vs_wall``, ``peak_vs_ring``), its
sharpness (``edge``), the shadow against the other A-lines at the same depth
(``shadow_median_vs_ring``: a median, so reverberation lines in a shadow do not lift it), how
abruptly the echo falls into the shadow (``fall_mm``), the first reverberation (``reverb``) and a
lumen/wall border per A-line (``lumen_mm``) found beyond a ring-down end that is set by a tenth of
the A-lines, not their median (an echo at the lumen border close to the catheter is wall, not
ring-down). A shadow with no bright edge in front of it (attenuated plaque) has a low
``edge_contrast`` (:func:`leading_edge`, also a post-processing veto).
"""

from dataclasses import dataclass

import numpy as np

RINGDOWN_MIN_MM = 0.5  # the catheter itself: never tissue
RINGDOWN_MAX_MM = 1.1  # the ring-down ends before this depth (the lumen is wider than the catheter)
RINGDOWN_Z = 0.3  # the ring-down ends where the angular low percentile falls below this (dark lumen)
RINGDOWN_PERCENTILE = 10.0  # of the A-lines at each depth: the catheter may touch the wall on most of the circle
LUMEN_FRACTION = 0.3  # the lumen border: the first sample beyond the ring-down above 0.3 x the peak ...
LUMEN_Z = 0.3  # ... and above this (blood stays below)
FALL_MAX_MM = 1.5  # fall_mm is capped here (no shadow)
SHADOW_MEDIAN_MM = 1.0  # depth window behind the echo of the median shadow (robust to reverberations)
REVERB_HALF_MM = 0.08  # the first reverberation is searched at twice the echo depth +- this
WALL_FRONT_MM = 0.2  # the wall's front: this much tissue from the lumen border on
SHADOW_GAP_MM = 0.12  # skip the far side of the bright echo itself
SHADOW_NEAR_MM = 0.6
EDGE_MM = 0.12
SMOOTH_MM = 0.12  # depth box filter against speckle before finding the peak
DARK_Z = 0.2  # "shadow" = within 20 % of the frame's dark floor (adaptive)
DARK_PERCENTILE = 5.0
BRIGHT_PERCENTILE = 99.5
MIN_CONTRAST_GREY = 8.0

BASE_FEATURES = (
    "peak",
    "edge",
    "before",
    "shadow_near",
    "shadow_far",
    "after_max",
    "dark_frac",
    "contrast",
    "peak_depth_mm",
    "peak_vs_ring",
    "shadow_near_vs_ring",
    "shadow_far_vs_ring",
    "peak_vs_frame",
    "lumen_mm",
    "peak_behind_lumen_mm",
    "fall_mm",
    "shadow_median",
    "shadow_median_vs_ring",
    "reverb",
    "peak_vs_wall",
    "peak_raw",
    "edge_contrast",
)
CONTEXT_SOURCES = ("shadow_near", "after_max", "dark_frac", "contrast", "shadow_near_vs_ring", "fall_mm", "edge_contrast")
RING_STRIDE = 4  # the same-depth ring median of a frame from every 4th A-line
ALINE_HALF_WIDTHS = (2, 8)
FRAME_HALF_WIDTH = 2
PULLBACK_FEATURES = ("peak_vs_pullback", "shadow_vs_pullback")
# narrowness: dark fraction over +-2 A-lines minus over +-14, or over +-4 minus over +-24 (a wide
# wire close to the catheter: a 0.36 mm wire 0.6 mm away shadows ~35 degrees), whichever is larger
NARROW_HALF_WIDTHS = ((2, 14), (4, 24))


def feature_names() -> list:
    """Names of the full feature vector, in order."""
    names = list(BASE_FEATURES)
    for w in ALINE_HALF_WIDTHS:
        names += [f"{s}_alines{w}" for s in CONTEXT_SOURCES]
    names += [f"{s}_frames{FRAME_HALF_WIDTH}" for s in CONTEXT_SOURCES]
    names += list(PULLBACK_FEATURES)
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


def _cumsum0(values: np.ndarray) -> np.ndarray:
    cum = np.zeros(values.shape[:-1] + (values.shape[-1] + 1,), np.float32)
    np.cumsum(values, axis=-1, out=cum[..., 1:])
    return cum


LEVEL_STRIDE = (4, 2)  # levels from every 4th A-line x every 2nd depth sample (1/8 of the frame)


def _profile_mean(cum: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Mean of a per-frame depth profile over samples [start, stop) of every A-line.

    ``cum`` (f, S+1) cumulative sum with a leading zero; ``start``/``stop`` (f, A) -> (f, A).
    """
    n = cum.shape[-1] - 1
    start = np.clip(start, 0, n)
    stop = np.clip(np.maximum(stop, start + 1), 0, n)
    start = np.minimum(start, stop - 1)
    return (np.take_along_axis(cum, stop, -1) - np.take_along_axis(cum, start, -1)) / (stop - start)


def frame_levels(polar: np.ndarray, *, first_sample: int) -> tuple:
    """Dark floor and bright level (grey) of every frame: robust percentiles of its tissue samples.

    Order statistics (nearest rank) of a fixed 1/8 subsample of the tissue samples: one
    partition per chunk of frames, no sort.
    """
    a_step, s_step = LEVEL_STRIDE
    sub = polar[:, ::a_step, first_sample::s_step].reshape(len(polar), -1)
    n = sub.shape[1]
    ranks = [int(round(p / 100.0 * (n - 1))) for p in (DARK_PERCENTILE, BRIGHT_PERCENTILE)]
    part = np.partition(sub, ranks, axis=1)
    dark, bright = part[:, ranks[0]].astype(np.float64), part[:, ranks[1]].astype(np.float64)
    return dark, np.maximum(bright, dark + MIN_CONTRAST_GREY)


def normalise(polar: np.ndarray, *, first_sample: int) -> np.ndarray:
    """``z = (x - dark) / (bright - dark)`` per frame (f, A, S) float32, gain/contrast invariant."""
    dark, bright = frame_levels(polar, first_sample=first_sample)
    z = polar - dark.astype(np.float32)[:, None, None]
    z *= (1.0 / (bright - dark)).astype(np.float32)[:, None, None]
    return z


def ringdown_end(z: np.ndarray, *, sample_spacing_mm: float) -> np.ndarray:
    """First tissue sample of every frame (f,): where the ring-down has faded on a tenth of the A-lines.

    A low percentile over A-lines, not the median: where the catheter lies against the wall on
    most of the circle, the wall (superficial calcium too) starts inside ``RINGDOWN_MAX_MM``.
    """
    lo = int(np.ceil(RINGDOWN_MIN_MM / sample_spacing_mm))
    hi = int(np.ceil(RINGDOWN_MAX_MM / sample_spacing_mm))
    profile = np.percentile(z[:, :, lo:hi], RINGDOWN_PERCENTILE, axis=1)
    below = profile < RINGDOWN_Z
    first = np.where(below.any(axis=1), np.argmax(below, axis=1), hi - lo)
    return lo + first + 1


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
    Intensities are in frame-normalised units ``z`` (see the module docstring). The peak is
    the brightest depth-smoothed sample beyond the ring-down. ``edge``: rise over the 0.12 mm
    before the peak; ``before``: mean from the ring-down to the peak; ``shadow_near`` /
    ``shadow_far``: mean 0.12-0.72 mm / 0.12 mm-edge behind it; ``after_max``: brightest
    smoothed sample behind it; ``dark_frac``: fraction of the samples behind it with
    ``z < DARK_Z``; ``contrast``: peak minus ``shadow_near``.

    ``*_vs_ring``: the same quantities minus the frame's ring median at the same depths (the
    median over A-lines of every depth sample, from every ``RING_STRIDE``-th A-line). A shadow
    is darker than the other A-lines at the same depth, whatever the depth-gain ramp (TGC adds
    the same grey offset to every A-line at a depth, so it cancels) and whatever the noise floor
    (a weak shadow that never reaches ``DARK_Z`` is still darker than its ring).
    """
    # Levels from beyond the deepest ring-down: the bright ring-down must not set the scale.
    z = normalise(polar, first_sample=int(np.ceil(RINGDOWN_MAX_MM / sample_spacing_mm)))
    s0 = ringdown_end(z, sample_spacing_mm=sample_spacing_mm)  # (f,)
    n_s = z.shape[-1]
    gap = max(1, int(round(SHADOW_GAP_MM / sample_spacing_mm)))
    near = max(2, int(round(SHADOW_NEAR_MM / sample_spacing_mm)))
    edge = max(1, int(round(EDGE_MM / sample_spacing_mm)))
    width = max(1, int(round(SMOOTH_MM / sample_spacing_mm)))
    cum = _cumsum0(z)
    # depth box filter by shifted sums: equal samples give bit-equal sums (stable argmax on plateaus)
    n_sm = n_s - width + 1
    smooth = z[..., :n_sm].copy()  # (f, A, S-width+1)
    for k in range(1, width):
        smooth += z[..., k : k + n_sm]
    smooth *= np.float32(1.0 / width)
    peak_idx = np.empty(smooth.shape[:2], np.int64)
    for i, first in enumerate(s0):  # brightest beyond this frame's ring-down
        peak_idx[i] = np.argmax(smooth[i, :, first:], axis=-1) + first
    peak = np.take_along_axis(smooth, peak_idx[..., None], -1)[..., 0]
    behind = peak_idx + gap
    start = np.broadcast_to(s0[:, None], peak_idx.shape)
    before_edge = np.take_along_axis(smooth, np.maximum(peak_idx - edge, start)[..., None], -1)[..., 0]
    depth = np.arange(n_sm, dtype=np.int64)
    # after_max: brightest smoothed sample from behind + gap on; dark_frac: share of dark
    # smoothed samples from behind on (masks over depth: cheaper than running max / cumsum)
    after_from = np.minimum(behind + gap, n_sm - 1)[..., None]
    after_max = np.where(depth >= after_from, smooth, np.float32(-np.inf)).max(axis=-1)
    tail = depth >= np.minimum(behind, n_sm - 1)[..., None]
    dark_count = np.count_nonzero(tail & (smooth < DARK_Z), axis=-1)
    tail_len = np.maximum(n_sm - behind, 1)
    ring = np.median(smooth[:, ::RING_STRIDE, :], axis=1)  # (f, S-width+1)
    ring_cum = _cumsum0(ring)
    n_feat = len(BASE_FEATURES)
    out = np.empty(peak.shape + (n_feat,), np.float32)
    out[..., 0] = peak
    out[..., 1] = peak - before_edge
    out[..., 2] = _window_mean(cum, start, peak_idx)
    out[..., 3] = _window_mean(cum, behind, behind + near)
    out[..., 4] = _window_mean(cum, behind, np.full_like(peak_idx, n_s))
    out[..., 5] = after_max
    out[..., 6] = dark_count / tail_len
    out[..., 7] = peak - out[..., 3]
    out[..., 8] = (peak_idx + (width - 1) / 2.0) * sample_spacing_mm
    out[..., 9] = peak - np.take_along_axis(ring, peak_idx, -1)
    out[..., 10] = out[..., 3] - _profile_mean(ring_cum, behind, behind + near)
    out[..., 11] = out[..., 4] - _profile_mean(ring_cum, behind, np.full_like(peak_idx, n_sm))
    echo = EchoGeometry(s0, peak_idx, peak, behind, width, sample_spacing_mm)
    out[..., 12:20] = edge_and_shadow_shape(smooth, ring, echo)
    # the unsmoothed echo: a thin calcium surface (one or two samples) is diluted by the box filter
    raw = _window(z, np.maximum(peak_idx - 1, 0), width + 2).max(axis=-1)
    out[..., 20] = raw
    out[..., 21] = raw - out[..., 16]
    return out


@dataclass(frozen=True)
class EchoGeometry:
    """Where the echo of every A-line sits (smoothed-sample indices, see :func:`base_features`)."""

    ringdown_end: np.ndarray  # (f,)
    peak_idx: np.ndarray  # (f, A)
    peak: np.ndarray  # (f, A)
    behind: np.ndarray  # (f, A) first sample behind the echo
    width: int  # depth box filter (samples)
    spacing_mm: float


def lumen_border(smooth: np.ndarray, echo: EchoGeometry) -> np.ndarray:
    """Lumen/wall border of every A-line (f, A), smoothed-sample index: the first sample beyond the
    ring-down at or above ``max(LUMEN_FRACTION * peak, LUMEN_Z)`` (the peak itself where none is).

    The first tissue after the ring-down and the blood: an echo AT the border (superficial
    calcium, the intima) is wall, not ring-down or blood.
    """
    depth = np.arange(smooth.shape[-1])
    level = np.maximum(LUMEN_FRACTION * echo.peak, LUMEN_Z)[..., None]
    hit = (depth >= echo.ringdown_end[:, None, None]) & (depth <= echo.peak_idx[..., None]) & (smooth >= level)
    first = np.argmax(hit, axis=-1)  # 0 where there is none: check the sample it points at
    return np.where(np.take_along_axis(hit, first[..., None], -1)[..., 0], first, echo.peak_idx)


def lumen_border_mm(polar: np.ndarray, *, sample_spacing_mm: float) -> np.ndarray:
    """Lumen border depth (mm from the catheter centre) of every A-line (f, A) of polar frames."""
    names = list(BASE_FEATURES)
    return base_features(polar, sample_spacing_mm=sample_spacing_mm)[..., names.index("lumen_mm")]


def _window(values: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """``values[f, a, start[f, a] + k]`` for k < length, clipped at the last sample (f, A, length)."""
    idx = np.minimum(start[..., None] + np.arange(length), values.shape[-1] - 1)
    return np.take_along_axis(values, idx, -1)


def edge_and_shadow_shape(smooth: np.ndarray, ring: np.ndarray, echo: EchoGeometry) -> np.ndarray:
    """The leading edge against its wall and the shape of the shadow (f, A, 8) float32.

    ``peak_vs_frame``: peak minus the frame's median peak (a calcium edge is brighter than the
    wall; attenuated plaque is not); ``lumen_mm`` (:func:`lumen_border`) and
    ``peak_behind_lumen_mm``; ``fall_mm``: distance behind the peak to the first dark sample
    (calcium: a step into the shadow; lipid: a slow fade; capped at ``FALL_MAX_MM``);
    ``shadow_median`` over ``SHADOW_MEDIAN_MM`` behind the echo (a median: reverberation lines in
    a shadow do not lift it) and ``shadow_median_vs_ring``, that minus the ring's mean there; ``reverb``: brightest sample
    around twice the echo depth minus that median (0 beyond the field of view); ``peak_vs_wall``:
    peak minus the frame's median brightness of the wall's front (``WALL_FRONT_MM`` from the
    lumen border): a calcium edge outshines the intima of the other A-lines, attenuated plaque
    does not.
    """
    sp = echo.spacing_mm
    n = smooth.shape[-1]
    depth = np.arange(n)
    out = np.empty(echo.peak.shape + (8,), np.float32)
    out[..., 0] = echo.peak - np.median(echo.peak, axis=1, keepdims=True)
    lumen = lumen_border(smooth, echo)
    out[..., 1] = (lumen + (echo.width - 1) / 2.0) * sp
    out[..., 2] = (echo.peak_idx - lumen) * sp
    dark = (depth > echo.peak_idx[..., None]) & (smooth < DARK_Z)
    first = np.argmax(dark, axis=-1)
    fall = np.where(np.take_along_axis(dark, first[..., None], -1)[..., 0], first - echo.peak_idx, n)
    out[..., 3] = np.minimum(fall * sp, FALL_MAX_MM)
    # the median of every other smoothed sample (they overlap by the box filter anyway): half the cost
    length = max(3, int(round(SHADOW_MEDIAN_MM / sp)))
    win = _window(smooth, echo.behind, length)[..., ::2]
    out[..., 4] = np.partition(win, win.shape[-1] // 2, axis=-1)[..., win.shape[-1] // 2]
    out[..., 5] = out[..., 4] - _profile_mean(_cumsum0(ring), echo.behind, echo.behind + length)
    half = max(1, int(round(REVERB_HALF_MM / sp)))
    centre = 2 * echo.peak_idx + (echo.width - 1) // 2
    reverb = _window(smooth, centre - half, 2 * half + 1).max(axis=-1) - out[..., 4]
    out[..., 6] = np.where(centre + half < n, reverb, 0.0)
    front = _window(smooth, lumen, max(1, int(round(WALL_FRONT_MM / sp)))).mean(axis=-1)
    out[..., 7] = echo.peak - np.median(front, axis=1, keepdims=True)
    return out


NO_SHADOW_DARK_FRAC = 0.5  # an A-line with at least half of its tail dark has a shadow


def shadow_contrast(features: np.ndarray) -> np.ndarray:
    """How much darker the tissue behind each A-line's echo is than the other A-lines at the same
    depths (frames, A) float32: ``-shadow_far_vs_ring``, or +inf where at least half of the tail
    is dark (``dark_frac >= 0.5``) - arcs so wide that the ring median lies in their own shadow.

    ``features``: base or full features (the base ones come first, in ``BASE_FEATURES`` order).
    Calcium is "a bright border with a dark shadow behind it": its contrast is well above zero,
    while fibrous plaque, side branches and normal wall have none.
    """
    far = features[..., BASE_FEATURES.index("shadow_far_vs_ring")]
    dark = features[..., BASE_FEATURES.index("dark_frac")]
    return np.where(dark >= NO_SHADOW_DARK_FRAC, np.float32(np.inf), -far).astype(np.float32)


def leading_edge(features: np.ndarray) -> np.ndarray:
    """Strength of the leading edge of every A-line (frames, A) float32: the unsmoothed echo minus
    the median of the 1 mm behind it (``edge_contrast``). Calcium is a bright edge in front of its
    shadow; attenuated (lipid-rich) plaque fades into a shadow with no bright edge in front.

    ``features``: base or full features (the base ones come first, in ``BASE_FEATURES`` order).
    """
    return features[..., BASE_FEATURES.index("edge_contrast")].astype(np.float32, copy=False)


def _along(axis: int, ndim: int, a, b) -> tuple:
    index = [slice(None)] * ndim
    index[axis] = slice(a, b)
    return tuple(index)


def circular_mean(values: np.ndarray, half_width: int, axis: int) -> np.ndarray:
    """Moving mean over ``2*half_width+1`` neighbours, wrapping around (A-lines)."""
    n = values.shape[axis]
    axis = axis % values.ndim
    if 2 * half_width + 1 >= n:
        return np.broadcast_to(values.mean(axis=axis, keepdims=True), values.shape).copy()
    width = 2 * half_width + 1
    # padded[j] = values[(j - half_width - 1) % n], j = 0 .. n + 2*half_width: one leading extra
    # element so that out[i] = cum[i + width] - cum[i] (inclusive cumsum, no leading zero).
    padded = np.take(values, np.arange(-half_width - 1, n + half_width) % n, axis=axis)
    cum = np.cumsum(padded, axis=axis, dtype=np.float64)
    out = cum[_along(axis, values.ndim, width, width + n)] - cum[_along(axis, values.ndim, 0, n)]
    out *= 1.0 / width
    return out.astype(values.dtype, copy=False)


def edge_mean(values: np.ndarray, half_width: int, axis: int = 0) -> np.ndarray:
    """Moving mean over neighbours along a non-circular axis (frames), shrinking at the ends."""
    values = np.moveaxis(values, axis, 0)
    n = len(values)
    cum = np.concatenate([np.zeros_like(values[:1]), np.cumsum(values, axis=0)])
    lo = np.clip(np.arange(n) - half_width, 0, n)
    hi = np.clip(np.arange(n) + half_width + 1, 0, n)
    count = (hi - lo).reshape((-1,) + (1,) * (values.ndim - 1))
    return np.moveaxis((cum[hi] - cum[lo]) / count, 0, axis)


BACKGROUND_DARK_PERCENTILE = 25.0  # the least dark quarter of a frame's A-lines: no shadow there


def relative_dark(dark_frac: np.ndarray) -> np.ndarray:
    """Dark fraction above the frame's background (frames, A) in [0, 1].

    Where the deep tissue of a look is dark anyway (a high noise floor, strong attenuation)
    every A-line has a large ``dark_frac``; a shadow is darker than that background. The
    background is the 25th percentile of the frame's A-lines (arcs up to 270 degrees leave it).
    """
    background = np.percentile(dark_frac, BACKGROUND_DARK_PERCENTILE, axis=1, keepdims=True)
    return np.clip((dark_frac - background) / np.maximum(1.0 - background, 0.05), 0.0, 1.0).astype(np.float32)


def narrowness(dark_frac: np.ndarray) -> np.ndarray:
    """Relative dark fraction over a few A-lines minus over a wider window (frames, A): high on a
    narrow shadow (the guidewire's), near zero inside a wide one (a calcium arc) and without one."""
    rel = relative_dark(dark_frac)
    scales = [circular_mean(rel, small, axis=1) - circular_mean(rel, large, axis=1) for small, large in NARROW_HALF_WIDTHS]
    return np.maximum.reduce(scales)


CONTEXT_BLOCK_FRAMES = 256  # frames per block when building the full features in place


def pullback_references(base: np.ndarray) -> tuple:
    """Typical wall peak (median) and near shadow (75th percentile) of the pullback (robust:
    most A-lines are not calcium), from a subsample of at most 200 000 A-lines."""
    peak = base[..., BASE_FEATURES.index("peak")]
    shadow = base[..., BASE_FEATURES.index("shadow_near")]
    step = max(1, peak.size // 200_000)
    return float(np.median(peak.ravel()[::step])), float(np.percentile(shadow.ravel()[::step], 75))


def context_block(base: np.ndarray, start: int, stop: int, references: tuple, out: np.ndarray) -> np.ndarray:
    """Full features of frames ``start:stop`` written into ``out`` (stop - start, A, n_features).

    ``references`` from :func:`pullback_references` of the whole pullback; the frame context
    reads up to ``FRAME_HALF_WIDTH`` frames either side of the block from ``base``.
    """
    n_frames, _, n_base = base.shape
    n_src = len(CONTEXT_SOURCES)
    src_idx = [BASE_FEATURES.index(s) for s in CONTEXT_SOURCES]
    i_peak, i_shadow, i_dark = (BASE_FEATURES.index(s) for s in ("peak", "shadow_near", "dark_frac"))
    own = base[start:stop]
    out[..., :n_base] = own
    src = own[..., src_idx]
    col = n_base
    for w in ALINE_HALF_WIDTHS:
        out[..., col : col + n_src] = circular_mean(src, w, axis=1)
        col += n_src
    lo, hi = max(0, start - FRAME_HALF_WIDTH), min(n_frames, stop + FRAME_HALF_WIDTH)
    out[..., col : col + n_src] = edge_mean(base[lo:hi][..., src_idx], FRAME_HALF_WIDTH, axis=0)[start - lo : stop - lo]
    col += n_src
    out[..., col] = own[..., i_peak] - np.float32(references[0])
    out[..., col + 1] = own[..., i_shadow] - np.float32(references[1])
    out[..., col + 2] = narrowness(own[..., i_dark])
    return out


def add_context(base: np.ndarray, *, out: np.ndarray | None = None, block_frames: int = CONTEXT_BLOCK_FRAMES) -> np.ndarray:
    """Full feature array (frames, A, n_features) float32 from base features of the whole pullback.

    Built in place, block of frames by block: no pullback-sized temporaries besides ``out``.
    """
    n_frames, n_alines, _ = base.shape
    if out is None:
        out = np.empty((n_frames, n_alines, len(feature_names())), np.float32)
    references = pullback_references(base)
    for a in range(0, n_frames, block_frames):
        b = min(a + block_frames, n_frames)
        context_block(base, a, b, references, out[a:b])
    return out
