"""Cartesian IVUS frames to polar A-lines with a precomputed lookup (one gather per frame)."""

from dataclasses import dataclass

import numpy as np

from scoring.detector.geometry import aline_angles_rad

# Each polar sample averages 2 sub-rays x 2 depths of nearest pixels: less speckle, same cost order.
_SUB_ANGLES = (-0.25, 0.25)
_SUB_DEPTHS = (0.0, 1.0)


@dataclass(frozen=True)
class PolarGrid:
    """Where the A-line samples sit: ``n_alines`` rays x ``n_samples`` depths from the centre.

    A-line ``k`` points at ``2*pi*k/n_alines`` from the image's +x axis towards the top of the
    image; sample ``j`` sits at ``j * step_px`` pixels from the centre.
    """

    n_alines: int
    n_samples: int
    step_px: float
    index: np.ndarray  # (n_alines, n_samples, m) flat pixel index, image size = sentinel (zero)
    image_shape: tuple

    def sample_spacing_mm(self, pixel_spacing_mm: float) -> float:
        return self.step_px * pixel_spacing_mm


def polar_grid(image_shape=(512, 512), *, n_alines: int = 256, step_px: float = 2.0) -> PolarGrid:
    """Lookup table for :func:`to_polar`; samples outside the field-of-view circle read zero.

    Parameters
    ----------
    image_shape : (rows, columns)
        Frame size (px); the catheter is at the image centre.
    n_alines : int
        A-lines per frame.
    step_px : float
        Depth step between samples (px); the field of view is the inscribed circle.
    """
    rows, cols = image_shape
    centre_row, centre_col = (rows - 1) / 2.0, (cols - 1) / 2.0
    radius_px = min(rows, cols) / 2.0
    n_samples = int(radius_px // step_px)
    sub_a = np.asarray(_SUB_ANGLES)[None, None, :, None]
    sub_d = np.asarray(_SUB_DEPTHS)[None, None, None, :]
    theta = aline_angles_rad(n_alines)[:, None, None, None] + sub_a * 2 * np.pi / n_alines
    r = np.arange(n_samples)[None, :, None, None] * step_px + sub_d
    col = np.rint(centre_col + r * np.cos(theta)).astype(np.int64)
    row = np.rint(centre_row - r * np.sin(theta)).astype(np.int64)
    inside = (r + 0 * theta < radius_px - 0.5) & (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    flat = np.where(inside, row * cols + col, rows * cols)
    return PolarGrid(n_alines, n_samples, step_px, flat.reshape(n_alines, n_samples, -1).astype(np.int32), (rows, cols))


def to_polar(frames: np.ndarray, grid: PolarGrid) -> np.ndarray:
    """Polar images (f, n_alines, n_samples) float32 in grey levels 0..255.

    Parameters
    ----------
    frames : ndarray, uint8 (f, rows, columns)
        Cartesian frames.
    grid : PolarGrid
        From :func:`polar_grid` for this frame size.
    """
    n_sub = grid.index.shape[-1]
    padded = np.zeros(frames[0].size + 1, np.uint8)
    out = np.empty((len(frames), grid.n_alines, grid.n_samples), np.float32)
    for i, frame in enumerate(frames):
        padded[:-1] = frame.ravel()
        out[i] = np.take(padded, grid.index).sum(axis=-1, dtype=np.uint16)
    out *= np.float32(1.0 / n_sub)
    return out
