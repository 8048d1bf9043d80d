"""Comparing a candidate detector model with the active one on annotated phantom pullbacks: the
service, the compare_detectors command and the admin's comparison and activation pages."""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from scoring import annotations
from scoring.detector.features import feature_names
from scoring.detector.model import DetectorModel
from scoring.detector.model_store import load_model, save_model
from scoring.detector.phantoms import polar_speckle
from scoring.detector.postprocess import PostProcessing
from scoring.detector_comparison import NO_ANNOTATIONS, compare_versions
from scoring.model_versions import model_version_register
from scoring.models import DetectorModelVersion
from scoring.services import pullback_upload
from tests.conftest import client_for
from tests.factories import PatientFactory, UserFactory
from tests.scoring.pullback_files import phantom_file

pytestmark = pytest.mark.django_db

N_FRAMES = 8
PULLBACKS = {("heavy", 3): [1, 2, 5], ("none", 4): [0, 3]}  # (preset, seed) -> annotated frames
COMPARE_URL = "/admin/scoring/detectormodelversion/{pk}/compare/"
CHANGELIST = "/admin/scoring/detectormodelversion/"


@pytest.fixture
def store(settings, tmp_path):
    """The shipped model as "default", the same model as "default-copy", and "everywhere", which
    calls every A-line calcium (64 A-lines: its labels are resampled onto the annotations' 256)."""
    folder = tmp_path / "models"
    shipped = load_model()
    save_model(shipped, name="default", store=folder)
    save_model(load_model(), name="default-copy", store=folder)
    names = feature_names()
    save_model(
        DetectorModel(
            feature_names=names,
            mean=np.zeros(len(names)),
            scale=np.ones(len(names)),
            coef=np.zeros(len(names)),
            intercept=5.0,
            post=PostProcessing(),
            n_alines=64,
        ),
        name="everywhere",
        store=folder,
    )
    settings.SCORING_MODEL_STORE = str(folder)
    return folder


def _arcs(row: np.ndarray) -> list:
    """(start_deg, end_deg) of the circular runs of positive A-lines (A-line k at 360 k / n degrees)."""
    n, first = len(row), int(np.argmin(row))
    arcs, run = [], None
    for step in range(1, n + 1):
        k = (first + step) % n
        if row[k] and run is None:
            run = k
        elif not row[k] and run is not None:
            arcs.append((360.0 * run / n, 360.0 * ((k - 1) % n) / n))
            run = None
    return arcs


@pytest.fixture
def annotated(tmp_path, coordinator, django_capture_on_commit_callbacks):
    """Two phantom pullbacks of two patients, their annotated frames drawn from the phantom truth;
    returns {pullback id: truth of the annotated frames}."""
    truths = {}
    for i, ((preset, seed), frames) in enumerate(PULLBACKS.items()):
        patient = PatientFactory(study_id=f"ICS-CMP-{i + 1}")
        with django_capture_on_commit_callbacks(execute=False):  # no background scoring run
            pullback = pullback_upload(
                user=coordinator,
                patient=patient,
                uploaded_file=SimpleUploadedFile(
                    f"{preset}.dcm",
                    phantom_file(tmp_path / f"{preset}.dcm", n_frames=N_FRAMES, seed=seed, preset=preset).read_bytes(),
                ),
            ).pullback
        truth = polar_speckle.phantom_truth(
            polar_speckle.make_phantom(N_FRAMES, seed=seed, preset=preset), n_alines=256
        ).calcium
        for frame in frames:
            arcs = _arcs(truth[frame])
            for start, end in arcs:
                annotations.annotation_add(user=coordinator, pullback=pullback, frame=frame, start_deg=start, end_deg=end)
            if not arcs:
                annotations.annotation_add(
                    user=coordinator, pullback=pullback, frame=frame, start_deg=0.0, end_deg=0.0, no_calcium=True
                )
        truths[pullback.pk] = truth[frames]
    return truths


def _compare_json(*args) -> dict:
    from io import StringIO

    out = StringIO()
    call_command("compare_detectors", *args, "--json", "--workers", "1", stdout=out)
    return json.loads(out.getvalue())


