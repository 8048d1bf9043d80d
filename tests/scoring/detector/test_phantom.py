import numpy as np
import pytest

from scoring.detector.phantoms import polar_speckle


def test_frames_do_not_depend_on_the_chunk_size(small_plan):
    whole = polar_speckle.render_frames(small_plan, 0, 6)
    chunked = np.concatenate(
        list(polar_speckle.iter_frames(polar_speckle.make_phantom(24, seed=11, preset="heavy"), chunk_frames=4))
    )[:6]
    assert np.array_equal(whole, chunked)


def test_same_seed_same_phantom_other_seed_other_phantom():
    a = polar_speckle.render_frames(polar_speckle.make_phantom(4, seed=1), 0, 2)
    b = polar_speckle.render_frames(polar_speckle.make_phantom(4, seed=1), 0, 2)
    c = polar_speckle.render_frames(polar_speckle.make_phantom(4, seed=2), 0, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_calcium_truth_points_at_the_shadow_in_the_image(small_plan):
    """Truth A-line k at 2*pi*k/N CCW from +x (rows grow down): its far field is shadowed."""
    truth = polar_speckle.phantom_truth(small_plan, n_alines=64)
    image = polar_speckle.render_frames(small_plan, 0, 1)[0].astype(float)
    means = []
    for k in range(64):
        theta = 2 * np.pi * k / 64
        r = np.arange(200, 240)
        means.append(
            image[np.rint(255.5 - r * np.sin(theta)).astype(int), np.rint(255.5 + r * np.cos(theta)).astype(int)].mean()
        )
    means = np.array(means)
    calcium, wire = truth.calcium[0], truth.guidewire[0]
    assert calcium.any() and (~calcium & ~wire).any()
    assert means[calcium & ~wire].mean() < 0.5 * means[~calcium & ~wire].mean()


def test_no_calcium_preset_has_no_calcium_but_a_guidewire_and_fibrous_plaque():
    truth = polar_speckle.phantom_truth(polar_speckle.make_phantom(600, seed=5, preset="none"))
    assert truth.ics == 0 and truth.guidewire.any() and truth.fibrous.any()


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown preset"):
        polar_speckle.PhantomSpec(n_frames=3, seed=0, preset="soft")
