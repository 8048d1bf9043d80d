"""Phantom family 2: synthetic 40 MHz IVUS from random point scatterers and a pulse (pure numpy).

An independent generator to validate the detector across (it is trained on family 1,
:mod:`~scoring.detector.phantoms.polar_speckle`). Only the interface is shared; the physics and
the anatomy are drawn differently:

* **Anatomy** is drawn in the cross-section plane (mm, vessel centred). Lumen and EEM contours
  are closed Fourier curves ``R(psi) = a0 + sum a_m cos(m psi) + b_m sin(m psi)`` whose
  coefficients drift along the pullback; the catheter (the image centre) sits off the vessel
  centre. Plaque components are 2D shapes in the (vessel angle, depth-into-the-wall) plane
  (rounded sectors anchored at the lumen or at the media), a calcified nodule is a lumpy disc
  that bulges into the lumen, a side branch removes the wall over an arc, the guidewire is a disc
  in the lumen. Every component is extruded along the pullback with an arc that grows and shrinks.
  Every depth sample of every beam gets a tissue label from this drawing.
* **Physics** per A-line, on a complex-baseband (analytic-signal) depth grid of 0.01 mm:
  a complex Gaussian reflectivity (random point scatterers) scaled per tissue; coherent
  specular reflectors at calcium surfaces, the guidewire and the catheter sheath; frequency
  dependent attenuation integrated along the ray (dB/mm/MHz per tissue; for a Gaussian spectrum
  and attenuation linear in frequency the echo keeps its width, its centre frequency drops and
  its amplitude falls by ``exp(-2 B f0 + 2 B^2 sigma_f^2)`` with ``B`` the integrated
  attenuation), so calcium and lipid shadows come out of the physics; reverberations between
  catheter and a calcium surface or the wire (echoes at n times the distance, decaying); a
  Gaussian 40 MHz pulse (fractional bandwidth 50-70 %) convolved along depth; a lateral beam
  (Gaussian, width growing away from the focus) convolved across neighbouring A-lines; catheter
  ring-down; electronic noise; envelope (analytic signal magnitude), TGC, gain, log compression to
  a dynamic range and a display map (linear in dB, gamma, sigmoid, vendor knee).
* **NURD**: the beam of displayed A-line ``theta`` actually points at
  ``phi(theta) = theta + rotation + sum_m a_m sin(m theta + c_m)`` (monotone), with the ``a_m``
  varying from frame to frame. Truth is computed at the displayed angle through the same map.

The plan is drawn once from the seed; frame ``i`` is rendered from
``numpy.random.default_rng([seed, FAMILY_TAG, i])`` alone, so chunking does not change pixels.

Truth rule (per A-line at the displayed angle convention of :mod:`scoring.detector.geometry`):
an A-line is **calcium** when its beam meets calcium anywhere in the field of view (5.12 mm), also
when it meets the guidewire first: an annotator draws the calcium arc through the wire's shadow,
and the detector's post-processing closes that gap. This is family 1's convention
(:func:`scoring.detector.phantoms.polar_speckle.phantom_truth`: its ``calcium`` ignores the wire),
so ICS means the same in both families. An A-line is **guidewire** when its beam meets the wire
before any calcium; it can then be guidewire and calcium at once, as in family 1, and
``guidewire_over_calcium`` holds exactly those A-lines (for who wants to leave them out). The
calcium kind masks (``superficial``, ``deep``, ``spotty``, ``nodule``) name the first calcium the
beam meets (behind the wire too), so they partition ``calcium``; ``reverberation`` marks calcium
A-lines not hidden by the wire whose first calcium reverberates with its second echo inside the
field of view. ``fibrous``, ``attenuated`` and ``side_branch`` are beams that cross that component
and are neither calcium nor guidewire.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from scoring.detector.geometry import IMAGE_SIZE_PX, aline_angles_rad, pixel_to_polar, wrap_angle_rad

FAMILY_TAG = 2
PRESETS = ("typical", "heavy", "none", "superficial", "spotty", "attenuated", "noisy", "fast", "dense")
PIXEL_SPACING_MM = 0.02
FRAME_RATE_HZ = 30.0
PULLBACK_RATE_MM_S = 0.5
CHUNK_FRAMES = 16
FOV_RADIUS_MM = IMAGE_SIZE_PX / 2 * PIXEL_SPACING_MM  # 5.12 mm
DEPTH_STEP_MM = 0.01  # complex baseband samples along each A-line
N_DEPTH = int(round(FOV_RADIUS_MM / DEPTH_STEP_MM))
DEPTHS_MM = (np.arange(N_DEPTH) + 0.5) * DEPTH_STEP_MM
CENTRE_FREQUENCY_MHZ = 40.0
SPEED_OF_SOUND_MM_US = 1.54
NP_PER_DB = 1.0 / 8.686
CATHETER_RADIUS_MM = 0.43  # 2.6 F sheath
MEDIA_MM = 0.15
ADVENTITIA_MM = 0.3
MIN_WALL_MM = 0.2
DISPLAY_MAPS = ("log_linear", "gamma", "sigmoid", "vendor_knee")
CALCIUM_KINDS = ("superficial", "deep", "spotty", "nodule")
MASK_NAMES = (
    "calcium",
    "guidewire",
    "fibrous",
    "superficial",
    "nodule",
    "spotty",
    "deep",
    "attenuated",
    "side_branch",
    "reverberation",
    "guidewire_over_calcium",
)

# Tissue labels of every depth sample.
CATHETER, BLOOD, PLAQUE, MEDIA, ADVENTITIA, FAT, FIBROUS, LIPID, CALCIUM, BRANCH, WIRE = range(11)
_LABEL_OF_KIND = {
    "superficial": CALCIUM,
    "deep": CALCIUM,
    "spotty": CALCIUM,
    "nodule": CALCIUM,
    "fibrous": FIBROUS,
    "attenuated": LIPID,
    "branch": BRANCH,
}
# Diffuse backscatter (dB re. a calcium surface) and attenuation (dB/mm/MHz, one way) per label;
# blood, calcium and wire come from the look.
_ECHO_DB = np.array([-200.0, 0.0, -31.0, -46.0, -20.0, -33.0, -17.0, -31.0, -4.0, 0.0, -10.0])
_ATTEN_DB_MM_MHZ = np.array([0.0, 0.004, 0.035, 0.05, 0.06, 0.05, 0.09, 0.45, 0.0, 0.004, 40.0])
# Slowly varying echo texture (sd of a smooth field, dB) per label: heterogeneous plaque and fat.
_TEXTURE_DB = np.array([0.0, 1.0, 3.0, 1.5, 4.5, 6.0, 2.5, 2.0, 3.0, 1.0, 0.0])


@dataclass(frozen=True)
class Look:
    """Acquisition and display of a pullback (what a console setting and a catheter change)."""

    n_alines: int = 256
    frame_rate_hz: float = FRAME_RATE_HZ
    display_map: str = "log_linear"
    display_gamma: float = 1.0
    gain_db: float = 0.0
    dynamic_range_db: float = 55.0
    tgc_db_per_mm: float = 1.5
    noise_db: float = -66.0
    blood_db: float = -52.0
    bright_blood: bool = False  # rouleaux: strong, lumpy blood speckle
    fractional_bandwidth: float = 0.6
    beam_waist_mm: float = 0.08  # lateral Gaussian sigma at the focus
    beam_focus_mm: float = 1.4
    nurd_rad: float = 0.04
    calcium_surface_db: float = 0.0
    calcium_atten_db_mm_mhz: float = 1.6
    reverb_coefficient: float = 0.25
    wire_diameter_mm: float = 0.36
    wire_surface_db: float = 2.0
    ringdown_db: float = -8.0


LOOKS = {
    "typical": Look(display_map="vendor_knee"),
    "heavy": Look(display_map="gamma", display_gamma=1.25, gain_db=1.0, wire_diameter_mm=0.42),
    "none": Look(display_map="sigmoid", blood_db=-45.0),
    "superficial": Look(),
    "spotty": Look(display_map="vendor_knee", beam_waist_mm=0.07),
    "attenuated": Look(display_map="gamma", display_gamma=0.85, gain_db=-1.0, wire_diameter_mm=0.22),
    "noisy": Look(
        display_map="gamma",
        display_gamma=0.8,
        noise_db=-47.0,
        dynamic_range_db=46.0,
        blood_db=-40.0,
        bright_blood=True,
        gain_db=2.0,
        nurd_rad=0.1,
        calcium_surface_db=-4.0,
    ),
    "fast": Look(frame_rate_hz=5.0, display_map="sigmoid"),
    "dense": Look(n_alines=512, display_map="vendor_knee", wire_diameter_mm=0.25),
}

# Domain randomisation (``randomise=True``): the look drawn from these ranges.
RANDOM_RANGES = {
    "display_gamma": (0.7, 1.5),
    "gain_db": (-5.0, 5.0),
    "dynamic_range_db": (44.0, 68.0),
    "tgc_db_per_mm": (0.5, 3.0),
    "noise_above_floor_db": (-14.0, 4.0),  # electronic noise at the far edge of the FOV vs. the display floor
    "blood_db": (-64.0, -36.0),
    "fractional_bandwidth": (0.5, 0.7),
    "beam_waist_mm": (0.05, 0.13),
    "beam_focus_mm": (0.9, 2.0),
    "nurd_rad": (0.0, 0.12),
    "calcium_surface_db": (-5.0, 3.0),
    "calcium_atten_db_mm_mhz": (1.3, 3.0),
    "reverb_coefficient": (0.15, 0.45),
    "wire_diameter_mm": (0.2, 0.45),
    "wire_surface_db": (-4.0, 4.0),
    "ringdown_db": (-14.0, -2.0),
}
RANDOM_FRAME_RATES_HZ = (5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0)
RANDOM_ALINES = (256, 512)

# Components per 10 mm of pullback and the minimum count, per preset.
_RATES = {
    "typical": {
        "superficial": (1.0, 1),
        "deep": (0.8, 0),
        "spotty": (0.8, 0),
        "nodule": (0.2, 0),
        "attenuated": (0.6, 0),
        "fibrous": (1.0, 1),
        "branch": (0.5, 0),
    },
    "heavy": {
        "superficial": (2.0, 1),
        "deep": (1.5, 1),
        "spotty": (1.0, 0),
        "nodule": (0.6, 1),
        "attenuated": (0.3, 0),
        "fibrous": (0.6, 0),
        "branch": (0.4, 0),
    },
    "none": {"attenuated": (1.5, 1), "fibrous": (1.5, 1), "branch": (1.0, 1)},
    "superficial": {"superficial": (2.5, 2), "fibrous": (0.5, 0), "branch": (0.3, 0)},
    "spotty": {"spotty": (4.0, 3), "deep": (0.5, 0), "fibrous": (0.8, 0), "branch": (0.3, 0)},
    "attenuated": {"attenuated": (2.5, 2), "superficial": (0.5, 1), "fibrous": (0.5, 0), "branch": (0.3, 0)},
}
for _name in ("noisy", "fast", "dense"):
    _RATES[_name] = _RATES["typical"]
# Drawing order: later components overwrite earlier ones where they overlap.
_DRAW_ORDER = ("fibrous", "attenuated", "deep", "spotty", "superficial", "nodule", "branch")


@dataclass(frozen=True)
class PhantomSpec:
    """What to simulate: length, seed, preset and the acquisition that sets the frame spacing."""

    n_frames: int
    seed: int
    preset: str = "typical"
    frame_rate_hz: float = FRAME_RATE_HZ
    pullback_rate_mm_s: float = PULLBACK_RATE_MM_S
    pixel_spacing_mm: float = PIXEL_SPACING_MM
    randomise: bool = False
    n_alines: int = 256  # A-lines rendered per frame

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
class Component:
    """A plaque component, nodule or side branch: a shape in (vessel angle, wall depth), extruded.

    ``anchor`` says where the shape sits in the wall: ``lumen`` (inner edge ``inner_mm`` below the
    lumen contour, outer edge rounded), ``media`` (outer edge at the media, inner edge rounded),
    ``centre`` (a rounded blob centred ``inner_mm + thickness_mm / 2`` deep), ``disc`` (a nodule:
    lumpy disc of radius ``thickness_mm`` bulging ``inner_mm`` into the lumen) or ``wall`` (the
    whole wall, a side branch).
    """

    kind: str
    start_mm: float
    length_mm: float
    centre_rad: float
    twist_rad: float
    arc_rad: float
    inner_mm: float
    thickness_mm: float
    anchor: str
    reverberant: bool = False
    lump_phase: float = 0.0

    def extent(self, z_mm: float) -> float:
        """Fraction (0..1] of the full size at pullback position ``z_mm``; 0 outside."""
        u = (z_mm - self.start_mm) / self.length_mm
        if u <= 0.0 or u >= 1.0:
            return 0.0
        return float((1.0 - (2.0 * u - 1.0) ** 4) ** 0.5)

    def centre_at(self, z_mm: float) -> float:
        return self.centre_rad + self.twist_rad * (z_mm - self.start_mm) / self.length_mm


@dataclass
class PullbackPlan:
    """Anatomy of one pullback, per frame (arrays with n_frames rows), drawn once from the seed."""

    spec: PhantomSpec
    look: Look
    lumen_coeffs: np.ndarray  # (n_frames, 7): a0, a1, b1, a2, b2, a3, b3 (mm)
    eem_coeffs: np.ndarray  # (n_frames, 7)
    catheter_xy_mm: np.ndarray  # (n_frames, 2), vessel coordinates
    rotation_rad: np.ndarray  # (n_frames,)
    nurd_amp_rad: np.ndarray  # (n_frames, 3)
    nurd_phase_rad: np.ndarray  # (n_frames, 3)
    wire_xy_mm: np.ndarray  # (n_frames, 2), vessel coordinates
    gain_db: np.ndarray  # (n_frames,)
    components: list = field(default_factory=list)


@dataclass
class PhantomTruth:
    """Per-A-line truth masks (frames x n_alines, bool) at the scoring angle convention."""

    calcium: np.ndarray
    guidewire: np.ndarray
    fibrous: np.ndarray
    superficial: np.ndarray
    nodule: np.ndarray
    spotty: np.ndarray
    deep: np.ndarray
    attenuated: np.ndarray
    side_branch: np.ndarray
    reverberation: np.ndarray
    guidewire_over_calcium: np.ndarray

    @property
    def ics(self) -> float:
        """ICS of the truth: calcium A-lines / all A-lines x 1000."""
        return float(self.calcium.mean() * 1000.0)


def truth_arrays(truth: PhantomTruth) -> dict:
    """Every mask of ``truth`` by name, ready for ``numpy.savez``."""
    return {name: getattr(truth, name) for name in MASK_NAMES}


# --------------------------------------------------------------------------------------
# The plan


def _smooth(rng, z_mm: np.ndarray, *, knot_mm: float, low: float, high: float) -> np.ndarray:
    """A curve in [low, high] with cubic-ish (cosine-interpolated) knots every ``knot_mm``."""
    n_knots = int(np.ceil(z_mm[-1] / knot_mm)) + 2
    knots = rng.uniform(low, high, n_knots)
    position = z_mm / knot_mm
    below = np.floor(position).astype(int)
    w = 0.5 - 0.5 * np.cos(np.pi * (position - below))
    return knots[below] * (1.0 - w) + knots[below + 1] * w


def plan_look(spec_seed: int, preset: str, randomise: bool) -> Look:
    """The preset's look, or one drawn from :data:`RANDOM_RANGES` (``randomise``)."""
    look = LOOKS[preset]
    if not randomise:
        return look
    rng = np.random.default_rng([spec_seed, FAMILY_TAG + 2000])
    drawn = {key: float(rng.uniform(low, high)) for key, (low, high) in RANDOM_RANGES.items()}
    above_floor = drawn.pop("noise_above_floor_db")
    far_gain_db = drawn["gain_db"] + drawn["tgc_db_per_mm"] * FOV_RADIUS_MM
    return replace(
        look,
        **drawn,
        noise_db=-drawn["dynamic_range_db"] - far_gain_db + above_floor,
        display_map=DISPLAY_MAPS[int(rng.integers(len(DISPLAY_MAPS)))],
        bright_blood=bool(drawn["blood_db"] > -44.0),
        n_alines=int(rng.choice(RANDOM_ALINES)),
        frame_rate_hz=float(rng.choice(RANDOM_FRAME_RATES_HZ)),
    )


