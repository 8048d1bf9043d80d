import numpy as np
import pytest

from scoring.detector import features as fe

SPACING_MM = 0.04


def _aline(kind: str) -> np.ndarray:
    """A hand-made A-line (128 samples of 0.04 mm): blood, then a wall echo, then what is behind."""
    line = np.full(128, 30.0, np.float32)  # lumen
    line[:12] = 0.0  # inside the catheter
    line[12:20] = 220.0  # ring-down, must be ignored
    if kind == "calcium":
        line[40:43] = 250.0
        line[43:] = 5.0  # acoustic shadow
    elif kind == "fibrous":
        line[40:60] = 190.0
        line[60:70] = 60.0
        line[70:80] = 200.0
        line[80:] = 120.0
    else:  # normal wall: plaque, media, adventitia, peri-adventitia
        line[40:60] = 100.0
        line[60:65] = 50.0
        line[65:75] = 200.0
        line[75:] = 130.0
    return line


def _polar(kind: str) -> np.ndarray:
    return np.stack([_aline("normal")] * 7 + [_aline(kind)])[None]


def _features(polar: np.ndarray) -> dict:
    values = fe.base_features(polar, sample_spacing_mm=SPACING_MM)[0, -1]
    return dict(zip(fe.BASE_FEATURES, values, strict=True))


def test_normalisation_maps_the_dark_floor_to_zero_and_the_brightest_echo_to_one():
    z = fe.normalise(_polar("calcium"), first_sample=28)
    assert z[0, 0, 30] == pytest.approx(0.0, abs=0.02)  # lumen (30) is the frame's dark floor here
    assert z[0, 0, 70] == pytest.approx(1.0, abs=0.02)  # adventitia (200) the bright level


def test_ringdown_end_is_found_where_the_dark_lumen_starts():
    z = fe.normalise(_polar("normal"), first_sample=28)
    assert fe.ringdown_end(z, sample_spacing_mm=SPACING_MM)[0] == 21  # first lumen sample (20) + 1


def test_peak_is_found_beyond_the_ringdown():
    f = _features(_polar("calcium"))
    assert f["peak_depth_mm"] == pytest.approx(41 * SPACING_MM)  # centre of the 3-sample echo
    assert f["peak"] > 1.0  # brighter than the frame's bright level (the adventitia)


def test_calcium_has_a_sharp_edge_and_a_dark_shadow():
    f = _features(_polar("calcium"))
    assert f["edge"] > 1.0
    assert f["shadow_near"] < 0.0 and f["dark_frac"] == 1.0 and f["after_max"] < 0.0
    assert f["contrast"] > 1.1


def test_fibrous_plaque_is_bright_without_shadow():
    f = _features(_polar("fibrous"))
    assert f["after_max"] >= 0.95  # the adventitia shows behind it
    assert f["dark_frac"] == 0.0
    assert f["shadow_far"] > 0.5


def test_normal_wall_has_tissue_behind_the_peak():
    f = _features(_polar("normal"))
    assert f["dark_frac"] == 0.0 and f["shadow_near"] > 0.5


@pytest.mark.parametrize("scale, offset", [(1.0, 25.0), (0.7, -3.0), (1.2, 10.0)])
def test_features_do_not_change_with_gain_or_contrast(scale, offset):
    """A gain change shifts log-compressed grey levels, a dynamic-range change scales them."""
    rng = np.random.default_rng(0)
    polar = np.clip(_polar("calcium") * rng.uniform(0.8, 1.2, (1, 8, 128)).astype(np.float32), 0, 200)
    a = fe.base_features(polar, sample_spacing_mm=SPACING_MM)
    b = fe.base_features(polar * np.float32(scale) + np.float32(offset), sample_spacing_mm=SPACING_MM)
    assert np.allclose(a, b, atol=1e-4)


