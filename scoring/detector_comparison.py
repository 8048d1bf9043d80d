"""Compare a candidate detector model with the active one on the registry's annotated pullbacks.

Reads only: both models come from the model store (``model_store.load_model``), the truth from
the annotations (``scoring.annotations``); the statistics are :mod:`scoring.detector.compare`.
Each pullback file is read once per A-line grid (once when both models use the same number of
A-lines) and both models label the same base features.
"""

from dataclasses import dataclass

from scoring.detector import compare
from scoring.detector.postprocess import ics

NO_ANNOTATIONS = "No annotated pullbacks: annotate frames on a pullback page first."


class ComparisonError(ValueError):
    """The comparison cannot run (unknown or unusable model, no annotated pullbacks); the message says why."""


@dataclass(frozen=True)
class DetectorComparison:
    """Result of :func:`compare_versions`: the two models and :func:`compare.compare_models`' dict."""

    active_name: str
    active_version: str
    candidate_name: str
    candidate_version: str
    result: dict

    def as_dict(self) -> dict:
        return {
            "active": {"name": self.active_name, "version": self.active_version},
            "candidate": {"name": self.candidate_name, "version": self.candidate_version},
            **self.result,
        }


def _load(name: str, role: str):
    from scoring.detector.model_store import ModelStoreError, load_model
    from scoring.model_versions import model_store_path

    try:
        return load_model(name, store=model_store_path())
    except ModelStoreError as exc:
        raise ComparisonError(f"{role} model: {exc}") from exc


def annotated_pullbacks(pullbacks=None):
    """Included pullbacks with at least one annotation whose file is in storage, by id."""
    from scoring.models import Pullback, QcStatus

    pullbacks = Pullback.objects.all() if pullbacks is None else pullbacks
    rows = (
        pullbacks.filter(qc_status=QcStatus.INCLUDED, annotations__isnull=False)
        .distinct()
        .select_related("patient")
        .order_by("pk")
    )
    return [p for p in rows if p.file and p.file.storage.exists(p.file.name)]


def _prediction(pullback, models: dict, *, n_truth: int, workers: int) -> compare.AnnotatedPrediction:
    from scoring.annotations import pullback_training_labels
    from scoring.detector.pipeline import labels_from_base, pullback_base_features
    from scoring.dicom import files
    from scoring.services import stored_file_path

    labels, frames = pullback_training_labels(pullback, n_alines=n_truth)
    predicted, whole_ics, bases = {}, {}, {}
    with stored_file_path(pullback.file) as path:
        meta = files.read_metadata(path)
        for role, model in models.items():
            if model.n_alines not in bases:  # base features once per A-line grid
                bases[model.n_alines] = pullback_base_features(
                    meta, n_alines=model.n_alines, pixel_spacing_mm=meta.pixel_spacing_mm or 0.02, workers=workers
                )
            full = labels_from_base(bases[model.n_alines], model)
            whole_ics[role] = ics(full)
            predicted[role] = compare.resample_alines(full[frames], n_truth)
    return compare.AnnotatedPrediction(
        pullback_id=pullback.pk,
        patient=pullback.patient.study_id,
        truth=labels[frames],
        predicted=predicted,
        whole_ics=whole_ics,
    )


def compare_versions(*, active: str, candidate: str, pullbacks=None, workers: int = 2) -> DetectorComparison:
    """Compare the store's models ``active`` and ``candidate`` (names) on the annotated pullbacks.

    ``pullbacks``: a Pullback queryset to draw from (default: all). Raises
    :class:`ComparisonError` for an unusable model name or when no pullback is annotated.
    """
    models = {"active": _load(active, "Active"), "candidate": _load(candidate, "Candidate")}
    items = annotated_pullbacks(pullbacks)
    if not items:
        raise ComparisonError(NO_ANNOTATIONS)
    n_truth = max(m.n_alines for m in models.values())  # the finer grid; the other model's labels are resampled
    predictions = [_prediction(p, models, n_truth=n_truth, workers=workers) for p in items]
    return DetectorComparison(
        active_name=active,
        active_version=models["active"].version,
        candidate_name=candidate,
        candidate_version=models["candidate"].version,
        result=compare.compare_models(predictions),
    )
