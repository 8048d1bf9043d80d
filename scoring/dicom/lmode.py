"""The longitudinal (L-mode) view of a pullback: every frame cut along one diameter at a chosen
angle, the cuts side by side along the pullback, as a small PNG. Pure: no Django; the stored file
is found on the Django side (scoring.selectors.lmode_png).

Angles follow :mod:`scoring.detector.geometry`: degrees counter-clockwise from the image's +x axis
(3 o'clock) as displayed, about the image centre ((columns-1)/2, (rows-1)/2); image rows grow
downwards. Row 0 of the cut is the edge of the field of view at ``angle_deg``, the middle row the
catheter, the last row the edge at ``angle_deg + 180``. Column j shows the middle frame of the
j-th of ``columns`` equal bins of frames (every frame when the pullback has at most ``columns``).
"""

import io
from collections.abc import Iterable

import numpy as np
from PIL import Image

from scoring.dicom import files

MAX_LMODE_COLUMNS = 800  # frames shown side by side (a 2,400-frame pullback: every third frame)
MAX_LMODE_SAMPLES = 256  # rows of the cut (points along the diameter)
CALCIUM_INDEX = 255  # palette index of the calcium bands; grey levels use 0..254
CALCIUM_COLOUR = (255, 160, 0)  # as the detected arcs on the frame images (scoring.dicom.frames)
LMODE_CHUNK_FRAMES = 32


def lmode_frames(n_frames: int, *, max_columns: int = MAX_LMODE_COLUMNS) -> np.ndarray:
    """Frame index of each column: the middle frame of each of ``min(n_frames, max_columns)`` bins.

    Frame i lies in column ``floor(i * columns / n_frames)``: at the fraction ``(i + 0.5) / n_frames``
    of the image's width, whatever the number of columns (the viewer's current-frame marker).
    """
    columns = min(n_frames, max_columns)
    return ((np.arange(columns) + 0.5) * n_frames / columns).astype(np.int64)


def diameter_points(rows: int, columns: int, *, angle_deg: float, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates (float, pixel centres) of ``n_samples`` points along the diameter
    at ``angle_deg``, from the edge at that angle through the centre to the opposite edge."""
    cy, cx = (rows - 1) / 2.0, (columns - 1) / 2.0
    radius = (min(rows, columns) - 1) / 2.0
    t = np.linspace(radius, -radius, n_samples)
    theta = np.deg2rad(angle_deg)
    return cy - t * np.sin(theta), cx + t * np.cos(theta)  # rows grow downwards: minus sin


def _sample(chunk: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples (frames, points) of a chunk of grey frames (frames, rows, columns)."""
    rows, columns = chunk.shape[1:]
    y0 = np.clip(np.floor(ys).astype(np.int64), 0, rows - 2)
    x0 = np.clip(np.floor(xs).astype(np.int64), 0, columns - 2)
    fy = np.clip(ys - y0, 0.0, 1.0)
    fx = np.clip(xs - x0, 0.0, 1.0)
    frames = chunk.astype(np.float32)
    top = frames[:, y0, x0] * (1 - fx) + frames[:, y0, x0 + 1] * fx
    bottom = frames[:, y0 + 1, x0] * (1 - fx) + frames[:, y0 + 1, x0 + 1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy)


def lmode_cut(
    chunks: Iterable[np.ndarray],
    *,
    frame_indices: np.ndarray,
    angle_deg: float,
    n_samples: int = MAX_LMODE_SAMPLES,
    first_frame: int = 0,
) -> np.ndarray:
    """The L-mode image (uint8, ``n_samples`` x ``len(frame_indices)``) of a pullback.

    Parameters
    ----------
    chunks
        Grey uint8 frames (f, rows, columns) in order, e.g. :func:`files.iter_frame_chunks`;
        the first chunk starts at frame ``first_frame``.
    frame_indices
        Increasing frame index of each column (:func:`lmode_frames`).
    angle_deg
        Direction of the cut, degrees counter-clockwise from 3 o'clock as displayed.
    n_samples
        Points along the diameter (rows of the image), bilinear between pixels.
    """
    wanted = np.asarray(frame_indices, np.int64)
    out = np.zeros((n_samples, len(wanted)), np.uint8)
    points: tuple[np.ndarray, np.ndarray] | None = None
    start = first_frame
    for chunk in chunks:
        if points is None:
            points = diameter_points(*chunk.shape[1:], angle_deg=angle_deg, n_samples=n_samples)
        stop = start + len(chunk)
        columns = np.nonzero((wanted >= start) & (wanted < stop))[0]
        if len(columns):
            samples = _sample(chunk[wanted[columns] - start], *points)
            out[:, columns] = np.clip(np.rint(samples), 0, 255).astype(np.uint8).T
        start = stop
    return out


def calcium_bands(
    labels: np.ndarray | None, *, frame_indices: np.ndarray, angle_deg: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Detected calcium (bool per column) at the A-lines nearest ``angle_deg`` (the top edge of the
    cut) and ``angle_deg + 180`` (the bottom edge); None without a calcium map (frames x A-lines)."""
    if labels is None:
        return None
    n_alines = labels.shape[1]
    top = int(round(angle_deg * n_alines / 360.0)) % n_alines
    bottom = int(round((angle_deg + 180.0) * n_alines / 360.0)) % n_alines
    rows = labels[np.minimum(frame_indices, len(labels) - 1)]
    return rows[:, top].astype(bool), rows[:, bottom].astype(bool)


def lmode_image(cut: np.ndarray, bands: tuple[np.ndarray, np.ndarray] | None = None) -> Image.Image:
    """The cut as a palette image (grey, with the calcium at each edge as an orange band)."""
    indices = np.minimum(cut, CALCIUM_INDEX - 1)
    if bands is not None:
        height = max(2, len(cut) // 48)
        indices[:height, bands[0]] = CALCIUM_INDEX
        indices[-height:, bands[1]] = CALCIUM_INDEX
    image = Image.fromarray(indices, "P")
    image.putpalette([level for grey in range(CALCIUM_INDEX) for level in (grey, grey, grey)] + list(CALCIUM_COLOUR))
    return image


def lmode_png(
    meta: files.PullbackMetadata,
    *,
    angle_deg: float,
    labels: np.ndarray | None = None,
    max_columns: int = MAX_LMODE_COLUMNS,
    n_samples: int = MAX_LMODE_SAMPLES,
) -> bytes:
    """PNG of a stored pullback's L-mode at ``angle_deg``, with the current run's calcium
    (``labels``, frames x A-lines) at the edges. Reads the frames in chunks, never all at once."""
    indices = lmode_frames(meta.n_frames, max_columns=max_columns)
    first, last = int(indices[0]), int(indices[-1])
    chunks = files.iter_frame_chunks(meta, chunk_frames=LMODE_CHUNK_FRAMES, start=first, stop=last + 1)
    n_samples = min(n_samples, meta.rows, meta.columns)  # no more points than the diameter has pixels
    cut = lmode_cut(chunks, frame_indices=indices, angle_deg=angle_deg, n_samples=n_samples, first_frame=first)
    bands = calcium_bands(labels, frame_indices=indices, angle_deg=angle_deg)
    buffer = io.BytesIO()
    lmode_image(cut, bands).save(buffer, format="PNG")
    return buffer.getvalue()
