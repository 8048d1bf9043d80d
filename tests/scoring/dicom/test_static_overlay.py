"""Burned-in grey marks that stay put across the pullback are masked before scoring."""

import numpy as np
import pytest

from scoring.detector.phantoms import polar_speckle
from scoring.dicom import files

N_FRAMES = 24


@pytest.fixture(scope="module")
def frames_with_grey_marks():
    plan = polar_speckle.make_phantom(N_FRAMES, seed=5, preset="typical")
    frames = np.concatenate(list(polar_speckle.iter_frames(plan)))
    frames[:, 300:303, 240:300] = 200  # a grey caliper line inside the image circle
    frames[:, 250:254, 250:254] = 255  # a white measurement dot
    return frames


@pytest.mark.parametrize("rle", [False, True])
def test_static_grey_marks_inside_the_image_are_found(tmp_path, frames_with_grey_marks, rle):
    path = tmp_path / "marks.dcm"
    files.write_pullback(path, [frames_with_grey_marks], n_frames=N_FRAMES, rle=rle)
    mask = files.static_overlay_mask(files.read_metadata(path))

    assert mask[300:303, 240:300].all() and mask[250:254, 250:254].all()
    # The phantom's own scale bar and ruler ticks (outside the circle) are found too ...
    assert mask[492:496, 440:450].all() and mask[8:10, 8:20].all()
    # ... but not the frame counter, which changes, nor any tissue.
    assert not mask[8:16, 400:496].any()
    rows, cols = np.ogrid[:512, :512]
    inside = (rows - 256) ** 2 + (cols - 256) ** 2 < 240**2
    marks = np.zeros_like(mask)
    marks[300:303, 240:300] = marks[250:254, 250:254] = True
    assert not (mask & inside & ~marks).any()


def test_masked_pixels_read_as_black(tmp_path, frames_with_grey_marks):
    path = tmp_path / "marks.dcm"
    files.write_pullback(path, [frames_with_grey_marks], n_frames=N_FRAMES)
    meta = files.read_metadata(path)
    mask = files.static_overlay_mask(meta)
    chunks = list(files.without_overlay(files.iter_frame_chunks(meta, chunk_frames=10), mask))
    frames = np.concatenate(chunks)
    assert frames.shape == frames_with_grey_marks.shape
    assert (frames[:, 300:303, 240:300] == 0).all()
    np.testing.assert_array_equal(frames[:, ~mask], frames_with_grey_marks[:, ~mask])


def test_a_short_pullback_is_not_judged(tmp_path, frames_with_grey_marks):
    path = tmp_path / "short.dcm"
    files.write_pullback(path, [frames_with_grey_marks[:5]], n_frames=5)
    assert files.static_overlay_mask(files.read_metadata(path)) is None
