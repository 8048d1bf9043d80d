"""Phantom family 2 (RF point scatterers): truth matches the drawing, determinism, presets, the command."""

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from scoring.detector.geometry import aline_angles_rad
from scoring.detector.phantoms import FAMILIES, family, polar_speckle
from scoring.detector.phantoms import rf_scatter as rf
from scoring.dicom import files

N_ALINES = 256
MM = 1.0 / rf.DEPTH_STEP_MM  # depth samples per mm


def _frame_data(plan, frame):
    """Rendered polar display values, ray facts and truth row of one frame at the plan's A-lines."""
    theta = aline_angles_rad(plan.spec.n_alines)
    facts = rf.ray_facts(rf.section(plan, frame, theta))
    return rf.render_polar(plan, frame), facts, rf._truth_row(plan, facts)


@pytest.fixture(scope="module")
def truths():
    """Truth of 16 frames of every preset (seed 4)."""
    return {preset: rf.phantom_truth(rf.make_phantom(16, seed=4, preset=preset)) for preset in rf.PRESETS}


def test_superficial_calcium_has_its_bright_leading_edge_at_the_lumen_and_nothing_bright_in_front():
    plan = rf.make_phantom(12, seed=2, preset="superficial")
    checked = 0
    for frame in (0, 6, 11):
        polar, facts, row = _frame_data(plan, frame)
        lines = np.flatnonzero(row["superficial"] & ~row["guidewire"])  # the wire hides what is behind it
        assert len(lines) > 10
        gap_mm = (facts.first_calcium[lines] - facts.lumen_exit[lines]) / MM
        assert gap_mm.max() <= 0.3 and gap_mm.min() >= -0.05  # a rough surface may graze the lumen
        for k in lines:
            exit_ = facts.lumen_exit[k]
            window = polar[k, exit_ - 10 : exit_ + int(0.3 * MM) + 3]
            peak = exit_ - 10 + int(window.argmax())
            in_front = polar[k, int((rf.CATHETER_RADIUS_MM + 0.25) * MM) : exit_ - 10]
            checked += (window.max() > 0.8) and (-10 <= peak - exit_ <= 0.3 * MM + 3) and in_front.max() < 0.6
        assert checked > 0
    visible = [_frame_data(plan, f)[2] for f in (0, 6, 11)]
    assert checked >= 0.9 * sum(int((row["superficial"] & ~row["guidewire"]).sum()) for row in visible)


def test_attenuated_plaque_shadows_without_a_bright_surface():
    plan = rf.make_phantom(12, seed=2, preset="attenuated")
    polar, facts, row = _frame_data(plan, 8)
    sec = rf.section(plan, 8, aline_angles_rad(plan.spec.n_alines))
    att = row["attenuated"]
    plain = ~(row["calcium"] | row["guidewire"] | att | row["side_branch"] | row["fibrous"])
    assert att.sum() > 10 and plain.sum() > 10
    lipid = sec.labels == rf.LIPID
    lipid_end = N = rf.N_DEPTH
    lipid_end = np.where(lipid.any(axis=1), N - 1 - lipid[:, ::-1].argmax(axis=1), -1)
    behind = int(lipid_end[att].max()) + 10
    window = slice(behind, min(behind + int(0.6 * MM), N))
    assert polar[att, window].mean() < 0.6 * polar[plain, window].mean()
    # no specular surface: the brightest point from the lumen to the end of the lipid pool stays dim
    peaks = [polar[k, facts.lumen_exit[k] : lipid_end[k] + 1].max() for k in np.flatnonzero(att)]
    assert np.percentile(peaks, 90) < 0.75


def test_calcium_surfaces_are_brighter_than_attenuated_plaque_and_cast_a_shadow(truths):
    plan = rf.make_phantom(12, seed=2, preset="typical")
    polar, facts, row = _frame_data(plan, 4)
    calcium = row["calcium"] & ~row["guidewire"]  # the calcium the beam reaches
    plain = ~(row["calcium"] | row["guidewire"] | row["attenuated"] | row["side_branch"])
    assert calcium.sum() > 10
    peaks = np.array(
        [polar[k, facts.first_calcium[k] - 3 : facts.first_calcium[k] + 8].max() for k in np.flatnonzero(calcium)]
    )
    assert np.median(peaks) > 0.85
    far = slice(int(4.0 * MM), int(5.0 * MM))
    assert polar[calcium, far].mean() < 0.4 * polar[plain, far].mean()


