"""Writes to the registry. Every function validates with `registry.rules`, writes inside a
transaction and records the audit trail; views, the API and the importer call only these.

Concurrency: a change re-reads its row under a lock (`select_for_update`; on SQLite the IMMEDIATE
transaction holds the write lock) and writes only the fields it changes, so two saves at once
never undo each other and the audit matches the data after any interleaving. Rows carry a
`version`, raised by one on every change: a caller that passes the version it read
(`expected_version`) gets `StaleVersion` instead of overwriting a change made since.
"""

from datetime import date
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from core import versions
from core.roles import acting_user
from registry import follow_up, rules, selectors, signals
from registry.audit import audit_record, diff, require_reason, snapshot
from registry.models import (
    BASELINE_FLAGS,
    AuditEntry,
    ClinicalEvent,
    EventType,
    FollowUpContact,
    Patient,
    PatientIdentity,
    Verification,
)

PATIENT_FIELDS = (
    "study_id",
    "site",
    "sex",
    "age_at_index",
    "index_date",
    "presentation",
    "index_treatment",
    "study_vessel",
    "vessel_revascularized",
    *BASELINE_FLAGS,
    "egfr",
    "ics_imported",
    "ics_imported_source",
)
IDENTITY_FIELDS = ("name", "family_name", "hospital_number", "date_of_birth", "postal_address")
CONTACT_FIELDS = ("contact_date", "method", "vital_status", "notes")
EVENT_FIELDS = (
    "event_type",
    "event_date",
    "event_date_precision",
    "revascularization_method",
    "target_vessel",
    "source",
    "notes",
)


class StaleVersion(versions.StaleVersion):
    """core.versions.StaleVersion with a message that says who changed the row and when (from the audit)."""

    def __init__(self, current: models.Model, expected: int):
        last = (
            AuditEntry.objects.filter(entity=current._meta.model_name, object_id=str(current.pk))
            .order_by("-at", "-id")
            .values_list("username", "at")
            .first()
        )
        by = f" by {last[0]} at {timezone.localtime(last[1]):%Y-%m-%d %H:%M}" if last else ""
        what = _ENTITY_LABELS.get(current._meta.model_name or "", "This record")
        super().__init__(
            current,
            expected,
            (
                f"{what} was changed{by} after you opened it, so your changes were not saved. "
                "The current values are shown: check them and make your change again."
            ),
        )


_ENTITY_LABELS = {
    "patient": "This patient",
    "patientidentity": "The identifiers",
    "followupcontact": "This contact",
    "clinicalevent": "This event",
}


# The models with a row version (`version`), which writes check against the copy the user saw.
_Versioned = TypeVar("_Versioned", Patient, PatientIdentity, FollowUpContact, ClinicalEvent)


def _locked(instance: _Versioned, expected_version: int | None = None) -> _Versioned:
    """The row as it is now, locked until the transaction ends; StaleVersion if it moved on."""
    current = type(instance).objects.select_for_update().get(pk=instance.pk)
    if expected_version is not None and current.version != expected_version:
        raise StaleVersion(current, expected_version)
    return current


def _save_changes(instance: _Versioned, changes: dict) -> None:
    """Write only the changed fields (plus the version and timestamps the row keeps)."""
    instance.version += 1
    bookkeeping: list[str] = [f.name for f in instance._meta.concrete_fields if f.name == "updated_at"]
    fields: list[str] = [instance._meta.get_field(name).name for name in changes]
    instance.save(update_fields=[*fields, "version", *bookkeeping])


def _lock_patient(patient: Patient) -> None:
    # Writes to one patient's follow-up are checked against each other (dates against a death,
    # one death): serialise them on the patient row.
    Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk", flat=True).first()


def raise_problems(problems: list[rules.Problem]) -> None:
    if problems:
        errors: dict[str, list[str]] = {}
        for p in problems:
            errors.setdefault(p.field, []).append(p.message)
        raise ValidationError(errors)


def _full_clean(instance, exclude: list[str] | None = None) -> None:
    # Model validation: choices, lengths, uniqueness; with our field names in the messages.
    instance.full_clean(exclude=exclude, validate_constraints=True)


# Patients -----------------------------------------------------------------------------------


