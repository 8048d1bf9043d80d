"""Synthetic 40 MHz IVUS pullbacks with per-A-line ground truth (pure numpy).

The phantom is simulated in the polar (A-line x depth) domain and scan-converted to
512 x 512 uint8 Cartesian frames, like a real console does:

* every A-line is a ray from the catheter; the tissue it crosses (blood, plaque, media,
  adventitia, peri-adventitia) gives a backscatter power per depth sample;
* amplitude attenuates along the ray (``exp(-integral of alpha)``): calcium and the metal
  guidewire attenuate so strongly that they throw an acoustic shadow;
* fully developed speckle: the received power is the mean power times an exponential
  (Rayleigh amplitude) variable, lightly correlated over depth and angle (pulse and beam
  width), plus electronic noise; then log compression to a fixed dynamic range;
* the catheter ring-down is a fixed pattern of bright rings near the transducer.

The anatomy is a plan drawn once from the seed (vessel radius, eccentricity and plaque
burden changing along the pullback; calcium, fibrous-plaque, lipid-rich (attenuated) plaque
and side-branch lesions; the guidewire path; catheter rotation), and every frame is rendered
from it with its own random stream ``default_rng([seed, frame])``, so the result does not depend
on the chunk size. Truth is computed from the same plan at any number of A-lines, at the angle
convention of :mod:`scoring.detector.geometry`.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from scoring.detector.geometry import CENTRE_PX, IMAGE_SIZE_PX, aline_angles_rad, pixel_to_polar, wrap_angle_rad

PRESETS = ("typical", "heavy", "none", "noisy", "shifted", "attenuated")
PIXEL_SPACING_MM = 0.02  # 512 px -> 10.24 mm field of view, typical for 40 MHz coronary IVUS
FRAME_RATE_HZ = 30.0
PULLBACK_RATE_MM_S = 0.5
CATHETER_RADIUS_MM = 0.45  # 2.7 F imaging catheter
GEN_ALINES = 512  # A-lines rendered per frame (the console's line density)
GEN_SAMPLES = IMAGE_SIZE_PX // 2  # one depth sample per pixel out to the edge of the field of view
CHUNK_FRAMES = 16
SPECKLE_MODELS = ("rayleigh", "k", "nakagami")


@dataclass(frozen=True)
class Look:
    """Echo levels (dB re. a reference calcium surface), speckle, PSF, wire and display of a pullback."""

    blood_db: float = -42.0
    plaque_db: float = -27.0
    fibrous_db: float = -11.0
    media_db: float = -38.0
    adventitia_db: float = -9.0
    periadventitia_db: float = -24.0
    calcium_db: float = 0.0
    noise_db: float = -50.0
    display_min_db: float = -52.0
    display_range_db: float = 58.0
    calcium_alpha_per_mm: float = 30.0
    fibrous_alpha_per_mm: float = 0.9
    # Attenuated (lipid-rich) plaque: echolucent, yet it attenuates - a shadow with no bright edge.
    lipid_db: float = -31.0
    lipid_alpha_per_mm: float = 9.0
    gain_jitter_db: float = 0.5  # sd of the pullback's overall gain
    gain_offset_db: float = 0.0
    gain_drift_db: float = 0.0  # slow gain changes along the pullback (+-)
    tgc_db_per_mm: float = 0.0  # time-gain compensation: extra gain with depth
    speckle: str = "rayleigh"  # rayleigh | k (K-distributed, shape nu) | nakagami (shape m)
    speckle_shape: float = 1.0
    psf_depth_samples: int = 2  # box PSF over depth (samples of 0.02 mm) ...
    psf_angle_lines: int = 2  # ... and over neighbouring A-lines
    guidewire_radius_mm: float = 0.09  # half-width of the wire's echo strip
    guidewire_db: float = 3.0
    guidewire_shadow_np_per_mm: float = 120.0  # log-power loss per mm behind the wire
    ringdown_mm: float = 0.3  # decay length of the ring-down beyond the sheath
    ringdown_db: float = -4.0


LOOKS = {
    "typical": Look(),
    "heavy": Look(),
    "none": Look(),
    "attenuated": Look(),
    # Low contrast and noisy: weaker calcium echo, partial shadow, high noise, gain drift.
    "noisy": Look(
        calcium_db=-5.0,
        fibrous_db=-12.0,
        noise_db=-39.0,
        display_range_db=50.0,
        display_min_db=-46.0,
        calcium_alpha_per_mm=14.0,
        gain_jitter_db=2.0,
        plaque_db=-24.0,
    ),
}

# Domain randomisation for training: every pullback draws its look from these ranges, so the
# detector cannot learn one generator's constants. ``display_min_db`` is relative to the noise.
# Calcium attenuates at least ~12 x more than fibrous plaque (14-40 vs 0.3-1.2 per mm): the
# shadow is what makes calcium calcium; overlapping ranges taught the SVM to call fibrous
# plaque with a mild shadow calcium (ICS 14-42 on calcium-free pullbacks).
TRAIN_RANGES = {
    "blood_db": (-48.0, -32.0),
    "plaque_db": (-31.0, -21.0),
    "fibrous_db": (-15.0, -6.0),
    "media_db": (-42.0, -33.0),
    "adventitia_db": (-13.0, -5.0),
    "periadventitia_db": (-29.0, -19.0),
    "calcium_db": (-6.0, 3.0),
    "noise_db": (-58.0, -38.0),
    "display_min_below_noise_db": (0.0, 8.0),
    "display_range_db": (46.0, 64.0),
    "calcium_alpha_per_mm": (14.0, 40.0),
    "fibrous_alpha_per_mm": (0.3, 1.2),
    "gain_offset_db": (-5.0, 5.0),
    "gain_drift_db": (0.0, 2.0),
    "tgc_db_per_mm": (-0.5, 1.5),
    "speckle_shape_k": (2.0, 20.0),
    "speckle_shape_nakagami": (0.6, 2.0),
    "psf_depth_samples": (1, 3),
    "psf_angle_lines": (1, 3),
    "guidewire_radius_mm": (0.06, 0.2),
    "guidewire_db": (-2.0, 6.0),
    "guidewire_shadow_np_per_mm": (40.0, 150.0),
    "ringdown_mm": (0.15, 0.4),
    "ringdown_db": (-10.0, 0.0),
    # lipid: as dark as plaque or darker, attenuating up to as much as the least attenuating calcium
    # (a shadow behind a few tenths of a millimetre of it) - and never a bright leading edge
    "lipid_db": (-36.0, -26.0),
    "lipid_alpha_per_mm": (4.0, 16.0),
}

# Held-out parameter ranges: values OUTSIDE the training ranges (heavier-tailed speckle, more
# blur, brighter blood, fibrous plaque nearly as bright as calcium and attenuating more, a weaker
# calcium shadow, wider wire, longer ring-down, stronger TGC and gain), still a fair image in which
# a reader sees calcium: calcium still attenuates at least eight times more than fibrous plaque.
# (An earlier version let fibrous plaque attenuate more than thin calcium: no reader, and no
# detector of "a bright border with a shadow behind it", can tell those apart.)
SHIFTED_RANGES = {
    "blood_db": (-31.0, -28.0),
    "plaque_db": (-33.0, -31.0),
    "fibrous_db": (-5.0, -4.0),
    "media_db": (-44.0, -42.0),
    "adventitia_db": (-5.0, -3.0),
    "periadventitia_db": (-19.0, -17.0),
    "calcium_db": (3.0, 5.0),
    "noise_db": (-60.0, -57.0),
    "display_min_below_noise_db": (8.0, 10.0),
    "display_range_db": (66.0, 70.0),
    "calcium_alpha_per_mm": (12.0, 13.5),
    "fibrous_alpha_per_mm": (1.25, 1.4),
    "gain_offset_db": (-8.0, -5.5),
    "gain_drift_db": (2.0, 3.0),
    "tgc_db_per_mm": (1.6, 2.2),
    "speckle_shape_k": (1.2, 1.6),
    "speckle_shape_nakagami": (0.45, 0.55),
    "psf_depth_samples": (4, 4),
    "psf_angle_lines": (4, 4),
    "guidewire_radius_mm": (0.21, 0.23),
    "guidewire_db": (6.0, 8.0),
    "guidewire_shadow_np_per_mm": (25.0, 35.0),
    "ringdown_mm": (0.42, 0.5),
    "ringdown_db": (0.0, 2.0),
}


def random_look(rng, ranges: dict = TRAIN_RANGES) -> Look:
    """A look drawn uniformly from ``ranges`` (integers for the PSF widths, a random speckle model)."""

    def u(key):
        low, high = ranges[key]
        return float(rng.uniform(low, high))

    def n(key):
        low, high = ranges[key]
        return int(rng.integers(low, high + 1))

    speckle = SPECKLE_MODELS[int(rng.integers(len(SPECKLE_MODELS)))]
    shape = {"rayleigh": 1.0, "k": u("speckle_shape_k"), "nakagami": u("speckle_shape_nakagami")}[speckle]
    noise_db = u("noise_db")
    levels = {
        key: u(key)
        for key in (
            "blood_db",
            "plaque_db",
            "fibrous_db",
            "media_db",
            "adventitia_db",
            "periadventitia_db",
            "calcium_db",
            "display_range_db",
            "calcium_alpha_per_mm",
            "fibrous_alpha_per_mm",
            "gain_offset_db",
            "gain_drift_db",
            "tgc_db_per_mm",
            "guidewire_radius_mm",
            "guidewire_db",
            "guidewire_shadow_np_per_mm",
            "ringdown_mm",
            "ringdown_db",
        )
    }
    display_min_db = noise_db - u("display_min_below_noise_db")
    psf_depth, psf_angle = n("psf_depth_samples"), n("psf_angle_lines")
    # drawn last, so the other parameters of a seed's look are what they were before lipid existed
    lipid = {key: u(key) for key in ("lipid_db", "lipid_alpha_per_mm") if key in ranges}
    return Look(
        **levels,
        **lipid,
        noise_db=noise_db,
        display_min_db=display_min_db,
        gain_jitter_db=0.0,
        speckle=speckle,
        speckle_shape=shape,
        psf_depth_samples=psf_depth,
        psf_angle_lines=psf_angle,
    )


# Lesions per 10 mm of pullback and the largest calcium arc (degrees) of each preset.
_LESION_RATES = {
    "typical": {"calcium": 1.2, "fibrous": 1.0, "branch": 0.6, "max_arc_deg": 200.0},
    "heavy": {"calcium": 2.5, "fibrous": 0.6, "branch": 0.5, "max_arc_deg": 360.0},
    "none": {"calcium": 0.0, "fibrous": 2.0, "branch": 0.6, "max_arc_deg": 0.0},
    "noisy": {"calcium": 1.2, "fibrous": 1.0, "branch": 0.6, "max_arc_deg": 200.0},
    "shifted": {"calcium": 1.5, "fibrous": 1.2, "branch": 0.6, "max_arc_deg": 300.0},
    # lipid-rich plaque beside calcium (the confounder: a shadow without a bright edge)
    "attenuated": {"calcium": 1.0, "fibrous": 0.6, "branch": 0.5, "max_arc_deg": 200.0, "lipid": 3.0},
}


@dataclass(frozen=True)
class PhantomSpec:
    """What to simulate: length, seed and preset (everything else is fixed physics)."""

    n_frames: int
    seed: int
    preset: str = "typical"
    frame_rate_hz: float = FRAME_RATE_HZ
    pullback_rate_mm_s: float = PULLBACK_RATE_MM_S
    pixel_spacing_mm: float = PIXEL_SPACING_MM
    randomise: bool = False  # draw the look from TRAIN_RANGES (domain randomisation for training)

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.n_frames < 1:
            raise ValueError("a phantom needs at least one frame")

    @property
    def frame_spacing_mm(self) -> float:
        return self.pullback_rate_mm_s / self.frame_rate_hz

    @property
    def length_mm(self) -> float:
        return self.n_frames * self.frame_spacing_mm


@dataclass(frozen=True)
class Lesion:
    """A calcium, fibrous or side-branch lesion along the pullback (vessel coordinates)."""

    start_mm: float
    length_mm: float
    centre_rad: float
    twist_rad: float  # rotation of the arc centre from start to end
    arc_max_rad: float
    arc_min_rad: float
    depth_frac: float = 0.0  # calcium: 0 superficial (at the lumen) ... 0.8 deep (near the media)
    thickness_mm: float = 0.0

    def arc_at(self, z_mm: np.ndarray):
        """Arc width (rad) and centre (rad) at pullback positions; width 0 outside the lesion."""
        u = (z_mm - self.start_mm) / self.length_mm
        inside = (u >= 0) & (u <= 1)
        profile = np.sqrt(np.sin(np.pi * np.clip(u, 0, 1)))
        width = np.where(inside, self.arc_min_rad + (self.arc_max_rad - self.arc_min_rad) * profile, 0.0)
        return width, self.centre_rad + self.twist_rad * np.clip(u, 0, 1)


@dataclass
class PullbackPlan:
    """Anatomy of one phantom pullback, per frame (arrays of length n_frames)."""

    spec: PhantomSpec
    look: Look
    rotation_rad: np.ndarray
    offset_x_mm: np.ndarray
    offset_y_mm: np.ndarray
    eem_radius_mm: np.ndarray
    plaque_min_mm: np.ndarray
    plaque_ecc_mm: np.ndarray
    plaque_dir_rad: np.ndarray
    guidewire_r_mm: np.ndarray
    guidewire_dir_rad: np.ndarray
    gain_db: np.ndarray
    calcium: list = field(default_factory=list)
    fibrous: list = field(default_factory=list)
    branches: list = field(default_factory=list)
    lipid: list = field(default_factory=list)


@dataclass
class PhantomTruth:
    """Per-A-line truth masks (frames x n_alines, bool) at the scoring angle convention.

    ``calcium``, ``guidewire`` and ``fibrous`` always; the morphology masks (``superficial``,
    ``deep``, ``spotty``, ``side_branch``, ``nodule``, ``attenuated``) when made by
    :func:`phantom_truth`, None when a caller builds a truth of its own (rule: :func:`phantom_truth`).
    """

    calcium: np.ndarray
    guidewire: np.ndarray
    fibrous: np.ndarray
    superficial: np.ndarray | None = None
    deep: np.ndarray | None = None
    spotty: np.ndarray | None = None
    side_branch: np.ndarray | None = None
    nodule: np.ndarray | None = None
    attenuated: np.ndarray | None = None

    @property
    def ics(self) -> float:
        """ICS of the truth: calcium A-lines / all A-lines x 1000."""
        return float(self.calcium.mean() * 1000.0)


MASK_NAMES = ("calcium", "guidewire", "fibrous", "superficial", "deep", "spotty", "side_branch", "nodule", "attenuated")
SUPERFICIAL_MM = 0.3  # leading edge of the calcium at most this far below the lumen: superficial
SPOTTY_MAX_ARC_DEG = 90.0  # spotty calcium: a lesion narrower than this ...
SPOTTY_LENGTH_MM = (1.0, 3.0)  # ... and this long


def truth_arrays(truth: PhantomTruth) -> dict:
    """Every mask of ``truth`` that is set, by name, ready for ``numpy.savez``."""
    return {name: getattr(truth, name) for name in MASK_NAMES if getattr(truth, name) is not None}


# --------------------------------------------------------------------------------------
# The plan


def _smooth_series(rng, z_mm: np.ndarray, *, knot_mm: float, low: float, high: float) -> np.ndarray:
    """A random curve in [low, high] that changes over ~knot_mm along the pullback."""
    n_knots = int(np.ceil(z_mm[-1] / knot_mm)) + 2
    knots = rng.uniform(low, high, n_knots)
    return np.interp(z_mm, np.arange(n_knots) * knot_mm, knots)


def _random_walk(rng, n: int, *, step_sd: float, start: float) -> np.ndarray:
    return start + np.cumsum(rng.normal(0.0, step_sd, n))


def _draw_lesions(rng, kind: str, spec: PhantomSpec, rates: dict) -> list:
    """Lesions of one kind, Poisson in number (at least one of calcium and of lipid where drawn)."""
    rate = rates[kind]
    if rate <= 0:
        return []
    length = spec.length_mm
    n = rng.poisson(rate * length / 10.0)
    if kind in ("calcium", "lipid"):
        n = max(n, 1)
    lesions = []
    for _ in range(n):
        lesions.append(_draw_lesion(rng, kind, length, rates["max_arc_deg"]))
    return lesions


def _draw_lesion(rng, kind: str, pullback_mm: float, max_arc_deg: float) -> Lesion:
    if kind == "calcium":
        arc_max = np.deg2rad(rng.uniform(30.0, max_arc_deg))
        arc_min, lesion_mm = np.deg2rad(20.0), rng.uniform(1.5, 8.0)
    elif kind in ("fibrous", "lipid"):
        arc_max = np.deg2rad(rng.uniform(40.0, 200.0))
        arc_min, lesion_mm = np.deg2rad(20.0), rng.uniform(1.5, 8.0)
    else:  # side branch: an opening in the wall
        arc_max = np.deg2rad(rng.uniform(40.0, 90.0))
        arc_min, lesion_mm = np.deg2rad(15.0), rng.uniform(0.8, 2.5)
    start = rng.uniform(-0.3 * lesion_mm, max(pullback_mm - 0.5 * lesion_mm, 0.0))
    deep = rng.random() < 0.4
    return Lesion(
        start_mm=start,
        length_mm=lesion_mm,
        centre_rad=rng.uniform(0, 2 * np.pi),
        twist_rad=rng.normal(0.0, 0.4),
        arc_max_rad=min(arc_max, 2 * np.pi),
        arc_min_rad=arc_min,
        depth_frac=rng.uniform(0.4, 0.8) if deep else rng.uniform(0.0, 0.1),
        thickness_mm=rng.uniform(0.1, 0.35),
    )


def plan_look(spec: PhantomSpec) -> Look:
    """The look of a pullback: the preset's, or drawn from the seed (randomised / shifted)."""
    rng = np.random.default_rng([spec.seed, 0x100C])
    if spec.preset == "shifted":
        return random_look(rng, SHIFTED_RANGES)
    if spec.randomise:
        return random_look(rng, TRAIN_RANGES)
    return LOOKS[spec.preset]


