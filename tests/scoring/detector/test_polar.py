import numpy as np

from scoring.detector.polar import polar_grid, to_polar


def test_polar_lookup_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 512, 512), dtype=np.uint8)
    grid = polar_grid((512, 512), n_alines=64, step_px=2.0)
    polar = to_polar(frame, grid)
    for k, j in [(0, 10), (16, 50), (40, 100), (63, 127)]:
        theta = 2 * np.pi * k / 64
        values = []
        for sub_a in (-0.25, 0.25):
            for sub_d in (0.0, 1.0):
                t = theta + sub_a * 2 * np.pi / 64
                r = j * 2.0 + sub_d
                row, col = int(np.rint(255.5 - r * np.sin(t))), int(np.rint(255.5 + r * np.cos(t)))
                values.append(frame[0, row, col] if r < 255.5 else 0)
        assert polar[0, k, j] == np.float32(np.mean(values))


def test_aline_angles_run_counter_clockwise_from_plus_x_as_displayed():
    frame = np.zeros((1, 512, 512), np.uint8)
    frame[0, 100:200, 255:257] = 255  # straight up from the centre (towards the top of the image)
    grid = polar_grid((512, 512), n_alines=256)
    profile = to_polar(frame, grid)[0].sum(axis=1)
    assert int(np.argmax(profile)) == 64  # 90 degrees


def test_samples_outside_the_field_of_view_read_zero():
    frame = np.full((1, 512, 512), 200, np.uint8)
    frame[0, :, :] = 255
    grid = polar_grid((512, 512), n_alines=32)
    assert (grid.index < 512 * 512).all()  # the sampled disc stays inside the image
    assert to_polar(frame, grid).min() == 255
