"""The longitudinal (L-mode) view: the cut itself on synthetic stacks (pure, no database) and the
PNG endpoint (/api/pullbacks/<id>/lmode.png): its size and calcium bands, the role matrix of the
frame images, another site's pullback, unscored and missing pullbacks, bad angles and caching."""

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image
from rest_framework.test import APIClient

from scoring.dicom import files, lmode
from scoring.models import Pullback
from tests.scoring.pullback_files import make_pullback, phantom_file

SIZE = 65  # odd: the centre is a pixel, the diameter 65 samples, one per pixel
RADIUS = (SIZE - 1) // 2


def _dot_stack(angle_deg: float, radii: list[int]) -> tuple[np.ndarray, list[float]]:
    """Frames with one bright 3x3 dot each, at radius radii[i] along angle_deg (rows grow downwards),
    and each dot's distance from the centre along the angle once put on the pixel grid."""
    frames = np.zeros((len(radii), SIZE, SIZE), np.uint8)
    along = []
    cos, sin = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    for i, r in enumerate(radii):
        row, col = int(round(RADIUS - r * sin)), int(round(RADIUS + r * cos))
        frames[i, row - 1 : row + 2, col - 1 : col + 2] = 250
        along.append((col - RADIUS) * cos + (RADIUS - row) * sin)
    return frames, along


def _rows_of_the_dot(cut: np.ndarray) -> list[float]:
    """Brightness-weighted row of each column (the dot is 3 pixels long along the cut)."""
    rows = np.arange(len(cut))[:, None]
    return ((cut * rows).sum(axis=0) / cut.sum(axis=0)).tolist()


def _cut(frames: np.ndarray, angle_deg: float, chunk: int = 3) -> np.ndarray:
    chunks = (frames[i : i + chunk] for i in range(0, len(frames), chunk))
    indices = lmode.lmode_frames(len(frames))
    return lmode.lmode_cut(chunks, frame_indices=indices, angle_deg=angle_deg, n_samples=SIZE)


@pytest.mark.parametrize("angle_deg", [0, 60, 90, 225, 300])
def test_a_bright_dot_at_the_cut_angle_appears_at_its_radius_from_the_top(angle_deg):
    stack, radii = _dot_stack(angle_deg, [5, 10, 20, 28, 12, 7])
    cut = _cut(stack, angle_deg)
    assert cut.shape == (SIZE, len(radii))
    # Row 0 is the edge at the cut angle, row RADIUS the centre: the dot at radius r is on row RADIUS - r.
    assert _rows_of_the_dot(cut) == pytest.approx([RADIUS - r for r in radii], abs=0.2)
    assert cut.max(axis=0).min() == 250


@pytest.mark.parametrize("angle_deg", [0, 60, 90])
def test_the_opposite_cut_shows_the_dot_below_the_centre_and_a_square_cut_misses_it(angle_deg):
    stack, radii = _dot_stack(angle_deg, [5, 10, 20, 28])
    opposite = _cut(stack, angle_deg + 180)
    assert _rows_of_the_dot(opposite) == pytest.approx([RADIUS + r for r in radii], abs=0.2)
    across = _cut(stack, angle_deg + 90)
    assert across.max() == 0  # the dots never lie on the perpendicular diameter


def test_a_bright_ray_fills_the_top_half_of_its_cut():
    frames = np.zeros((4, SIZE, SIZE), np.uint8)
    frames[:, : RADIUS + 1, RADIUS] = 200  # from the centre straight up: 90 degrees
    cut = _cut(frames, 90)
    assert (cut[: RADIUS + 1] == 200).all() and (cut[RADIUS + 1 :] == 0).all()


def test_long_pullbacks_show_the_middle_frame_of_each_bin_and_every_frame_finds_its_column():
    assert lmode.lmode_frames(5, max_columns=10).tolist() == [0, 1, 2, 3, 4]
    indices = lmode.lmode_frames(2400, max_columns=800)
    assert len(indices) == 800 and indices[:3].tolist() == [1, 4, 7] and indices[-1] == 2398
    # The viewer marks frame i at (i + 0.5) / frames of the width: inside its own column.
    for frame in (0, 1, 1234, 2399):
        column = int((frame + 0.5) / 2400 * 800)
        assert column * 3 <= frame < (column + 1) * 3


def test_frames_are_taken_from_the_chunk_they_fall_in():
    frames = np.zeros((10, SIZE, SIZE), np.uint8)
    frames[:, RADIUS, RADIUS] = np.arange(10) * 20  # the centre pixel says which frame it is
    chunks = (frames[i : i + 4] for i in range(0, 10, 4))
    cut = lmode.lmode_cut(chunks, frame_indices=np.array([0, 3, 4, 9]), angle_deg=0, n_samples=SIZE)
    assert cut[RADIUS].tolist() == [0, 60, 80, 180]


def test_calcium_bands_are_the_a_lines_at_the_cut_angle_and_opposite():
    labels = np.zeros((6, 128), bool)
    labels[1, 32] = True  # 90 degrees: the top edge of the 90-degree cut
    labels[4, 96] = True  # 270 degrees: its bottom edge
    top, bottom = lmode.calcium_bands(labels, frame_indices=np.arange(6), angle_deg=90)
    assert top.tolist() == [False, True, False, False, False, False]
    assert bottom.tolist() == [False, False, False, False, True, False]
    assert lmode.calcium_bands(None, frame_indices=np.arange(6), angle_deg=90) is None


