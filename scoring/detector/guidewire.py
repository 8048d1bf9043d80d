"""Track the guidewire: a narrow bright strip with a shadow that moves slowly along the pullback.

It is the main false positive of calcium detection (bright echo with a shadow); calcium
arcs are wide (>= 20 degrees), the wire's shadow is a few degrees and drifts slowly.
"""

import numpy as np

MAX_STEP_DEG = 3.0  # the wire moves at most this much between frames
STEP_COST = 0.05  # per A-line of movement, in units of the narrowness score
PRESENT_SCORE = 0.3  # narrowness on the path above which the wire is visible in a frame
HALF_WIDTH_DEG = 8.0  # A-lines masked either side of the path


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
    score = narrowness[0].astype(np.float64)
    back = np.empty((n_frames, n_alines), np.int16)
    back[0] = 0
    for t in range(1, n_frames):
        best = np.full(n_alines, -np.inf)
        arg = np.zeros(n_alines, np.int16)
        for step in range(-max_step, max_step + 1):
            cand = np.roll(score, step) - STEP_COST * abs(step)
            better = cand > best
            best = np.where(better, cand, best)
            arg = np.where(better, step, arg)
        score = best + narrowness[t]
        back[t] = arg
    path = np.empty(n_frames, np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = (path[t] - back[t, path[t]]) % n_alines
    return path


def guidewire_mask(narrowness: np.ndarray) -> np.ndarray:
    """Bool (frames, A): A-lines covered by the tracked wire where it is visible."""
    n_frames, n_alines = narrowness.shape
    path = track_guidewire(narrowness)
    visible = narrowness[np.arange(n_frames), path] > PRESENT_SCORE
    half = max(1, int(round(HALF_WIDTH_DEG / 360.0 * n_alines)))
    offsets = (path[:, None] + np.arange(-half, half + 1)[None, :]) % n_alines
    mask = np.zeros((n_frames, n_alines), bool)
    rows = np.repeat(np.arange(n_frames), 2 * half + 1).reshape(n_frames, -1)
    mask[rows, offsets] = True
    return mask & visible[:, None]