def test_context_wraps_around_the_circle():
    values = np.zeros((1, 8, 1), np.float32)
    values[0, 0, 0] = 3.0
    smooth = fe.circular_mean(values, 1, axis=1)
    assert smooth[0, 7, 0] == 1.0 and smooth[0, 1, 0] == 1.0 and smooth[0, 4, 0] == 0.0


def test_frame_context_shrinks_at_the_ends():
    values = np.arange(4, dtype=np.float32)[:, None]
    assert np.allclose(fe.edge_mean(values, 1, axis=0)[:, 0], [0.5, 1.0, 2.0, 2.5])


def test_full_features_have_the_named_columns():
    base = fe.base_features(_polar("calcium").repeat(3, axis=0), sample_spacing_mm=SPACING_MM)
    assert fe.add_context(base).shape == (3, 8, len(fe.feature_names()))


def test_circular_mean_equals_a_direct_wrapped_sum():
    rng = np.random.default_rng(3)
    values = rng.random((5, 16, 2)).astype(np.float32)
    direct = np.stack([sum(values[:, (k + d) % 16] for d in range(-3, 4)) / 7 for k in range(16)], axis=1)
    assert np.allclose(fe.circular_mean(values, 3, axis=1), direct, atol=1e-6)
    assert np.allclose(fe.circular_mean(values[:, :, 0], 3, axis=1), direct[:, :, 0], atol=1e-6)


def test_context_built_block_by_block_equals_the_whole_pullback_at_once():
    rng = np.random.default_rng(4)
    base = rng.random((23, 32, len(fe.BASE_FEATURES))).astype(np.float32)
    whole = fe.add_context(base, block_frames=1000)
    assert np.allclose(fe.add_context(base, block_frames=4), whole, atol=1e-5)
    names = fe.feature_names()
    # frame context of frame 4 (block boundary) = mean over frames 2..6 of the same A-line
    col = names.index("dark_frac_frames2")
    assert whole[4, 7, col] == pytest.approx(base[2:7, 7, fe.BASE_FEATURES.index("dark_frac")].mean(), abs=1e-6)
    assert np.allclose(whole[..., names.index("peak_vs_pullback")], base[..., 0] - np.median(base[..., 0]), atol=1e-6)


def test_frame_levels_are_order_statistics_of_the_tissue_samples():
    polar = np.zeros((1, 8, 128), np.float32)
    polar[0, :, 40:] = np.linspace(0, 255, 88)[None, :]
    dark, bright = fe.frame_levels(polar, first_sample=40)
    tissue = polar[0, ::4, 40::2].ravel()
    assert dark[0] == pytest.approx(np.percentile(tissue, 5), abs=3.0)
    assert bright[0] == pytest.approx(np.percentile(tissue, 99.5), abs=3.0)


def _weak_shadow_frame(ramp_grey_per_mm: float) -> np.ndarray:
    """Eight normal A-lines and one calcium A-line whose shadow (90) never reaches the dark floor but is
    darker than the other A-lines at the same depths (130), plus a depth-gain ramp on every A-line."""
    lines = [_aline("normal") for _ in range(8)]
    calcium = _aline("normal")
    calcium[40:43] = 230.0
    calcium[43:] = 90.0
    lines.append(calcium)
    polar = np.stack(lines)[None]
    polar[..., 21:] += ramp_grey_per_mm * SPACING_MM * np.arange(128 - 21, dtype=np.float32)
    return np.clip(polar, 0, 255)


def test_a_weak_shadow_is_darker_than_its_ring_at_the_same_depth():
    base = fe.base_features(_weak_shadow_frame(0.0), sample_spacing_mm=SPACING_MM)[0]
    f = {name: base[:, i] for i, name in enumerate(fe.BASE_FEATURES)}
    assert f["dark_frac"][-1] == 0.0  # the absolute criterion misses this shadow ...
    assert f["shadow_far_vs_ring"][-1] < -0.15  # ... the same-depth ring does not
    assert f["shadow_near_vs_ring"][-1] < -0.03  # behind the echo the ring is still plaque (100), not much brighter
    assert np.abs(f["shadow_far_vs_ring"][:-1]).max() < 0.02  # normal A-lines sit on their ring
    assert f["peak_vs_ring"][-1] > 0.5


