"""Score a pullback file end to end: chunks of frames -> polar -> features -> SVM -> labels.

Frames are streamed in chunks (memory bounded, whatever the length); the frame range is cut
into sub-ranges of ``TASK_FRAMES`` shared by the worker processes (both cores), each returning
only small float32 per-A-line features written in place into one preallocated array. Each
sub-range opens and closes its own reader, so a worker never keeps more than one sub-range of
a memory-mapped file resident. Context features and SVM decisions are then computed block
of frames by block in two threads (numpy releases the GIL): the full feature array of the
pullback never exists at once.
"""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from scoring.detector import features as fe
from scoring.detector.guidewire import guidewire_of
from scoring.detector.model import DetectorModel
from scoring.detector.polar import PolarGrid, polar_grid, to_polar
from scoring.detector.postprocess import PostProcessing, arc_deg, ics, postprocess
from scoring.dicom import files

CHUNK_FRAMES = 32
PARALLEL_MIN_FRAMES = 256  # below this, a second process costs more than it saves
TASK_FRAMES = 256  # frames per worker task (one reader each: bounded resident pages)
DECISION_BLOCK_FRAMES = 128  # frames per block of context features + SVM decisions


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


_GRIDS: dict[tuple, PolarGrid] = {}


def _grid(image_shape: tuple, n_alines: int) -> PolarGrid:
    """Polar lookup of this frame size, built once per process."""
    key = (tuple(image_shape), n_alines)
    if key not in _GRIDS:
        _GRIDS[key] = polar_grid(image_shape, n_alines=n_alines)
    return _GRIDS[key]


def base_features_from_chunks(chunks, *, n_alines: int, pixel_spacing_mm: float) -> np.ndarray:
    """Base features (frames, A, n) float32 of a stream of uint8 frame chunks."""
    out = []
    for chunk in chunks:
        grid = _grid(chunk.shape[1:], n_alines)
        polar = to_polar(chunk, grid)
        out.append(fe.base_features(polar, sample_spacing_mm=grid.sample_spacing_mm(pixel_spacing_mm)))
    return np.concatenate(out)


def _features_of_range(
    meta, start: int, stop: int, n_alines: int, pixel_spacing_mm: float, overlay: np.ndarray | None = None
) -> np.ndarray:
    chunks = files.without_overlay(files.iter_frame_chunks(meta, chunk_frames=CHUNK_FRAMES, start=start, stop=stop), overlay)
    return base_features_from_chunks(chunks, n_alines=n_alines, pixel_spacing_mm=pixel_spacing_mm)


def pullback_base_features(meta, *, n_alines: int, pixel_spacing_mm: float, workers: int = 2) -> np.ndarray:
    """Base features of a whole file, sub-ranges of frames shared by ``workers`` processes.

    Burned-in grey marks (scale bars, text) are masked first (:func:`scoring.dicom.files.static_overlay_mask`).
    """
    overlay = files.static_overlay_mask(meta)
    if workers <= 1 or meta.n_frames < PARALLEL_MIN_FRAMES:
        return _features_of_range(meta, 0, meta.n_frames, n_alines, pixel_spacing_mm, overlay)
    bounds = list(range(0, meta.n_frames, TASK_FRAMES)) + [meta.n_frames]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_features_of_range, meta, a, b, n_alines, pixel_spacing_mm, overlay): a
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        }
        base = None
        for future in as_completed(futures):
            part = future.result()
            if base is None:
                base = np.empty((meta.n_frames,) + part.shape[1:], part.dtype)
            base[futures[future] : futures[future] + len(part)] = part
            del part
        assert base is not None  # at least one sub-range
        return base


def decisions_from_base(base: np.ndarray, model: DetectorModel, *, threads: int = 2) -> np.ndarray:
    """SVM decision values (frames, A) float32, context features built block by block in threads."""
    n_frames, n_alines, _ = base.shape
    references = fe.pullback_references(base)
    decision = np.empty((n_frames, n_alines), np.float32)
    n_features = len(fe.feature_names())

    def block(start: int) -> None:
        stop = min(start + DECISION_BLOCK_FRAMES, n_frames)
        full = fe.context_block(base, start, stop, references, np.empty((stop - start, n_alines, n_features), np.float32))
        decision[start:stop] = model.decision(full, threads=1)

    starts = range(0, n_frames, DECISION_BLOCK_FRAMES)
    if threads > 1 and n_frames > DECISION_BLOCK_FRAMES:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(block, starts))
    else:
        for start in starts:
            block(start)
    return decision


def labels_from_features(full: np.ndarray, model: DetectorModel, post: PostProcessing | None = None) -> np.ndarray:
    """Calcium labels (frames, A) from full features: SVM, guidewire mask and post-processing."""
    wire = guidewire_of(full)
    return postprocess(model.decision(full), wire, post or model.post, fe.shadow_contrast(full), fe.leading_edge(full))


def labels_from_base(base: np.ndarray, model: DetectorModel, post: PostProcessing | None = None) -> np.ndarray:
    """Calcium labels (frames, A) from base features with context, SVM and post-processing.

    Same labels as ``labels_from_features(fe.add_context(base), model)`` without the full
    feature array of the pullback in memory.
    """
    decision = decisions_from_base(base, model)
    wire = guidewire_of(base)
    return postprocess(decision, wire, post or model.post, fe.shadow_contrast(base), fe.leading_edge(base))


def score_pullback(
    path,
    model: DetectorModel,
    *,
    workers: int = 2,
    assumed_pullback_rate_mm_s: float = 0.5,
    default_pixel_spacing_mm: float = 0.02,
) -> PullbackScore:
    """Score a DICOM pullback file.

    Parameters
    ----------
    path : str or Path
        IVUS multi-frame DICOM file (validated by :func:`scoring.dicom.files.read_metadata`).
    model : DetectorModel
        From :func:`scoring.detector.model_store.load_model`.
    workers : int
        Processes for decoding and features (the machine has 2 cores).
    assumed_pullback_rate_mm_s, default_pixel_spacing_mm : float
        Used when the file does not say (uncalibrated files).
    """
    started = time.perf_counter()
    meta = files.read_metadata(path)
    spacing = meta.pixel_spacing_mm or default_pixel_spacing_mm
    base = pullback_base_features(meta, n_alines=model.n_alines, pixel_spacing_mm=spacing, workers=workers)
    labels = labels_from_base(base, model)
    return PullbackScore(
        ics=ics(labels),
        labels=labels,
        calcium_alines_per_frame=labels.sum(axis=1),
        arc_deg_per_frame=arc_deg(labels),
        n_frames=meta.n_frames,
        n_alines=model.n_alines,
        length_mm=meta.length_mm(assumed_pullback_rate_mm_s=assumed_pullback_rate_mm_s),
        model_version=model.version,
        seconds=time.perf_counter() - started,
    )