# The service and the command ------------------------------------------------------------------


def test_the_same_model_under_another_name_agrees_perfectly(store, annotated):
    data = _compare_json("--candidate", "default-copy")
    assert data["active"]["name"] == "default" and data["candidate"]["name"] == "default-copy"
    assert data["active"]["version"].startswith("default-") and data["candidate"]["version"].startswith("default-copy-")
    assert (data["n_pullbacks"], data["n_patients"], data["n_annotated_frames"]) == (2, 2, 5)
    assert data["models"]["active"] == data["models"]["candidate"]
    assert data["models"]["active"]["accuracy"] >= 0.9  # the shipped model on its own phantoms
    assert data["agreement"]["icc"] == pytest.approx(1.0)
    assert (data["agreement"]["mean_diff"], data["agreement"]["lower"], data["agreement"]["upper"]) == (0.0, 0.0, 0.0)
    assert data["group_changes"] == {"n_pullbacks": 0, "pullbacks": [], "n_patients": 0, "patients": []}
    rows = {r["pullback_id"]: r for r in data["pullbacks"]}
    assert set(rows) == set(annotated)
    for pk, truth in annotated.items():  # the annotations' ICS is the phantom truth's, frame for frame
        assert rows[pk]["ics_annotations"] == pytest.approx(truth.mean() * 1000, abs=1e-9)
        assert rows[pk]["annotated_frames"] == len(truth)


def test_a_different_model_shows_its_differences(store, annotated):
    data = _compare_json("--candidate", "everywhere")
    truth = np.concatenate([t.ravel() for t in annotated.values()])
    candidate = data["models"]["candidate"]
    # Calcium everywhere: every annotated calcium A-line found, precision = the share of calcium A-lines.
    assert candidate["recall"] == 1.0 and candidate["precision"] == pytest.approx(truth.mean())
    assert candidate["accuracy"] == pytest.approx(truth.mean())
    rows = data["pullbacks"]
    assert [r["ics_candidate"] for r in rows] == pytest.approx([1000.0, 1000.0])
    assert [r["ics_difference"] for r in rows] == pytest.approx([1000.0 - r["ics_active"] for r in rows])
    assert data["agreement"]["mean_diff"] == pytest.approx(np.mean([1000.0 - r["ics_active"] for r in rows]))
    low = [r for r in rows if r["ics_active"] < 85]  # the calcium-free phantom at least
    assert low and data["group_changes"]["pullbacks"] == [r["pullback_id"] for r in low]
    assert data["group_changes"]["patients"] == sorted(r["patient"] for r in low)
    assert data["models"]["active"]["accuracy"] > candidate["accuracy"]


def test_the_command_prints_a_readable_table(store, annotated, capsys):
    call_command("compare_detectors", "--candidate", "everywhere", "--workers", "1")
    out = capsys.readouterr().out
    assert "Active:    default (default-" in out and "Candidate: everywhere (everywhere-" in out
    assert "On 5 annotated frames of 2 pullback(s) of 2 patient(s)." in out
    assert "A-line accuracy" in out and "ICS agreement, whole pullbacks (candidate − active):" in out
    assert "ICS group changes at 85 (ICS >= 85 is high): 1 pullback(s), 1 patient(s): ICS-CMP-2" in out
    assert "low → high" in out and out.count("\n") >= 14


def test_the_active_model_is_the_default_to_compare_with(store, annotated, admin_user):
    row = model_version_register(user=None, name="everywhere")
    DetectorModelVersion.objects.filter(pk=row.pk).update(is_active=True)
    data = _compare_json("--candidate", "default")
    assert data["active"]["name"] == "everywhere" and data["candidate"]["name"] == "default"


def test_the_command_names_an_unknown_model_and_missing_annotations(store, annotated, settings):
    with pytest.raises(CommandError, match="Candidate model: Model 'nothing-here' not found"):
        call_command("compare_detectors", "--candidate", "nothing-here")
    with pytest.raises(CommandError, match="Active model: Model 'gone' not found"):
        call_command("compare_detectors", "--candidate", "default", "--active", "gone")


