"""Detector model versions: registering reads (and checks) the store's manifest, only admins
activate, at most one version is active, scoring uses the active version and activation
re-scores every pullback keeping the earlier runs."""

import json

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from registry.models import AuditEntry
from scoring import services
from scoring.detector.features import feature_names
from scoring.detector.model import DetectorModel
from scoring.detector.model_store import save_model
from scoring.detector.postprocess import PostProcessing
from scoring.model_versions import model_version_activate, model_version_register
from scoring.models import DetectorModelVersion, ScoringRun
from tests.conftest import client_for
from tests.scoring.pullback_files import phantom_file, simple_model_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    """A store with "default" (tests' simple model) and "candidate" (calls everything calcium)."""
    folder = simple_model_store(tmp_path / "models")
    names = feature_names()
    candidate = DetectorModel(
        feature_names=names,
        mean=np.zeros(len(names)),
        scale=np.ones(len(names)),
        coef=np.zeros(len(names)),
        intercept=5.0,
        post=PostProcessing(),
        n_alines=64,
        metrics={"training": {"accuracy": 0.97}},
        training={"phantoms": 12, "seed": 7},
    )
    save_model(candidate, name="candidate", store=folder)
    settings.SCORING_MODEL_STORE = str(folder)
    return folder


def test_registering_reads_the_manifest(store, admin_user):
    row = model_version_register(user=admin_user, name="candidate")
    row.refresh_from_db()
    manifest = json.loads((store / "candidate.json").read_text())
    assert row.name == "candidate" and row.version == manifest["version"] and row.version.startswith("candidate-")
    assert row.metrics == {"training": {"accuracy": 0.97}} and row.training_summary == {"phantoms": 12, "seed": 7}
    assert row.library_versions == {"sklearn": manifest["sklearn_version"], "numpy": manifest["numpy_version"]}
    assert not row.is_active and row.registered_by == admin_user
    assert model_version_register(user=admin_user, name="candidate").pk == row.pk  # the same version once
    entry = AuditEntry.objects.get(entity="detectormodelversion", action="create")
    assert entry.object_id == str(row.pk) and entry.patient is None and entry.changes["version"] == [None, row.version]


def test_an_incompatible_model_is_refused_with_its_message(store, admin_user):
    manifest = json.loads((store / "candidate.json").read_text())
    manifest["sklearn_version"] = "0.24.2"
    (store / "candidate.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError) as exc:
        model_version_register(user=admin_user, name="candidate")
    assert "was made with scikit-learn 0.24.2" in exc.value.message_dict["name"][0]
    with pytest.raises(ValidationError, match="not found"):
        model_version_register(user=admin_user, name="missing")
    assert not DetectorModelVersion.objects.exists()


def test_only_admins_register_and_activate(store, admin_user, coordinator):
    row = model_version_register(user=admin_user, name="candidate")
    with pytest.raises(PermissionDenied):
        model_version_register(user=coordinator, name="default")
    with pytest.raises(PermissionDenied):
        model_version_activate(user=coordinator, version=row)
    row.refresh_from_db()
    assert not row.is_active and services.settings_model_name() == "default"


def test_at_most_one_version_is_active(store, admin_user):
    first = model_version_register(user=admin_user, name="default")
    second = model_version_register(user=admin_user, name="candidate")
    model_version_activate(user=admin_user, version=first)
    model_version_activate(user=admin_user, version=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    assert second.activated_by == admin_user and second.activated_at is not None
    changes = [
        e.changes["is_active"]
        for e in AuditEntry.objects.filter(entity="detectormodelversion", action="update").order_by("pk")
    ]
    assert changes == [[False, True], [True, False], [False, True]]
    with pytest.raises(IntegrityError), transaction.atomic():
        DetectorModelVersion.objects.filter(pk=first.pk).update(is_active=True)


def test_activating_refuses_a_store_file_changed_since_registration(store, admin_user):
    row = model_version_register(user=admin_user, name="candidate")
    names = feature_names()
    save_model(
        DetectorModel(
            feature_names=names,
            mean=np.zeros(len(names)),
            scale=np.ones(len(names)),
            coef=np.ones(len(names)),
            intercept=0.0,
            post=PostProcessing(),
            n_alines=64,
        ),
        name="candidate",
        store=store,
    )
    with pytest.raises(ValidationError, match="register it again"):
        model_version_activate(user=admin_user, version=row)
    row.refresh_from_db()
    assert not row.is_active


def test_scoring_uses_the_active_version_and_activation_rescores_keeping_history(
    store, patient, coordinator, admin_user, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.pullback_upload(
            user=coordinator,
            patient=patient,
            uploaded_file=SimpleUploadedFile("a.dcm", phantom_file(tmp_path / "a.dcm", n_frames=4).read_bytes()),
        )
    first = ScoringRun.objects.get(pullback=outcome.pullback)
    assert first.status == "succeeded" and first.model_name == "default" and first.model_version.startswith("default-")

    row = model_version_register(user=admin_user, name="candidate")
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(user=admin_user, version=row)
    assert services.settings_model_name() == "candidate"
    runs = list(ScoringRun.objects.filter(pullback=outcome.pullback).order_by("pk"))
    assert [(r.model_version, r.status, r.is_current) for r in runs] == [
        (first.model_version, "succeeded", False),
        (row.version, "succeeded", True),
    ]
    assert runs[1].n_alines == 64 and runs[1].ics == pytest.approx(1000.0)  # the candidate calls every A-line calcium
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(user=admin_user, version=row)  # again: already scored with it, nothing new
    assert ScoringRun.objects.filter(pullback=outcome.pullback).count() == 2


def test_the_admin_page_registers_and_activates(store, admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = client_for(admin_user)
    refused = client.post("/admin/scoring/detectormodelversion/add/", {"name": "nothing-here"})
    assert refused.status_code == 200 and "not found" in refused.content.decode()
    added = client.post("/admin/scoring/detectormodelversion/add/", {"name": "candidate"})
    assert added.status_code == 302
    row = DetectorModelVersion.objects.get()
    assert row.name == "candidate" and row.metrics["training"]["accuracy"] == 0.97
    client.post("/admin/scoring/detectormodelversion/", {"action": "activate", "_selected_action": [row.pk], "post": "yes"})
    row.refresh_from_db()
    assert row.is_active and row.activated_by == admin_user
