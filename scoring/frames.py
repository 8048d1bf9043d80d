"""One pullback frame as PNG with the detected calcium arcs drawn over it (Pillow)."""

import io

import numpy as np
from PIL import Image, ImageDraw

from scoring import calcium_map, dicom_io
from scoring.models import Pullback

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


def frame_png(pullback: Pullback, index: int) -> bytes:
    from scoring.selectors import current_run
    from scoring.services import stored_file_path

    run = current_run(pullback)
    row = run.labels()[index] if run is not None and index < run.n_frames else None
    with stored_file_path(pullback.file) as path:
        grey = dicom_io.read_frame(dicom_io.read_metadata(path), index)
    buffer = io.BytesIO()
    draw_arcs(grey, row).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