def _fourier_series(rng, z_mm, *, mean_low, mean_high, harmonic_mm) -> np.ndarray:
    """Coefficients (n, 7) of a closed curve whose mean radius and shape drift along the pullback."""
    columns = [_smooth(rng, z_mm, knot_mm=3.5, low=mean_low, high=mean_high)]
    for m in (1, 2, 3):
        for _ in range(2):
            columns.append(_smooth(rng, z_mm, knot_mm=2.5, low=-harmonic_mm / m, high=harmonic_mm / m))
    return np.stack(columns, axis=1)


def _draw_component(rng, kind: str, *, length_mm: float, centre_rad: float, heavy: bool) -> Component:
    """One component of ``kind`` placed so that it overlaps a pullback of ``length_mm``."""
    reverberant = bool(rng.random() < 0.45)
    if kind == "superficial":
        arc = np.deg2rad(rng.uniform(50.0, 300.0 if heavy else 160.0))
        size = dict(inner_mm=rng.uniform(0.0, 0.08), thickness_mm=rng.uniform(0.3, 0.7), anchor="lumen")
        long_mm = rng.uniform(2.0, 8.0)
    elif kind == "deep":
        arc = np.deg2rad(rng.uniform(30.0, 120.0))
        size = dict(inner_mm=0.35, thickness_mm=rng.uniform(0.2, 0.45), anchor="media")
        long_mm = rng.uniform(2.0, 6.0)
    elif kind == "spotty":
        arc = np.deg2rad(rng.uniform(18.0, 45.0))
        size = dict(inner_mm=rng.uniform(0.05, 0.45), thickness_mm=rng.uniform(0.2, 0.4), anchor="centre")
        long_mm = rng.uniform(1.0, 3.0)
    elif kind == "nodule":
        arc = 0.0
        radius = rng.uniform(0.4, 0.65)
        size = dict(inner_mm=radius * rng.uniform(0.35, 0.6), thickness_mm=radius, anchor="disc")
        long_mm = rng.uniform(1.0, 2.5)
        reverberant = bool(rng.random() < 0.3)
    elif kind == "attenuated":
        arc = np.deg2rad(rng.uniform(50.0, 140.0))
        size = dict(inner_mm=rng.uniform(0.1, 0.22), thickness_mm=rng.uniform(0.45, 0.9), anchor="lumen")
        long_mm = rng.uniform(2.0, 6.0)
        reverberant = False
    elif kind == "fibrous":
        arc = np.deg2rad(rng.uniform(40.0, 160.0))
        size = dict(inner_mm=0.0, thickness_mm=rng.uniform(0.3, 0.7), anchor="lumen")
        long_mm = rng.uniform(2.0, 8.0)
        reverberant = False
    else:  # side branch
        arc = np.deg2rad(rng.uniform(45.0, 100.0))
        size = dict(inner_mm=0.0, thickness_mm=0.0, anchor="wall")
        long_mm = rng.uniform(0.8, 2.5)
        reverberant = False
    start = rng.uniform(-0.7 * long_mm, max(length_mm - 0.3 * long_mm, -0.3 * long_mm))
    return Component(
        kind=kind,
        start_mm=float(start),
        length_mm=float(long_mm),
        centre_rad=float(centre_rad),
        twist_rad=float(rng.normal(0.0, 0.3)),
        arc_rad=float(arc),
        reverberant=reverberant,
        lump_phase=float(rng.uniform(0, 2 * np.pi)),
        **size,
    )


