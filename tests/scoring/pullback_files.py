"""Small generated pullback files and a detector model for the pullback tests (synthetic only)."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from scoring.detector.features import feature_names
from scoring.detector.model import DetectorModel
from scoring.detector.model_store import save_model
from scoring.detector.phantoms import polar_speckle
from scoring.detector.postprocess import PostProcessing
from scoring.dicom import files

# Planted identifiers: none of these strings may survive de-identification.
SECRETS = {
    "PatientName": "Jansen^Jan^SECRETNAME",
    "PatientID": "SECRETMRN-0042",
    "PatientBirthDate": "19450203",
    "OtherPatientIDs": "SECRETOTHERID",
    "PatientAddress": "SECRETSTREET 1 Rotterdam",
    "InstitutionName": "SECRET Hospital",
    "ReferringPhysicianName": "Doctor^SECRETREFERRER",
    "OperatorsName": "Nurse^SECRETOPERATOR",
    "PerformingPhysicianName": "Doctor^SECRETPERFORMER",
    "AccessionNumber": "SECRETACC77",
    "StudyID": "SECRETSTUDY",
    "StudyDescription": "SECRET study description",
    "SeriesDescription": "SECRET series",
    "InstitutionAddress": "SECRET address",
    "StationName": "SECRETSTATION",
    "DeviceSerialNumber": "SECRETSERIAL",
    "PatientTelephoneNumbers": "SECRET0101",
    "ImageComments": "SECRET comment",
    "PatientAge": "081Y",
    "StudyTime": "101112",
    "AcquisitionDateTime": "20190405101112",
    "PatientComments": "SECRET comment 2",
    "InstitutionalDepartmentName": "SECRET cardiology",
    "RequestingPhysician": "Doctor^SECRETREQUEST",
}


@lru_cache(maxsize=8)
def _frames(n_frames: int, seed: int, preset: str) -> np.ndarray:
    plan = polar_speckle.make_phantom(n_frames, seed=seed, preset=preset)
    return np.concatenate(list(polar_speckle.iter_frames(plan)))


def phantom_file(
    path: Path,
    *,
    n_frames: int = 8,
    seed: int = 3,
    preset: str = "heavy",
    rle: bool = False,
    pullback_rate_mm_s: float = 0.5,
    patient_id: str = "MRN0000001",
) -> Path:
    frames = _frames(n_frames, seed, preset)
    files.write_pullback(
        path, [frames], n_frames=n_frames, rle=rle, pullback_rate_mm_s=pullback_rate_mm_s, patient_id=patient_id
    )
    return path


def with_header(src: Path, dst: Path, mutate) -> Path:
    """Copy a file with its header changed by ``mutate(ds)``; the pixel data is copied as is."""
    ds, offset = files.read_header(src)
    mutate(ds)
    files.write_with_header(src, dst, ds, pixel_element_offset=offset)
    return dst


def plant_identifiers(ds: Dataset) -> None:
    for keyword, value in SECRETS.items():
        setattr(ds, keyword, value)
    ds.AcquisitionDate = "20190405"
    ds.BurnedInAnnotation = "YES"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    item.ReferencedSOPInstanceUID = "1.2.3.4.5.SECRET".replace(".SECRET", ".999")
    item.PersonName = "Nested^SECRETNESTED"
    ds.ReferencedImageSequence = [item]
    ds.ProcedureCodeSequence = [Dataset()]
    ds.ProcedureCodeSequence[0].CodeMeaning = "IVUS"
    ds.ProcedureCodeSequence[0].ContentCreatorName = "Nested^SECRETCREATOR"
    block = ds.private_block(0x0009, "SECRET VENDOR", create=True)
    block.add_new(0x01, "LO", "SECRETPRIVATE")
    ds.add_new(0x60003000, "OW", b"\0" * 8)  # overlay data
    ds.add_new(0x60004000, "LT", "SECRET overlay comment")


def simple_model_store(folder: Path) -> Path:
    """A valid model for the current feature set (bright echo with a shadow -> calcium).

    The pullback tests check the pipeline around the detector, not its accuracy."""
    names = feature_names()
    coef = np.zeros(len(names))
    for name, weight in (("peak", 1.0), ("shadow_near", -1.0), ("narrowness", -0.5)):
        if name in names:
            coef[names.index(name)] = weight
    model = DetectorModel(
        feature_names=names,
        mean=np.zeros(len(names)),
        scale=np.ones(len(names)),
        coef=coef,
        intercept=0.0,
        post=PostProcessing(),
        n_alines=128,
    )
    save_model(model, name="default", store=folder)
    return folder


@pytest.fixture(scope="session")
def _model_folder(tmp_path_factory):
    return simple_model_store(tmp_path_factory.mktemp("models"))


@pytest.fixture
def scoring_model(settings, _model_folder):
    """Scoring in these tests uses :func:`simple_model_store`'s model."""
    settings.SCORING_MODEL_STORE = str(_model_folder)
    return _model_folder