def _gain_db(rng, look: Look, z_mm: np.ndarray) -> np.ndarray:
    """Overall gain of every frame (dB): offset, a random per-pullback jitter and a slow drift."""
    gain = look.gain_offset_db + rng.normal(0.0, look.gain_jitter_db) + np.zeros(len(z_mm))
    if look.gain_drift_db > 0:
        gain += _smooth_series(rng, z_mm, knot_mm=4.0, low=-look.gain_drift_db, high=look.gain_drift_db)
    return gain


def phantom_plan(spec: PhantomSpec) -> PullbackPlan:
    """Draw the anatomy of a pullback from ``spec.seed`` (cheap: per-frame scalars only)."""
    rng = np.random.default_rng([spec.seed, 0x1705])
    look = plan_look(spec)
    wide = spec.randomise or spec.preset == "shifted"
    n = spec.n_frames
    z_mm = np.arange(n) * spec.frame_spacing_mm
    heavy = spec.preset == "heavy"
    # Catheter rotation: slow drift plus a little jitter from frame to frame (non-uniform rotation).
    rotation = _random_walk(rng, n, step_sd=0.004, start=rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.01, n)
    # Catheter position in the vessel (the image is centred on the catheter, not the vessel).
    offset_r = _smooth_series(rng, z_mm, knot_mm=3.0, low=0.05 if wide else 0.1, high=0.9 if wide else 0.7)
    offset_dir = _smooth_series(rng, z_mm, knot_mm=5.0, low=0.0, high=2 * np.pi)
    rates = _LESION_RATES[spec.preset]
    return PullbackPlan(
        spec=spec,
        look=look,
        rotation_rad=rotation,
        offset_x_mm=offset_r * np.cos(offset_dir),
        offset_y_mm=offset_r * np.sin(offset_dir),
        eem_radius_mm=_smooth_series(rng, z_mm, knot_mm=4.0, low=1.9, high=2.7),
        plaque_min_mm=_smooth_series(rng, z_mm, knot_mm=3.0, low=0.05, high=0.25),
        plaque_ecc_mm=_smooth_series(rng, z_mm, knot_mm=3.0, low=0.1, high=1.0 if heavy else 0.8),
        plaque_dir_rad=_smooth_series(rng, z_mm, knot_mm=6.0, low=0.0, high=2 * np.pi),
        # the wire's distance from the catheter: randomised looks also put it close (a wide shadow)
        guidewire_r_mm=_smooth_series(rng, z_mm, knot_mm=4.0, low=0.6 if wide else 0.75, high=1.05 if wide else 0.95),
        guidewire_dir_rad=_random_walk(rng, n, step_sd=0.006, start=rng.uniform(0, 2 * np.pi)),
        gain_db=_gain_db(rng, look, z_mm),
        calcium=_draw_lesions(rng, "calcium", spec, rates),
        fibrous=_draw_lesions(rng, "fibrous", spec, rates),
        branches=_draw_lesions(rng, "branch", spec, rates),
        # drawn last: the rest of a seed's anatomy is what it was before lipid existed
        lipid=_draw_lesions(rng, "lipid", spec, {"lipid": 0.0, **rates}),
    )