def test_without_annotated_pullbacks_the_command_says_what_to_do(store):
    with pytest.raises(CommandError) as exc:
        call_command("compare_detectors", "--candidate", "default-copy")
    assert str(exc.value) == NO_ANNOTATIONS == "No annotated pullbacks: annotate frames on a pullback page first."


def test_excluded_and_unannotated_pullbacks_are_left_out(store, annotated):
    first = min(annotated)
    from scoring.models import Pullback

    Pullback.objects.filter(pk=first).update(qc_status="excluded", exclusion_reason="poor_image_quality")
    result = compare_versions(active="default", candidate="default-copy", workers=1).result
    assert [r["pullback_id"] for r in result["pullbacks"]] == [max(annotated)]


# Admin pages ---------------------------------------------------------------------------------


@pytest.fixture
def site_admin(admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    return admin_user


def test_the_admin_sees_the_comparison_with_the_bland_altman_plot(store, annotated, site_admin):
    row = model_version_register(user=None, name="everywhere")
    page = client_for(site_admin).get(COMPARE_URL.format(pk=row.pk))
    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "Compare with the active model",
        "Against the annotations",
        "A-line accuracy",
        "A-line F1",
        "ICS agreement between the models",
        "Limits of agreement (95%)",
        "ICS group changes at the study cut-off 85",
        "ICS-CMP-2",
        "low → high",
        "Activate everywhere (re-scores every pullback)",
        "vendor/plotly/plotly.min.js",
        "js/detector_compare.js",
    ):
        assert text in html, text
    figure = page.context["figure"]
    assert figure["layout"]["xaxis"]["title"]["text"] == "Mean ICS of the two models (whole pullback)"
    assert 'id="compare-figure"' in html and "ics_mean_diff" not in html and "group_active" not in html
    assert page.context["result"]["group_changes"]["n_pullbacks"] == 1
    row.refresh_from_db()
    assert not row.is_active  # looking does not activate


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("coordinator", 302),
        ("clinician", 302),
        ("investigator", 302),
        ("outsider", 302),
        (None, 302),
        ("staff_coordinator", 403),
    ],
)
def test_only_admins_open_the_comparison(store, personas, persona, status):
    row = model_version_register(user=None, name="default-copy")
    user = personas.get(persona)
    if persona == "staff_coordinator":
        user = UserFactory(username="staff-coordinator", roles=["coordinator"])
        user.is_staff = True
        user.save()
    page = client_for(user).get(COMPARE_URL.format(pk=row.pk))
    assert page.status_code == status
    if status == 302:
        assert "/login/?next=/admin/scoring/detectormodelversion/" in page["Location"]


def test_activation_shows_the_comparison_and_activates_only_after_confirmation(store, annotated, site_admin):
    row = model_version_register(user=None, name="default-copy")
    client = client_for(site_admin)
    asked = client.post(CHANGELIST, {"action": "activate", "_selected_action": [row.pk]})
    assert asked.status_code == 200
    html = asked.content.decode()
    assert "Activate this model version?" in html and "Yes, activate this version" in html
    assert "A-line accuracy" in html and asked.context["result"]["agreement"]["icc"] == pytest.approx(1.0)
    assert client.get(CHANGELIST).status_code == 200
    row.refresh_from_db()
    assert not row.is_active
    done = client.post(CHANGELIST, {"action": "activate", "_selected_action": [row.pk], "post": "yes"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert row.is_active and row.activated_by == site_admin


def test_without_annotations_the_confirmation_says_so_and_still_activates(store, site_admin):
    row = model_version_register(user=None, name="everywhere")
    client = client_for(site_admin)
    asked = client.post(CHANGELIST, {"action": "activate", "_selected_action": [row.pk]})
    html = asked.content.decode()
    assert asked.status_code == 200 and NO_ANNOTATIONS in html and "Yes, activate this version" in html
    assert "compare-figure" not in html
    row.refresh_from_db()
    assert not row.is_active
    client.post(CHANGELIST, {"action": "activate", "_selected_action": [row.pk], "post": "yes"})
    row.refresh_from_db()
    assert row.is_active
