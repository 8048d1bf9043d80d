import numpy as np
import pydicom
import pytest

from scoring.detector.phantoms import polar_speckle
from scoring.dicom import files
from scoring.dicom.files import DicomInputError, read_metadata


@pytest.mark.parametrize("kind", ["native", "rle"])
def test_writer_and_reader_round_trip(dicom_files, small_plan, kind):
    meta = read_metadata(dicom_files[kind])
    frames = np.concatenate(list(files.iter_frame_chunks(meta, chunk_frames=5)))
    expected = np.concatenate(list(polar_speckle.iter_frames(small_plan)))
    assert np.array_equal(frames, expected)
    assert meta.n_frames == 24 and meta.frame_rate_hz == pytest.approx(30.0)
    assert meta.pullback_rate_mm_s == 0.5 and meta.pixel_spacing_mm == pytest.approx(0.02)
    assert meta.length_mm() == pytest.approx(0.4)
    assert meta.is_native == (kind == "native")


def test_a_frame_range_is_read_alone(dicom_files, small_plan):
    meta = read_metadata(dicom_files["rle"])
    frames = np.concatenate(list(files.iter_frame_chunks(meta, start=10, stop=13)))
    assert np.array_equal(frames, polar_speckle.render_frames(small_plan, 10, 13))


def test_the_file_has_the_ivus_attributes(dicom_files):
    ds = pydicom.dcmread(dicom_files["native"], stop_before_pixels=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1" and ds.Modality == "IVUS"
    assert ds.IVUSAcquisition == "MOTOR_PULLBACK" and float(ds.IVUSPullbackRate) == 0.5
    assert ds.SequenceOfUltrasoundRegions[0].PhysicalUnitsXDirection == 3


def test_rgb_frames_become_luminance(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    ds = _small_ds(frames)
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "RGB", 3, 0
    ds.PixelData = np.repeat(frames[..., None], 3, axis=-1).tobytes()
    path = tmp_path / "rgb.dcm"
    ds.save_as(path, enforce_file_format=True)
    got = np.concatenate(list(files.iter_frame_chunks(read_metadata(path))))
    assert np.abs(got.astype(int) - frames).max() <= 1


def _small_ds(frames):
    path_frames = iter([frames])
    ds = files._base_dataset(
        n_frames=len(frames),
        rows=16,
        columns=16,
        frame_rate_hz=30.0,
        pullback_rate_mm_s=0.5,
        pixel_spacing_mm=0.02,
        patient_id="X",
        patient_name="X^Y",
        transfer_syntax=pydicom.uid.ExplicitVRLittleEndian,
    )
    ds.PixelData = next(path_frames).tobytes()
    return ds


def _write(tmp_path, mutate, frames=None):
    frames = np.zeros((3, 16, 16), np.uint8) if frames is None else frames
    ds = _small_ds(frames)
    mutate(ds)
    path = tmp_path / "bad.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _code(path):
    with pytest.raises(DicomInputError) as info:
        read_metadata(path)
    return info.value.code


def test_it_rejects_a_file_that_is_not_dicom(tmp_path):
    path = tmp_path / "x.dcm"
    path.write_bytes(b"hello, not an image" * 20)
    assert _code(path) == "not_dicom"


def test_it_rejects_a_truncated_file(tmp_path, dicom_files):
    data = dicom_files["native"].read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) // 2])
    assert _code(path) == "truncated"


def test_it_rejects_a_single_frame(tmp_path):
    assert _code(_write(tmp_path, lambda ds: setattr(ds, "NumberOfFrames", 1))) == "not_multiframe"


def test_it_rejects_another_sop_class(tmp_path):
    assert _code(_write(tmp_path, lambda ds: setattr(ds, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"))) == "wrong_sop_class"


def test_it_rejects_another_modality(tmp_path):
    assert _code(_write(tmp_path, lambda ds: setattr(ds, "Modality", "CT"))) == "wrong_modality"


def test_it_rejects_a_file_without_pixel_data(tmp_path):
    assert _code(_write(tmp_path, lambda ds: delattr(ds, "PixelData"))) == "no_pixel_data"


def test_it_rejects_an_unknown_frame_rate(tmp_path):
    def drop(ds):
        del ds.FrameTime, ds.CineRate

    assert _code(_write(tmp_path, drop)) == "unknown_frame_rate"


def test_it_rejects_an_unsupported_transfer_syntax_by_name(tmp_path):
    def jpeg_ls(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
        ds.PixelData = pydicom.encaps.encapsulate([b"\0" * 16] * 3)
        ds["PixelData"].VR = "OB"

    with pytest.raises(DicomInputError, match="JPEG-LS Lossless") as info:
        read_metadata(_write(tmp_path, jpeg_ls))
    assert info.value.code == "unsupported_transfer_syntax"
