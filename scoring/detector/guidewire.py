"""Track the guidewire: a narrow bright strip with a shadow that moves slowly along the pullback.

It is the main false positive of calcium detection (bright echo with a shadow); calcium
arcs are wide (>= 20 degrees), the wire's shadow is a few degrees and drifts slowly.

What gives the wire away in both phantom families, and in real images, is where its echo lies:
in the lumen, in front of the wall around it (:func:`in_lumen`). A narrow shadow alone is not
enough: a wire close to the catheter shadows 20-35 degrees, as wide as a small calcium arc, and a
wire in front of attenuated plaque or at the edge of an arc has a dark run on either side.
"""

import numpy as np

from scoring.detector.features import BASE_FEATURES, relative_dark
from scoring.detector.features import narrowness as narrowness_of

MAX_STEP_DEG = 3.0  # the wire moves at most this much between frames
STEP_COST = 0.05  # per A-line of movement, in units of the narrowness score
PRESENT_SCORE = 0.3  # narrowness on the path above which the wire is visible in a frame
MIN_HALF_WIDTH_DEG = 3.0  # A-lines always masked either side of the path when visible
MAX_HALF_WIDTH_DEG = 22.0  # a dark run wider than this on a side is calcium, not the wire
DARK_RUN = 0.5  # relative dark fraction (features.relative_dark) above which an A-line belongs to the wire's shadow
IN_FRONT_MM = 0.3  # the wire's echo lies at least this far in front of the wall around it ...
IN_FRONT_RAMP_MM = 0.3  # ... fully so this much further (the in-lumen score ramps from 0 to 1) ...
AT_BORDER_MM = 0.2  # ... and is its A-line's first echo: at most this behind the A-line's lumen border
WALL_HALF_WIDTH_DEG = 60.0  # the wall around an A-line: the median of its lumen borders within +-this
# (the wire covers less than half of them; a border found far out where it failed does not count)
WALL_STRIDE = 4  # the wall from every 4th A-line (it varies slowly around the circle)
ECHO_RUN_MM = 0.15  # the wire's A-lines: a lumen border (first echo) within this depth of the path's
IN_LUMEN_WEIGHT = 0.5  # weight of the in-lumen score in the tracking score (narrowness weighs 1)
FRAME_BLOCK = 256


