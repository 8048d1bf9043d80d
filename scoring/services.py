"""Writes of the scoring app: upload (validate, de-identify, store), scoring runs, quality
control and the study-pullback override. Every change of registry data is audited.

The upload never holds a whole file in memory: Django streams it to a temporary file, the
SHA-256 is computed in chunks, the de-identified copy is written header first and the pixel
data copied in chunks, and the stored copy goes through Django's storage API.
"""

import contextlib
import datetime as dt
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import jobs
from core.roles import EDIT_REGISTRY, acting_user, require_role
from registry.audit import audit_record, diff, snapshot
from registry.models import AuditEntry, Patient
from registry.services import study_ics_store
from scoring.detector import calcium_map
from scoring.dicom import deid, files
from scoring.models import ExclusionReason, Pullback, QcStatus, ScoringRun

logger = logging.getLogger(__name__)

SCORING_TASK = "scoring.tasks.scoring_run_task"

COPY_CHUNK_BYTES = 8 * 1024 * 1024
SCORING_CHUNK_FRAMES = 32
DEFAULT_PIXEL_SPACING_MM = 0.02  # uncalibrated files: the usual 40 MHz field of view (10 mm / 512 px)
QC_FIELDS = ["qc_status", "exclusion_reason", "qc_note", "study_override", "study_override_reason"]


@dataclass(frozen=True)
class UploadOutcome:
    pullback: Pullback
    duplicate: bool
    run: ScoringRun | None


# Upload -------------------------------------------------------------------------------------


def pullback_upload(*, user, patient: Patient, uploaded_file, original_filename: str = "") -> UploadOutcome:
    """Validate, de-identify and store an uploaded IVUS file for ``patient``, then queue its scoring.

    The same file uploaded again (same content, or same SOP Instance UID) returns the existing
    pullback with ``duplicate=True`` and is not scored again. An invalid file raises
    ``ValidationError({"file": [message]}, code=<DicomInputError code>)`` and nothing is stored.
    """
    if user is not None:  # None: the system (ingest_dicom)
        require_role(user, EDIT_REGISTRY)
    name = os.path.basename(original_filename or getattr(uploaded_file, "name", "") or "")[:255]
    with _local_path(uploaded_file) as src:
        return _ingest(user=user, patient=patient, src=src, name=name)


def pullback_ingest_path(*, patient: Patient, path, user=None) -> UploadOutcome:
    """The same as an upload, for a file already on disk (``manage.py ingest_dicom``)."""
    return _ingest(user=user, patient=patient, src=str(path), name=os.path.basename(str(path)))


def _ingest(*, user, patient: Patient, src: str, name: str) -> UploadOutcome:
    sha = _sha256(src)
    existing = Pullback.objects.filter(content_sha256=sha).select_related("patient").first()
    if existing is not None:
        return _duplicate(existing, patient)
    meta = _validated(src)
    ds, pixel_offset = files.read_header(src)
    deid.deidentify(ds, pseudonym=patient.study_id, uid_key=_uid_key())
    existing = Pullback.objects.filter(sop_instance_uid=str(ds.SOPInstanceUID)).select_related("patient").first()
    if existing is not None:
        return _duplicate(existing, patient)
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        clean = os.path.join(folder, "deidentified.dcm")
        files.write_with_header(src, clean, ds, pixel_element_offset=pixel_offset, copy_chunk_bytes=COPY_CHUNK_BYTES)
        files.read_metadata(clean)  # the stored copy must read back as the original did
        fields = _metadata_fields(meta) | {
            "sop_instance_uid": str(ds.SOPInstanceUID),
            "content_sha256": sha,
            "original_filename": name,
            "file_size_bytes": os.path.getsize(clean),
        }
        return _store(user=user, patient=patient, clean=clean, fields=fields)