def _check_patient(patient: Patient, *, date_of_birth: date | None = None) -> None:
    problems = rules.patient_problems(
        age_at_index=patient.age_at_index,
        egfr=patient.egfr,
        index_date=patient.index_date,
        today=timezone.localdate(),
        ics=patient.ics_imported,
        date_of_birth=date_of_birth,
        study_id=patient.study_id,
        ics_source=patient.ics_imported_source,
    )
    # An age at index and a date of birth must agree, on enrolment and on every later change of either.
    mismatch = rules.age_birth_mismatch(
        age_at_index=patient.age_at_index, date_of_birth=date_of_birth, index_date=patient.index_date
    )
    if mismatch:
        problems.append(rules.Problem("age_at_index", mismatch))
    if patient.pk and patient.index_date:
        earliest = _earliest_follow_up_date(patient)
        if earliest is not None and earliest < patient.index_date:
            problems.append(
                rules.Problem(
                    "index_date",
                    f"{patient.index_date.isoformat()} is after the patient's follow-up record on {earliest.isoformat()}",
                )
            )
    raise_problems(problems)
    _full_clean(patient)


def _earliest_follow_up_date(patient: Patient) -> date | None:
    dates = [
        FollowUpContact.objects.filter(patient=patient)
        .order_by("contact_date")
        .values_list("contact_date", flat=True)
        .first(),
        ClinicalEvent.objects.filter(patient=patient)
        .exclude(verification=Verification.REJECTED)
        .order_by("event_date")
        .values_list("event_date", flat=True)
        .first(),
    ]
    known = [d for d in dates if d is not None]
    return min(known) if known else None


@transaction.atomic
def patient_create(*, user, data: dict, identity: dict | None = None) -> Patient:
    """Enrol a patient. `data` holds PATIENT_FIELDS; `identity` optionally IDENTITY_FIELDS."""
    unknown = set(data) - set(PATIENT_FIELDS)
    if unknown:
        raise ValidationError({f: "is not a patient field" for f in sorted(unknown)})
    patient = Patient(**data)
    dob = (identity or {}).get("date_of_birth")
    if patient.age_at_index is None and dob and patient.index_date:
        patient.age_at_index = rules.age_from_birth(date_of_birth=dob, index_date=patient.index_date)
    _check_patient(patient, date_of_birth=dob)
    patient.save()
    audit_record(
        user=user, action=AuditEntry.Action.CREATE, instance=patient, patient=patient, changes=diff({}, snapshot(patient))
    )
    if identity and any(identity.get(f) for f in IDENTITY_FIELDS):
        identity_set(user=user, patient=patient, data=identity, reason="enrolment")
    return patient


@transaction.atomic
def patient_update(*, user, patient: Patient, data: dict, reason: str = "", expected_version: int | None = None) -> Patient:
    """Change patient fields; a reason is required for any change. Returns the patient as saved."""
    unknown = set(data) - set(PATIENT_FIELDS)
    if unknown:
        raise ValidationError({f: "is not a patient field" for f in sorted(unknown)})
    patient = _locked(patient, expected_version)
    before = snapshot(patient)
    for name, value in data.items():
        setattr(patient, name, value)
    identity = PatientIdentity.objects.filter(patient=patient).first()
    _check_patient(patient, date_of_birth=identity.date_of_birth if identity else None)
    changes = diff(before, snapshot(patient))
    if not changes:
        return patient
    reason = require_reason(reason, changes)
    _save_changes(patient, changes)
    if "index_date" in changes:
        follow_up_refresh([patient.pk])
    audit_record(
        user=user, action=AuditEntry.Action.UPDATE, instance=patient, patient=patient, changes=changes, reason=reason
    )
    return patient


