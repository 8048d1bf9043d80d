"""IVUS pullbacks and their scoring runs.

A `Pullback` is one de-identified DICOM file of a patient with the metadata the study needs
(frames, frame rate, pullback speed, length, calibration) and its quality control. A
`ScoringRun` is one run of the detector over it; the latest successful run is `is_current`
and earlier runs stay as history (e.g. after a new detector model is activated).
"""

import uuid

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import BackgroundJob
from registry.models import Patient
from scoring.detector import calcium_map


def _pullback_path(instance: "Pullback", filename: str) -> str:
    # A random name: the original file name may carry identifiers and is kept only in the row.
    return f"pullbacks/{uuid.uuid4().hex}.dcm"


class QcStatus(models.TextChoices):
    INCLUDED = "included", "Included"
    EXCLUDED = "excluded", "Excluded"


class ExclusionReason(models.TextChoices):
    STENT_STRUTS = "stent_struts", "Stent struts"
    POOR_IMAGE_QUALITY = "poor_image_quality", "Poor image quality"
    FALSE_LUMEN = "false_lumen", "Catheter in false lumen"


class Pullback(models.Model):
    """One IVUS pullback file (stored de-identified) of a registry patient."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pullbacks")
    file = models.FileField(upload_to=_pullback_path, max_length=200)
    original_filename = models.CharField(max_length=255, blank=True)
    file_size_bytes = models.BigIntegerField()
    # Duplicate detection: the remapped SOP Instance UID (deterministic, so the same source
    # UID always maps to the same value) and the SHA-256 of the file as uploaded.
    sop_instance_uid = models.CharField("SOP Instance UID (de-identified)", max_length=64, unique=True)
    content_sha256 = models.CharField(max_length=64, unique=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    n_frames = models.PositiveIntegerField("frames")
    frame_rate_hz = models.FloatField("frame rate (Hz)")
    pullback_speed_mm_s = models.FloatField("pullback speed (mm/s)")
    pullback_speed_assumed = models.BooleanField(default=False)
    ivus_acquisition = models.CharField(max_length=32, blank=True)
    pullback_start_frame = models.PositiveIntegerField(null=True, blank=True)
    pullback_stop_frame = models.PositiveIntegerField(null=True, blank=True)
    length_mm = models.FloatField("pullback length (mm)")
    pixel_spacing_mm = models.FloatField(null=True, blank=True)
    calibrated = models.BooleanField(default=False)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    samples_per_pixel = models.PositiveSmallIntegerField(default=1)
    photometric = models.CharField(max_length=20, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=8, blank=True)
    manufacturer = models.CharField(max_length=120, blank=True)
    model_name = models.CharField(max_length=120, blank=True)
    acquisition_date = models.DateField(null=True, blank=True)
    burned_in_annotation = models.CharField(max_length=8, blank=True)

    qc_status = models.CharField(max_length=10, choices=QcStatus.choices, default=QcStatus.INCLUDED)
    exclusion_reason = models.CharField(max_length=20, choices=ExclusionReason.choices, blank=True)
    qc_note = models.TextField(blank=True)
    # A reviewer's choice of study pullback (at most one per patient), with the reason.
    study_override = models.BooleanField(default=False)
    study_override_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["patient", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(qc_status="included", exclusion_reason="") | Q(qc_status="excluded") & ~Q(exclusion_reason=""),
                name="pullback_exclusion_has_reason",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(study_override=True),
                name="pullback_one_study_override",
            ),
            models.CheckConstraint(
                condition=Q(study_override=False) | ~Q(study_override_reason=""),
                name="pullback_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"pullback {self.pk} of {self.patient_id}"

    @property
    def frame_spacing_mm(self) -> float:
        return self.pullback_speed_mm_s / self.frame_rate_hz

    @property
    def long_enough(self) -> bool:
        return self.length_mm >= settings.PULLBACK_MIN_LENGTH_MM


class ScoringRun(BackgroundJob):
    """One detector run over a pullback (a core.jobs job); results are written once, by the run's own row."""

    pullback = models.ForeignKey(Pullback, on_delete=models.CASCADE, related_name="runs")
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=80, blank=True)
    is_current = models.BooleanField(default=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    ics = models.FloatField(null=True, blank=True)
    n_frames = models.PositiveIntegerField(null=True, blank=True)
    n_alines = models.PositiveIntegerField(null=True, blank=True)
    calcium_alines = models.BigIntegerField(null=True, blank=True)
    calcium_alines_per_frame = models.JSONField(default=list, blank=True)
    # Labels (frames x A-lines, bool): np.packbits then zlib; see scoring.detector.calcium_map.
    calcium_map = models.BinaryField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pullback", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["pullback"], condition=Q(is_current=True), name="scoring_one_current_run"),
            models.CheckConstraint(
                condition=Q(ics__isnull=True) | Q(ics__gte=0, ics__lte=1000),
                name="scoring_ics_0_1000",
            ),
            models.CheckConstraint(condition=Q(progress_percent__lte=100), name="scoring_progress_0_100"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of pullback {self.pullback_id} ({self.status})"

    @property
    def arc_deg_per_frame(self) -> list[float]:
        if not self.n_alines:
            return []
        return [count * 360.0 / self.n_alines for count in self.calcium_alines_per_frame]

    def labels(self) -> np.ndarray:
        """The calcium map as bool (frames, A-lines)."""
        if self.calcium_map is None or self.n_frames is None or self.n_alines is None:
            raise ValueError(f"{self} has no calcium map (only a succeeded run has one)")
        return calcium_map.unpack(bytes(self.calcium_map), n_frames=self.n_frames, n_alines=self.n_alines)


class CalciumAnnotation(models.Model):
    """A calcium arc drawn (or imported) by a reviewer on one frame of a pullback.

    Angles follow the A-line convention (scoring.detector.geometry): degrees counter-clockwise from the
    image's +x axis (3 o'clock) towards the top, as displayed. The arc runs counter-clockwise
    from ``start_deg`` to ``end_deg`` and may wrap through 0; ``start_deg == end_deg`` is the
    full circle. ``no_calcium`` marks a frame reviewed as calcium-free (then both angles are 0):
    such a frame counts as annotated, with every A-line negative.
    """

    pullback = models.ForeignKey(Pullback, on_delete=models.CASCADE, related_name="annotations")
    frame = models.PositiveIntegerField(help_text="0-based frame index")
    start_deg = models.FloatField()
    end_deg = models.FloatField()
    no_calcium = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pullback", "frame", "start_deg", "id"]
        indexes = [models.Index(fields=["pullback", "frame"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_deg__gte=0, start_deg__lt=360, end_deg__gte=0, end_deg__lt=360),
                name="annotation_degrees_0_360",
            ),
            models.CheckConstraint(
                condition=Q(no_calcium=False) | Q(start_deg=0, end_deg=0), name="annotation_no_calcium_has_no_arc"
            ),
        ]

    def __str__(self) -> str:
        what = "no calcium" if self.no_calcium else f"{self.start_deg:g}-{self.end_deg:g} deg"
        return f"annotation {self.pk} of pullback {self.pullback_id} frame {self.frame}: {what}"


class DetectorModelVersion(models.Model):
    """A detector model of the store registered for use; scoring uses the one active version.

    ``name`` is the model's name in the store, ``version`` the content version of its manifest
    (name + hash of the arrays), so that a file overwritten under the same name is a new version.
    """

    name = models.CharField(max_length=64)
    version = models.CharField(max_length=80, unique=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_summary = models.JSONField(default=dict, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="detector_one_active_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version}{' (active)' if self.is_active else ''}"