def _store(*, user, patient: Patient, clean: str, fields: dict) -> UploadOutcome:
    pullback = Pullback(patient=patient, uploaded_by=acting_user(user), **fields)
    with open(clean, "rb") as fp:
        pullback.file.save("pullback.dcm", File(fp), save=False)
    try:
        with transaction.atomic():
            pullback.save()
            audit_record(
                user=user,
                action=AuditEntry.Action.CREATE,
                instance=pullback,
                patient=patient,
                changes=_audit_fields(pullback),
                reason="pullback upload",
            )
            run = _run_create(pullback=pullback, user=user)
    except IntegrityError:
        # A simultaneous upload of the same file won the race: keep its copy, drop ours.
        pullback.file.delete(save=False)
        existing = (
            Pullback.objects.filter(content_sha256=fields["content_sha256"]).first()
            or Pullback.objects.filter(sop_instance_uid=fields["sop_instance_uid"]).first()
        )
        if existing is None:
            raise
        return _duplicate(existing, patient)
    except BaseException:
        pullback.file.delete(save=False)
        raise
    logger.info("pullback %s stored for patient %s (%s frames)", pullback.pk, patient.pk, pullback.n_frames)
    return UploadOutcome(pullback=pullback, duplicate=False, run=run)


def _duplicate(existing: Pullback, patient: Patient) -> UploadOutcome:
    if existing.patient_id != patient.pk:
        raise ValidationError(
            {"file": [ValidationError("This file was already uploaded for another patient.", code="duplicate")]}
        )
    return UploadOutcome(pullback=existing, duplicate=True, run=None)


def _validated(path: str) -> files.PullbackMetadata:
    try:
        meta = files.read_metadata(path)
    except files.DicomInputError as exc:
        raise ValidationError({"file": [ValidationError(str(exc), code=exc.code)]}) from exc
    return meta


def _metadata_fields(meta: files.PullbackMetadata) -> dict:
    speed = meta.pullback_rate_mm_s
    assumed = speed is None or speed <= 0
    if speed is None or speed <= 0:
        speed = settings.PULLBACK_ASSUMED_SPEED_MM_S
    return {
        "n_frames": meta.n_frames,
        "frame_rate_hz": meta.frame_rate_hz,
        "pullback_speed_mm_s": speed,
        "pullback_speed_assumed": assumed,
        "ivus_acquisition": meta.ivus_acquisition[:32],
        "pullback_start_frame": meta.pullback_start_frame,
        "pullback_stop_frame": meta.pullback_stop_frame,
        "length_mm": _length_mm(meta, speed),
        "pixel_spacing_mm": meta.pixel_spacing_mm,
        "calibrated": meta.pixel_spacing_mm is not None,
        "rows": meta.rows,
        "columns": meta.columns,
        "samples_per_pixel": meta.samples_per_pixel,
        "photometric": meta.photometric[:20],
        "transfer_syntax_uid": meta.transfer_syntax_uid,
        "modality": meta.modality[:8],
        "manufacturer": meta.manufacturer[:120],
        "model_name": meta.model_name[:120],
        "acquisition_date": _dicom_date(meta.acquisition_date),
        "burned_in_annotation": meta.burned_in_annotation[:8],
    }


def _length_mm(meta: files.PullbackMetadata, speed_mm_s: float) -> float:
    """Frames of the motorized pullback (start..stop frame when recorded) / frame rate x speed."""
    frames = meta.n_frames
    start, stop = meta.pullback_start_frame, meta.pullback_stop_frame
    if start and stop and 1 <= start < stop <= meta.n_frames:
        frames = stop - start + 1
    return round(frames / meta.frame_rate_hz * speed_mm_s, 3)


def _dicom_date(value: str) -> dt.date | None:
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def _audit_fields(pullback: Pullback) -> dict:
    # The original file name may name the patient: it stays out of the audit trail.
    keep = ["id", "n_frames", "length_mm", "content_sha256", "sop_instance_uid", "qc_status"]
    return {k: [None, v] for k, v in snapshot(pullback, keep).items()}