@transaction.atomic
def identity_set(
    *, user, patient: Patient, data: dict, reason: str = "", expected_version: int | None = None
) -> PatientIdentity:
    """Create or change a patient's direct identifiers (name, hospital number, date of birth)."""
    unknown = set(data) - set(IDENTITY_FIELDS)
    if unknown:
        raise ValidationError({f: "is not an identifier field" for f in sorted(unknown)})
    _lock_patient(patient)
    existing = PatientIdentity.objects.select_for_update().filter(patient=patient).first()
    created = existing is None
    if existing is None:
        identity = PatientIdentity(patient=patient)
    elif expected_version is not None and existing.version != expected_version:
        raise StaleVersion(existing, expected_version)
    else:
        identity = existing
    before = {} if created else snapshot(identity)
    for name, value in data.items():
        setattr(identity, name, value if value != "" or name != "hospital_number" else None)
    dob = identity.date_of_birth
    if dob is not None:
        raise_problems(
            [
                p
                for p in rules.patient_problems(
                    age_at_index=None,
                    egfr=None,
                    index_date=patient.index_date,
                    today=timezone.localdate(),
                    date_of_birth=dob,
                )
                if p.field == "date_of_birth"
            ]
        )
        mismatch = rules.age_birth_mismatch(
            age_at_index=patient.age_at_index, date_of_birth=dob, index_date=patient.index_date
        )
        if mismatch:
            raise ValidationError({"date_of_birth": mismatch})
    _full_clean(identity)
    changes = diff(before, snapshot(identity))
    if created:
        identity.save()
    else:
        if not changes:
            return identity
        reason = require_reason(reason, changes)
        _save_changes(identity, changes)
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE if created else AuditEntry.Action.UPDATE,
        instance=identity,
        patient=patient,
        changes=changes,
        reason=reason,
    )
    return identity


