"""Track the guidewire: a narrow bright strip with a shadow that moves slowly along the pullback.

It is the main false positive of calcium detection (bright echo with a shadow); calcium
arcs are wide (>= 20 degrees), the wire's shadow is a few degrees and drifts slowly.
"""

import numpy as np

from scoring.detector.features import relative_dark

MAX_STEP_DEG = 3.0  # the wire moves at most this much between frames
STEP_COST = 0.05  # per A-line of movement, in units of the narrowness score
PRESENT_SCORE = 0.3  # narrowness on the path above which the wire is visible in a frame
MIN_HALF_WIDTH_DEG = 3.0  # A-lines always masked either side of the path when visible
MAX_HALF_WIDTH_DEG = 22.0  # a dark run wider than this on a side is calcium, not the wire
DARK_RUN = 0.5  # relative dark fraction (features.relative_dark) above which an A-line belongs to the wire's shadow


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


def guidewire_mask(narrowness: np.ndarray, dark_frac: np.ndarray | None = None) -> np.ndarray:
    """Bool (frames, A): A-lines covered by the tracked wire where it is visible.

    With ``dark_frac`` (frames, A) the mask spans the dark run around the path (the wire's
    shadow, whatever the wire's width; darkness measured above the frame's background, see
    :func:`scoring.detector.features.relative_dark`), and nothing is masked where the run is wider than
    ``MAX_HALF_WIDTH_DEG`` on a side: the path sits on the edge of a calcium arc, or the wire
    lies inside one (an annotator draws the arc through the wire's shadow).
    """
    n_frames, n_alines = narrowness.shape
    path = track_guidewire(narrowness)
    visible = narrowness[np.arange(n_frames), path] > PRESENT_SCORE
    lo = max(1, int(round(MIN_HALF_WIDTH_DEG / 360.0 * n_alines)))
    hi = max(lo, int(round(MAX_HALF_WIDTH_DEG / 360.0 * n_alines)))
    left = np.full(n_frames, lo)
    right = np.full(n_frames, lo)
    if dark_frac is not None:
        offsets = np.arange(1, hi + 1)
        rows = np.arange(n_frames)[:, None]
        bounded = np.ones(n_frames, bool)
        rel = relative_dark(dark_frac)
        for side, out in ((1, right), (-1, left)):
            dark = rel[rows, (path[:, None] + side * offsets[None, :]) % n_alines] > DARK_RUN
            run = np.where((~dark).any(axis=1), np.argmin(dark, axis=1), hi)
            bounded &= run < hi
            out[:] = np.maximum(run, lo)
        # A dark run unbounded on a side is a calcium arc (its edge, or the wire inside it): no mask.
        visible &= bounded
    span = np.arange(-hi, hi + 1)[None, :]
    inside = (span >= -left[:, None]) & (span <= right[:, None]) & visible[:, None]
    mask = np.zeros((n_frames, n_alines), bool)
    cols = (path[:, None] + span) % n_alines
    rows = np.broadcast_to(np.arange(n_frames)[:, None], cols.shape)
    mask[rows[inside], cols[inside]] = True
    return mask
