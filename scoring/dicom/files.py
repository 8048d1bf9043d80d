"""IVUS DICOM in and out: the only module that parses DICOM (pydicom 3).

Reading never loads every frame: metadata comes from ``dcmread(stop_before_pixels=True)``
and frames are read in chunks, from a numpy memmap of the pixel data for native
(uncompressed) files - measured fastest and memory bounded - or frame by frame with
``pydicom.pixels.iter_pixels`` for compressed ones. Writing streams the pixel data too.
"""

import datetime as dt
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

US_MULTIFRAME_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"
ACCEPTED_SOP_CLASSES = {
    US_MULTIFRAME_SOP_CLASS: "Ultrasound Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
}
ACCEPTED_MODALITIES = {"IVUS", "US"}
NATIVE_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
PIXEL_DATA_TAG = 0x7FE00010
DEFAULT_CHUNK_FRAMES = 64

# A file name: text or a Path.
StrPath = str | os.PathLike[str]


class DicomInputError(ValueError):
    """A file that cannot be scored; ``code`` says why (for the upload form and the API)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PullbackMetadata:
    """What the scorer and the registry need from a pullback file (no identifiers beyond these)."""

    path: str
    n_frames: int
    rows: int
    columns: int
    samples_per_pixel: int
    photometric: str
    transfer_syntax_uid: str
    frame_rate_hz: float
    pullback_rate_mm_s: float | None
    pixel_spacing_mm: float | None
    sop_class_uid: str
    sop_instance_uid: str
    modality: str
    patient_id: str
    manufacturer: str
    model_name: str
    acquisition_date: str
    pixel_data_offset: int | None  # byte offset of native pixel data, None when encapsulated
    ivus_acquisition: str = ""  # (0018,3100) e.g. MOTOR_PULLBACK
    pullback_start_frame: int | None = None  # (0018,3103), 1-based
    pullback_stop_frame: int | None = None  # (0018,3104), 1-based
    burned_in_annotation: str = ""  # (0028,0301) YES / NO / empty

    @property
    def is_native(self) -> bool:
        return self.pixel_data_offset is not None

    def length_mm(self, *, assumed_pullback_rate_mm_s: float = 0.5) -> float:
        """Pullback length (mm) = frames / frame rate x pullback rate (assumed if absent)."""
        rate = self.pullback_rate_mm_s or assumed_pullback_rate_mm_s
        return self.n_frames / self.frame_rate_hz * rate


# --------------------------------------------------------------------------------------
# Writing


SYNTHETIC_ACQUISITION_DATE = dt.date(2020, 1, 1)  # of written phantoms, unless given (the demo: the index date)


def _base_dataset(
    *,
    n_frames: int,
    rows: int,
    columns: int,
    frame_rate_hz: float,
    pullback_rate_mm_s: float,
    pixel_spacing_mm: float,
    patient_id: str,
    patient_name: str,
    transfer_syntax: UID,
    acquisition_date: dt.date = SYNTHETIC_ACQUISITION_DATE,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(US_MULTIFRAME_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = US_MULTIFRAME_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "IVUS"
    ds.PatientID, ds.PatientName = patient_id, patient_name
    ds.Manufacturer, ds.ManufacturerModelName = "ICS registry", "IVUS phantom 40 MHz"
    ds.StudyDate = ds.AcquisitionDate = acquisition_date.strftime("%Y%m%d")
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    _set_image_pixel(ds, n_frames=n_frames, rows=rows, columns=columns)
    _set_ivus(ds, n_frames=n_frames, frame_rate_hz=frame_rate_hz, pullback_rate_mm_s=pullback_rate_mm_s)
    ds.SequenceOfUltrasoundRegions = [_region(rows=rows, columns=columns, pixel_spacing_mm=pixel_spacing_mm)]
    return ds


def _set_image_pixel(ds: Dataset, *, n_frames: int, rows: int, columns: int) -> None:
    ds.NumberOfFrames = n_frames
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0


def _set_ivus(ds: Dataset, *, n_frames: int, frame_rate_hz: float, pullback_rate_mm_s: float) -> None:
    ds.FrameTime = f"{1000.0 / frame_rate_hz:.10g}"  # ms
    ds.CineRate = int(round(frame_rate_hz))
    ds.FrameIncrementPointer = 0x00181063  # FrameTime
    ds.IVUSAcquisition = "MOTOR_PULLBACK"
    ds.IVUSPullbackRate = f"{pullback_rate_mm_s:.6g}"  # mm/s
    ds.IVUSPullbackStartFrameNumber, ds.IVUSPullbackStopFrameNumber = 1, n_frames


def _region(*, rows: int, columns: int, pixel_spacing_mm: float) -> Dataset:
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = columns - 1, rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = pixel_spacing_mm / 10.0
    region.ReferencePixelX0, region.ReferencePixelY0 = columns // 2, rows // 2
    return region


def write_pullback(
    path: StrPath,
    frame_chunks: Iterable[np.ndarray],
    *,
    n_frames: int,
    rle: bool = False,
    frame_rate_hz: float = 30.0,
    pullback_rate_mm_s: float = 0.5,
    pixel_spacing_mm: float = 0.02,
    patient_id: str = "PHANTOM",
    patient_name: str = "Phantom^IVUS",
    acquisition_date: dt.date = SYNTHETIC_ACQUISITION_DATE,
) -> None:
    """Write uint8 frames as an IVUS Ultrasound Multi-frame Image Storage file, streaming.

    Parameters
    ----------
    path : str or Path
        Output file.
    frame_chunks : iterable of ndarray
        uint8 arrays (f, rows, columns), ``n_frames`` frames in total.
    n_frames : int
        Number of frames, written in the header before the pixel data.
    rle : bool
        RLE Lossless (encapsulated, one fragment per frame) instead of Explicit VR Little Endian.
    frame_rate_hz, pullback_rate_mm_s, pixel_spacing_mm : float
        Stored as FrameTime (ms), IVUS Pullback Rate (mm/s), Physical Delta X/Y (cm).
    acquisition_date : date
        Stored as Study and Acquisition Date.
    """
    chunks = iter(frame_chunks)
    first = next(chunks)
    rows, columns = first.shape[1:]
    ds = _base_dataset(
        n_frames=n_frames,
        rows=rows,
        columns=columns,
        frame_rate_hz=frame_rate_hz,
        pullback_rate_mm_s=pullback_rate_mm_s,
        pixel_spacing_mm=pixel_spacing_mm,
        patient_id=patient_id,
        patient_name=patient_name,
        transfer_syntax=RLELossless if rle else ExplicitVRLittleEndian,
        acquisition_date=acquisition_date,
    )
    written = 0
    with open(path, "wb") as fp:
        ds.save_as(fp, enforce_file_format=True)
        writer: _RleWriter | _NativeWriter = _RleWriter(fp) if rle else _NativeWriter(fp, n_frames * rows * columns)
        for chunk in _chain(first, chunks):
            writer.write(np.ascontiguousarray(chunk, np.uint8))
            written += len(chunk)
        writer.close()
    if written != n_frames:
        raise ValueError(f"wrote {written} frames but the header says {n_frames}")


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


class _NativeWriter:
    """Pixel Data (7FE0,0010) OB with an explicit length, then raw frames."""

    def __init__(self, fp: BinaryIO, n_bytes: int) -> None:
        self.fp = fp
        fp.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, n_bytes + n_bytes % 2))
        self.pad = n_bytes % 2

    def write(self, frames: np.ndarray) -> None:
        self.fp.write(frames.tobytes())

    def close(self) -> None:
        self.fp.write(b"\0" * self.pad)


class _RleWriter:
    """Encapsulated Pixel Data: empty basic offset table, one RLE fragment per frame."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        fp.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        fp.write(struct.pack("<HHI", 0xFFFE, 0xE000, 0))

    def write(self, frames: np.ndarray) -> None:
        from pydicom.pixels.encoders import RLELosslessEncoder

        plugin = "pylibjpeg" if "pylibjpeg" in RLELosslessEncoder.available_plugins else "pydicom"
        rows, columns = frames.shape[1:]
        for frame in frames:
            data = RLELosslessEncoder.encode(
                frame,
                encoding_plugin=plugin,
                rows=rows,
                columns=columns,
                samples_per_pixel=1,
                bits_allocated=8,
                bits_stored=8,
                pixel_representation=0,
                photometric_interpretation="MONOCHROME2",
                number_of_frames=1,
            )
            data += b"\0" * (len(data) % 2)
            self.fp.write(struct.pack("<HHI", 0xFFFE, 0xE000, len(data)))
            self.fp.write(data)

    def close(self) -> None:
        self.fp.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))