@transaction.atomic
def patient_withdraw(*, user, patient: Patient, withdrawn_on: date, reason: str) -> Patient:
    """Withdraw a patient from the study. Patients are never deleted."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required to withdraw a patient."})
    patient = _locked(patient)
    if patient.withdrawn_on is not None:
        raise ValidationError({"withdrawn_on": f"the patient was already withdrawn on {patient.withdrawn_on.isoformat()}"})
    raise_problems(
        rules.follow_up_date_problems(
            field="withdrawn_on",
            value=withdrawn_on,
            index_date=patient.index_date,
            today=timezone.localdate(),
            death_date=None,
        )
    )
    before = snapshot(patient, ["withdrawn_on", "withdrawal_reason"])
    patient.withdrawn_on, patient.withdrawal_reason = withdrawn_on, reason
    changes = diff(before, snapshot(patient, ["withdrawn_on", "withdrawal_reason"]))
    _save_changes(patient, changes)
    audit_record(
        user=user, action=AuditEntry.Action.WITHDRAW, instance=patient, patient=patient, changes=changes, reason=reason
    )
    return patient


# Follow-up contacts -------------------------------------------------------------------------


def _death_date(patient: Patient, *, exclude_event_id: int | None = None) -> date | None:
    deaths = ClinicalEvent.objects.filter(patient=patient, event_type=EventType.DEATH).exclude(
        verification=Verification.REJECTED
    )
    if exclude_event_id is not None:
        deaths = deaths.exclude(pk=exclude_event_id)
    return deaths.values_list("event_date", flat=True).first()


def _check_contact(contact: FollowUpContact) -> None:
    raise_problems(
        rules.follow_up_date_problems(
            field="contact_date",
            value=contact.contact_date,
            index_date=contact.patient.index_date,
            today=timezone.localdate(),
            death_date=_death_date(contact.patient),
        )
    )
    _full_clean(contact, exclude=["created_by"])


@transaction.atomic
def contact_record(*, user, patient: Patient, data: dict) -> FollowUpContact:
    """Add a follow-up contact (date, method, vital status, notes)."""
    contact = FollowUpContact(patient=patient, created_by=acting_user(user), **_only(data, CONTACT_FIELDS))
    _lock_patient(patient)
    _check_contact(contact)
    contact.save()
    follow_up_refresh([patient.pk])
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE,
        instance=contact,
        patient=patient,
        changes=diff({}, snapshot(contact, list(CONTACT_FIELDS))),
    )
    return contact


@transaction.atomic
def contact_update(
    *, user, contact: FollowUpContact, data: dict, reason: str, expected_version: int | None = None
) -> FollowUpContact:
    data = _only(data, CONTACT_FIELDS)
    _lock_patient(contact.patient)
    contact = _locked(contact, expected_version)
    before = snapshot(contact, list(CONTACT_FIELDS))
    for name, value in data.items():
        setattr(contact, name, value)
    _check_contact(contact)
    changes = diff(before, snapshot(contact, list(CONTACT_FIELDS)))
    if changes:
        reason = require_reason(reason, changes)
        _save_changes(contact, changes)
        follow_up_refresh([contact.patient_id])
        audit_record(
            user=user,
            action=AuditEntry.Action.UPDATE,
            instance=contact,
            patient=contact.patient,
            changes=changes,
            reason=reason,
        )
    return contact


@transaction.atomic
def contact_delete(*, user, contact: FollowUpContact, reason: str, expected_version: int | None = None) -> None:
    reason = require_reason(reason, {"deleted": True})
    _lock_patient(contact.patient)
    contact = _locked(contact, expected_version)
    audit_record(
        user=user,
        action=AuditEntry.Action.DELETE,
        instance=contact,
        patient=contact.patient,
        changes=diff(snapshot(contact, list(CONTACT_FIELDS)), {}),
        reason=reason,
    )
    contact.delete()
    follow_up_refresh([contact.patient_id])


# Clinical events ----------------------------------------------------------------------------


def _check_event(event: ClinicalEvent) -> None:
    patient = event.patient
    others = ClinicalEvent.objects.filter(patient=patient).exclude(verification=Verification.REJECTED)
    if event.pk:
        others = others.exclude(pk=event.pk)
    other_death = others.filter(event_type=EventType.DEATH).values_list("event_date", flat=True).first()
    latest = max(
        [
            d
            for d in (
                others.aggregate(m=Max("event_date"))["m"],
                FollowUpContact.objects.filter(patient=patient).aggregate(m=Max("contact_date"))["m"],
            )
            if d is not None
        ],
        default=None,
    )
    problems = rules.event_problems(
        event_type=event.event_type,
        event_date=event.event_date,
        target_vessel=event.target_vessel,
        revascularization_method=event.revascularization_method,
        index_date=patient.index_date,
        today=timezone.localdate(),
        death_date=None if event.event_type == EventType.DEATH else other_death,
        other_death_date=other_death if event.verification != Verification.REJECTED else None,
        latest_other_date=latest,
    )
    raise_problems(problems)
    _full_clean(event, exclude=["created_by", "verified_by"])


@transaction.atomic
def event_record(*, user, patient: Patient, data: dict) -> ClinicalEvent:
    """Add a clinical event; it starts pending verification against source documents."""
    event = ClinicalEvent(patient=patient, created_by=acting_user(user), **_only(data, EVENT_FIELDS))
    _lock_patient(patient)
    _check_event(event)
    event.save()
    follow_up_refresh([patient.pk])
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE,
        instance=event,
        patient=patient,
        changes=diff({}, snapshot(event, [*EVENT_FIELDS, "verification"])),
    )
    return event


@transaction.atomic
def event_update(
    *, user, event: ClinicalEvent, data: dict, reason: str, expected_version: int | None = None
) -> ClinicalEvent:
    data = _only(data, EVENT_FIELDS)
    _lock_patient(event.patient)
    event = _locked(event, expected_version)
    before = snapshot(event, list(EVENT_FIELDS))
    for name, value in data.items():
        setattr(event, name, value)
    _check_event(event)
    changes = diff(before, snapshot(event, list(EVENT_FIELDS)))
    if changes:
        reason = require_reason(reason, changes)
        _save_changes(event, changes)
        follow_up_refresh([event.patient_id])
        audit_record(
            user=user, action=AuditEntry.Action.UPDATE, instance=event, patient=event.patient, changes=changes, reason=reason
        )
    return event


@transaction.atomic
def event_delete(*, user, event: ClinicalEvent, reason: str, expected_version: int | None = None) -> None:
    reason = require_reason(reason, {"deleted": True})
    _lock_patient(event.patient)
    event = _locked(event, expected_version)
    audit_record(
        user=user,
        action=AuditEntry.Action.DELETE,
        instance=event,
        patient=event.patient,
        changes=diff(snapshot(event, [*EVENT_FIELDS, "verification"]), {}),
        reason=reason,
    )
    event.delete()
    follow_up_refresh([event.patient_id])


VERIFY_FIELDS = ["verification", "verified_by", "verified_at", "source_document"]


@transaction.atomic
def event_verify(
    *,
    user,
    event: ClinicalEvent,
    decision: str = Verification.VERIFIED,
    source_document: str = "",
    reason: str = "",
    expected_version: int | None = None,
) -> ClinicalEvent:
    """Record the check of an event against source documents: verified, or rejected (with a reason)."""
    if decision not in (Verification.VERIFIED, Verification.REJECTED):
        raise ValidationError({"decision": f"must be 'verified' or 'rejected' (got {decision!r})"})
    source_document = (source_document or "").strip()
    if decision == Verification.VERIFIED and not source_document:
        raise ValidationError({"source_document": "Name the source document the event was verified against."})
    if decision == Verification.REJECTED and not (reason or "").strip():
        raise ValidationError({"reason": "A reason is required to reject an event."})
    _lock_patient(event.patient)
    event = _locked(event, expected_version)
    if (
        decision == Verification.VERIFIED
        and event.verification == Verification.REJECTED
        and event.event_type == EventType.DEATH
    ):
        other = (
            ClinicalEvent.objects.filter(patient=event.patient, event_type=EventType.DEATH)
            .exclude(pk=event.pk)
            .exclude(verification=Verification.REJECTED)
            .first()
        )
        if other is not None:
            raise ValidationError(
                {"event_type": f"the patient already has a death on {other.event_date.isoformat()}: one death at most"}
            )
    before = snapshot(event, VERIFY_FIELDS)
    event.verification = decision
    event.verified_by = acting_user(user)
    event.verified_at = timezone.now()
    event.source_document = source_document
    changes = diff(before, snapshot(event, VERIFY_FIELDS))
    _save_changes(event, dict.fromkeys(VERIFY_FIELDS))
    follow_up_refresh([event.patient_id])
    audit_record(
        user=user,
        action=AuditEntry.Action.VERIFY,
        instance=event,
        patient=event.patient,
        changes=changes,
        reason=(reason or "").strip(),
    )
    signals.event_verified.send(
        sender=ClinicalEvent, event=event, decision=decision, reason=(reason or "").strip(), user=user
    )
    return event


# The follow-up summary stored on the patient row ----------------------------------------------

FOLLOW_UP_SUMMARY_FIELDS = ("fu_last_contact", "fu_days", "fu_death_date", "fu_vital_status")


def follow_up_refresh(patient_ids) -> int:
    """Store these patients' follow-up summary (registry.follow_up over their contacts and events)
    on their rows; returns how many rows changed. Every write that changes a contact, an event or
    the index date calls it in its transaction: lists and the worklist filter by it in SQL."""
    ids = sorted(set(patient_ids))
    changed = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        contacts, events = selectors.follow_up_facts_of(chunk)
        for pk, index_date, *stored in Patient.objects.filter(pk__in=chunk).values_list(
            "pk", "index_date", *FOLLOW_UP_SUMMARY_FIELDS
        ):
            state = follow_up.follow_up_state(
                index_date=index_date, contacts=contacts[pk], events=events[pk], as_of=index_date
            )
            summary = (state.last_contact_date, state.follow_up_days, state.death_date, state.vital_status)
            if tuple(stored) != summary:
                changed.append((pk, summary))
    if changed:
        date_value = connection.ops.adapt_datefield_value
        table = Patient._meta.db_table
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET fu_last_contact = %s, fu_days = %s, fu_death_date = %s, fu_vital_status = %s "  # noqa: S608 - our table name
                "WHERE id = %s",
                [(date_value(last), days, date_value(died), vital, pk) for pk, (last, days, died, vital) in changed],
            )
    return len(changed)


def study_ics_store(values: dict[int, tuple[float | None, str]]) -> int:
    """Store {patient id: (study pullback ICS or None, its source)} on the patients' rows; returns
    how many changed. The scoring app calls it (scoring.services.study_ics_refresh) in the
    transaction of every write that changes which pullback is the study pullback or its score;
    derived data, like the follow-up summary: not audited (the scoring writes are)."""
    changed = [
        Patient(pk=pk, study_ics=values[pk][0], study_ics_source=values[pk][1] if values[pk][0] is not None else "")
        for pk, ics, source in Patient.objects.filter(pk__in=list(values)).values_list("pk", "study_ics", "study_ics_source")
        if (ics, source) != (values[pk][0], values[pk][1] if values[pk][0] is not None else "")
    ]
    Patient.objects.bulk_update(changed, ["study_ics", "study_ics_source"], batch_size=1000)
    return len(changed)


def _only(data: dict, allowed: tuple[str, ...]) -> dict:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValidationError({f: "is not an accepted field here" for f in sorted(unknown)})
    return dict(data)
