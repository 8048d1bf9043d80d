"""Calcium annotations: add/delete (audited), the CSV import (all or nothing, row/column
messages) and export round trip, the training data, the API role matrix and the viewer pages."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from registry.models import AuditEntry
from scoring import annotations as svc
from scoring.models import CalciumAnnotation, Pullback
from scoring.selectors import pullbacks_for_user
from tests.conftest import client_for
from tests.factories import PatientFactory, set_user_sites
from tests.scoring.pullback_files import make_pullback, phantom_file

pytestmark = pytest.mark.django_db

PERSONAS = ("coordinator", "clinician", "investigator", "admin_user", "outsider", "anonymous", "other_site_coordinator")


def _api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def _csv(text: str) -> io.StringIO:
    return io.StringIO(text)


# Services -------------------------------------------------------------------------------------


def test_adding_an_arc_stores_it_and_audits_it_on_the_patient(patient, coordinator):
    pullback = make_pullback(patient)
    annotation = svc.annotation_add(user=coordinator, pullback=pullback, frame=7, start_deg=330.0, end_deg=30.0)
    annotation.refresh_from_db()
    assert (annotation.frame, annotation.start_deg, annotation.end_deg, annotation.no_calcium) == (7, 330.0, 30.0, False)
    assert annotation.created_by == coordinator
    entry = AuditEntry.objects.get(entity="calciumannotation", object_id=str(annotation.pk))
    assert entry.action == "create" and entry.patient == patient and entry.user == coordinator
    assert entry.changes == {
        "pullback": [None, pullback.pk],
        "frame": [None, 7],
        "start_deg": [None, 330.0],
        "end_deg": [None, 30.0],
        "no_calcium": [None, False],
    }


def test_deleting_an_arc_removes_it_and_the_audit_keeps_what_it_was(patient, coordinator, admin_user):
    pullback = make_pullback(patient)
    annotation = svc.annotation_add(user=coordinator, pullback=pullback, frame=2, start_deg=10.0, end_deg=50.0)
    pk = annotation.pk
    svc.annotation_delete(user=admin_user, annotation=annotation)
    assert not CalciumAnnotation.objects.filter(pk=pk).exists()
    entry = AuditEntry.objects.get(entity="calciumannotation", object_id=str(pk), action="delete")
    assert entry.user == admin_user and entry.patient == patient
    assert entry.changes["start_deg"] == [10.0, None] and entry.changes["frame"] == [2, None]


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"frame": 100}, "frame", "0..99"),
        ({"frame": -1}, "frame", "0..99"),
        ({"start_deg": 360.0}, "start_deg", "below 360"),
        ({"end_deg": -0.5}, "end_deg", "at least 0"),
        ({"no_calcium": True, "start_deg": 10.0}, "no_calcium", "must both be 0"),
    ],
)
def test_invalid_annotations_are_refused_with_the_rule(patient, coordinator, fields, field, text):
    pullback = make_pullback(patient)
    values = {"frame": 3, "start_deg": 0.0, "end_deg": 0.0} | fields
    with pytest.raises(ValidationError) as exc:
        svc.annotation_add(user=coordinator, pullback=pullback, **values)
    assert text in exc.value.message_dict[field][0]
    assert not CalciumAnnotation.objects.exists() and not AuditEntry.objects.filter(entity="calciumannotation").exists()


def test_clinicians_and_investigators_cannot_annotate(patient, clinician, investigator):
    pullback = make_pullback(patient)
    for user in (clinician, investigator):
        with pytest.raises(PermissionDenied):
            svc.annotation_add(user=user, pullback=pullback, frame=0, start_deg=0.0, end_deg=10.0)
    assert not CalciumAnnotation.objects.exists()


def test_a_no_calcium_mark_is_stored_with_zero_angles(patient, coordinator):
    pullback = make_pullback(patient)
    mark = svc.annotation_add(user=coordinator, pullback=pullback, frame=4, start_deg=0.0, end_deg=0.0, no_calcium=True)
    mark.refresh_from_db()
    assert mark.no_calcium and mark.start_deg == 0 and mark.end_deg == 0


# CSV import and export --------------------------------------------------------------------------


def test_the_csv_import_writes_every_row_audited(patient, coordinator):
    a, b = make_pullback(patient), make_pullback(patient)
    text = f"pullback,frame,start_deg,end_deg\n{a.pk},0,10,80\n{a.pk},0,300,20\n{b.pk},99,0,0\n"
    written = svc.annotations_import_csv(user=coordinator, file_obj=_csv(text), pullbacks=pullbacks_for_user(coordinator))
    assert written == 3
    rows = list(
        CalciumAnnotation.objects.order_by("pk").values_list("pullback", "frame", "start_deg", "end_deg", "no_calcium")
    )
    assert rows == [(a.pk, 0, 10.0, 80.0, False), (a.pk, 0, 300.0, 20.0, False), (b.pk, 99, 0.0, 0.0, False)]
    entries = AuditEntry.objects.filter(entity="calciumannotation", action="create")
    assert entries.count() == 3 and set(entries.values_list("reason", flat=True)) == {"annotation import annotations.csv"}


def test_a_bad_csv_writes_nothing_and_names_every_row_and_column(patient, coordinator, other_site):
    a = make_pullback(patient)
    foreign = make_pullback(PatientFactory(site=other_site))
    set_user_sites(coordinator, sites=[patient.site])
    text = (
        "pullback,frame,start_deg,end_deg,no_calcium\n"
        f"{a.pk},0,10,80,0\n"  # row 2: fine
        f"{a.pk},100,10,80,0\n"  # row 3: frame out of the pullback
        f"{a.pk},1,360,80,0\n"  # row 4: start 360
        f"{a.pk},1,10,abc,0\n"  # row 5: not a number
        f"{foreign.pk},1,10,20,0\n"  # row 6: another site's pullback: not visible
        f"{a.pk},2,10,20,1\n"  # row 7: no calcium with an arc
        "999999,1,10,20,0\n"  # row 8: no such pullback
        f"{a.pk},,10,20,0\n"  # row 9: frame missing
    )
    with pytest.raises(svc.AnnotationImportFailed) as exc:
        svc.annotations_import_csv(user=coordinator, file_obj=_csv(text), pullbacks=pullbacks_for_user(coordinator))
    found = [(p.row, p.column) for p in exc.value.problems]
    assert found == [
        (3, "frame"),
        (4, "start_deg"),
        (5, "end_deg"),
        (6, "pullback"),
        (7, "no_calcium"),
        (8, "pullback"),
        (9, "frame"),
    ]
    messages = [str(p) for p in exc.value.problems]
    assert messages[0] == "annotations.csv row 3, column frame: must be a whole frame number in 0..99 (got 100)"
    assert "must be a number (got abc)" in messages[2]
    assert messages[3] == f"annotations.csv row 6, column pullback: no pullback {foreign.pk} that you may annotate"
    assert messages[6].endswith("is required")
    assert not CalciumAnnotation.objects.exists() and not AuditEntry.objects.filter(entity="calciumannotation").exists()


def test_a_csv_without_the_columns_is_refused_at_the_header(coordinator):
    with pytest.raises(svc.AnnotationImportFailed) as exc:
        svc.annotations_import_csv(
            user=coordinator, file_obj=_csv("pullback,frame,start\n1,2,3\n"), pullbacks=Pullback.objects.all()
        )
    assert [str(p) for p in exc.value.problems] == [
        "annotations.csv row 1: missing column(s): start_deg, end_deg",
        "annotations.csv row 1: unknown column(s): start",
    ]


def test_export_then_import_gives_the_same_arcs(patient, coordinator):
    pullback = make_pullback(patient)
    for frame, start, end, none in (
        (0, 10.5, 80.25, False),
        (0, 300.0, 20.0, False),
        (5, 0.0, 0.0, True),
        (9, 42.0, 42.0, False),
    ):
        svc.annotation_add(user=coordinator, pullback=pullback, frame=frame, start_deg=start, end_deg=end, no_calcium=none)
    before = list(
        CalciumAnnotation.objects.order_by("frame", "start_deg").values_list(
            "pullback", "frame", "start_deg", "end_deg", "no_calcium"
        )
    )
    text = svc.annotations_csv_text(pullbacks=Pullback.objects.all())
    assert text.splitlines()[0] == "pullback,frame,start_deg,end_deg,no_calcium"
    assert text.splitlines()[1] == f"{pullback.pk},0,10.5,80.25,0"
    CalciumAnnotation.objects.all().delete()
    assert svc.annotations_import_csv(user=coordinator, file_obj=_csv(text), pullbacks=Pullback.objects.all()) == 4
    after = list(
        CalciumAnnotation.objects.order_by("frame", "start_deg").values_list(
            "pullback", "frame", "start_deg", "end_deg", "no_calcium"
        )
    )
    assert after == before
    assert svc.annotations_csv_text(pullbacks=Pullback.objects.all()) == text


def test_the_import_page_lists_the_problems_and_imports_a_good_file(patient, coordinator):
    pullback = make_pullback(patient)
    client = client_for(coordinator)
    bad = client.post(
        "/pullbacks/annotations/import/",
        {
            "file": SimpleUploadedFile(
                "annotations.csv", f"pullback,frame,start_deg,end_deg\n{pullback.pk},0,10,400\n".encode()
            )
        },
    )
    assert bad.status_code == 400
    assert "row 2, column end_deg: must be an angle in degrees" in bad.content.decode()
    good = client.post(
        "/pullbacks/annotations/import/",
        {
            "file": SimpleUploadedFile(
                "annotations.csv", f"pullback,frame,start_deg,end_deg\n{pullback.pk},0,10,40\n".encode()
            )
        },
    )
    assert good.status_code == 200 and CalciumAnnotation.objects.get().end_deg == 40.0
    export = client.get("/pullbacks/annotations/export.csv")
    assert export.content.decode() == f"pullback,frame,start_deg,end_deg,no_calcium\n{pullback.pk},0,10,40,0\n"


# Training data ----------------------------------------------------------------------------------


def test_training_labels_cover_only_annotated_frames(patient, coordinator):
    pullback = make_pullback(patient)
    svc.annotation_add(user=coordinator, pullback=pullback, frame=3, start_deg=315.0, end_deg=45.0)
    svc.annotation_add(user=coordinator, pullback=pullback, frame=10, start_deg=0.0, end_deg=0.0, no_calcium=True)
    labels, frames = svc.pullback_training_labels(pullback, n_alines=8)
    assert frames.tolist() == [3, 10] and labels.shape == (100, 8)
    assert labels[3].astype(int).tolist() == [1, 1, 0, 0, 0, 0, 0, 1]
    assert not labels[10].any() and labels.sum() == 3


def test_annotated_training_data_yields_the_stored_file_of_each_annotated_pullback(
    patient, coordinator, tmp_path, django_capture_on_commit_callbacks
):
    from scoring.dicom import files
    from scoring.services import pullback_upload

    with django_capture_on_commit_callbacks(execute=False):
        outcome = pullback_upload(
            user=coordinator,
            patient=patient,
            uploaded_file=SimpleUploadedFile("a.dcm", phantom_file(tmp_path / "a.dcm", n_frames=6).read_bytes()),
        )
    annotated = outcome.pullback
    make_pullback(patient)  # not annotated: skipped
    svc.annotation_add(user=coordinator, pullback=annotated, frame=1, start_deg=90.0, end_deg=180.0)
    items = []
    for item in svc.annotated_training_data(Pullback.objects.order_by("pk"), n_alines=4):
        items.append((item.pullback_id, item.frames.tolist(), item.labels.astype(int).tolist()))
        assert files.read_metadata(item.path).n_frames == 6
    assert items == [
        (annotated.pk, [1], [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    ]


# API and pages ----------------------------------------------------------------------------------

ENDPOINTS = {
    "list": ("get", "/api/pullbacks/{pk}/annotations/"),
    "add": ("post", "/api/pullbacks/{pk}/annotations/"),
    "delete": ("delete", "/api/pullbacks/{pk}/annotations/{apk}/"),
    "page: add": ("post", "/pullbacks/{pk}/annotations/add/"),
    "page: delete": ("post", "/pullbacks/{pk}/annotations/{apk}/delete/"),
    "page: import": ("get", "/pullbacks/annotations/import/"),
    "page: export": ("get", "/pullbacks/annotations/export.csv"),
}
# Written out on purpose: reading like the frame images (roles that see identifiers), writing
# like the rest of the review (coordinators, admins). The import/export pages list no patient.
MATRIX = {
    #               coordinator clinician investigator admin outsider anonymous other-site
    "list": (200, 200, 403, 200, 403, 401, 404),
    "add": (201, 403, 403, 201, 403, 401, 404),
    "delete": (204, 403, 403, 204, 403, 401, 404),
    "page: add": (302, 403, 403, 302, 403, 302, 404),
    "page: delete": (302, 403, 403, 302, 403, 302, 404),
    "page: import": (200, 403, 403, 200, 403, 302, 200),
    "page: export": (200, 403, 403, 200, 403, 302, 200),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_role_matrix(endpoint, request, patient, coordinator):
    pullback = make_pullback(patient)
    method, template = ENDPOINTS[endpoint]
    got = []
    for persona in PERSONAS:
        user = None if persona == "anonymous" else request.getfixturevalue(persona)
        annotation = svc.annotation_add(user=coordinator, pullback=pullback, frame=1, start_deg=5.0, end_deg=25.0)
        url = template.format(pk=pullback.pk, apk=annotation.pk)
        body = {"frame": 2, "start_deg": 10.0, "end_deg": 20.0}
        if endpoint.startswith("page"):
            response = getattr(client_for(user), method)(url, body if method == "post" else None)
        elif method == "get":
            response = _api(user).get(url)
        else:
            response = getattr(_api(user), method)(url, body, format="json")
        got.append(response.status_code)
    assert tuple(got) == MATRIX[endpoint]


def test_the_api_adds_lists_by_frame_and_deletes(patient, coordinator, clinician):
    pullback = make_pullback(patient)
    url = f"/api/pullbacks/{pullback.pk}/annotations/"
    created = _api(coordinator).post(url, {"frame": 4, "start_deg": 350.0, "end_deg": 10.0}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert (body["frame"], body["start_deg"], body["end_deg"], body["no_calcium"], body["created_by"]) == (
        4,
        350.0,
        10.0,
        False,
        "coordinator",
    )
    _api(coordinator).post(url, {"frame": 5, "no_calcium": True}, format="json")
    assert [a["frame"] for a in _api(clinician).get(url).json()] == [4, 5]
    assert [a["id"] for a in _api(clinician).get(url + "?frame=4").json()] == [body["id"]]
    bad = _api(coordinator).post(url, {"frame": 400, "start_deg": 0, "end_deg": 10}, format="json")
    assert bad.status_code == 400 and "0..99" in bad.json()["frame"][0]
    assert _api(coordinator).delete(f"{url}{body['id']}/").status_code == 204
    assert list(CalciumAnnotation.objects.values_list("frame", flat=True)) == [5]
    other = make_pullback(patient)
    mark = CalciumAnnotation.objects.get()
    assert _api(coordinator).delete(f"/api/pullbacks/{other.pk}/annotations/{mark.pk}/").status_code == 404
    assert CalciumAnnotation.objects.filter(pk=mark.pk).exists()


def test_the_keyboard_form_adds_a_frame_counted_from_one(patient, coordinator):
    pullback = make_pullback(patient)
    response = client_for(coordinator).post(
        f"/pullbacks/{pullback.pk}/annotations/add/", {"frame": 1, "start_deg": 45, "end_deg": 90}
    )
    assert response.status_code == 302
    assert list(CalciumAnnotation.objects.values_list("frame", "start_deg", "end_deg")) == [(0, 45.0, 90.0)]


def test_the_viewer_offers_drawing_and_the_form_to_coordinators_only(patient, coordinator, clinician):
    pullback = make_pullback(patient)
    page = client_for(coordinator).get(f"/pullbacks/{pullback.pk}/").content.decode()
    assert 'id="annotation-layer"' in page and 'id="annotation-form"' in page and 'data-can-annotate="true"' in page
    assert "js/scoring_annotations.js" in page
    seen = client_for(clinician).get(f"/pullbacks/{pullback.pk}/").content.decode()
    assert 'id="annotation-list"' in seen and 'id="annotation-form"' not in seen and 'data-can-annotate="false"' in seen
