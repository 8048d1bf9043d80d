"""The stored calcium map (frames x A-lines, bool) and what is computed from it (pure numpy).

A-line ``k`` of ``N`` points from the image centre at angle ``2*pi*k/N`` from the image's +x
axis towards the top of the image (see :mod:`scoring.detector.geometry`). Frame ``i`` lies at
``i * frame_spacing_mm`` from the start of the pullback.
"""

import zlib

import numpy as np


def pack(labels: np.ndarray) -> bytes:
    """Bool (frames, A-lines) -> np.packbits + zlib (a 2400 x 256 map takes a few kB)."""
    return zlib.compress(np.packbits(np.asarray(labels, bool), axis=None).tobytes(), level=6)


def unpack(data: bytes, *, n_frames: int, n_alines: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(zlib.decompress(data), np.uint8), count=n_frames * n_alines)
    return bits.reshape(n_frames, n_alines).astype(bool)


def positions_mm(n_frames: int, *, frame_spacing_mm: float) -> np.ndarray:
    """Pullback position (mm) of every frame."""
    return np.arange(n_frames) * frame_spacing_mm


def ics(labels: np.ndarray) -> float:
    """IVUS calcium score: calcium A-lines / all A-lines x 1000 (Hoogendoorn et al.)."""
    return float(labels.mean() * 1000.0) if labels.size else 0.0


def segment_frames(n_frames: int, *, frame_spacing_mm: float, start_mm: float, end_mm: float) -> tuple[int, int]:
    """Frame range ``[first, stop)`` of the frames whose position lies in ``[start_mm, end_mm]``."""
    if end_mm < start_mm:
        raise ValueError("The segment's end must not lie before its start.")
    first = int(np.ceil(start_mm / frame_spacing_mm - 1e-9))
    stop = int(np.floor(end_mm / frame_spacing_mm + 1e-9)) + 1
    return max(first, 0), min(stop, n_frames)


def segment_ics(labels: np.ndarray, *, frame_spacing_mm: float, start_mm: float, end_mm: float) -> dict:
    """Lesion ICS of the frames between ``start_mm`` and ``end_mm`` (inclusive).

    Parameters
    ----------
    labels : ndarray of bool (frames, A-lines)
        The stored calcium map.
    frame_spacing_mm : float
        Pullback speed / frame rate.
    start_mm, end_mm : float
        Segment bounds along the pullback (mm from its first frame).

    Returns
    -------
    dict
        ``ics`` (None when no frame lies in the segment), ``frames``, ``first_frame``,
        ``last_frame``, ``calcium_alines`` and ``max_arc_deg``.
    """
    first, stop = segment_frames(len(labels), frame_spacing_mm=frame_spacing_mm, start_mm=start_mm, end_mm=end_mm)
    part = labels[first:stop] if stop > first else labels[:0]
    arcs = part.sum(axis=1) * 360.0 / labels.shape[1] if len(part) else np.zeros(0)
    return {
        "start_mm": start_mm,
        "end_mm": end_mm,
        "frames": len(part),
        "first_frame": first if len(part) else None,
        "last_frame": stop - 1 if len(part) else None,
        "ics": ics(part) if len(part) else None,
        "calcium_alines": int(part.sum()),
        "max_arc_deg": float(arcs.max(initial=0.0)),
    }


def arc_runs(row: np.ndarray) -> list[tuple[int, int]]:
    """Runs of calcium A-lines in one frame as ``(first, count)``, joined across k = N-1 -> 0."""
    row = np.asarray(row, bool)
    n = len(row)
    if row.all():
        return [(0, n)]
    if not row.any():
        return []
    start = int(np.flatnonzero(~row)[0]) + 1  # begin scanning just after a gap: wrap-around runs stay whole
    runs: list[tuple[int, int]] = []
    first, count = 0, 0
    for step in range(n):
        k = (start + step) % n
        if row[k]:
            first = k if count == 0 else first
            count += 1
        elif count:
            runs.append((first, count))
            count = 0
    if count:
        runs.append((first, count))
    return sorted(runs)