def _draw_components(rng, spec: PhantomSpec) -> list:
    """All components, spread around the vessel (one angular slot each), in drawing order."""
    kinds = []
    for kind, (rate, minimum) in _RATES[spec.preset].items():
        kinds += [kind] * max(minimum, int(rng.poisson(rate * spec.length_mm / 10.0)))
    slots = (rng.permutation(len(kinds)) + rng.uniform(-0.2, 0.2, len(kinds))) * 2 * np.pi / max(len(kinds), 1)
    slots += rng.uniform(0, 2 * np.pi)
    components = [
        _draw_component(rng, kind, length_mm=spec.length_mm, centre_rad=slot, heavy=spec.preset == "heavy")
        for kind, slot in zip(kinds, slots, strict=True)
    ]
    return sorted(components, key=lambda c: _DRAW_ORDER.index(c.kind))


def phantom_plan(spec: PhantomSpec, look: Look) -> PullbackPlan:
    """Draw the anatomy of a pullback from ``spec.seed`` (per-frame scalars and a component list)."""
    rng = np.random.default_rng([spec.seed, FAMILY_TAG + 1000])
    n = spec.n_frames
    z_mm = np.arange(n) * spec.frame_spacing_mm
    heavy = spec.preset == "heavy"
    lumen = _fourier_series(rng, z_mm, mean_low=1.35, mean_high=2.0, harmonic_mm=0.14)
    plaque = _fourier_series(rng, z_mm, mean_low=0.45, mean_high=1.3 if heavy else 1.1, harmonic_mm=0.3)
    eem = lumen + plaque
    offset_r = _smooth(rng, z_mm, knot_mm=3.0, low=0.0, high=0.35) * lumen[:, 0]
    offset_dir = _smooth(rng, z_mm, knot_mm=5.0, low=0.0, high=4 * np.pi)
    catheter = np.stack([offset_r * np.cos(offset_dir), offset_r * np.sin(offset_dir)], axis=1)
    rotation = _smooth(rng, z_mm, knot_mm=6.0, low=0.0, high=2 * np.pi) + rng.uniform(0, 2 * np.pi)
    scale = look.nurd_rad / np.array([1.0, 2.0, 3.0])
    nurd_amp = np.stack([_smooth(rng, z_mm, knot_mm=0.4, low=-s, high=s) for s in scale], axis=1)
    nurd_amp = nurd_amp + rng.normal(0.0, 0.15, (n, 3)) * scale
    nurd_phase = np.stack([_smooth(rng, z_mm, knot_mm=0.5, low=0, high=4 * np.pi) for _ in range(3)], axis=1)
    wire_r = _smooth(rng, z_mm, knot_mm=4.0, low=0.62, high=1.0) + look.wire_diameter_mm / 2
    wire_dir = _smooth(rng, z_mm, knot_mm=6.0, low=0.0, high=2 * np.pi) + rng.uniform(0, 2 * np.pi)
    wire = catheter + np.stack([wire_r * np.cos(wire_dir), wire_r * np.sin(wire_dir)], axis=1)
    gain = look.gain_db + _smooth(rng, z_mm, knot_mm=5.0, low=-1.0, high=1.0)
    return PullbackPlan(
        spec=spec,
        look=look,
        lumen_coeffs=lumen,
        eem_coeffs=eem,
        catheter_xy_mm=catheter,
        rotation_rad=rotation,
        nurd_amp_rad=nurd_amp,
        nurd_phase_rad=nurd_phase,
        wire_xy_mm=wire,
        gain_db=gain,
        components=_draw_components(rng, spec),
    )


