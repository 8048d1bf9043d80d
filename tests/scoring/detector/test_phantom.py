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


def _radial_means(image: np.ndarray, n_alines: int, r_px: np.ndarray) -> np.ndarray:
    """Mean grey level of every A-line's ray over the radii ``r_px`` (pixels from the centre)."""
    theta = 2 * np.pi * np.arange(n_alines)[:, None] / n_alines
    rows = np.rint(255.5 - r_px[None, :] * np.sin(theta)).astype(int)
    cols = np.rint(255.5 + r_px[None, :] * np.cos(theta)).astype(int)
    return image[rows, cols].mean(axis=1)


def test_attenuated_plaque_darkens_the_far_field_without_a_bright_edge():
    """Family 1's lipid-rich plaque (the "attenuated" preset): its rays are darker behind than the
    plain wall, and their brightest echo is far dimmer than a calcium surface's."""
    plan = polar_speckle.make_phantom(48, seed=55001, preset="attenuated")
    truth = polar_speckle.phantom_truth(plan, n_alines=128)
    frame = int(np.argmax((truth.attenuated & ~truth.guidewire).sum(axis=1)))
    image = polar_speckle.render_frames(plan, frame, frame + 1)[0].astype(float)
    attenuated = truth.attenuated[frame] & ~truth.guidewire[frame]
    calcium = truth.calcium[frame] & ~truth.guidewire[frame]
    plain = ~(truth.calcium[frame] | truth.guidewire[frame] | truth.attenuated[frame] | truth.side_branch[frame])
    assert attenuated.sum() > 10 and calcium.sum() > 10 and plain.sum() > 10
    assert not (truth.attenuated & truth.calcium).any()
    far = _radial_means(image, 128, np.arange(200, 240))
    assert far[attenuated].mean() < 0.7 * far[plain].mean()
    # the brightest echo of the ray from the catheter out to 4 mm: calcium's surface outshines lipid
    brightest = np.array(
        [
            image[np.rint(255.5 - r * np.sin(t)).astype(int), np.rint(255.5 + r * np.cos(t)).astype(int)].max()
            for t, r in ((2 * np.pi * k / 128, np.arange(40, 200)) for k in range(128))
        ]
    )
    assert np.median(brightest[calcium]) > np.median(brightest[attenuated]) + 40


def test_only_the_attenuated_preset_draws_lipid():
    for randomise in (False, True):
        assert not polar_speckle.make_phantom(240, seed=3, preset="typical", randomise=randomise).lipid
        assert polar_speckle.make_phantom(240, seed=3, preset="attenuated", randomise=randomise).lipid
