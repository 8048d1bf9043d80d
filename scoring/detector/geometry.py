"""Image geometry shared by the phantom and the detector (pure numpy).

Angle convention (issue #4): A-line ``k`` of ``n_alines`` points from the image centre at
angle ``2*pi*k/n_alines`` measured from the image's +x axis (to the right) towards the TOP
of the image, i.e. counter-clockwise as displayed. Image rows grow downwards, so a point at
radius ``r_px`` and angle ``theta`` sits at ``col = cx + r cos(theta)``, ``row = cy - r sin(theta)``.
"""

import numpy as np

IMAGE_SIZE_PX = 512
# Pixel centres are at integer coordinates; the catheter sits between the four central pixels.
CENTRE_PX = (IMAGE_SIZE_PX - 1) / 2.0


def aline_angles_rad(n_alines: int) -> np.ndarray:
    """Angle of every A-line, ``2*pi*k/n_alines`` (radians, CCW from +x as displayed)."""
    return 2.0 * np.pi * np.arange(n_alines) / n_alines


def polar_to_pixel(r_px: np.ndarray, theta_rad: np.ndarray, *, centre_px: float = CENTRE_PX):
    """Cartesian (row, col) of polar points; ``r_px`` and ``theta_rad`` broadcast together."""
    col = centre_px + r_px * np.cos(theta_rad)
    row = centre_px - r_px * np.sin(theta_rad)
    return row, col


def pixel_to_polar(rows: np.ndarray, cols: np.ndarray, *, centre_px: float = CENTRE_PX):
    """Radius (px) and angle in [0, 2*pi) of pixel centres, same convention as the A-lines."""
    dx = cols - centre_px
    dy = centre_px - rows
    return np.hypot(dx, dy), np.mod(np.arctan2(dy, dx), 2.0 * np.pi)


def wrap_angle_rad(angle_rad: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return np.mod(angle_rad + np.pi, 2.0 * np.pi) - np.pi