def make_phantom(n_frames: int, *, seed: int, preset: str = "typical", randomise: bool = False) -> PullbackPlan:
    """The plan of a family-2 phantom; render with :func:`iter_frames`, truth with :func:`phantom_truth`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    look = plan_look(seed, preset, randomise)
    spec = PhantomSpec(
        n_frames=n_frames,
        seed=seed,
        preset=preset,
        frame_rate_hz=look.frame_rate_hz,
        randomise=randomise,
        n_alines=look.n_alines,
    )
    return phantom_plan(spec, look)


# --------------------------------------------------------------------------------------
# Geometry: a tissue label for every depth sample of every beam


def beam_angles_rad(plan: PullbackPlan, frame: int, theta_rad: np.ndarray) -> np.ndarray:
    """Vessel-plane angle of the beam shown at display angle ``theta_rad`` (rotation + NURD)."""
    amp, phase = plan.nurd_amp_rad[frame], plan.nurd_phase_rad[frame]
    m = np.arange(1, 4)
    wobble = (amp[None, :] * np.sin(m[None, :] * theta_rad[:, None] + phase[None, :])).sum(axis=1)
    return theta_rad + plan.rotation_rad[frame] + wobble


def _contour(coeffs: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Radius of a Fourier contour at the angles of the unit complex numbers ``unit``."""
    radius = np.full(unit.shape, coeffs[0])
    power = unit
    for m in range(3):
        radius += coeffs[1 + 2 * m] * power.real + coeffs[2 + 2 * m] * power.imag
        power = power * unit
    return radius