def _uid_key() -> bytes:
    return hashlib.sha256(b"pullback-uid-remap:" + settings.SECRET_KEY.encode()).digest()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _local_path(uploaded_file) -> Iterator[str]:
    """A path on local disk for an uploaded file (Django's temporary file when there is one)."""
    if hasattr(uploaded_file, "temporary_file_path"):
        yield uploaded_file.temporary_file_path()
        return
    with tempfile.NamedTemporaryFile(suffix=".dcm", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        for chunk in uploaded_file.chunks():
            tmp.write(chunk)
        tmp.flush()
        yield tmp.name


def _stored_local_path(field_file) -> str | None:
    """The file's path on local storage; None on a storage without local paths (S3: Django's
    ``Storage.path`` raises NotImplementedError there, by its documented contract)."""
    try:
        return field_file.path
    except NotImplementedError:
        return None


@contextlib.contextmanager
def stored_file_path(field_file) -> Iterator[str]:
    """A local path of a stored file: the file itself on local storage, else a temporary download.

    The path is looked up before the ``yield``: an error raised by the caller's ``with`` body
    propagates as it is instead of being taken for "this storage has no local paths".
    """
    local = _stored_local_path(field_file)
    if local is not None:
        yield local
        return
    with tempfile.NamedTemporaryFile(suffix=".dcm") as tmp, field_file.open("rb") as src:
        while chunk := src.read(COPY_CHUNK_BYTES):
            tmp.write(chunk)
        tmp.flush()
        yield tmp.name


# Scoring runs -------------------------------------------------------------------------------


def _run_create(*, pullback: Pullback, user, model_name: str | None = None) -> ScoringRun:
    run = ScoringRun.objects.create(
        pullback=pullback,
        model_name=model_name or settings_model_name(),
        requested_by=acting_user(user),
    )
    jobs.enqueue(run, SCORING_TASK)
    return run


def settings_model_name() -> str:
    """The store name of the model scoring uses: the active registered version (admin page), else
    the setting SCORING_MODEL_NAME, else "default"."""
    from scoring.detector.model_store import DEFAULT_MODEL
    from scoring.models import DetectorModelVersion

    active = DetectorModelVersion.objects.filter(is_active=True).values_list("name", flat=True).first()
    configured: str = getattr(settings, "SCORING_MODEL_NAME", DEFAULT_MODEL)
    return active or configured


def scoring_run_start(*, pullback: Pullback, user=None, model_name: str | None = None) -> ScoringRun:
    """Queue a scoring run, unless one with the same model is queued, running or done already."""
    model_name = model_name or settings_model_name()
    with transaction.atomic():
        Pullback.objects.select_for_update().filter(pk=pullback.pk).first()
        existing = pullback.runs.filter(model_name=model_name).exclude(status=ScoringRun.Status.FAILED)
        version = _active_version(model_name)
        existing = existing.filter(status__in=[ScoringRun.Status.QUEUED, ScoringRun.Status.RUNNING]) | existing.filter(
            status=ScoringRun.Status.SUCCEEDED, model_version=version
        )
        found = existing.order_by("-created_at").first()
        return found if found is not None else _run_create(pullback=pullback, user=user, model_name=model_name)


def load_active_model(model_name: str):
    """The detector model by name from the store (SCORING_MODEL_STORE if set, else scoring/detector/weights/)."""
    from scoring.detector.model_store import DEFAULT_STORE, load_model

    store = getattr(settings, "SCORING_MODEL_STORE", None) or DEFAULT_STORE
    return load_model(model_name, store=Path(store))


def _active_version(model_name: str) -> str:
    from scoring.detector.model_store import ModelStoreError

    try:
        return load_active_model(model_name).version
    except ModelStoreError:
        return ""


def pullbacks_rescore(*, user, pullbacks, model_name: str | None = None) -> list[ScoringRun]:
    """Re-score pullbacks with the active model (background); earlier runs stay as history."""
    if user is not None:
        require_role(user, EDIT_REGISTRY)
    return [scoring_run_start(pullback=p, user=user, model_name=model_name) for p in pullbacks]


def retry_refusal(run: ScoringRun, *, now=None) -> str:
    """Why this run may not be queued again ("" when it may): it succeeded, or a worker is scoring
    it right now (a heartbeat within JOB_STALE_AFTER_SECONDS): a retry would throw that work away."""
    if run.status == ScoringRun.Status.SUCCEEDED:
        return "This run has succeeded; there is nothing to retry."
    if run.status == ScoringRun.Status.RUNNING:
        alive = run.heartbeat_at or run.started_at
        if alive is not None and alive >= (now or timezone.now()) - jobs.stale_after():
            return (
                f"This run is being scored (its worker was last heard from at {timezone.localtime(alive):%H:%M:%S}); "
                "retry a run only when it has failed or its worker has stopped."
            )
    return ""


def scoring_run_retry(*, user, run: ScoringRun) -> ScoringRun:
    """Queue a run that failed (or never finished) again, on its own row."""
    require_role(user, EDIT_REGISTRY)
    with transaction.atomic():
        run = ScoringRun.objects.select_for_update().get(pk=run.pk)
        refusal = retry_refusal(run)
        if refusal:
            raise ValidationError(refusal)
        ScoringRun.objects.filter(pk=run.pk).update(
            status=ScoringRun.Status.QUEUED,
            progress_percent=0,
            error="",
            started_at=None,
            finished_at=None,
            requested_by=user,
            lease="",
            heartbeat_at=None,
        )
        jobs.enqueue(run, SCORING_TASK)
    run.refresh_from_db()
    return run


def scoring_run_execute(*, run_id: int) -> ScoringRun:
    """Score the run's pullback and write the results on the run's row (a core.jobs job).

    A run is scored by the worker that claims it; one whose worker stopped is re-queued by
    core.jobs and scored again on its own row. Expected failures (unreadable file, unusable
    model) are recorded with a readable message; unexpected ones too, and then re-raised.
    """
    from scoring.detector.model_store import ModelStoreError

    def body(job: jobs.JobRun) -> None:
        run = ScoringRun.objects.select_related("pullback").get(pk=job.pk)
        started = time.perf_counter()
        try:
            model = load_active_model(run.model_name)
            with stored_file_path(run.pullback.file) as path:
                labels = _labels(path, model, job.progress)
        except (files.DicomInputError, ModelStoreError, FileNotFoundError) as exc:
            raise jobs.JobFailed(f"The pullback could not be scored: {exc}") from exc
        _succeed(run, labels, version=model.version, seconds=time.perf_counter() - started, job=job)

    jobs.run_job(
        ScoringRun,
        run_id,
        body,
        unexpected=lambda exc: (
            f"Scoring stopped because of an unexpected error ({type(exc).__name__}: {exc}). "
            "Retry, or tell the registry administrator if it fails again."
        ),
    )
    return ScoringRun.objects.get(pk=run_id)


def _labels(path: str, model, progress: Callable[[int], None]):
    from scoring.detector.pipeline import base_features_from_chunks, labels_from_base

    meta = files.read_metadata(path)
    frames = files.without_overlay(
        files.iter_frame_chunks(meta, chunk_frames=SCORING_CHUNK_FRAMES), files.static_overlay_mask(meta)
    )
    chunks = _counted(frames, meta.n_frames, progress)
    base = base_features_from_chunks(
        chunks, n_alines=model.n_alines, pixel_spacing_mm=meta.pixel_spacing_mm or DEFAULT_PIXEL_SPACING_MM
    )
    return labels_from_base(base, model)


def _counted(chunks, n_frames: int, progress: Callable[[int], None]):
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        progress(int(95 * done / n_frames))  # the last 5%: context features and post-processing


def _succeed(run: ScoringRun, labels, *, version: str, seconds: float, job: jobs.JobRun) -> None:
    per_frame = labels.sum(axis=1)
    with transaction.atomic():
        job.hold()  # only the worker that holds the run writes its results
        _lock_patient(run.pullback.patient_id)
        Pullback.objects.select_for_update().filter(pk=run.pullback_id).first()
        # The newest successful run is the current one; an older run finishing late is history.
        newer = run.pullback.runs.filter(status=ScoringRun.Status.SUCCEEDED, created_at__gt=run.created_at).exists()
        if not newer:
            run.pullback.runs.exclude(pk=run.pk).filter(is_current=True).update(is_current=False)
        job.commit(
            model_version=version,
            ics=calcium_map.ics(labels),
            n_frames=labels.shape[0],
            n_alines=labels.shape[1],
            calcium_alines=int(per_frame.sum()),
            calcium_alines_per_frame=[int(c) for c in per_frame],
            calcium_map=calcium_map.pack(labels),
            seconds=round(seconds, 3),
            is_current=not newer,
        )
        study_ics_refresh([run.pullback.patient_id])
    logger.info("scoring run %s: ICS %.1f, %d frames in %.1f s", run.pk, calcium_map.ics(labels), labels.shape[0], seconds)


# Quality control and the study pullback -----------------------------------------------------


def pullback_qc_update(*, user, pullback: Pullback, qc_status: str, exclusion_reason: str = "", note: str = "") -> Pullback:
    """Include or exclude a pullback (stent struts, poor image quality, catheter in false lumen).

    A note is required for every change; excluding the reviewer's study pullback also ends
    that override.
    """
    require_role(user, EDIT_REGISTRY)
    errors = {}
    if qc_status not in QcStatus.values:
        errors["qc_status"] = [f"Choose one of {', '.join(QcStatus.values)}."]
    elif qc_status == QcStatus.EXCLUDED and exclusion_reason not in ExclusionReason.values:
        errors["exclusion_reason"] = [
            "An excluded pullback needs a reason: stent struts, poor image quality or catheter in false lumen."
        ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _lock_patient(pullback.patient_id)
        pullback = Pullback.objects.select_for_update().get(pk=pullback.pk)
        old = snapshot(pullback, QC_FIELDS)
        pullback.qc_status = qc_status
        pullback.exclusion_reason = exclusion_reason if qc_status == QcStatus.EXCLUDED else ""
        pullback.qc_note = (note or "").strip()
        if qc_status == QcStatus.EXCLUDED and pullback.study_override:
            pullback.study_override, pullback.study_override_reason = False, ""
        changes = diff(old, snapshot(pullback, QC_FIELDS))
        if changes and not pullback.qc_note:
            raise ValidationError({"note": ["A note is required when the quality control changes."]})
        if changes:
            pullback.save(update_fields=QC_FIELDS)
            audit_record(
                user=user,
                action=AuditEntry.Action.UPDATE,
                instance=pullback,
                patient=pullback.patient,
                changes=changes,
                reason=pullback.qc_note,
            )
            study_ics_refresh([pullback.patient_id])
    return pullback


def study_pullback_override(*, user, patient: Patient, pullback: Pullback | None, reason: str) -> None:
    """A reviewer's choice of study pullback (``None``: back to the automatic choice), audited."""
    from scoring.selectors import current_run

    require_role(user, EDIT_REGISTRY)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["A reason is required to change the study pullback."]})
    if pullback is not None:
        if pullback.patient_id != patient.pk:
            raise ValidationError({"pullback": ["This pullback belongs to another patient."]})
        if pullback.qc_status != QcStatus.INCLUDED:
            raise ValidationError({"pullback": ["An excluded pullback cannot be the study pullback."]})
        if current_run(pullback) is None:
            raise ValidationError({"pullback": ["The pullback has no score yet."]})
    with transaction.atomic():
        _lock_patient(patient.pk)
        rows = list(Pullback.objects.select_for_update().filter(patient=patient).order_by("pk"))
        for row in rows:  # clear the old choice first: at most one override per patient
            if row.study_override and (pullback is None or row.pk != pullback.pk):
                _set_override(user, row, False, "", reason)
        for row in rows:
            if pullback is not None and row.pk == pullback.pk:
                _set_override(user, row, True, reason, reason)
        study_ics_refresh([patient.pk])


def study_ics_refresh(patient_ids) -> int:
    """Store these patients' study pullback ICS on their rows (registry.services.study_ics_store);
    returns how many changed. Called in the transaction of every write that can change which
    pullback is the study pullback or its score: a run that becomes current, quality control, the
    reviewer's override. Lock the patient first (`_lock_patient`) so two writes for one patient
    store in turn."""
    from scoring.selectors import chosen_study_ics

    return study_ics_store(chosen_study_ics(patient_ids))


def _lock_patient(patient_id: int) -> None:
    Patient.objects.select_for_update().filter(pk=patient_id).first()


def _set_override(user, row: Pullback, value: bool, stored_reason: str, reason: str) -> None:
    old = snapshot(row, ["study_override", "study_override_reason"])
    row.study_override, row.study_override_reason = value, stored_reason
    changes = diff(old, snapshot(row, ["study_override", "study_override_reason"]))
    if changes:
        row.save(update_fields=["study_override", "study_override_reason"])
        audit_record(
            user=user, action=AuditEntry.Action.UPDATE, instance=row, patient=row.patient, changes=changes, reason=reason
        )