def track_guidewire(narrowness: np.ndarray) -> np.ndarray:
    """Most likely wire position per frame (Viterbi over frames, circular in angle).

    Parameters
    ----------
    narrowness : ndarray (frames, A)
        Shadow fraction over +-1 A-line minus over +-10 A-lines: high on a narrow shadow.

    Returns
    -------
    ndarray of int (frames,)
        A-line index of the wire in each frame.
    """
    n_frames, n_alines = narrowness.shape
    max_step = max(1, int(round(MAX_STEP_DEG / 360.0 * n_alines)))
    steps = np.arange(-max_step, max_step + 1)
    penalty = (STEP_COST * np.abs(steps))[:, None]
    score = narrowness[0].astype(np.float64)
    back = np.empty((n_frames, n_alines), np.int16)
    back[0] = 0
    ext = np.empty(n_alines + 2 * max_step)
    # windows[j, i] = ext[j + i] = score[i + j - max_step]; row for ``step`` is j = max_step - step,
    # i.e. np.roll(score, step); rows ordered by increasing step (ties go to the smallest step).
    windows = np.lib.stride_tricks.sliding_window_view(ext, n_alines)[::-1]
    rows = np.arange(n_alines)
    for t in range(1, n_frames):
        ext[max_step : max_step + n_alines] = score
        ext[:max_step] = score[-max_step:]
        ext[max_step + n_alines :] = score[:max_step]
        cand = windows - penalty
        arg = np.argmax(cand, axis=0)
        score = cand[arg, rows] + narrowness[t]
        back[t] = steps[arg]
    path = np.empty(n_frames, np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = (path[t] - back[t, path[t]]) % n_alines
    return path


def wall_around(lumen_mm: np.ndarray) -> np.ndarray:
    """Depth of the wall around every A-line (frames, A): the median of the lumen borders
    within +-60 degrees (every 4th A-line), so the lumen border a wire's echo fakes does not count."""
    n_frames, n_alines = lumen_mm.shape
    half = max(1, int(round(WALL_HALF_WIDTH_DEG / 360.0 * n_alines / WALL_STRIDE)))
    coarse_idx = np.arange(0, n_alines, WALL_STRIDE)
    out = np.empty((n_frames, n_alines), np.float32)
    for a in range(0, n_frames, FRAME_BLOCK):
        coarse = lumen_mm[a : a + FRAME_BLOCK, coarse_idx]
        padded = np.concatenate([coarse[:, -half:], coarse, coarse[:, :half]], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=1)
        wall = np.partition(windows, half, axis=2)[..., half]  # the median of 2 * half + 1 borders
        out[a : a + FRAME_BLOCK] = np.repeat(wall, WALL_STRIDE, axis=1)[:, :n_alines]
    return out


def in_lumen(echo_mm: np.ndarray, lumen_mm: np.ndarray, rel_dark: np.ndarray) -> np.ndarray:
    """How much every A-line looks like a wire (frames, A) in [0, 1]: its echo lies in front of the
    wall around it (0 up to 0.3 mm in front, 1 from 0.6 mm), nothing lies in front of it (it is
    the A-line's own lumen border) and it is shadowed behind the echo."""
    front = np.where(echo_mm - lumen_mm <= AT_BORDER_MM, wall_around(lumen_mm) - echo_mm, 0.0)
    score = np.clip((front - IN_FRONT_MM) / IN_FRONT_RAMP_MM, 0.0, 1.0)
    return (score * rel_dark).astype(np.float32)


def _runs(path: np.ndarray, member: np.ndarray, hi: int) -> tuple:
    """A-lines of ``member`` (frames, A) bool next to the path on its left and on its right, up to
    ``hi`` each (``hi``: the run does not end within reach) -> (frames,), (frames,)."""
    n_frames, n_alines = member.shape
    rows = np.arange(n_frames)[:, None]
    offsets = np.arange(1, hi + 1)
    runs = []
    for side in (-1, 1):
        inside = member[rows, (path[:, None] + side * offsets[None, :]) % n_alines]
        runs.append(np.where((~inside).any(axis=1), np.argmin(inside, axis=1), hi))
    return runs[0], runs[1]


def guidewire_mask(
    narrowness: np.ndarray,
    dark_frac: np.ndarray | None = None,
    echo_mm: np.ndarray | None = None,
    lumen_mm: np.ndarray | None = None,
) -> np.ndarray:
    """Bool (frames, A): A-lines covered by the tracked wire where it is visible.

    With ``dark_frac`` (frames, A) the mask spans the dark run around the path (the wire's
    shadow, whatever the wire's width; darkness measured above the frame's background, see
    :func:`scoring.detector.features.relative_dark`), and nothing is masked where the run is wider than
    ``MAX_HALF_WIDTH_DEG`` on a side: the path sits on the edge of a calcium arc, or the wire
    lies inside one (an annotator draws the arc through the wire's shadow).

    With ``echo_mm`` and ``lumen_mm`` too (the depth of each A-line's brightest echo and its lumen
    border) the tracker also follows an echo in front of the wall (:func:`in_lumen`), and where the
    tracked echo lies in front of the wall the mask spans the A-lines with an echo at the same depth,
    even when the dark run around them is wide (attenuated plaque behind the wire, the wire at the
    edge of an arc or inside one: post-processing then gives it to the arc when calcium flanks it).
    """
    n_frames, n_alines = narrowness.shape
    rel = None if dark_frac is None else relative_dark(dark_frac)
    score = narrowness
    front = None
    if rel is not None and echo_mm is not None and lumen_mm is not None:
        front = in_lumen(echo_mm, lumen_mm, rel)
        score = narrowness + IN_LUMEN_WEIGHT * front
    path = track_guidewire(score)
    visible = score[np.arange(n_frames), path] > PRESENT_SCORE
    lo = max(1, int(round(MIN_HALF_WIDTH_DEG / 360.0 * n_alines)))
    hi = max(lo, int(round(MAX_HALF_WIDTH_DEG / 360.0 * n_alines)))
    left = np.full(n_frames, lo)
    right = np.full(n_frames, lo)
    if rel is not None:
        shadowed = rel > DARK_RUN
        run_left, run_right = _runs(path, shadowed, hi)
        bounded = (run_left < hi) & (run_right < hi)
        left[:], right[:] = np.maximum(run_left, lo), np.maximum(run_right, lo)
        # A dark run unbounded on a side is a calcium arc (its edge, or the wire inside it): no mask,
        # unless the echo on the path lies in front of the wall: then the wire's own A-lines, those
        # whose first echo (lumen border) lies at the path's and that are shadowed.
        if front is not None and lumen_mm is not None:
            echo_wire = front[np.arange(n_frames), path] >= 0.5
            on_path = lumen_mm[np.arange(n_frames), path][:, None]
            run_left, run_right = _runs(path, shadowed & (np.abs(lumen_mm - on_path) <= ECHO_RUN_MM), hi)
            left[echo_wire] = np.maximum(run_left, lo)[echo_wire]
            right[echo_wire] = np.maximum(run_right, lo)[echo_wire]
            bounded |= echo_wire
        visible &= bounded
    span = np.arange(-hi, hi + 1)[None, :]
    inside = (span >= -left[:, None]) & (span <= right[:, None]) & visible[:, None]
    mask = np.zeros((n_frames, n_alines), bool)
    cols = (path[:, None] + span) % n_alines
    rows = np.broadcast_to(np.arange(n_frames)[:, None], cols.shape)
    mask[rows[inside], cols[inside]] = True
    return mask


def guidewire_of(features: np.ndarray) -> np.ndarray:
    """:func:`guidewire_mask` of a pullback from its base or full features (frames, A, n):
    narrowness, dark fraction, echo depth and lumen border as the detector computes them."""
    column = {name: features[..., BASE_FEATURES.index(name)] for name in ("dark_frac", "peak_depth_mm", "lumen_mm")}
    dark = column["dark_frac"]
    return guidewire_mask(narrowness_of(dark), dark, column["peak_depth_mm"], column["lumen_mm"])