def test_the_png_of_a_stored_file_is_the_cut_of_its_frames(dicom_files):
    for path in dicom_files.values():  # native and RLE
        meta = files.read_metadata(path)
        image = Image.open(io.BytesIO(lmode.lmode_png(meta, angle_deg=30)))
        assert image.size == (meta.n_frames, lmode.MAX_LMODE_SAMPLES) and image.mode == "P"
        chunks = files.iter_frame_chunks(meta)
        expected = lmode.lmode_cut(chunks, frame_indices=np.arange(meta.n_frames), angle_deg=30)
        assert np.array_equal(np.asarray(image), np.minimum(expected, 254))


# The endpoint ------------------------------------------------------------------------------

PERSONAS = ("coordinator", "clinician", "investigator", "admin_user", "outsider", "anonymous", "other_site_coordinator")
N_FRAMES = 8


def _api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def _with_file(pullback: Pullback) -> Pullback:
    stored = Path(settings.MEDIA_ROOT) / pullback.file.name
    stored.parent.mkdir(parents=True, exist_ok=True)
    phantom_file(stored, n_frames=N_FRAMES)
    Pullback.objects.filter(pk=pullback.pk).update(n_frames=N_FRAMES)
    return pullback


@pytest.fixture
def scored(patient):
    labels = np.zeros((N_FRAMES, 128), bool)
    labels[2:5, 32] = True  # calcium at 90 degrees on frames 2-4
    return _with_file(make_pullback(patient, labels=labels))


def _png(response) -> np.ndarray:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


@pytest.mark.django_db
def test_the_lmode_has_one_column_per_frame_and_the_calcium_at_its_edge(scored, clinician):
    image = _png(_api(clinician).get(f"/api/pullbacks/{scored.pk}/lmode.png?angle_deg=90"))
    assert image.shape == (lmode.MAX_LMODE_SAMPLES, N_FRAMES, 3)
    orange = np.all(image == lmode.CALCIUM_COLOUR, axis=-1)
    assert orange[0].tolist() == [False, False, True, True, True, False, False, False]  # top edge: 90 degrees
    assert not orange[-1].any()  # 270 degrees: no calcium
    flipped = np.all(_png(_api(clinician).get(f"/api/pullbacks/{scored.pk}/lmode.png?angle_deg=270")) == (255, 160, 0), -1)
    assert flipped[-1].tolist() == orange[0].tolist() and not flipped[0].any()


@pytest.mark.django_db
def test_lmode_role_matrix_is_the_frame_images_one(request, scored):
    got = []
    for persona in PERSONAS:
        user = None if persona == "anonymous" else request.getfixturevalue(persona)
        got.append(_api(user).get(f"/api/pullbacks/{scored.pk}/lmode.png?angle_deg=45").status_code)
    # coordinator, clinician, investigator (no frames: burned-in text), admin, outsider, anonymous, other site
    assert got == [200, 200, 403, 200, 403, 401, 404]


@pytest.mark.django_db
def test_an_unscored_pullback_has_an_lmode_without_calcium_and_a_missing_one_404(patient, clinician):
    unscored = _with_file(make_pullback(patient, ics=None))
    image = _png(_api(clinician).get(f"/api/pullbacks/{unscored.pk}/lmode.png"))
    assert image.shape[1] == N_FRAMES and not np.all(image == lmode.CALCIUM_COLOUR, axis=-1).any()
    assert _api(clinician).get(f"/api/pullbacks/{unscored.pk + 1000}/lmode.png").status_code == 404
    no_file = make_pullback(patient, ics=10)  # a row whose file is not in storage
    response = _api(clinician).get(f"/api/pullbacks/{no_file.pk}/lmode.png")
    assert response.status_code == 404 and response.json() == {"detail": "The pullback's file is not available."}


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["angle_deg=360", "angle_deg=-1", "angle_deg=ninety", "angle_deg=1.5"])
def test_angles_outside_whole_degrees_0_to_359_are_refused(scored, clinician, query):
    response = _api(clinician).get(f"/api/pullbacks/{scored.pk}/lmode.png?{query}")
    assert response.status_code == 400 and "angle_deg" in response.json()


@pytest.mark.django_db
def test_the_lmode_is_cached_privately_and_revalidated_by_etag(scored, clinician):
    client = _api(clinician)
    first = client.get(f"/api/pullbacks/{scored.pk}/lmode.png?angle_deg=10")
    assert first["Cache-Control"] == "private, max-age=3600" and first["ETag"]
    again = client.get(f"/api/pullbacks/{scored.pk}/lmode.png?angle_deg=10", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == first["ETag"]
    other_angle = client.get(f"/api/pullbacks/{scored.pk}/lmode.png?angle_deg=11", HTTP_IF_NONE_MATCH=first["ETag"])
    assert other_angle.status_code == 200 and other_angle["ETag"] != first["ETag"]