def test_spotty_calcium_is_short_and_narrow():
    plan = rf.make_phantom(200, seed=1, preset="spotty")
    spotty = [c for c in plan.components if c.kind == "spotty"]
    assert len(spotty) >= 3 and all(1.0 <= c.length_mm <= 3.0 for c in spotty)
    truth = rf.phantom_truth(plan)
    assert truth.spotty.any() and (truth.spotty == truth.calcium).all()
    for frame_mask in truth.spotty:  # every contiguous run of spotty A-lines (wrapping) < 90 degrees
        if frame_mask.all():
            raise AssertionError("a spotty arc covers the whole frame")
        rolled = np.roll(frame_mask, -int(np.flatnonzero(~frame_mask)[0]))
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], rolled.astype(int), [0]]))))[::2]
        assert runs.size == 0 or runs.max() < N_ALINES / 4
    z_mm = np.arange(plan.spec.n_frames) * plan.spec.frame_spacing_mm
    inside_any = np.zeros(plan.spec.n_frames, bool)
    for c in spotty:
        inside_any |= (z_mm > c.start_mm) & (z_mm < c.start_mm + c.length_mm)
    assert not truth.spotty[~inside_any].any()


def test_nodule_protrudes_into_the_nominal_lumen():
    plan = rf.make_phantom(16, seed=4, preset="heavy")
    nodules = [c for c in plan.components if c.kind == "nodule"]
    assert nodules
    protrusion = []
    for frame in range(0, 16, 5):
        facts = rf.ray_facts(rf.section(plan, frame, aline_angles_rad(N_ALINES)))
        row = rf._truth_row(plan, facts)
        lines = row["nodule"]
        protrusion += list((facts.lumen_exit[lines] - facts.first_calcium[lines]) / MM)
    assert len(protrusion) > 5 and max(protrusion) > 0.1


def test_reverberations_repeat_the_calcium_echo_inside_the_shadow():
    plan = rf.make_phantom(12, seed=2, preset="typical")
    for frame in range(12):
        polar, facts, row = _frame_data(plan, frame)
        lines = np.flatnonzero(row["reverberation"])
        if len(lines) > 10:
            break
    assert len(lines) > 10, "seed 2 typical draws reverberant calcium within its first 12 frames"
    echo = [polar[k, max(2 * facts.first_calcium[k] - 4, 0) : 2 * facts.first_calcium[k] + 5].max() for k in lines]
    between = [polar[k, int(1.4 * facts.first_calcium[k]) : int(1.7 * facts.first_calcium[k])].mean() for k in lines]
    assert np.median(echo) > 0.5 and np.median(between) < 0.2


def test_truth_masks_are_disjoint_where_they_must_be(truths):
    for preset, truth in truths.items():
        calcium = truth.calcium
        for other in ("attenuated", "fibrous", "side_branch"):
            assert not (calcium & getattr(truth, other)).any(), (preset, other)
        # an A-line may be guidewire and calcium (drawn through the shadow): exactly guidewire_over_calcium
        assert np.array_equal(calcium & truth.guidewire, truth.guidewire_over_calcium), preset
        kinds = truth.superficial | truth.deep | truth.spotty | truth.nodule
        assert (kinds == calcium).all(), preset
        assert not (truth.reverberation & ~calcium).any()
        assert not (truth.reverberation & truth.guidewire).any()
        assert truth.ics == pytest.approx(calcium.mean() * 1000)
    assert truths["heavy"].ics > truths["typical"].ics > 0


