"""De-identification: no identifying attribute or value survives in the stored copy."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scoring import services
from scoring.dicom import deid, files
from tests.scoring.pullback_files import SECRETS, phantom_file, plant_identifiers, with_header

pytestmark = pytest.mark.django_db


def _stored_copy(tmp_path, coordinator, patient) -> tuple[Path, Path]:
    src = with_header(phantom_file(tmp_path / "a.dcm", n_frames=4), tmp_path / "identified.dcm", plant_identifiers)
    upload = SimpleUploadedFile("x.dcm", src.read_bytes())
    pullback = services.pullback_upload(user=coordinator, patient=patient, uploaded_file=upload).pullback
    return src, Path(pullback.file.path)


def test_no_planted_identifier_survives_anywhere_in_the_stored_file(tmp_path, coordinator, patient):
    src, stored = _stored_copy(tmp_path, coordinator, patient)
    assert b"SECRET" in src.read_bytes()
    data = stored.read_bytes()
    assert b"SECRET" not in data and b"Jansen" not in data
    assert b"19450203" not in data and b"20190405" not in data and b"20200101" not in data


def test_the_stored_header_follows_the_basic_profile(tmp_path, coordinator, patient):
    src, stored = _stored_copy(tmp_path, coordinator, patient)
    before = pydicom.dcmread(src, stop_before_pixels=True)
    ds = pydicom.dcmread(stored, stop_before_pixels=True)
    for keyword in deid.REMOVE:
        assert keyword not in ds, keyword
    for keyword in deid.EMPTY:
        assert ds.get(keyword, "") in ("", None), keyword
    assert ds.PatientID == patient.study_id and str(ds.PatientName) == ""
    assert not [e for e in ds.iterall() if e.VR in ("DA", "DT", "TM") and e.value]
    assert not [e for e in ds.iterall() if e.VR == "PN" and e.value]
    assert not [e for e in ds if e.tag.is_private] and not [e for e in ds if e.tag.group & 0xFF00 == 0x6000]
    assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.BurnedInAnnotation == "YES"  # kept: such frames are shown only to roles that may see identifiers
    assert ds.SOPClassUID == before.SOPClassUID  # a standard UID, kept
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        assert ds[keyword].value != before[keyword].value and ds[keyword].value.startswith("2.25.")
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    nested = ds.ReferencedImageSequence[0]
    assert nested.ReferencedSOPInstanceUID.startswith("2.25.") and str(nested.get("PersonName", "")) == ""
    meta_before, meta_after = files.read_metadata(src), files.read_metadata(stored)
    frames_before = np.concatenate(list(files.iter_frame_chunks(meta_before)))
    assert np.array_equal(frames_before, np.concatenate(list(files.iter_frame_chunks(meta_after))))


def test_uid_remapping_is_deterministic_per_key_and_keeps_standard_uids():
    key = b"k" * 32
    assert deid.remap_uid("1.2.3.4", key=key) == deid.remap_uid("1.2.3.4", key=key)
    assert deid.remap_uid("1.2.3.4", key=key) != deid.remap_uid("1.2.3.5", key=key)
    assert deid.remap_uid("1.2.3.4", key=key) != deid.remap_uid("1.2.3.4", key=b"other")
    assert len(deid.remap_uid("1.2.3.4", key=key)) <= 64
    assert set(SECRETS) - set(deid.REMOVE) - set(deid.EMPTY) <= {"PatientID", "AcquisitionDateTime", "PersonName"}