@dataclass
class Section:
    """Tissue along every beam of one frame (n_beams x N_DEPTH)."""

    labels: np.ndarray  # uint8 tissue label
    component: np.ndarray  # int16 index into plan.components, -1 for none
    wall_depth_mm: np.ndarray  # depth below the nominal lumen contour (negative in the lumen)


def _rounded(s: np.ndarray) -> np.ndarray:
    """Height (0..1) of a rounded sector at normalised angle ``s`` (|s| <= 1)."""
    return np.sqrt(np.clip(1.0 - s**4, 0.0, None))


def _component_mask(comp: Component, grow: float, *, psi, rho, x, y, depth, wall, z_mm, lumen_radius_at):
    """Samples inside ``comp`` at ``grow`` of its full size."""
    centre = comp.centre_at(z_mm)
    if comp.anchor == "disc":
        radius = comp.thickness_mm * (0.5 + 0.5 * grow)
        ring = lumen_radius_at(centre) - comp.inner_mm * grow + radius
        dx, dy = x - ring * np.cos(centre), y - ring * np.sin(centre)
        beta = np.arctan2(dy, dx)
        lumpy = radius * (1.0 + 0.12 * np.cos(3 * beta + comp.lump_phase) + 0.07 * np.cos(5 * beta - comp.lump_phase))
        return dx * dx + dy * dy < lumpy * lumpy
    if _LABEL_OF_KIND[comp.kind] == CALCIUM:  # a rough calcium surface
        depth = depth - 0.025 * (np.sin(7 * psi + comp.lump_phase) + 0.6 * np.sin(17 * psi - comp.lump_phase))
    s = np.abs(wrap_angle_rad(psi - centre)) / (0.5 * comp.arc_rad * (0.35 + 0.65 * grow))
    inside = s < 1.0
    if comp.anchor == "wall":
        return inside & (depth > -0.02)
    height = comp.thickness_mm * (0.4 + 0.6 * grow) * _rounded(np.minimum(s, 1.0))
    if comp.anchor == "lumen":
        return inside & (depth >= comp.inner_mm) & (depth <= comp.inner_mm + height)
    if comp.anchor == "media":
        outer = np.maximum(wall - MEDIA_MM - 0.03, comp.inner_mm + comp.thickness_mm)
        return inside & (depth <= outer) & (depth >= np.maximum(outer - height, comp.inner_mm))
    middle = comp.inner_mm + 0.5 * comp.thickness_mm
    return inside & (np.abs(depth - middle) <= 0.5 * height)


def section(plan: PullbackPlan, frame: int, theta_rad: np.ndarray) -> Section:
    """Label every depth sample of the beams shown at ``theta_rad`` in ``frame``."""
    z_mm = frame * plan.spec.frame_spacing_mm
    phi = beam_angles_rad(plan, frame, theta_rad)
    cx, cy = plan.catheter_xy_mm[frame]
    x = cx + np.cos(phi)[:, None] * DEPTHS_MM[None, :]
    y = cy + np.sin(phi)[:, None] * DEPTHS_MM[None, :]
    rho = np.hypot(x, y)
    unit = (x + 1j * y) / np.maximum(rho, 1e-9)
    psi = np.angle(unit)
    lumen_c, eem_c = plan.lumen_coeffs[frame], plan.eem_coeffs[frame]
    r_lumen = _contour(lumen_c, unit)
    r_eem = np.maximum(_contour(eem_c, unit), r_lumen + MIN_WALL_MM)
    depth = rho - r_lumen
    wall = r_eem - r_lumen
    labels = np.full(rho.shape, BLOOD, np.uint8)
    labels[depth >= 0] = PLAQUE
    labels[rho >= r_eem - MEDIA_MM] = MEDIA
    labels[rho >= r_eem] = ADVENTITIA
    labels[rho >= r_eem + ADVENTITIA_MM] = FAT
    component = np.full(rho.shape, -1, np.int16)

    def lumen_radius_at(angle):
        return float(_contour(lumen_c, np.exp(1j * np.array([angle])))[0])

    for index, comp in enumerate(plan.components):
        grow = comp.extent(z_mm)
        if grow <= 0.0:
            continue
        inside = _component_mask(
            comp, grow, psi=psi, rho=rho, x=x, y=y, depth=depth, wall=wall, z_mm=z_mm, lumen_radius_at=lumen_radius_at
        )
        if comp.kind == "branch":
            inside &= rho < r_eem + 1.4  # the branch's far wall
        labels[inside] = _LABEL_OF_KIND[comp.kind]
        component[inside] = index
    wx, wy = plan.wire_xy_mm[frame]
    wire = (x - wx) ** 2 + (y - wy) ** 2 < (plan.look.wire_diameter_mm / 2) ** 2
    labels[wire] = WIRE
    component[wire] = -1
    catheter = DEPTHS_MM < CATHETER_RADIUS_MM
    labels[:, catheter] = CATHETER
    component[:, catheter] = -1
    return Section(labels=labels, component=component, wall_depth_mm=depth)