# --------------------------------------------------------------------------------------
# Geometry of every A-line (frames x A-lines), shared by truth and rendering


@dataclass
class _Rays:
    """Depths (mm) along each A-line where each layer starts; inf when absent."""

    lumen: np.ndarray
    media: np.ndarray
    eem: np.ndarray
    calcium: np.ndarray
    calcium_end: np.ndarray
    fibrous: np.ndarray  # bool
    branch: np.ndarray  # bool
    guidewire: np.ndarray  # depth of the wire surface, inf when the ray misses it
    calcium_truth: np.ndarray  # bool, the annotated arc (also under the guidewire shadow)
    calcium_lesion: np.ndarray  # int, index into plan.calcium of the first calcium on the ray (-1: none)
    lipid: np.ndarray  # bool: lipid-rich (attenuated) plaque


def _in_arc(angle: np.ndarray, lesion: Lesion, z_mm: np.ndarray) -> np.ndarray:
    width, centre = lesion.arc_at(z_mm)
    return np.abs(wrap_angle_rad(angle - centre[:, None])) <= width[:, None] / 2.0


def _rays(plan: PullbackPlan, frames: np.ndarray, n_alines: int) -> _Rays:
    """Intersect every A-line of ``frames`` with the vessel layers and lesions."""
    z_mm = frames * plan.spec.frame_spacing_mm
    phi = aline_angles_rad(n_alines)[None, :] - plan.rotation_rad[frames, None]  # vessel coords
    ox, oy = plan.offset_x_mm[frames, None], plan.offset_y_mm[frames, None]
    dx, dy = np.cos(phi), np.sin(phi)
    b = dx * ox + dy * oy
    r_eem = plan.eem_radius_mm[frames, None]
    eem = b + np.sqrt(np.maximum(b * b - (ox * ox + oy * oy) + r_eem * r_eem, 0.0))
    psi = np.arctan2(eem * dy - oy, eem * dx - ox)  # where the ray meets the vessel wall
    ecc = np.maximum(np.cos(psi - plan.plaque_dir_rad[frames, None]), 0.0) ** 2
    plaque = plan.plaque_min_mm[frames, None] + plan.plaque_ecc_mm[frames, None] * ecc
    media = eem - 0.15
    lumen = np.maximum(media - plaque, 1.15)
    calcium, calcium_end, truth, lesion_index = _calcium_layers(plan, psi, z_mm, lumen, media)
    fibrous = np.zeros_like(truth)
    for lesion in plan.fibrous:
        fibrous |= _in_arc(psi, lesion, z_mm)
    branch = np.zeros_like(truth)
    for lesion in plan.branches:
        branch |= _in_arc(psi, lesion, z_mm)
    truth &= ~branch
    calcium = np.where(branch, np.inf, calcium)
    lipid = np.zeros_like(truth)
    for lesion in plan.lipid:
        lipid |= _in_arc(psi, lesion, z_mm)
    lipid &= ~branch
    fibrous &= ~branch & ~lipid
    wire = _guidewire_depth(plan, frames, phi)
    return _Rays(lumen, media, eem, calcium, calcium_end, fibrous, branch, wire, truth, lesion_index, lipid)


