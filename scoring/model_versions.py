"""Detector model versions: register a model of the store, activate one (admins), and the name
scoring uses. Audited (no patient: a model is not patient data).

Registering reads the model through ``scoring.detector.model_store.load_model``, which refuses foreign,
modified or incompatible files (another scikit-learn series, another feature set) with a
message; that message is what the admin sees. Activating a version re-scores every pullback in
the background with it; earlier scores stay in each pullback's history.
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.roles import ADMIN, acting_user, require_role
from registry.audit import audit_record, diff, snapshot
from registry.models import AuditEntry
from scoring.models import DetectorModelVersion, Pullback, ScoringRun

ADMINS = (ADMIN,)
_ACTIVATION_FIELDS = ["is_active", "activated_at", "activated_by"]


def model_store_path() -> Path:
    from scoring.detector.model_store import DEFAULT_STORE

    return Path(getattr(settings, "SCORING_MODEL_STORE", None) or DEFAULT_STORE)


def _load(name: str):
    from scoring.detector.model_store import ModelStoreError, load_model

    try:
        return load_model(name, store=model_store_path())
    except ModelStoreError as exc:
        raise ValidationError({"name": [str(exc)]}, code="incompatible") from exc


def _library_versions(name: str) -> dict:
    # The manifest has already been verified by load_model; these are plain JSON fields of it.
    manifest = json.loads((model_store_path() / f"{name}.json").read_text())
    return {key.removesuffix("_version"): manifest[key] for key in ("sklearn_version", "numpy_version") if key in manifest}


def model_version_register(*, user, name: str) -> DetectorModelVersion:
    """Register the store's model ``name`` (its current content version); the same version twice
    returns the existing row."""
    if user is not None:  # None: the system (a management command)
        require_role(user, ADMINS)
    model = _load(name)
    with transaction.atomic():
        row, created = DetectorModelVersion.objects.get_or_create(
            version=model.version,
            defaults={
                "name": name,
                "metrics": model.metrics,
                "training_summary": model.training,
                "library_versions": _library_versions(name),
                "registered_by": acting_user(user),
            },
        )
        if created:
            audit_record(
                user=user,
                action=AuditEntry.Action.CREATE,
                instance=row,
                patient=None,
                changes={k: [None, v] for k, v in snapshot(row, ["name", "version", "library_versions"]).items()},
                reason="model version registered",
            )
    return row


def model_version_activate(*, user, version: DetectorModelVersion) -> list[ScoringRun]:
    """Make ``version`` the one active model (admins only) and re-score every pullback with it
    in the background. Refused when the store's file under its name is no longer that version."""
    require_role(user, ADMINS)
    current = _load(version.name).version
    if current != version.version:
        raise ValidationError(
            {"version": [f"The store's model {version.name!r} is now {current}, not {version.version}; register it again."]}
        )
    with transaction.atomic():
        rows = list(DetectorModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk))
        for row in rows:
            _set_active(user, row, False)
        version = DetectorModelVersion.objects.select_for_update().get(pk=version.pk)
        if not version.is_active:
            _set_active(user, version, True)
        from scoring.services import pullbacks_rescore

        return pullbacks_rescore(user=user, pullbacks=Pullback.objects.order_by("pk"), model_name=version.name)


def _set_active(user, row: DetectorModelVersion, active: bool) -> None:
    old = snapshot(row, _ACTIVATION_FIELDS)
    row.is_active = active
    if active:
        row.activated_at, row.activated_by = timezone.now(), user
    row.save(update_fields=_ACTIVATION_FIELDS)
    audit_record(
        user=user,
        action=AuditEntry.Action.UPDATE,
        instance=row,
        patient=None,
        changes=diff(old, snapshot(row, _ACTIVATION_FIELDS)),
        reason="model version activated" if active else "another model version activated",
    )


def active_model_version() -> DetectorModelVersion | None:
    return DetectorModelVersion.objects.filter(is_active=True).first()