def test_calcium_counts_the_alines_behind_the_guidewire_as_family_1_does(truths):
    """Seed 4 typical, 16 frames: the wire lies over the calcium on every frame, 206 of the 810 calcium
    A-lines; the ICS counts them (197.75, not 147.46 = 604 / 4096 x 1000 as before)."""
    truth = truths["typical"]
    behind = truth.guidewire_over_calcium
    assert int(behind.sum()) == 206 and int(truth.calcium.sum()) == 810
    assert truth.calcium[behind].all() and truth.guidewire[behind].all()
    assert truth.ics == pytest.approx(810 / 4096 * 1000)
    kinds = truth.superficial | truth.deep | truth.spotty | truth.nodule
    assert kinds[behind].all()  # the first calcium behind the wire keeps its kind


def test_calcium_free_preset_shows_every_mimic(truths):
    truth = truths["none"]
    assert truth.calcium.sum() == 0 and truth.guidewire_over_calcium.sum() == 0
    for name in ("attenuated", "fibrous", "side_branch", "guidewire"):
        assert getattr(truth, name).any(), name


def test_frames_do_not_depend_on_the_chunk_size():
    whole = rf.render_frames(rf.make_phantom(10, seed=7, preset="noisy"), 0, 10)
    chunked = np.concatenate(list(rf.iter_frames(rf.make_phantom(10, seed=7, preset="noisy"), chunk_frames=3)))
    assert whole.shape == (10, 512, 512) and whole.dtype == np.uint8
    assert np.array_equal(whole, chunked)


def test_same_seed_same_pixels_other_seed_other_pixels():
    a = rf.render_frames(rf.make_phantom(4, seed=1), 0, 2)
    b = rf.render_frames(rf.make_phantom(4, seed=1), 0, 2)
    c = rf.render_frames(rf.make_phantom(4, seed=2), 0, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_dense_renders_512_alines_and_fast_has_a_tenth_of_a_millimetre_between_frames():
    dense = rf.make_phantom(2, seed=0, preset="dense")
    assert dense.spec.n_alines == 512 and rf.render_polar(dense, 0).shape == (512, rf.N_DEPTH)
    fast = rf.make_phantom(2, seed=0, preset="fast")
    assert fast.spec.frame_rate_hz == 5.0 and fast.spec.frame_spacing_mm == pytest.approx(0.1)


def test_randomised_looks_vary_and_stay_in_range():
    looks = [rf.make_phantom(2, seed=s, randomise=True).look for s in range(12)]
    assert len({look.display_map for look in looks}) > 1 and len({look.frame_rate_hz for look in looks}) > 1
    for look in looks:
        assert 5.0 <= look.frame_rate_hz <= 30.0 and look.n_alines in (256, 512)
        assert 0.2 <= look.wire_diameter_mm <= 0.45 and 0.5 <= look.fractional_bandwidth <= 0.7
    plan = rf.make_phantom(3, seed=5, randomise=True)
    assert rf.render_frames(plan, 0, 1).shape == (1, 512, 512)


def test_family_registry():
    assert FAMILIES == {1: polar_speckle, 2: rf} and family(2) is rf
    with pytest.raises(ValueError, match="unknown phantom family 3"):
        family(3)


def test_make_phantom_command_family_2_writes_a_readable_dicom_and_every_mask(tmp_path):
    out = tmp_path / "f2.dcm"
    call_command("make_phantom", str(out), "--family", "2", "--frames", "8", "--seed", "1", "--preset", "fast")
    meta = files.read_metadata(out)
    assert (meta.n_frames, meta.rows, meta.columns) == (8, 512, 512)
    assert meta.frame_rate_hz == pytest.approx(5.0)
    truth = np.load(out.with_suffix(".truth.npz"))
    for name in rf.MASK_NAMES:
        assert truth[name].shape == (8, 256) and truth[name].dtype == bool, name
    assert int(truth["family"]) == 2 and int(truth["alines"]) == 256
    assert float(truth["ics"]) == pytest.approx(truth["calcium"].mean() * 1000)


def test_make_phantom_command_refuses_a_preset_of_another_family(tmp_path):
    with pytest.raises(CommandError, match="family 2.*typical"):
        call_command("make_phantom", str(tmp_path / "x.dcm"), "--family", "2", "--frames", "4", "--preset", "shifted")