def _calcium_layers(plan, psi, z_mm, lumen, media):
    """Depth of the first calcium surface on each ray (inf: none), its far side, truth and lesion index."""
    calcium = np.full(psi.shape, np.inf)
    calcium_end = np.full(psi.shape, np.inf)
    index = np.full(psi.shape, -1)
    for k, lesion in enumerate(plan.calcium):
        hit = _in_arc(psi, lesion, z_mm)
        top = lumen + lesion.depth_frac * np.maximum(media - lumen - 0.1, 0.0)
        nearer = hit & (top < calcium)
        calcium = np.where(nearer, top, calcium)
        calcium_end = np.where(nearer, top + lesion.thickness_mm, calcium_end)
        index = np.where(nearer, k, index)
    return calcium, calcium_end, np.isfinite(calcium), index


def _guidewire_depth(plan: PullbackPlan, frames: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Depth where each ray meets the 0.36 mm (0.014 in) guidewire (echo strip); inf if it misses."""
    radius_mm = plan.look.guidewire_radius_mm  # the echo comes from the near half of the wire: a narrow strip
    r_gw = plan.guidewire_r_mm[frames, None]
    rel = phi - plan.guidewire_dir_rad[frames, None]
    across = r_gw * np.sin(rel)
    along = r_gw * np.cos(rel)
    hit = (np.abs(across) < radius_mm) & (along > 0)
    return np.where(hit, along - np.sqrt(np.maximum(radius_mm**2 - across**2, 0.0)), np.inf)


def phantom_truth(plan: PullbackPlan, *, n_alines: int = 256) -> PhantomTruth:
    """Per-A-line truth masks (frames x n_alines) at the scoring angle convention.

    Parameters
    ----------
    plan : PullbackPlan
        From :func:`phantom_plan`.
    n_alines : int
        A-lines per frame; A-line ``k`` points at ``2*pi*k/n_alines`` (CCW from +x as displayed).

    Returns
    -------
    PhantomTruth
        ``calcium``: the annotated calcium arc (an annotator draws it through the guidewire
        shadow, so an A-line can be calcium and guidewire at once); ``guidewire``: rays that hit
        the wire; ``fibrous``: fibrous plaque arcs. Morphology of the first calcium lesion on
        each calcium A-line: ``superficial`` (its leading edge at most :data:`SUPERFICIAL_MM`
        below the lumen on that ray) or ``deep`` (the others; the two partition ``calcium``),
        ``spotty`` (a lesion narrower than :data:`SPOTTY_MAX_ARC_DEG` at its widest and
        :data:`SPOTTY_LENGTH_MM` long; overlaps the two others). ``side_branch``: rays through a
        branch opening. ``attenuated``: rays through lipid-rich plaque that meet no calcium (only
        the "attenuated" preset draws it). ``nodule``: empty, this family draws none.
    """
    frames = np.arange(plan.spec.n_frames)
    rays = _rays(plan, frames, n_alines)
    calcium = rays.calcium_truth
    superficial = calcium & (rays.calcium - rays.lumen <= SUPERFICIAL_MM)
    spotty_lesions = np.array([_is_spotty(lesion) for lesion in plan.calcium] + [False])
    none = np.zeros_like(calcium)
    return PhantomTruth(
        calcium=calcium,
        guidewire=np.isfinite(rays.guidewire),
        fibrous=rays.fibrous,
        superficial=superficial,
        deep=calcium & ~superficial,
        spotty=calcium & spotty_lesions[rays.calcium_lesion],
        side_branch=rays.branch,
        nodule=none,
        attenuated=rays.lipid & ~calcium,
    )


def _is_spotty(lesion: Lesion) -> bool:
    low, high = SPOTTY_LENGTH_MM
    return bool(lesion.arc_max_rad < np.deg2rad(SPOTTY_MAX_ARC_DEG) and low <= lesion.length_mm <= high)


# --------------------------------------------------------------------------------------
# Rendering


def _db_to_power(db):
    return np.float32(10.0 ** (np.asarray(db) / 10.0))


_SILENT_DB = -120.0  # inside the catheter: water, no echo


def _base_events(rays: _Rays, look: Look):
    """Layer starts (mm), echo level (dB) and attenuation (1/mm) along each ray (f, A, K)."""
    branch = rays.branch
    wall_end = np.where(branch, rays.eem + 1.2, rays.eem + 0.35)
    open_ = np.where(branch, wall_end, np.inf)  # a side branch replaces the wall by blood
    starts = np.stack(
        [
            np.zeros_like(rays.lumen),
            np.full_like(rays.lumen, CATHETER_RADIUS_MM),
            np.minimum(rays.lumen, open_),
            np.minimum(rays.media, open_),
            np.minimum(rays.eem, open_),
            wall_end,
        ],
        axis=-1,
    )
    plaque_db = np.where(rays.lipid, look.lipid_db, np.where(rays.fibrous, look.fibrous_db, look.plaque_db))
    ones = np.ones_like(rays.lumen)
    levels = np.stack(
        [
            ones * _SILENT_DB,
            ones * look.blood_db,
            plaque_db,
            ones * look.media_db,
            ones * look.adventitia_db,
            ones * look.periadventitia_db,
        ],
        axis=-1,
    )
    alphas = np.stack(
        [
            ones * 0.0,
            ones * 0.05,
            np.where(rays.lipid, look.lipid_alpha_per_mm, np.where(rays.fibrous, look.fibrous_alpha_per_mm, 0.3)),
            ones * 0.3,
            ones * 0.35,
            ones * 0.25,
        ],
        axis=-1,
    )
    return starts, levels, alphas


def _base_at(starts, values, depth_mm):
    """Value of the base layer in force at ``depth_mm`` (f, A)."""
    k = np.sum(starts <= depth_mm[..., None], axis=-1) - 1
    return np.take_along_axis(values, np.maximum(k, 0)[..., None], axis=-1)[..., 0]


def _events(rays: _Rays, look: Look):
    """All piecewise-constant changes (depth mm, dB, alpha) incl. the calcium override."""
    starts, levels, alphas = _base_events(rays, look)
    top, end = rays.calcium, rays.calcium_end
    has = np.isfinite(top)
    top = np.where(has, top, 1e3)
    end = np.where(has, end, 1e3)
    ca = [
        (top, look.calcium_db, look.calcium_alpha_per_mm),
        (np.minimum(top + 0.05, end), look.calcium_db - 12.0, look.calcium_alpha_per_mm),
        (end, _base_at(starts, levels, end), _base_at(starts, alphas, end)),
    ]
    # Base layer changes inside the calcium are suppressed (moved beyond the field of view).
    inside = (starts > top[..., None]) & (starts < end[..., None])
    starts = np.where(inside, 1e3, starts)
    ones = np.ones_like(top)
    starts = np.concatenate([starts] + [(d * ones)[..., None] for d, _, _ in ca], axis=-1)
    levels = np.concatenate([levels] + [(v * ones)[..., None] for _, v, _ in ca], axis=-1)
    alphas = np.concatenate([alphas] + [(a * ones)[..., None] for _, _, a in ca], axis=-1)
    order = np.argsort(starts, axis=-1, kind="stable")
    return tuple(np.take_along_axis(x, order, axis=-1) for x in (starts, levels, alphas))


def _piecewise(starts, values, n_samples: int, spacing_mm: float) -> np.ndarray:
    """Expand sorted piecewise-constant events to samples (f, A, S) by a difference array."""
    index = np.clip(np.ceil(starts / spacing_mm - 0.5), 0, n_samples).astype(np.int64)
    delta = np.diff(values, axis=-1, prepend=0.0).astype(np.float32)
    diff = np.zeros(starts.shape[:-1] + (n_samples + 1,), np.float32)
    rows = np.arange(diff.shape[0] * diff.shape[1])[:, None] * (n_samples + 1)
    np.add.at(diff.reshape(-1), (rows + index.reshape(len(rows), -1)).ravel(), delta.reshape(-1))
    return np.cumsum(diff[..., :n_samples], axis=-1, dtype=np.float32)


def _log_power(rays: _Rays, look: Look, spacing_mm: float) -> np.ndarray:
    """Natural log of the mean received power per sample (f, A, S), before speckle."""
    starts, levels, alphas = _events(rays, look)
    level_db = _piecewise(starts, levels, GEN_SAMPLES, spacing_mm)
    alpha = _piecewise(starts, alphas, GEN_SAMPLES, spacing_mm)
    optical_depth = np.cumsum(alpha, axis=-1, dtype=np.float32)
    optical_depth *= np.float32(2.0 * spacing_mm)
    level_db *= np.float32(np.log(10.0) / 10.0)
    level_db -= optical_depth
    _add_guidewire(level_db, rays, spacing_mm, look)
    return level_db


def _add_guidewire(log_power, rays: _Rays, spacing_mm: float, look: Look) -> None:
    """Bright wire echo and a total (metal) shadow behind it, only on the rays that hit it."""
    hit = np.nonzero(np.isfinite(rays.guidewire))
    if not len(hit[0]):
        return
    depth = (np.arange(GEN_SAMPLES) + 0.5) * spacing_mm
    top = rays.guidewire[hit][:, None]
    rows = log_power[hit]
    rows = np.where((depth >= top) & (depth < top + 0.05), np.float32(look.guidewire_db * np.log(10) / 10), rows)
    shadow = np.float32(look.guidewire_shadow_np_per_mm) * np.clip(depth - top - 0.05, 0, None).astype(np.float32)
    rows = rows - shadow
    log_power[hit] = rows


def _ringdown_power(depth_mm: np.ndarray, rng, look: Look) -> np.ndarray:
    """Fixed ring-down pattern near the transducer (A, S), same for every frame."""
    from_sheath = depth_mm - (CATHETER_RADIUS_MM - 0.05)
    ring_db = look.ringdown_db - 60.0 * np.where(from_sheath > 0, from_sheath / look.ringdown_mm, -from_sheath / 0.15)
    ring_db = ring_db + 6.0 * np.cos(2 * np.pi * depth_mm / 0.06)
    ring_db = np.where(np.abs(depth_mm - CATHETER_RADIUS_MM) < 0.02, 2.0, ring_db)  # the sheath
    per_line = rng.normal(0.0, 1.5, (GEN_ALINES, 1))
    return _db_to_power(ring_db[None, :] + per_line)


def _speckle(rng, shape, look: Look) -> np.ndarray:
    """Speckle power with unit mean, blurred by a box PSF over depth and A-lines.

    Rayleigh amplitude: exponential power. K-distributed: exponential times a gamma texture
    (shape nu; few scatterers per cell, heavy tails). Nakagami: gamma power of shape m.
    """
    if look.speckle == "nakagami":
        s = rng.standard_gamma(look.speckle_shape, shape, dtype=np.float32) / np.float32(look.speckle_shape)
    else:
        s = rng.standard_exponential(shape, dtype=np.float32)
        if look.speckle == "k":
            s *= rng.standard_gamma(look.speckle_shape, shape, dtype=np.float32) / np.float32(look.speckle_shape)
    s = _box(s, look.psf_depth_samples, axis=1)
    return _box(s, look.psf_angle_lines, axis=0)


def _box(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Mean of ``width`` consecutive values along ``axis`` (circular): a box PSF."""
    if width <= 1:
        return values
    out = values.copy()
    for shift in range(1, width):
        out += np.roll(values, shift, axis=axis)
    out *= np.float32(1.0 / width)
    return out


def render_polar(plan: PullbackPlan, frames: np.ndarray) -> np.ndarray:
    """Log-compressed polar frames, uint8 (f, GEN_ALINES, GEN_SAMPLES).

    Parameters
    ----------
    plan : PullbackPlan
        From :func:`phantom_plan`.
    frames : ndarray of int
        Frame indices to render.

    Notes
    -----
    Power per sample = backscatter x exp(-2 x cumulative attenuation) x speckle + noise,
    shown on a log scale over ``look.display_range_db``.
    """
    look = plan.look
    spacing_mm = plan.spec.pixel_spacing_mm
    depth_mm = (np.arange(GEN_SAMPLES) + 0.5) * spacing_mm
    power = np.exp(_log_power(_rays(plan, frames, GEN_ALINES), look, spacing_mm))
    power += _ringdown_power(depth_mm, np.random.default_rng([plan.spec.seed, 0xD0E]), look)[None]
    power += _db_to_power(look.noise_db)
    tgc_db = (look.tgc_db_per_mm * depth_mm).astype(np.float32)
    out = np.empty(power.shape, np.uint8)
    for i, frame in enumerate(frames):
        rng = np.random.default_rng([plan.spec.seed, int(frame)])
        out[i] = _compress(power[i] * _speckle(rng, power.shape[1:], look), look, plan.gain_db[frame] + tgc_db)
    return out


def _compress(power: np.ndarray, look: Look, gain_db) -> np.ndarray:
    db = np.float32(10.0) * np.log10(np.maximum(power, np.float32(1e-30))) + np.float32(gain_db)
    scaled = (db - np.float32(look.display_min_db)) * np.float32(255.0 / look.display_range_db)
    return np.clip(scaled, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# Scan conversion and burned-in annotations


@dataclass(frozen=True)
class _ScanTable:
    src0: np.ndarray  # per Cartesian pixel: flat polar index of the nearest A-line below (sentinel outside FOV)
    src1: np.ndarray  # ... and of the next A-line
    weight1: np.ndarray  # uint16 weight of src1, /256


_SCAN_TABLE: _ScanTable | None = None


def _scan_table() -> _ScanTable:
    """Cartesian pixel -> polar sample lookup (linear in angle, nearest in depth)."""
    global _SCAN_TABLE
    if _SCAN_TABLE is None:
        rows, cols = np.mgrid[0:IMAGE_SIZE_PX, 0:IMAGE_SIZE_PX]
        r_px, theta = pixel_to_polar(rows.ravel(), cols.ravel())
        inside = r_px < GEN_SAMPLES
        a = theta / (2 * np.pi) * GEN_ALINES
        a0 = np.floor(a).astype(np.int64) % GEN_ALINES
        s = np.minimum(r_px.astype(np.int64), GEN_SAMPLES - 1)
        sentinel = GEN_ALINES * GEN_SAMPLES  # a zero appended to every polar frame
        _SCAN_TABLE = _ScanTable(
            src0=np.where(inside, a0 * GEN_SAMPLES + s, sentinel).astype(np.int32),
            src1=np.where(inside, ((a0 + 1) % GEN_ALINES) * GEN_SAMPLES + s, sentinel).astype(np.int32),
            weight1=np.round((a - np.floor(a)) * 256).astype(np.uint16),
        )
    return _SCAN_TABLE


def scan_convert(polar: np.ndarray) -> np.ndarray:
    """Polar uint8 (f, GEN_ALINES, GEN_SAMPLES) -> Cartesian uint8 (f, 512, 512), 0 outside the FOV."""
    table = _scan_table()
    out = np.empty((len(polar), IMAGE_SIZE_PX * IMAGE_SIZE_PX), np.uint8)
    padded = np.zeros(GEN_ALINES * GEN_SAMPLES + 1, np.uint8)
    w0 = np.uint16(256) - table.weight1
    for i, frame in enumerate(polar):
        padded[:-1] = frame.ravel()
        v = np.take(padded, table.src0).astype(np.uint16) * w0
        v += np.take(padded, table.src1).astype(np.uint16) * table.weight1
        v += np.uint16(128)
        out[i] = v >> 8
    return out.reshape(len(polar), IMAGE_SIZE_PX, IMAGE_SIZE_PX)


def _burn_annotations(images: np.ndarray, frames: np.ndarray, spec: PhantomSpec) -> None:
    """Burn a scale bar, depth ticks and a frame counter into the corners (outside the FOV)."""
    one_mm_px = int(round(1.0 / spec.pixel_spacing_mm))
    images[:, 492:496, 440 : 440 + one_mm_px] = 255  # 1 mm scale bar, bottom right
    for tick in range(5):
        images[:, 8 + 10 * tick : 10 + 10 * tick, 8:20] = 230  # ruler ticks, top left
    bits = ((frames[:, None] >> np.arange(12)[None, :]) & 1).astype(np.uint8) * 200
    for b in range(12):  # frame counter as blocks, top right: changes every frame
        images[:, 8:16, 400 + 8 * b : 406 + 8 * b] = bits[:, b, None, None]


def render_frames(plan: PullbackPlan, start: int, stop: int) -> np.ndarray:
    """Cartesian uint8 frames ``start:stop`` (f, 512, 512) of the phantom."""
    frames = np.arange(start, stop)
    images = scan_convert(render_polar(plan, frames))
    _burn_annotations(images, frames, plan.spec)
    return images


def iter_frames(plan: PullbackPlan, *, chunk_frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
    """Yield the pullback in chunks of at most ``chunk_frames`` frames (memory bounded)."""
    for start in range(0, plan.spec.n_frames, chunk_frames):
        yield render_frames(plan, start, min(start + chunk_frames, plan.spec.n_frames))


def make_phantom(n_frames: int, *, seed: int, preset: str = "typical", randomise: bool = False) -> PullbackPlan:
    """Shortcut: the plan of a phantom; render with :func:`iter_frames`, truth with :func:`phantom_truth`."""
    return phantom_plan(PhantomSpec(n_frames=n_frames, seed=seed, preset=preset, randomise=randomise))


__all__ = [
    "CENTRE_PX",
    "PRESETS",
    "SHIFTED_RANGES",
    "TRAIN_RANGES",
    "Look",
    "PhantomSpec",
    "random_look",
    "MASK_NAMES",
    "PhantomTruth",
    "PullbackPlan",
    "iter_frames",
    "make_phantom",
    "phantom_plan",
    "phantom_truth",
    "render_frames",
    "render_polar",
    "scan_convert",
    "truth_arrays",
]
