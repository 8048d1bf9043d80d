"""One pullback frame as PNG with the detected calcium arcs drawn over it (Pillow). The pullback's
file and current run are looked up on the Django side (scoring.selectors.frame_png)."""

import io

import numpy as np
from PIL import Image, ImageDraw

from scoring.detector import calcium_map

ARC_COLOUR = (255, 160, 0)


def draw_arcs(grey: np.ndarray, labels_row: np.ndarray | None) -> Image.Image:
    """The frame in RGB with calcium A-line runs drawn as arcs near the edge of the field of view.

    A-line k of N is at angle 2*pi*k/N counter-clockwise from +x as displayed; Pillow measures
    angles clockwise (rows grow downwards), hence the minus signs.
    """
    image = Image.fromarray(grey, "L").convert("RGB")
    if labels_row is None or not labels_row.any():
        return image
    n = len(labels_row)
    rows, cols = grey.shape
    cy, cx = (rows - 1) / 2.0, (cols - 1) / 2.0
    radius = 0.47 * min(rows, cols)
    draw = ImageDraw.Draw(image)
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    for first, count in calcium_map.arc_runs(labels_row):
        start_deg = (first - 0.5) * 360.0 / n
        end_deg = (first + count - 0.5) * 360.0 / n
        draw.arc(box, start=-end_deg, end=-start_deg, fill=ARC_COLOUR, width=max(3, rows // 80))
    return image


def png_with_arcs(grey: np.ndarray, labels_row: np.ndarray | None) -> bytes:
    """:func:`draw_arcs` encoded as PNG."""
    buffer = io.BytesIO()
    draw_arcs(grey, labels_row).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
