"""Score a pullback file end to end: chunks of frames -> polar -> features -> SVM -> labels.

Frames are streamed in chunks (memory bounded, whatever the length); the frame range is
split between worker processes (both cores), each returning only small per-A-line features.
"""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from scoring import dicom_io
from scoring.detector import features as fe
from scoring.detector.guidewire import guidewire_mask
from scoring.detector.model import DetectorModel
from scoring.detector.polar import polar_grid, to_polar
from scoring.detector.postprocess import PostProcessing, arc_deg, ics, postprocess

CHUNK_FRAMES = 32
PARALLEL_MIN_FRAMES = 256  # below this, a second process costs more than it saves


@dataclass
class PullbackScore:
    """Result of scoring one pullback."""

    ics: float
    labels: np.ndarray  # bool (frames, A-lines), A-line k at 2*pi*k/A CCW from +x as displayed
    calcium_alines_per_frame: np.ndarray
    arc_deg_per_frame: np.ndarray
    n_frames: int
    n_alines: int
    length_mm: float
    model_version: str
    seconds: float

    @property
    def calcium_alines(self) -> int:
        return int(self.labels.sum())


def base_features_from_chunks(chunks, *, n_alines: int, pixel_spacing_mm: float) -> np.ndarray:
    """Base features (frames, A, n) of a stream of uint8 frame chunks."""
    grid = None
    out = []
    for chunk in chunks:
        if grid is None:
            grid = polar_grid(chunk.shape[1:], n_alines=n_alines)
        polar = to_polar(chunk, grid)
        out.append(fe.base_features(polar, sample_spacing_mm=grid.sample_spacing_mm(pixel_spacing_mm)))
    return np.concatenate(out)


def _features_of_range(meta, start: int, stop: int, n_alines: int, pixel_spacing_mm: float) -> np.ndarray:
    chunks = dicom_io.iter_frame_chunks(meta, chunk_frames=CHUNK_FRAMES, start=start, stop=stop)
    return base_features_from_chunks(chunks, n_alines=n_alines, pixel_spacing_mm=pixel_spacing_mm)


def pullback_base_features(meta, *, n_alines: int, pixel_spacing_mm: float, workers: int = 2) -> np.ndarray:
    """Base features of a whole file, split over ``workers`` processes by frame range."""
    if workers <= 1 or meta.n_frames < PARALLEL_MIN_FRAMES:
        return _features_of_range(meta, 0, meta.n_frames, n_alines, pixel_spacing_mm)
    bounds = np.linspace(0, meta.n_frames, workers + 1).astype(int)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = [pool.submit(_features_of_range, meta, int(a), int(b), n_alines, pixel_spacing_mm)
                 for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return np.concatenate([p.result() for p in parts])


def labels_from_features(full: np.ndarray, model: DetectorModel, post: PostProcessing | None = None) -> np.ndarray:
    """Calcium labels (frames, A) from full features: SVM, guidewire mask and post-processing."""
    names = fe.feature_names()
    wire = guidewire_mask(full[..., names.index("narrowness")], full[..., names.index("dark_frac")])
    return postprocess(model.decision(full), wire, post or model.post)


def labels_from_base(base: np.ndarray, model: DetectorModel) -> np.ndarray:
    """Calcium labels (frames, A) from base features with context, SVM and post-processing."""
    return labels_from_features(fe.add_context(base), model)


def score_pullback(path, model: DetectorModel, *, workers: int = 2, assumed_pullback_rate_mm_s: float = 0.5,
                   default_pixel_spacing_mm: float = 0.02) -> PullbackScore:
    """Score a DICOM pullback file.

    Parameters
    ----------
    path : str or Path
        IVUS multi-frame DICOM file (validated by :func:`scoring.dicom_io.read_metadata`).
    model : DetectorModel
        From :func:`scoring.model_store.load_model`.
    workers : int
        Processes for decoding and features (the machine has 2 cores).
    assumed_pullback_rate_mm_s, default_pixel_spacing_mm : float
        Used when the file does not say (uncalibrated files).
    """
    started = time.perf_counter()
    meta = dicom_io.read_metadata(path)
    spacing = meta.pixel_spacing_mm or default_pixel_spacing_mm
    base = pullback_base_features(meta, n_alines=model.n_alines, pixel_spacing_mm=spacing, workers=workers)
    labels = labels_from_base(base, model)
    return PullbackScore(
        ics=ics(labels), labels=labels, calcium_alines_per_frame=labels.sum(axis=1),
        arc_deg_per_frame=arc_deg(labels), n_frames=meta.n_frames, n_alines=model.n_alines,
        length_mm=meta.length_mm(assumed_pullback_rate_mm_s=assumed_pullback_rate_mm_s),
        model_version=model.version, seconds=time.perf_counter() - started,
    )
