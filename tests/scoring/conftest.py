"""Small phantoms shared by the scoring tests (512 x 512 frames, few frames)."""

import pytest

from scoring.detector.phantoms import polar_speckle
from scoring.dicom import files


@pytest.fixture(scope="session")
def small_plan():
    return polar_speckle.make_phantom(24, seed=11, preset="heavy")


@pytest.fixture(scope="session")
def dicom_files(tmp_path_factory, small_plan):
    """The same phantom written uncompressed and RLE."""
    folder = tmp_path_factory.mktemp("dicom")
    paths = {}
    for rle in (False, True):
        path = folder / f"phantom-{'rle' if rle else 'native'}.dcm"
        files.write_pullback(path, polar_speckle.iter_frames(small_plan), n_frames=small_plan.spec.n_frames, rle=rle)
        paths["rle" if rle else "native"] = path
    return paths
