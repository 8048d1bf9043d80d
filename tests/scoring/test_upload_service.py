"""Upload service: validation (each bad-file case), metadata, storage, duplicates, scoring queued."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import AuditEntry
from scoring import services
from scoring.dicom import files
from scoring.models import Pullback, ScoringRun
from tests.scoring import pullback_files
from tests.scoring.pullback_files import jpeg_file, phantom_file, with_header

pytestmark = pytest.mark.django_db

# Fixtures shared by the pullback tests (a small detector model in a temporary store).
scoring_model, _model_folder = pullback_files.scoring_model, pullback_files._model_folder


def _upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="application/dicom")


def _stored_files(settings) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "pullbacks"
    return sorted(folder.glob("*")) if folder.exists() else []


def test_an_upload_is_stored_with_its_metadata_and_scored(
    tmp_path, coordinator, patient, scoring_model, django_capture_on_commit_callbacks, settings
):
    src = phantom_file(tmp_path / "Jansen_Jan.dcm", n_frames=8, pullback_rate_mm_s=0.5)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(src))
    pullback = Pullback.objects.get()
    assert outcome.duplicate is False and outcome.pullback == pullback
    assert (pullback.n_frames, pullback.rows, pullback.columns) == (8, 512, 512)
    assert pullback.frame_rate_hz == pytest.approx(30.0)
    assert pullback.pullback_speed_mm_s == 0.5 and pullback.pullback_speed_assumed is False
    assert pullback.length_mm == pytest.approx(8 / 30 * 0.5, abs=1e-3)
    assert pullback.pixel_spacing_mm == pytest.approx(0.02) and pullback.calibrated is True
    assert pullback.ivus_acquisition == "MOTOR_PULLBACK" and (
        pullback.pullback_start_frame,
        pullback.pullback_stop_frame,
    ) == (1, 8)
    assert pullback.manufacturer == "ICS registry" and str(pullback.acquisition_date) == "2020-01-01"
    assert pullback.original_filename == "Jansen_Jan.dcm"
    assert "Jansen" not in pullback.file.name and pullback.file.name.startswith("pullbacks/")
    assert pullback.uploaded_by == coordinator and pullback.qc_status == "included"
    run = ScoringRun.objects.get()
    assert run.status == "succeeded" and run.is_current and run.progress_percent == 100
    labels = run.labels()
    assert labels.shape == (8, 128) and run.n_frames == 8 and run.n_alines == 128
    assert run.ics == pytest.approx(labels.mean() * 1000) and run.calcium_alines == labels.sum()
    assert run.calcium_alines_per_frame == labels.sum(axis=1).tolist()
    assert run.arc_deg_per_frame == pytest.approx((labels.sum(axis=1) * 360 / 128).tolist())
    assert run.model_version.startswith("default-") and run.seconds > 0
    entry = AuditEntry.objects.get(entity="pullback")
    assert entry.action == "create" and entry.patient == patient and "Jansen" not in str(entry.changes)


def test_the_same_file_twice_is_recognised_and_not_scored_twice(
    tmp_path, coordinator, patient, scoring_model, django_capture_on_commit_callbacks
):
    src = phantom_file(tmp_path / "a.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        first = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(src))
        again = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(src, "copy.dcm"))
    assert again.duplicate is True and again.pullback == first.pullback and again.run is None
    assert Pullback.objects.count() == 1 and ScoringRun.objects.count() == 1


def test_the_same_sop_instance_with_other_bytes_is_a_duplicate(
    tmp_path, coordinator, patient, scoring_model, django_capture_on_commit_callbacks, settings
):
    src = phantom_file(tmp_path / "a.dcm")
    changed = with_header(src, tmp_path / "b.dcm", lambda ds: setattr(ds, "SeriesDescription", "re-export"))
    assert src.read_bytes() != changed.read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(src))
        again = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(changed))
    assert again.duplicate is True
    assert Pullback.objects.count() == 1 and ScoringRun.objects.count() == 1 and len(_stored_files(settings)) == 1


def test_a_file_of_another_patient_is_refused(
    tmp_path, coordinator, patient, scoring_model, django_capture_on_commit_callbacks
):
    from tests.factories import PatientFactory

    src = phantom_file(tmp_path / "a.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(src))
    with pytest.raises(ValidationError, match="already uploaded for another patient"):
        services.pullback_upload(user=coordinator, patient=PatientFactory(site=patient.site), uploaded_file=_upload(src))


def _single_frame(ds):
    ds.NumberOfFrames = 1


def _ct(ds):
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"


def _modality(ds):
    ds.Modality = "CT"


def _no_rate(ds):
    del ds.FrameTime, ds.CineRate


BAD_HEADERS = [
    (_single_frame, "not_multiframe", "single frame"),
    (_ct, "wrong_sop_class", "CT Image Storage"),
    (_modality, "wrong_modality", "Modality CT is not IVUS or US"),
    (_no_rate, "unknown_frame_rate", "Unknown frame rate"),
]


@pytest.mark.parametrize("mutate, code, message", BAD_HEADERS)
def test_each_bad_header_has_its_own_message_and_nothing_is_stored(
    tmp_path, coordinator, patient, settings, mutate, code, message
):
    bad = with_header(phantom_file(tmp_path / "a.dcm"), tmp_path / "bad.dcm", mutate)
    with pytest.raises(ValidationError) as info:
        services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(bad))
    assert info.value.error_dict["file"][0].code == code
    assert message in info.value.message_dict["file"][0]
    assert Pullback.objects.count() == 0 and _stored_files(settings) == [] and AuditEntry.objects.count() == 0


def test_not_dicom_truncated_no_pixels_and_unsupported_syntax_are_refused(tmp_path, coordinator, patient, settings):
    src = phantom_file(tmp_path / "a.dcm")
    data = src.read_bytes()
    cases = {"not_dicom": b"PK\x03\x04 a zip file, not an image" * 10, "truncated": data[: len(data) // 3]}
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
    cases["unsupported_transfer_syntax"] = None
    for code, blob in cases.items():
        path = tmp_path / f"{code}.dcm"
        if blob is None:
            ds.PixelData = pydicom.encaps.encapsulate([b"\0" * 16] * 8)
            ds["PixelData"].VR = "OB"
            ds.save_as(path, enforce_file_format=True)
        else:
            path.write_bytes(blob)
        with pytest.raises(ValidationError) as info:
            services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(path))
        assert info.value.error_dict["file"][0].code == code
    assert "JPEG-LS Lossless" in str(info.value)
    no_pixels = tmp_path / "nopix.dcm"
    pydicom.dcmread(src, stop_before_pixels=True).save_as(no_pixels, enforce_file_format=True)
    with pytest.raises(ValidationError, match="no Pixel Data"):
        services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(no_pixels))
    assert Pullback.objects.count() == 0 and _stored_files(settings) == []


def test_a_missing_pullback_speed_is_assumed_and_a_missing_calibration_flagged(tmp_path, coordinator, patient, settings):
    settings.PULLBACK_ASSUMED_SPEED_MM_S = 0.5

    def strip(ds):
        del ds.IVUSPullbackRate, ds.SequenceOfUltrasoundRegions

    bad = with_header(phantom_file(tmp_path / "a.dcm", n_frames=8), tmp_path / "b.dcm", strip)
    outcome = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(bad))
    pullback = outcome.pullback
    assert pullback.pullback_speed_assumed is True and pullback.pullback_speed_mm_s == 0.5
    assert pullback.calibrated is False and pullback.pixel_spacing_mm is None


def test_the_boston_scientific_private_speed_is_read(tmp_path, coordinator, patient):
    def private(ds):
        del ds.IVUSPullbackRate
        ds.add_new(0x000B0010, "LO", "BOSTON SCIENTIFIC")
        ds.add_new(0x000B1001, "DS", "1.0")

    path = with_header(phantom_file(tmp_path / "a.dcm", n_frames=8), tmp_path / "b.dcm", private)
    pullback = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(path)).pullback
    assert pullback.pullback_speed_mm_s == 1.0 and pullback.pullback_speed_assumed is False
    assert pullback.length_mm == pytest.approx(8 / 30 * 1.0, abs=1e-3)


@pytest.mark.parametrize("kind", ["rle", "jpeg"])
def test_compressed_pullbacks_are_stored_and_scored(
    tmp_path, coordinator, patient, scoring_model, django_capture_on_commit_callbacks, kind
):
    path = phantom_file(tmp_path / "a.dcm", n_frames=6, rle=True) if kind == "rle" else jpeg_file(tmp_path / "a.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        pullback = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=_upload(path)).pullback
    run = ScoringRun.objects.get()
    assert run.status == "succeeded", run.error
    assert run.n_frames == 6 and pullback.samples_per_pixel == (3 if kind == "jpeg" else 1)
    with pullback.file.open("rb") as fp:
        stored = tmp_path / "stored.dcm"
        stored.write_bytes(fp.read())
    frames = np.concatenate(list(files.iter_frame_chunks(files.read_metadata(stored))))
    original = np.concatenate(list(files.iter_frame_chunks(files.read_metadata(path))))
    assert np.array_equal(frames, original)  # the pixel data is copied unchanged


def test_the_jpeg_export_is_read_as_grey_with_its_coloured_box_masked(tmp_path):
    from tests.scoring.pullback_files import _frames

    meta = files.read_metadata(jpeg_file(tmp_path / "a.dcm"))
    frames = np.concatenate(list(files.iter_frame_chunks(meta)))
    truth = _frames(6, 3, "heavy")
    assert np.abs(frames[:, 100:400, 100:400].astype(int) - truth[:, 100:400, 100:400]).mean() < 3
    assert frames[:, 22:58, 22:118].max() == 0


def test_only_coordinators_and_admins_upload(tmp_path, investigator, clinician, patient):
    src = phantom_file(tmp_path / "a.dcm")
    for user in (investigator, clinician):
        with pytest.raises(PermissionDenied):
            services.pullback_upload(user=user, patient=patient, uploaded_file=_upload(src))
    assert Pullback.objects.count() == 0