def _first_index(mask: np.ndarray) -> np.ndarray:
    """Index of the first True along depth; N_DEPTH where there is none."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), N_DEPTH)


@dataclass
class RayFacts:
    """What every beam of a frame meets (per beam): first depths (index, N_DEPTH: never) and flags."""

    first_calcium: np.ndarray
    first_wire: np.ndarray
    first_kind: np.ndarray  # component index of the first calcium, -1 for none
    lumen_exit: np.ndarray  # first sample at or beyond the nominal lumen contour
    crosses: dict  # label -> bool per beam


def ray_facts(sec: Section) -> RayFacts:
    """First calcium and wire sample, the nominal lumen crossing and the labels each beam crosses."""
    calcium = sec.labels == CALCIUM
    first_calcium = _first_index(calcium)
    rows = np.arange(len(first_calcium))
    first_kind = np.where(first_calcium < N_DEPTH, sec.component[rows, np.minimum(first_calcium, N_DEPTH - 1)], -1)
    beyond = (sec.wall_depth_mm >= 0) & (DEPTHS_MM[None, :] >= CATHETER_RADIUS_MM)
    crosses = {label: (sec.labels == label).any(axis=1) for label in (FIBROUS, LIPID, BRANCH)}
    return RayFacts(
        first_calcium=first_calcium,
        first_wire=_first_index(sec.labels == WIRE),
        first_kind=first_kind,
        lumen_exit=_first_index(beyond),
        crosses=crosses,
    )


def _truth_row(plan: PullbackPlan, facts: RayFacts) -> dict:
    has_calcium = facts.first_calcium < N_DEPTH
    has_wire = facts.first_wire < N_DEPTH
    guidewire = has_wire & (facts.first_wire < facts.first_calcium)
    calcium = has_calcium  # behind the wire too (module docstring)
    kinds = np.array([c.kind for c in plan.components] + [""])
    reverberant = np.array([c.reverberant for c in plan.components] + [False])
    first_kind = kinds[facts.first_kind]  # -1 -> ""
    echo_in_view = 2.0 * DEPTHS_MM[np.minimum(facts.first_calcium, N_DEPTH - 1)] < FOV_RADIUS_MM
    plain = ~calcium & ~guidewire
    row = {
        "calcium": calcium,
        "guidewire": guidewire,
        "fibrous": facts.crosses[FIBROUS] & plain,
        "attenuated": facts.crosses[LIPID] & plain,
        "side_branch": facts.crosses[BRANCH] & plain,
        "reverberation": calcium & ~guidewire & reverberant[facts.first_kind] & echo_in_view,
        "guidewire_over_calcium": calcium & guidewire,
    }
    for kind in CALCIUM_KINDS:
        row[kind] = calcium & (first_kind == kind)
    return row


def phantom_truth(plan: PullbackPlan, *, n_alines: int = 256) -> PhantomTruth:
    """Per-A-line truth masks (frames x n_alines) at the scoring angle convention (rule: module docstring).

    Parameters
    ----------
    plan : PullbackPlan
        From :func:`make_phantom`.
    n_alines : int
        A-lines per frame; A-line ``k`` is displayed at ``2*pi*k/n_alines`` (CCW from +x).

    Returns
    -------
    PhantomTruth
        The masks of :data:`MASK_NAMES`, computed from the same drawing (and NURD) as the pixels.
    """
    theta = aline_angles_rad(n_alines)
    masks = {name: np.zeros((plan.spec.n_frames, n_alines), bool) for name in MASK_NAMES}
    for frame in range(plan.spec.n_frames):
        for name, values in _truth_row(plan, ray_facts(section(plan, frame, theta))).items():
            masks[name][frame] = values
    return PhantomTruth(**masks)


# --------------------------------------------------------------------------------------
# Physics


def _db(values):
    return 10.0 ** (np.asarray(values) / 20.0)


def _sigma_f_mhz(look: Look) -> float:
    """Gaussian sd of the pulse-echo spectrum whose -6 dB width is the fractional bandwidth."""
    return look.fractional_bandwidth * CENTRE_FREQUENCY_MHZ / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def spectral_loss(b_np_per_mhz: np.ndarray, sigma_f_mhz: float) -> np.ndarray:
    """Echo amplitude after a round trip through integrated attenuation ``B`` (Np/MHz, one way).

    A Gaussian spectrum times ``exp(-2 B f)`` stays Gaussian, shifted down by ``2 B sigma_f^2``,
    with amplitude ``exp(-2 B f0 + 2 B^2 sigma_f^2)``. Beyond the point where the centre would fall
    below 0.3 f0 the loss continues linearly at that frequency (monotone, no spurious recovery).
    """
    f0 = CENTRE_FREQUENCY_MHZ
    b_max = 0.7 * f0 / (2.0 * sigma_f_mhz**2)
    b = np.minimum(b_np_per_mhz, b_max)
    log_gain = -2.0 * b * f0 + 2.0 * b * b * sigma_f_mhz**2 - 2.0 * np.maximum(b_np_per_mhz - b_max, 0.0) * 0.3 * f0
    return np.exp(log_gain)


def _pulse_transfer(look: Look) -> np.ndarray:
    """Baseband pulse spectrum over the depth frequencies (unit mean power: speckle keeps its level)."""
    nu = np.fft.fftfreq(N_DEPTH, d=DEPTH_STEP_MM)  # cycles/mm
    f_mhz = nu * SPEED_OF_SOUND_MM_US / 2.0
    h = np.exp(-(f_mhz**2) / (2.0 * _sigma_f_mhz(look) ** 2))
    return h / np.sqrt(np.mean(h**2))


def _beam_transfer(look: Look, n_alines: int) -> np.ndarray:
    """Lateral (across A-lines) transfer per depth, unit mean power (n_alines, N_DEPTH)."""
    rayleigh_mm = 2.5
    width_mm = look.beam_waist_mm * np.sqrt(1.0 + ((DEPTHS_MM - look.beam_focus_mm) / rayleigh_mm) ** 2)
    sigma_lines = np.minimum(width_mm / np.maximum(DEPTHS_MM, 0.05) / (2 * np.pi / n_alines), n_alines / 6)
    freq = np.fft.fftfreq(n_alines)[:, None]
    g = np.exp(-0.5 * (2 * np.pi * freq * sigma_lines[None, :]) ** 2)
    return g / np.sqrt(np.mean(g**2, axis=0, keepdims=True))


_TRANSFERS: dict = {}


def _transfers(look: Look, n_alines: int):
    key = (look.fractional_bandwidth, look.beam_waist_mm, look.beam_focus_mm, n_alines)
    if key not in _TRANSFERS:
        pulse = _pulse_transfer(look)
        beam = _beam_transfer(look, n_alines)
        _TRANSFERS[key] = (pulse, beam, float(pulse.mean()), beam[0])  # impulse peak, coherent gain per depth
    return _TRANSFERS[key]


def _texture(rng, shape, labels: np.ndarray, look: Look) -> np.ndarray:
    """Slowly varying echo level (dB) per sample: coarse noise upsampled, scaled per tissue."""
    coarse = rng.standard_normal((shape[0] // 8, shape[1] // 16))
    smooth = ndimage.zoom(coarse, (8, 16), order=1, mode="grid-wrap", grid_mode=True)
    texture_db = _TEXTURE_DB[labels]
    if look.bright_blood:
        texture_db = np.where((labels == BLOOD) | (labels == BRANCH), 6.0, texture_db)
    return smooth * texture_db


def _add_echo(field: np.ndarray, rows: np.ndarray, depth_mm: np.ndarray, amplitude: np.ndarray) -> None:
    """Add a coherent point echo (phase set by the two-way path) at ``depth_mm`` on ``rows``."""
    index = np.rint(depth_mm / DEPTH_STEP_MM - 0.5).astype(int)
    keep = (index >= 0) & (index < N_DEPTH)
    wavenumber = 2 * np.pi * CENTRE_FREQUENCY_MHZ / SPEED_OF_SOUND_MM_US
    phase = np.exp(-2j * wavenumber * depth_mm[keep])
    np.add.at(field, (rows[keep], index[keep]), amplitude[keep] * phase)


def _specular_and_reverb(field, rng, sec: Section, facts: RayFacts, loss: np.ndarray, plan: PullbackPlan, gain):
    """Coherent echoes of calcium surfaces and the wire, and their reverberations (not shadowed)."""
    look = plan.look
    rows = np.arange(len(facts.first_calcium))
    brightness_db = ndimage.gaussian_filter1d(rng.standard_normal(len(rows)), 2.0, mode="wrap") * 5.0
    reverberant = np.array([c.reverberant for c in plan.components] + [False])
    for first, level_db, reverb in (
        (facts.first_calcium, look.calcium_surface_db, reverberant[facts.first_kind]),
        (facts.first_wire, look.wire_surface_db, np.ones(len(rows), bool)),
    ):
        hit = first < N_DEPTH
        if not hit.any():
            continue
        r, idx = rows[hit], first[hit]
        depth = DEPTHS_MM[idx]
        front = loss[r, np.maximum(idx - 1, 0)]
        amplitude = _db(level_db + brightness_db[hit]) * front / gain[idx]
        _add_echo(field, r, depth, amplitude)
        for n in (2, 3, 4):
            echo = amplitude * front ** (n - 1) * look.reverb_coefficient ** (n - 1) * reverb[hit]
            _add_echo(field, r, n * depth, echo * gain[idx] / gain[np.minimum(idx * n, N_DEPTH - 1)])


def _ringdown(rng, n_alines: int, look: Look, gain: np.ndarray) -> np.ndarray:
    """Catheter ring-down and sheath: the same coherent rings on every A-line, slightly jittered."""
    profile = _db(look.ringdown_db) * np.exp(-DEPTHS_MM / 0.12) * (1.0 + 0.6 * np.cos(2 * np.pi * DEPTHS_MM / 0.05))
    sheath = _db(look.ringdown_db - 4.0) * np.exp(-0.5 * ((DEPTHS_MM - CATHETER_RADIUS_MM) / 0.012) ** 2)
    rings = (profile + sheath) * np.exp(1j * np.cumsum(np.full(N_DEPTH, 2.1))) / gain
    jitter = _db(rng.normal(0.0, 0.8, (n_alines, 1)))
    return rings[None, :] * jitter


def _display(db: np.ndarray, look: Look) -> np.ndarray:
    """Display value in [0, 1] of log-compressed echo (dB re. the top of the display)."""
    x = np.clip(1.0 + db / look.dynamic_range_db, 0.0, 1.0)
    if look.display_map == "gamma":
        return x**look.display_gamma
    if look.display_map == "sigmoid":
        low, high = 1 / (1 + np.exp(4.0)), 1 / (1 + np.exp(-4.0))
        return (1.0 / (1.0 + np.exp(-8.0 * (x - 0.5))) - low) / (high - low)
    if look.display_map == "vendor_knee":
        return np.interp(x, (0.0, 0.3, 0.72, 1.0), (0.0, 0.06, 0.72, 1.0))
    return x


def render_polar(plan: PullbackPlan, frame: int) -> np.ndarray:
    """Display values (float32 in [0, 1], n_alines x N_DEPTH) of one frame, A-lines at display angles."""
    look = plan.look
    n_alines = plan.spec.n_alines
    rng = np.random.default_rng([plan.spec.seed, FAMILY_TAG, frame])
    sec = section(plan, frame, aline_angles_rad(n_alines))
    facts = ray_facts(sec)
    pulse, beam, impulse_peak, coherent_gain = _transfers(look, n_alines)
    echo_db = _ECHO_DB[sec.labels]
    echo_db = np.where((sec.labels == BLOOD) | (sec.labels == BRANCH), look.blood_db, echo_db)
    echo_db += _texture(rng, sec.labels.shape, sec.labels, look)
    atten = _ATTEN_DB_MM_MHZ[sec.labels]
    atten = np.where(sec.labels == CALCIUM, look.calcium_atten_db_mm_mhz, atten)
    b = np.cumsum(atten, axis=1) * (DEPTH_STEP_MM * NP_PER_DB)
    loss = spectral_loss(b, _sigma_f_mhz(look))
    scatter = rng.standard_normal(sec.labels.shape + (2,), dtype=np.float32).view(np.complex64)[..., 0]
    field = (_db(echo_db) * loss * np.sqrt(0.5)).astype(np.complex64) * scatter
    gain = coherent_gain * impulse_peak  # a coherent point echo's peak after both filters
    _specular_and_reverb(field, rng, sec, facts, loss, plan, gain)
    field += _ringdown(rng, n_alines, look, gain)
    field = np.fft.ifft(np.fft.fft(field, axis=1) * pulse[None, :], axis=1)
    field = np.fft.ifft(np.fft.fft(field, axis=0) * beam, axis=0)
    noise = rng.standard_normal(field.shape + (2,), dtype=np.float32).view(np.complex64)[..., 0]
    field += noise * np.float32(_db(look.noise_db) * np.sqrt(0.5))
    db = 20.0 * np.log10(np.abs(field) + 1e-12) + plan.gain_db[frame] + look.tgc_db_per_mm * DEPTHS_MM[None, :]
    return _display(db, look).astype(np.float32)


# --------------------------------------------------------------------------------------
# Scan conversion and frames


@dataclass(frozen=True)
class _Bilinear:
    index: tuple  # four flat indices into the (n_alines, N_DEPTH) polar frame, per FOV pixel
    weight: tuple  # their weights
    inside: np.ndarray  # flat indices of the FOV pixels


_BILINEAR: dict = {}


def _bilinear(n_alines: int) -> _Bilinear:
    """Pixel -> polar table: bilinear in angle (wrapping) and depth."""
    if n_alines not in _BILINEAR:
        rows, cols = np.mgrid[0:IMAGE_SIZE_PX, 0:IMAGE_SIZE_PX]
        r_px, theta = pixel_to_polar(rows.ravel().astype(float), cols.ravel().astype(float))
        inside = np.flatnonzero(r_px < IMAGE_SIZE_PX / 2)
        a = theta[inside] / (2 * np.pi) * n_alines
        d = np.clip(r_px[inside] * PIXEL_SPACING_MM / DEPTH_STEP_MM - 0.5, 0.0, N_DEPTH - 1.0)
        a0 = np.floor(a).astype(np.int64)
        d0 = np.minimum(np.floor(d).astype(np.int64), N_DEPTH - 2)
        wa, wd = (a - a0).astype(np.float32), (d - d0).astype(np.float32)
        a0 %= n_alines
        a1 = (a0 + 1) % n_alines
        index = (a0 * N_DEPTH + d0, a0 * N_DEPTH + d0 + 1, a1 * N_DEPTH + d0, a1 * N_DEPTH + d0 + 1)
        weight = ((1 - wa) * (1 - wd), (1 - wa) * wd, wa * (1 - wd), wa * wd)
        _BILINEAR[n_alines] = _Bilinear(index=index, weight=weight, inside=inside)
    return _BILINEAR[n_alines]


def scan_convert(polar: np.ndarray) -> np.ndarray:
    """Polar display values (n_alines, N_DEPTH) in [0, 1] -> Cartesian uint8 (512, 512), 0 outside the FOV."""
    table = _bilinear(polar.shape[0])
    flat = polar.ravel()
    value = sum(np.take(flat, i) * w for i, w in zip(table.index, table.weight, strict=True))
    image = np.zeros(IMAGE_SIZE_PX * IMAGE_SIZE_PX, np.uint8)
    image[table.inside] = np.rint(np.clip(value, 0.0, 1.0) * 255.0).astype(np.uint8)
    return image.reshape(IMAGE_SIZE_PX, IMAGE_SIZE_PX)


def _burn_annotations(image: np.ndarray, frame: int, spec: PhantomSpec) -> None:
    """A depth scale (dots every 0.5 mm, bottom left) and a frame-time bar (top right), outside the FOV."""
    step_px = int(round(0.5 / spec.pixel_spacing_mm))
    for k in range(5):
        image[498:502, 12 + k * step_px : 16 + k * step_px] = 210
    image[10:14, 500 - (frame % 64) : 500] = 180


def render_frames(plan: PullbackPlan, start: int, stop: int) -> np.ndarray:
    """Cartesian uint8 frames ``start:stop`` (f, 512, 512)."""
    out = np.empty((stop - start, IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.uint8)
    for i, frame in enumerate(range(start, stop)):
        out[i] = scan_convert(render_polar(plan, frame))
        _burn_annotations(out[i], frame, plan.spec)
    return out


def iter_frames(plan: PullbackPlan, *, chunk_frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
    """Yield the pullback in chunks of at most ``chunk_frames`` frames (memory bounded)."""
    for start in range(0, plan.spec.n_frames, chunk_frames):
        yield render_frames(plan, start, min(start + chunk_frames, plan.spec.n_frames))


__all__ = [
    "FAMILY_TAG",
    "MASK_NAMES",
    "PRESETS",
    "Look",
    "PhantomSpec",
    "PhantomTruth",
    "PullbackPlan",
    "beam_angles_rad",
    "iter_frames",
    "make_phantom",
    "phantom_plan",
    "phantom_truth",
    "ray_facts",
    "render_frames",
    "render_polar",
    "scan_convert",
    "section",
    "truth_arrays",
]