def test_ring_features_hold_under_a_depth_gain_ramp():
    flat = fe.base_features(_weak_shadow_frame(0.0), sample_spacing_mm=SPACING_MM)[0]
    ramp = fe.base_features(_weak_shadow_frame(12.0), sample_spacing_mm=SPACING_MM)[0]  # +50 grey over 4 mm
    cols = [fe.BASE_FEATURES.index(n) for n in ("shadow_near_vs_ring", "shadow_far_vs_ring")]
    # same-depth differences cancel the ramp up to the frame's rescaling (its bright level moves with the ramp)
    assert np.sign(ramp[-1, cols]).tolist() == [-1.0, -1.0]
    assert ramp[-1, cols[1]] == pytest.approx(flat[-1, cols[1]], rel=0.35)
    assert np.abs(ramp[:-1, cols[1]]).max() < 0.02


@pytest.mark.parametrize("kind, low, high", [("calcium", 0.5, np.inf), ("fibrous", -0.03, 0.03), ("normal", -0.03, 0.03)])
def test_shadow_contrast_is_high_behind_calcium_only(kind, low, high):
    base = fe.base_features(_polar(kind), sample_spacing_mm=SPACING_MM)
    assert low <= fe.shadow_contrast(base)[0, -1] <= high


def test_an_arc_whose_shadow_is_also_the_ring_keeps_its_shadow():
    """All around calcium (a 360-degree arc): the ring median is the shadow itself, so the shadow
    is not darker than its ring; it is dark, which counts."""
    polar = np.stack([_aline("calcium")] * 8)[None]
    polar[0, :, 60:] += np.linspace(0, 3, 8, dtype=np.float32)[:, None]  # not bit-equal lines
    assert np.isinf(fe.shadow_contrast(fe.base_features(polar, sample_spacing_mm=SPACING_MM))).all()


def test_a_bright_edge_into_a_shadow_has_a_strong_leading_edge_and_a_fade_has_not():
    calcium = _polar("calcium")
    fade = _polar("normal")
    fade[0, -1, 40:] = np.linspace(120.0, 5.0, 88)  # lipid: no bright edge, a slow fade into darkness
    strong = fe.leading_edge(fe.base_features(calcium, sample_spacing_mm=SPACING_MM))[0, -1]
    weak = fe.leading_edge(fe.base_features(fade, sample_spacing_mm=SPACING_MM))[0, -1]
    assert strong > 1.0 and weak < 0.5
    f = _features(calcium)
    assert f["fall_mm"] <= 0.12 and f["shadow_median_vs_ring"] < -0.3


def test_the_lumen_border_is_the_first_wall_sample_even_close_to_the_catheter():
    """Superficial calcium 0.8 mm from the centre on 3/4 of the circle: the median over A-lines
    would put the end of the ring-down behind its edge (the shadow is dark), a tenth does not."""
    polar = np.stack([_aline("normal")] * 32)[None]
    polar[0, :24, 20:23] = 250.0  # the catheter against the wall: calcium right after the ring-down
    polar[0, :24, 23:] = 5.0
    z = fe.normalise(polar, first_sample=28)
    assert fe.ringdown_end(z, sample_spacing_mm=SPACING_MM)[0] <= 21
    border = fe.lumen_border_mm(polar, sample_spacing_mm=SPACING_MM)[0]
    assert border[:24] == pytest.approx(np.full(24, 21 * SPACING_MM), abs=2 * SPACING_MM)
    assert border[24:] == pytest.approx(np.full(8, 41 * SPACING_MM), abs=2 * SPACING_MM)
