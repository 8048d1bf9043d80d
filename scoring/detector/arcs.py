"""Annotated calcium arcs as A-line labels (pure numpy).

Angle convention (scoring.detector.geometry, issue #4): A-line ``k`` of ``n_alines`` lies at
``360*k/n_alines`` degrees, counter-clockwise from the image's +x axis (3 o'clock) towards the
top of the image as displayed. An arc runs counter-clockwise from ``start_deg`` to ``end_deg``
and may wrap through 0 (e.g. 330 -> 30 is the 60 degrees around 3 o'clock);
``start_deg == end_deg`` is the full circle.
"""

from collections.abc import Iterable

import numpy as np

_EPS_DEG = 1e-9


def arc_span_deg(start_deg: float, end_deg: float) -> float:
    """Counter-clockwise extent of an arc in degrees, in (0, 360]; equal ends: the full circle."""
    span = (end_deg - start_deg) % 360.0
    return 360.0 if span < _EPS_DEG else span


def in_arc(angle_deg: np.ndarray, start_deg: float, end_deg: float) -> np.ndarray:
    """True where ``angle_deg`` lies on the arc (both ends included)."""
    offset = np.mod(np.asarray(angle_deg, float) - start_deg, 360.0)
    span = arc_span_deg(start_deg, end_deg)
    return (offset <= span + _EPS_DEG) | (offset >= 360.0 - _EPS_DEG)


def annotation_labels(arcs: Iterable[tuple[int, float, float]], n_frames: int, n_alines: int) -> np.ndarray:
    """Calcium labels (frames x A-lines, bool) from annotated arcs.

    Parameters
    ----------
    arcs : iterable of (frame, start_deg, end_deg)
        Calcium arcs; frame is 0-based, degrees in [0, 360) counter-clockwise as displayed.
    n_frames, n_alines : int
        Shape of the result.

    Returns
    -------
    numpy.ndarray
        ``labels[f, k]`` is True when A-line k (at ``360*k/n_alines`` degrees) of frame f lies
        inside one of the frame's arcs.

    Example
    -------
    >>> annotation_labels([(0, 315.0, 45.0)], 1, 8)[0].astype(int).tolist()
    [1, 1, 0, 0, 0, 0, 0, 1]
    """
    labels = np.zeros((n_frames, n_alines), bool)
    angles = 360.0 * np.arange(n_alines) / n_alines
    for frame, start_deg, end_deg in arcs:
        if not 0 <= frame < n_frames:
            raise ValueError(f"frame {frame} is not in 0..{n_frames - 1}")
        labels[frame] |= in_arc(angles, start_deg, end_deg)
    return labels


def annotated_frames(frames: Iterable[int], n_frames: int) -> np.ndarray:
    """Bool mask of the frames that carry at least one annotation (an arc or "no calcium")."""
    mask = np.zeros(n_frames, bool)
    mask[np.fromiter(frames, int)] = True
    return mask