def jpeg_file(path: Path, *, n_frames: int = 6, seed: int = 3, colour_box: bool = True) -> Path:
    """A 3-channel JPEG baseline (YBR_FULL_422) pullback, like many console exports, with grey
    content and a coloured burned-in box in a corner."""
    import io

    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    frames = _frames(n_frames, seed, "heavy")
    fragments = []
    for frame in frames:
        rgb = np.repeat(frame[..., None], 3, axis=-1)
        if colour_box:
            rgb[20:60, 20:120] = (230, 40, 40)
        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=95, subsampling=1)  # 4:2:2
        fragments.append(buffer.getvalue())
    rows, columns = frames.shape[1:]
    ds = files._base_dataset(
        n_frames=n_frames,
        rows=rows,
        columns=columns,
        frame_rate_hz=30.0,
        pullback_rate_mm_s=0.5,
        pixel_spacing_mm=0.02,
        patient_id="MRN-JPEG",
        patient_name="Jpeg^Patient",
        transfer_syntax=JPEGBaseline8Bit,
    )
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


_counter = [0]


def make_pullback(
    patient,
    *,
    length_mm: float = 50.0,
    ics: float | None = 100.0,
    qc_status: str = "included",
    labels: np.ndarray | None = None,
    **fields,
):
    """A Pullback row (no file) with, unless ``ics`` is None, a current successful run whose map
    has the given ICS (or the given labels)."""
    from scoring.detector import calcium_map
    from scoring.models import Pullback, ScoringRun

    _counter[0] += 1
    n = _counter[0]
    pullback = Pullback.objects.create(
        patient=patient,
        file=f"pullbacks/test-{n}.dcm",
        file_size_bytes=1,
        sop_instance_uid=f"2.25.{n}",
        content_sha256=f"{n:064d}",
        n_frames=100,
        frame_rate_hz=30.0,
        pullback_speed_mm_s=length_mm * 30.0 / 100,
        length_mm=length_mm,
        pixel_spacing_mm=0.02,
        calibrated=True,
        rows=512,
        columns=512,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        qc_status=qc_status,
        exclusion_reason="" if qc_status == "included" else "poor_image_quality",
        **fields,
    )
    if ics is None and labels is None:
        return pullback
    if labels is None:
        labels = np.zeros((100, 100), bool)
        labels.flat[: int(round(ics * 10))] = True  # ICS = positives / 10000 x 1000
    ScoringRun.objects.create(
        pullback=pullback,
        model_name="default",
        model_version="default-test",
        status="succeeded",
        progress_percent=100,
        is_current=True,
        ics=calcium_map.ics(labels),
        n_frames=labels.shape[0],
        n_alines=labels.shape[1],
        calcium_alines=int(labels.sum()),
        calcium_alines_per_frame=labels.sum(axis=1).tolist(),
        calcium_map=calcium_map.pack(labels),
    )
    # The row is written directly; the scoring services store the patient's study ICS, so do what they do.
    from scoring.services import study_ics_refresh

    study_ics_refresh([patient.pk])
    return pullback