# --------------------------------------------------------------------------------------
# Reading and validation


def read_metadata(path: StrPath) -> PullbackMetadata:
    """Read and validate a pullback's header without touching its frames.

    Raises
    ------
    DicomInputError
        ``not_dicom``, ``truncated``, ``not_multiframe``, ``wrong_sop_class``, ``wrong_modality``,
        ``no_pixel_data``, ``unknown_frame_rate``, ``unsupported_transfer_syntax``,
        ``unsupported_pixels``, each with a readable message.
    """
    name = str(path)
    with open(name, "rb") as fp:
        ds = _read_header(fp)
        pixel_offset = _pixel_data_value_offset(fp, ds)
    _check_kind(ds)
    syntax = _check_transfer_syntax(ds)
    _check_pixels(ds)
    meta = _metadata(name, ds, syntax, pixel_offset if syntax in NATIVE_SYNTAXES else None)
    if meta.is_native:
        _check_native_length(meta)
    return meta


def _read_header(fp: BinaryIO) -> Dataset:
    try:
        return pydicom.dcmread(fp, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise DicomInputError("not_dicom", "Not a DICOM file (no DICM preamble or file meta).") from exc
    except (EOFError, struct.error, OSError) as exc:
        raise DicomInputError("truncated", f"The DICOM header is truncated: {exc}.") from exc


def _pixel_data_value_offset(fp: BinaryIO, ds: Dataset) -> int:
    """Byte offset of the Pixel Data value; the header read stopped right at its tag."""
    header = fp.read(12)
    if len(header) < 8:
        raise DicomInputError("no_pixel_data", "The file has no Pixel Data (7FE0,0010).")
    group, element = struct.unpack("<HH", header[:4])
    if (group, element) != (0x7FE0, 0x0010):
        raise DicomInputError("no_pixel_data", "The file has no Pixel Data (7FE0,0010).")
    implicit = ds.file_meta.get("TransferSyntaxUID") == ImplicitVRLittleEndian
    return fp.tell() - 12 + (8 if implicit else 12)


def _check_kind(ds: Dataset) -> None:
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in ACCEPTED_SOP_CLASSES:
        name = UID(sop_class).name if sop_class else "missing"
        raise DicomInputError("wrong_sop_class", f"SOP class {name} ({sop_class}) is not an ultrasound multi-frame image.")
    modality = str(ds.get("Modality", ""))
    if modality not in ACCEPTED_MODALITIES:
        raise DicomInputError("wrong_modality", f"Modality {modality or 'missing'} is not IVUS or US.")
    if int(ds.get("NumberOfFrames", 1) or 1) < 2:
        raise DicomInputError("not_multiframe", "The file holds a single frame, not a pullback.")
    if _frame_rate_hz(ds) is None:
        raise DicomInputError("unknown_frame_rate", "Unknown frame rate: no FrameTime, CineRate or FrameTimeVector.")


def _check_transfer_syntax(ds: Dataset) -> UID:
    syntax = UID(ds.file_meta.get("TransferSyntaxUID", ImplicitVRLittleEndian))
    if syntax in NATIVE_SYNTAXES:
        return syntax
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise DicomInputError("unsupported_transfer_syntax", f"Unsupported transfer syntax: {syntax.name} ({syntax}).")
    return syntax


def _check_pixels(ds: Dataset) -> None:
    if int(ds.BitsAllocated) != 8 or int(ds.get("PixelRepresentation", 0)) != 0:
        raise DicomInputError(
            "unsupported_pixels", f"Only 8-bit unsigned pixels are supported (BitsAllocated {ds.BitsAllocated})."
        )
    if int(ds.SamplesPerPixel) not in (1, 3):
        raise DicomInputError("unsupported_pixels", f"Unsupported SamplesPerPixel {ds.SamplesPerPixel}.")


def _frame_rate_hz(ds: Dataset) -> float | None:
    if ds.get("FrameTime"):
        return 1000.0 / float(ds.FrameTime)
    if ds.get("CineRate"):
        return float(ds.CineRate)
    if ds.get("FrameTimeVector"):
        times_ms = np.asarray(ds.FrameTimeVector, float)[1:]
        return 1000.0 / float(np.median(times_ms)) if len(times_ms) and np.median(times_ms) > 0 else None
    return None


def _pixel_spacing_mm(ds: Dataset) -> float | None:
    for region in ds.get("SequenceOfUltrasoundRegions", []):
        if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalDeltaX"):
            return float(region.PhysicalDeltaX) * 10.0  # cm -> mm
    if ds.get("PixelSpacing"):
        return float(ds.PixelSpacing[0])
    return None


def _pullback_rate_mm_s(ds: Dataset) -> float | None:
    if ds.get("IVUSPullbackRate"):
        return float(ds.IVUSPullbackRate)
    private = ds.get((0x000B, 0x1001))  # Boston Scientific
    if private is not None and private.value:
        try:
            return float(private.value if not isinstance(private.value, bytes) else private.value.decode().strip("\0 "))
        except ValueError:
            return None
    return None


def _metadata(path: str, ds: Dataset, syntax: UID, pixel_offset: int | None) -> PullbackMetadata:
    frame_rate_hz = _frame_rate_hz(ds)
    assert frame_rate_hz is not None  # _check_kind refused a file without one
    return PullbackMetadata(
        path=path,
        n_frames=int(ds.NumberOfFrames),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        samples_per_pixel=int(ds.SamplesPerPixel),
        photometric=str(ds.PhotometricInterpretation),
        transfer_syntax_uid=str(syntax),
        frame_rate_hz=frame_rate_hz,
        pullback_rate_mm_s=_pullback_rate_mm_s(ds),
        pixel_spacing_mm=_pixel_spacing_mm(ds),
        sop_class_uid=str(ds.SOPClassUID),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        modality=str(ds.Modality),
        patient_id=str(ds.get("PatientID", "")),
        manufacturer=str(ds.get("Manufacturer", "")),
        model_name=str(ds.get("ManufacturerModelName", "")),
        acquisition_date=str(ds.get("AcquisitionDate", ds.get("StudyDate", ""))),
        pixel_data_offset=pixel_offset,
        ivus_acquisition=str(ds.get("IVUSAcquisition", "") or ""),
        pullback_start_frame=_int_or_none(ds.get("IVUSPullbackStartFrameNumber")),
        pullback_stop_frame=_int_or_none(ds.get("IVUSPullbackStopFrameNumber")),
        burned_in_annotation=str(ds.get("BurnedInAnnotation", "") or ""),
    )


def _int_or_none(value: Any) -> int | None:  # a DICOM element's value
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _frame_bytes(meta: PullbackMetadata) -> int:
    return meta.rows * meta.columns * meta.samples_per_pixel


def _check_native_length(meta: PullbackMetadata) -> None:
    assert meta.pixel_data_offset is not None  # native
    needed = meta.pixel_data_offset + meta.n_frames * _frame_bytes(meta)
    size = Path(meta.path).stat().st_size
    if size < needed:
        raise DicomInputError("truncated", f"The file is truncated: {size} bytes, the pixel data needs {needed}.")


def iter_frame_chunks(
    meta: PullbackMetadata, *, chunk_frames: int = DEFAULT_CHUNK_FRAMES, start: int = 0, stop: int | None = None
) -> Iterator[np.ndarray]:
    """Yield grey uint8 frames (f, rows, columns) in chunks, never the whole pullback.

    Colour (RGB or YBR) frames are reduced to their luminance, Y = 0.299 R + 0.587 G + 0.114 B
    (ITU-R BT.601), so grey content keeps its value.
    """
    if meta.is_native and meta.samples_per_pixel == 1 or meta.is_native and meta.photometric == "RGB":
        yield from _iter_native(meta, chunk_frames, start, stop or meta.n_frames)
    else:
        yield from _iter_encapsulated(meta, chunk_frames, start, stop or meta.n_frames)


def _iter_native(meta: PullbackMetadata, chunk_frames: int, first: int, stop: int) -> Iterator[np.ndarray]:
    shape = (meta.n_frames, meta.rows, meta.columns) + ((3,) if meta.samples_per_pixel == 3 else ())
    assert meta.pixel_data_offset is not None  # native
    frames = np.memmap(meta.path, dtype=np.uint8, mode="r", offset=meta.pixel_data_offset, shape=shape)
    try:
        for start in range(first, stop, chunk_frames):
            chunk = np.array(frames[start : min(start + chunk_frames, stop)])
            yield _luminance(chunk) if chunk.ndim == 4 else chunk
    finally:
        del frames


def _iter_encapsulated(meta: PullbackMetadata, chunk_frames: int, start: int, stop: int) -> Iterator[np.ndarray]:
    buffer: list[np.ndarray] = []
    try:
        for frame in pydicom.pixels.iter_pixels(meta.path, as_rgb=True, indices=range(start, stop)):
            buffer.append(_luminance(frame[None]) if frame.ndim == 3 else frame)
            if len(buffer) == chunk_frames:
                yield _stack(buffer)
                buffer = []
    except (EOFError, ValueError, struct.error) as exc:
        raise DicomInputError("truncated", f"Could not decode the frames (truncated or corrupt file): {exc}") from exc
    if buffer:
        yield _stack(buffer)


def _stack(frames: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([f if f.ndim == 3 else f[None] for f in frames]).astype(np.uint8, copy=False)


# Consoles burn coloured marks (measurements, scale, text) into exported frames; the echo image
# itself is grey. A pixel whose channels differ by more than this is overlay, not tissue (JPEG
# chroma noise on grey content stays well below it).
COLOUR_OVERLAY_MIN_CHROMA = 48


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB (..., 3) in integer arithmetic; coloured overlay pixels -> 0."""
    weights = np.array([77, 150, 29], np.uint16)  # 0.299, 0.587, 0.114 x 256
    luma: np.ndarray = ((rgb.astype(np.uint16) * weights).sum(axis=-1, dtype=np.uint32) + 128 >> 8).astype(np.uint8)
    chroma = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
    luma[chroma > COLOUR_OVERLAY_MIN_CHROMA] = 0
    return luma


# --------------------------------------------------------------------------------------
# Rewriting the header (de-identification) while streaming the pixel data


def read_header(path: StrPath) -> tuple[Dataset, int]:
    """The header as a Dataset (no pixel data) and the byte offset of the Pixel Data element.

    For a file already accepted by :func:`read_metadata`; ``ds`` can be changed and written
    back with :func:`write_with_header`, which copies the pixel data unchanged.
    """
    with open(str(path), "rb") as fp:
        ds = _read_header(fp)
        element_offset = fp.tell()
        header = fp.read(4)
    if len(header) < 4 or struct.unpack("<HH", header) != (0x7FE0, 0x0010):
        raise DicomInputError("no_pixel_data", "The file has no Pixel Data (7FE0,0010).")
    return ds, element_offset


def write_with_header(
    src_path: StrPath, dst_path: StrPath, ds: Dataset, *, pixel_element_offset: int, copy_chunk_bytes: int = 8 * 1024 * 1024
) -> None:
    """Write ``ds`` (header only, same transfer syntax) then the source's Pixel Data element and
    everything after it, copied in chunks (memory bounded)."""
    with open(str(dst_path), "wb") as out:
        ds.save_as(out, enforce_file_format=True)
        with open(str(src_path), "rb") as src:
            src.seek(pixel_element_offset)
            while chunk := src.read(copy_chunk_bytes):
                out.write(chunk)


# Burned-in grey marks (scale bars, depth ticks, text) do not move with the anatomy: a pixel that
# keeps its value in frames sampled across the whole pullback is overlay, not tissue. Lossy JPEG
# lets a mark's value wobble by a few grey levels; dark pixels are left alone (masking them to
# black changes nothing).
STATIC_SAMPLE_FRAMES = 16
STATIC_MAX_RANGE = 3
STATIC_MIN_VALUE = 16


def static_overlay_mask(meta: PullbackMetadata) -> np.ndarray | None:
    """Pixels (rows, columns) that are the same in frames spread over the whole pullback.

    Returns None for a pullback too short to tell (fewer than 8 frames). Reads
    STATIC_SAMPLE_FRAMES single frames, not the pullback.
    """
    if meta.n_frames < 8:
        return None
    indices = np.unique(np.linspace(0, meta.n_frames - 1, min(STATIC_SAMPLE_FRAMES, meta.n_frames)).round().astype(int))
    lowest: np.ndarray | None = None
    highest: np.ndarray | None = None
    for index in indices:
        frame = read_frame(meta, int(index))
        lowest = frame.copy() if lowest is None else np.minimum(lowest, frame)
        highest = frame.copy() if highest is None else np.maximum(highest, frame)
    assert lowest is not None and highest is not None  # at least 8 frames were read
    mask: np.ndarray = (highest.astype(np.int16) - lowest <= STATIC_MAX_RANGE) & (lowest >= STATIC_MIN_VALUE)
    return mask


def without_overlay(chunks: Iterable[np.ndarray], mask: np.ndarray | None) -> Iterator[np.ndarray]:
    """The chunks with the masked (static overlay) pixels set to 0, as coloured overlay is."""
    for chunk in chunks:
        if mask is not None and mask.any():
            chunk = chunk.copy() if not chunk.flags.writeable else chunk
            chunk[:, mask] = 0
        yield chunk


def read_frame(meta: PullbackMetadata, index: int) -> np.ndarray:
    """One grey uint8 frame (rows, columns)."""
    if not 0 <= index < meta.n_frames:
        raise IndexError(f"frame {index} out of range 0..{meta.n_frames - 1}")
    frame: np.ndarray = next(iter_frame_chunks(meta, chunk_frames=1, start=index, stop=index + 1))[0]
    return frame
