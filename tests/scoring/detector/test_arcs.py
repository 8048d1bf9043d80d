"""Annotated arcs -> A-line labels: the angle convention (against scoring.detector.geometry), wrap-around
through 0 and the full circle."""

import numpy as np
import pytest

from scoring.detector import geometry
from scoring.detector.arcs import annotated_frames, annotation_labels, arc_span_deg, in_arc


def test_an_arc_labels_the_alines_between_its_ends_counter_clockwise():
    labels = annotation_labels([(1, 45.0, 135.0)], 3, 8)  # A-lines every 45 degrees
    assert labels[1].astype(int).tolist() == [0, 1, 1, 1, 0, 0, 0, 0]
    assert not labels[0].any() and not labels[2].any()


def test_an_arc_may_wrap_through_zero():
    labels = annotation_labels([(0, 300.0, 60.0)], 1, 12)  # A-lines every 30 degrees
    assert np.flatnonzero(labels[0]).tolist() == [0, 1, 2, 10, 11]


def test_the_reversed_arc_is_the_complement_plus_its_ends():
    forward = annotation_labels([(0, 300.0, 60.0)], 1, 12)[0]
    backward = annotation_labels([(0, 60.0, 300.0)], 1, 12)[0]
    assert np.flatnonzero(backward).tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert (forward | backward).all() and np.flatnonzero(forward & backward).tolist() == [2, 10]


def test_equal_ends_are_the_full_circle():
    assert annotation_labels([(0, 123.0, 123.0)], 1, 256).all()
    assert arc_span_deg(10.0, 10.0) == 360.0 and arc_span_deg(350.0, 10.0) == pytest.approx(20.0)


def test_several_arcs_on_a_frame_add_up():
    labels = annotation_labels([(0, 0.0, 10.0), (0, 180.0, 190.0)], 1, 36)
    assert np.flatnonzero(labels[0]).tolist() == [0, 1, 18, 19]


def test_the_angle_convention_matches_the_image_geometry():
    """An arc around 12 o'clock (the top of the image as displayed) labels the A-lines whose rays
    go up in the image: geometry.polar_to_pixel puts them at rows above the centre."""
    n = 256
    labels = annotation_labels([(0, 80.0, 100.0)], 1, n)[0]
    angles = geometry.aline_angles_rad(n)
    rows, cols = geometry.polar_to_pixel(np.full(n, 200.0), angles)
    assert (rows[labels] < geometry.CENTRE_PX - 190).all()  # near the top edge
    assert (np.abs(cols[labels] - geometry.CENTRE_PX) < 40).all()
    assert labels[n // 4]  # A-line at 90 degrees

    # 6 o'clock: the pixel straight below the centre has angle 270 degrees.
    r, theta = geometry.pixel_to_polar(np.array([500.0]), np.array([geometry.CENTRE_PX]))
    assert np.degrees(theta[0]) == pytest.approx(270.0)
    assert annotation_labels([(0, 260.0, 280.0)], 1, n)[0][3 * n // 4]


def test_in_arc_includes_both_ends():
    assert in_arc(np.array([10.0, 20.0, 20.0001, 9.999]), 10.0, 20.0).tolist() == [True, True, False, False]


def test_frames_outside_the_pullback_are_refused():
    with pytest.raises(ValueError, match="frame 5"):
        annotation_labels([(5, 0.0, 10.0)], 5, 8)


def test_annotated_frames_mask():
    assert annotated_frames([0, 3, 3], 5).tolist() == [True, False, False, True, False]
