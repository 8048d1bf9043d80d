"""The pullback API and pages: the role matrix (incl. other sites -> 404), upload through the API
with the score appearing, the 413 limit, results, calcium map, segment ICS and frame images."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from registry.models import AuditEntry
from scoring.dicom.frames import ARC_COLOUR, draw_arcs
from scoring.models import Pullback, ScoringRun
from tests.conftest import client_for
from tests.factories import PatientFactory
from tests.scoring import pullback_files
from tests.scoring.pullback_files import make_pullback, phantom_file

pytestmark = pytest.mark.django_db

# Fixtures shared by the pullback tests (a small detector model in a temporary store).
scoring_model, _model_folder = pullback_files.scoring_model, pullback_files._model_folder

PERSONAS = ("coordinator", "clinician", "investigator", "admin_user", "outsider", "anonymous", "other_site_coordinator")

ENDPOINTS = {
    "upload": ("post", "/api/pullbacks/patients/{study_id}/"),
    "list": ("get", "/api/pullbacks/patients/{study_id}/"),
    "detail": ("get", "/api/pullbacks/{pk}/"),
    "results": ("get", "/api/pullbacks/{pk}/results/"),
    "calcium map": ("get", "/api/pullbacks/{pk}/calcium-map/"),
    "segment": ("get", "/api/pullbacks/{pk}/segment-ics/?start_mm=0&end_mm=1"),
    "frame": ("get", "/api/pullbacks/{pk}/frames/3.png"),
    "retry": ("post", "/api/pullbacks/{pk}/retry/"),
    "qc": ("post", "/api/pullbacks/{pk}/qc/"),
    "page: upload": ("get", "/pullbacks/patients/{study_id}/upload/"),
    "page: pullback": ("get", "/pullbacks/{pk}/"),
    "page: qc": ("post", "/pullbacks/{pk}/qc/"),
    "page: retry": ("post", "/pullbacks/{pk}/retry/"),
    "page: study": ("post", "/pullbacks/{pk}/study/"),
}

# Written out on purpose. Frame images only for roles that may see identifiers (burned-in text).
MATRIX = {
    #                 coordinator clinician investigator admin outsider anonymous other-site
    "upload": (201, 403, 403, 201, 403, 401, 404),
    "list": (200, 200, 200, 200, 403, 401, 404),
    "detail": (200, 200, 200, 200, 403, 401, 404),
    "results": (200, 200, 200, 200, 403, 401, 404),
    "calcium map": (200, 200, 200, 200, 403, 401, 404),
    "segment": (200, 200, 200, 200, 403, 401, 404),
    "frame": (200, 200, 403, 200, 403, 401, 404),
    "retry": (202, 403, 403, 202, 403, 401, 404),
    "qc": (200, 403, 403, 200, 403, 401, 404),
    "page: upload": (200, 403, 403, 200, 403, 302, 404),
    "page: pullback": (200, 200, 200, 200, 403, 302, 404),
    "page: qc": (302, 403, 403, 302, 403, 302, 404),
    "page: retry": (302, 403, 403, 302, 403, 302, 404),
    "page: study": (302, 403, 403, 302, 403, 302, 404),
}


@pytest.fixture(scope="module")
def phantom_bytes(tmp_path_factory) -> bytes:
    return phantom_file(tmp_path_factory.mktemp("pb") / "a.dcm", n_frames=6).read_bytes()


def _api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def _scored(patient, phantom_bytes, coordinator, django_capture_on_commit_callbacks) -> Pullback:
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(coordinator).post(
            f"/api/pullbacks/patients/{patient.study_id}/",
            {"file": SimpleUploadedFile("a.dcm", phantom_bytes)},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    return Pullback.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_role_matrix(
    endpoint, request, patient, coordinator, phantom_bytes, scoring_model, tmp_path, django_capture_on_commit_callbacks
):
    pullback = _scored(patient, phantom_bytes, coordinator, django_capture_on_commit_callbacks)
    method, template = ENDPOINTS[endpoint]
    url = template.format(study_id=patient.study_id, pk=pullback.pk)
    got = []
    for persona in PERSONAS:
        user = None if persona == "anonymous" else request.getfixturevalue(persona)
        if endpoint == "retry":
            ScoringRun.objects.filter(pullback=pullback).update(status="failed", is_current=False)
        if endpoint == "upload":
            body, kind = (
                {
                    "file": SimpleUploadedFile(
                        "b.dcm", phantom_file(tmp_path / f"{persona}.dcm", n_frames=4, seed=len(got) + 20).read_bytes()
                    )
                },
                "multipart",
            )
        elif endpoint == "qc":
            body, kind = {"qc_status": "included", "note": ""}, "json"
        else:
            body, kind = {}, "json"
        if endpoint.startswith("page"):
            client = client_for(user)
            response = getattr(client, method)(url, {"qc_status": "included", "reason": "r"} if method == "post" else None)
        else:
            response = getattr(_api(user), method)(url, body, format=kind) if method == "post" else _api(user).get(url)
        got.append(response.status_code)
    assert tuple(got) == MATRIX[endpoint]


def test_an_upload_through_the_api_is_scored_and_its_results_served(
    patient, coordinator, clinician, phantom_bytes, scoring_model, django_capture_on_commit_callbacks
):
    pullback = _scored(patient, phantom_bytes, coordinator, django_capture_on_commit_callbacks)
    run = ScoringRun.objects.get(pullback=pullback)
    detail = _api(clinician).get(f"/api/pullbacks/{pullback.pk}/").json()
    assert detail["status"] == "succeeded" and detail["progress_percent"] == 100
    assert detail["ics"] == pytest.approx(run.ics) and detail["original_filename"] == "a.dcm"
    results = _api(clinician).get(f"/api/pullbacks/{pullback.pk}/results/").json()
    labels = run.labels()
    assert results["frames"] == 6 and results["alines"] == labels.shape[1]
    assert results["calcium_alines_per_frame"] == labels.sum(axis=1).tolist()
    assert results["position_mm"][1] == pytest.approx(0.5 / 30, abs=1e-4)
    cmap = _api(clinician).get(f"/api/pullbacks/{pullback.pk}/calcium-map/").json()
    assert np.array_equal(np.array(cmap["map"], bool), labels)
    segment = _api(clinician).get(f"/api/pullbacks/{pullback.pk}/segment-ics/?start_mm=0.02&end_mm=0.06").json()
    assert (segment["first_frame"], segment["last_frame"]) == (2, 3)
    assert segment["ics"] == pytest.approx(labels[2:4].mean() * 1000)
    again = _api(coordinator).post(
        f"/api/pullbacks/patients/{patient.study_id}/",
        {"file": SimpleUploadedFile("again.dcm", phantom_bytes)},
        format="multipart",
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["id"] == pullback.pk


def test_investigators_get_scores_but_no_file_names_or_dates(patient, investigator):
    pullback = make_pullback(patient, ics=10, original_filename="Jansen_Jan.dcm")
    body = _api(investigator).get(f"/api/pullbacks/{pullback.pk}/").json()
    assert body["ics"] == pytest.approx(10)
    assert "original_filename" not in body and "acquisition_date" not in body and "qc_note" not in body
    page = client_for(investigator).get(f"/pullbacks/{pullback.pk}/").content.decode()
    assert "Jansen" not in page


def test_a_bad_file_gets_its_message_and_an_oversized_one_413(patient, coordinator, settings):
    url = f"/api/pullbacks/patients/{patient.study_id}/"
    bad = _api(coordinator).post(url, {"file": SimpleUploadedFile("x.dcm", b"not dicom" * 50)}, format="multipart")
    assert bad.status_code == 400 and bad.json() == {"file": ["Not a DICOM file (no DICM preamble or file meta)."]}
    settings.PULLBACK_MAX_UPLOAD_BYTES = 1000
    big = _api(coordinator).post(url, {"file": SimpleUploadedFile("x.dcm", b"\0" * 5000)}, format="multipart")
    assert big.status_code == 413 and "upload limit" in big.json()["file"][0]
    huge = _api(coordinator).post(url, {"file": SimpleUploadedFile("x.dcm", b"\0" * 1_200_000)}, format="multipart")
    assert huge.status_code == 413  # refused from its Content-Length, before the file is read
    assert Pullback.objects.count() == 0


def test_segment_input_is_validated(patient, clinician):
    pullback = make_pullback(patient, ics=10)
    response = _api(clinician).get(f"/api/pullbacks/{pullback.pk}/segment-ics/?start_mm=5&end_mm=1")
    assert response.status_code == 400 and "end_mm" in response.json()


def test_arcs_are_drawn_at_the_angle_convention():
    grey = np.zeros((200, 200), np.uint8)
    row = np.zeros(64, bool)
    row[14:19] = True  # around k = 16: 90 degrees, the top of the image
    image = np.asarray(draw_arcs(grey, row))
    orange = np.all(image == ARC_COLOUR, axis=-1)
    ys, xs = np.nonzero(orange)
    assert orange.any() and ys.max() < 40 and abs(xs.mean() - 99.5) < 3


def test_the_frame_image_is_the_stored_frame_with_its_arcs(
    patient, coordinator, clinician, phantom_bytes, scoring_model, django_capture_on_commit_callbacks
):
    pullback = _scored(patient, phantom_bytes, coordinator, django_capture_on_commit_callbacks)
    response = _api(clinician).get(f"/api/pullbacks/{pullback.pk}/frames/2.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    assert image.shape == (512, 512, 3)
    from scoring.dicom import files

    frame = files.read_frame(files.read_metadata(pullback.file.path), 2)
    grey = np.all(image[..., :1] == image, axis=-1)
    assert np.array_equal(image[..., 0][grey & (frame > 0)], frame[grey & (frame > 0)])
    assert _api(clinician).get(f"/api/pullbacks/{pullback.pk}/frames/6.png").status_code == 404


def test_quality_control_and_study_choice_on_the_page_are_audited(patient, coordinator):
    pullback = make_pullback(patient, length_mm=30, ics=10)
    client = client_for(coordinator)
    client.post(
        f"/pullbacks/{pullback.pk}/qc/",
        {"qc_status": "excluded", "exclusion_reason": "stent_struts", "note": "struts 10-25 mm"},
    )
    pullback.refresh_from_db()
    assert pullback.qc_status == "excluded" and pullback.qc_note == "struts 10-25 mm"
    client.post(f"/pullbacks/{pullback.pk}/qc/", {"qc_status": "included", "note": "re-read: no struts"})
    client.post(f"/pullbacks/{pullback.pk}/study/", {"choose": "1", "reason": "only pullback of the study vessel"})
    pullback.refresh_from_db()
    assert pullback.study_override is True
    assert AuditEntry.objects.filter(entity="pullback", action="update").count() == 3


def test_the_patient_page_shows_the_ics_with_its_percentile_and_group(site, clinician):
    for value in (10.0, 20.0, 30.0):
        PatientFactory(site=site, ics_imported=value)
    patient = PatientFactory(site=site, study_id="ICS-0777")
    pullback = make_pullback(patient, length_mm=50, ics=25)
    html = client_for(clinician).get(f"/patients/{patient.study_id}/").content.decode()
    assert 'id="patient-ics">25.0<' in html and f"Study pullback #{pullback.pk} (longest analyzable" in html
    # the group at the study's cut-off (85), the registry median as a percentile
    assert "75th percentile of the 4 patients with an ICS (registry median 22.5)" in html
    assert 'id="ics-group">Low: below 85<' in html
