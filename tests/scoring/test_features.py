import numpy as np

from scoring.detector import features as fe

SPACING_MM = 0.04


def _aline(kind: str) -> np.ndarray:
    """A hand-made A-line (128 samples of 0.04 mm): blood, then a wall echo, then what is behind."""
    line = np.full(128, 30.0, np.float32)  # lumen
    line[:17] = 200.0  # ring-down, must be ignored
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


def _features(kind: str) -> dict:
    polar = np.stack([_aline("normal")] * 7 + [_aline(kind)])[None]
    values = fe.base_features(polar, sample_spacing_mm=SPACING_MM)[0, -1]
    return dict(zip(fe.BASE_FEATURES, values, strict=True))


def test_peak_is_found_beyond_the_ringdown():
    f = _features("calcium")
    assert np.isclose(f["peak_depth_mm"], 40 * SPACING_MM)
    assert np.isclose(f["peak"], 250 / 200)  # relative to the frame's median peak (200)


def test_calcium_has_a_sharp_edge_and_a_dark_shadow():
    f = _features("calcium")
    assert np.isclose(f["edge"], (250 - 30) / 200)
    assert np.isclose(f["shadow_near"], 5 / 200)
    assert f["dark_frac"] == 1.0
    assert f["after_max"] < 0.05


def test_fibrous_plaque_is_bright_without_shadow():
    f = _features("fibrous")
    assert f["after_max"] >= 0.95  # the adventitia shows behind it
    assert f["dark_frac"] == 0.0
    assert f["shadow_far"] > 0.5


def test_normal_wall_has_tissue_behind_the_peak():
    f = _features("normal")
    assert np.isclose(f["before"], np.mean(np.r_[np.full(22, 30.0), np.full(20, 100.0), np.full(5, 50.0)]) / 200)
    assert f["dark_frac"] == 0.0


def test_context_wraps_around_the_circle():
    values = np.zeros((1, 8, 1), np.float32)
    values[0, 0, 0] = 3.0
    smooth = fe.circular_mean(values, 1, axis=1)
    assert smooth[0, 7, 0] == 1.0 and smooth[0, 1, 0] == 1.0 and smooth[0, 4, 0] == 0.0


def test_frame_context_shrinks_at_the_ends():
    values = np.arange(4, dtype=np.float32)[:, None]
    assert np.allclose(fe.edge_mean(values, 1, axis=0)[:, 0], [0.5, 1.0, 2.0, 2.5])
