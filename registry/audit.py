"""The audit trail: every create, change and delete of registry data, with who, when, old and
new values, and the reason. Every AuditEntry is made here (audit_entry): services store one with
audit_record, the importer stores a whole file's in its one write transaction."""

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from core.roles import acting_user
from registry.models import AuditEntry, Patient


def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


# Columns the database keeps for itself (timestamps, the row version, the follow-up summary
# derived from other rows): never part of an audited change.
_BOOKKEEPING = ("created_at", "updated_at", "version", "fu_last_contact", "fu_days", "fu_death_date", "fu_vital_status")


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict:
    """The instance's concrete field values (foreign keys as ids), JSON-ready."""
    names = fields or [f.name for f in instance._meta.concrete_fields if f.name not in _BOOKKEEPING]
    return {name: _jsonable(getattr(instance, _attname(instance, name))) for name in names}


def _attname(instance: models.Model, name: str) -> str:
    field = instance._meta.get_field(name)
    assert isinstance(field, models.Field)  # a concrete field, not the reverse side of a relation
    return field.attname


def diff(old: dict, new: dict) -> dict:
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def audit_entry(
    *,
    user,
    action: str,
    instance: models.Model,
    patient_id: int | None,
    changes: dict,
    reason: str = "",
    at=None,
) -> AuditEntry:
    """One audit row, not yet stored: who (None and "system" without a signed-in user), what, the
    changes {field: [old, new]} and the reason. The one place audit rows are made: audit_record
    stores one; the importer stores a file's rows in its single write (registry.importer)."""
    entry = AuditEntry(
        user=acting_user(user),
        username=getattr(user, "username", "") or "system",
        action=action,
        entity=instance._meta.model_name or "",  # always set on a model class
        object_id=str(instance.pk),
        patient_id=patient_id,
        changes=changes,
        reason=reason,
    )
    if at is not None:
        entry.at = at
    return entry


def audit_record(
    *, user, action: str, instance: models.Model, patient: Patient | None, changes: dict, reason: str = ""
) -> AuditEntry:
    """Store one audit row (see audit_entry)."""
    entry = audit_entry(
        user=user,
        action=action,
        instance=instance,
        patient_id=None if patient is None else patient.pk,
        changes=changes,
        reason=reason,
    )
    entry.save()
    return entry


def audit_file_export(*, user, entity: str, file_name: str, changes: dict) -> AuditEntry:
    """Store the audit row of a file of patient data handed out (the civil-registry request, the
    follow-up letters and links): who, when, which file (`entity`, the file's name as its key) and
    what it held (`changes`, e.g. {"patients": [None, 120]}). Not about one patient row, so no model
    instance and no patient."""
    entry = AuditEntry(
        user=acting_user(user),
        username=getattr(user, "username", "") or "system",
        action=AuditEntry.Action.EXPORT,
        entity=entity[:40],
        object_id=file_name[:64],  # AuditEntry.object_id holds 64 characters
        patient=None,
        changes=changes,
    )
    entry.save()
    return entry


def require_reason(reason: str | None, changes: dict) -> str:
    """Changing an existing value needs a reason; the message says so."""
    reason = (reason or "").strip()
    if changes and not reason:
        raise ValidationError({"reason": "A reason is required when an existing value is changed."})
    return reason


# Showing the trail ---------------------------------------------------------------------------------

# Entity (model name) -> what a user calls it.
_ENTITY_LABELS = {
    "patient": "Patient",
    "patientidentity": "Identifiers",
    "followupcontact": "Contact",
    "clinicalevent": "Event",
    "wave": "Follow-up wave",
    "wavemember": "Follow-up letter",
    "questionnaireresponse": "Returned questionnaire",
    "sourcedocumentrequest": "Source-document request",
    "pullback": "Pullback",
    "scoringrun": "Scoring run",
    "annotation": "Calcium annotation",
    "civil_registry_export": "Civil-registry request file",
    "followup_letters": "Follow-up letters file",
}


def _models_by_name() -> dict:
    from django.apps import apps

    return {m._meta.model_name: m for m in apps.get_models()}


def _shown_value(value, field) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field is not None and getattr(field, "choices", None):
        return str(dict(field.choices).get(value, value))
    if field is not None and field.is_relation and field.related_model is not None and isinstance(value, int):
        related = field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else f"#{value}"
    if isinstance(value, str) and len(value) > 19 and value[10] == "T":
        from django.utils import timezone
        from django.utils.dateparse import parse_datetime

        moment = parse_datetime(value)
        if moment is not None:
            return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
    return str(value)


def _capitalised(label: str) -> str:
    """ "involved the study vessel" -> "Involved the study vessel"; "eGFR (...)" stays as it is."""
    return label[:1].upper() + label[1:] if label[1:2].islower() else label


def audit_for_display(entries) -> list[dict]:
    """The trail as people read it: what was changed in words ("Event 12"), each field by its
    label ("involved the study vessel"), values as shown elsewhere (yes/no, choice labels, user
    names, local times), never internal names."""
    models_by_name = _models_by_name()
    rows = []
    for entry in entries:
        model = models_by_name.get(entry.entity)
        changes = []
        for name, pair in (entry.changes or {}).items():
            field = None
            if model is not None:
                try:
                    field = model._meta.get_field(name)
                except Exception:  # a derived key such as "patients" or "wave": shown by its name
                    field = None
            label = str(getattr(field, "verbose_name", "") or name.replace("_", " "))
            old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            changes.append({"field": _capitalised(label), "old": _shown_value(old, field), "new": _shown_value(new, field)})
        rows.append(
            {
                "entry": entry,
                "what": f"{_ENTITY_LABELS.get(entry.entity, entry.entity.replace('_', ' ').capitalize())} {entry.object_id}",
                "changes": changes,
            }
        )
    return rows
