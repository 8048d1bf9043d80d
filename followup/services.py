"""Writes of the follow-up waves. Every function validates, writes in one transaction and
records the audit trail (registry.audit); the registry's own rows (pending events, contacts)
are written through registry.services, so their rules and audit hold here too.

Concurrency: a member or request is re-read under a lock before it changes, so two returns of
the same questionnaire (the patient online and a coordinator on paper, or a double click) save
one response, and the other gets a clear refusal.
"""

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.roles import acting_user
from followup import questionnaire as qn
from followup.models import (
    OUTSTANDING_STATUSES,
    EntryMethod,
    MemberStatus,
    Questionnaire,
    QuestionnaireResponse,
    ReportedEvent,
    RequestStatus,
    SourceDocumentRequest,
    Wave,
    WaveMember,
)
from registry import services as registry_services
from registry.audit import audit_entry, audit_record, diff, snapshot
from registry.models import (
    AuditEntry,
    ClinicalEvent,
    ContactMethod,
    EventSource,
    EventType,
    Patient,
    Site,
    Verification,
    VitalStatus,
)

# Who the audit names for what a patient enters online (no account, no login).
PATIENT_ONLINE = SimpleNamespace(is_authenticated=False, username="patient (online questionnaire)")

# Response codes: 8 characters a person reads off paper and types without confusion (no 0/O,
# 1/I/L, 2/Z, 5/S, 8/B), shown as XXXX-XXXX.
_CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"


def current_questionnaire() -> Questionnaire:
    return Questionnaire.objects.order_by("-version").first() or _seed_questionnaire()


def _seed_questionnaire() -> Questionnaire:
    # The migration stores version 1; this covers a database created without data migrations.
    definition = qn.STUDY_QUESTIONNAIRE_V1
    obj, _ = Questionnaire.objects.get_or_create(
        version=definition["version"], defaults={"title": definition["title"], "definition": definition}
    )
    return obj


def new_response_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_response_code(text: str) -> str:
    """What a coordinator typed ("k7m4 q9tx", "K7M4Q9TX") as stored ("K7M4-Q9TX")."""
    raw = "".join(ch for ch in (text or "").upper() if ch.isalnum())
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 8 else raw


# Link tokens: 26 characters of 32 that are not easily confused when typed off a letter (no 0/o,
# 1/l), 130 random bits.
_TOKEN_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def new_token() -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(26))


# Who is due ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    patient: Patient
    reason: str


def _living_not_withdrawn(patients: QuerySet) -> QuerySet:
    death = ClinicalEvent.objects.filter(patient=OuterRef("pk"), event_type=EventType.DEATH).exclude(
        verification=Verification.REJECTED
    )
    return patients.filter(withdrawn_on__isnull=True).exclude(fu_vital_status=VitalStatus.DEAD).exclude(Exists(death))


def wave_candidates(
    *, patients: QuerySet, today: date, site: Site | None = None, no_contact_days: int | None = None
) -> list[Candidate]:
    """The patients a new wave goes to, each with the reason: living (no death recorded, verified
    or pending), not withdrawn, not waiting on another open wave's questionnaire; optionally only
    one site's, and only those without contact for `no_contact_days` days or more."""
    chosen = _living_not_withdrawn(patients)
    if site is not None:
        chosen = chosen.filter(site=site)
    if no_contact_days is not None:
        cutoff = today - timedelta(days=no_contact_days)
        chosen = chosen.filter(Q(fu_last_contact__isnull=True) | Q(fu_last_contact__lte=cutoff))
    waiting = WaveMember.objects.filter(
        patient=OuterRef("pk"), wave__closed_on__isnull=True, status__in=OUTSTANDING_STATUSES
    )
    chosen = chosen.exclude(Exists(waiting)).select_related("site").order_by("study_id")
    found = []
    for patient in chosen:
        parts = ["living, not withdrawn"]
        if site is not None:
            parts.append(f"site {site.code}")
        if no_contact_days is not None:
            if patient.fu_last_contact is None:
                parts.append("no contact recorded")
            else:
                days = (today - patient.fu_last_contact).days
                parts.append(f"last contact {patient.fu_last_contact.isoformat()} ({days} days before)")
        found.append(Candidate(patient, "; ".join(parts)))
    return found


# Waves --------------------------------------------------------------------------------------


def _validate_wave_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the wave a name, e.g. “2026 autumn”."})
    if len(name) > 80:
        raise ValidationError({"name": f"At most 80 characters (got {len(name)})."})
    if name[0] in "=+-@\t\r":
        raise ValidationError({"name": "A name may not start with =, +, - or @ (spreadsheets read those as formulas)."})
    if Wave.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"There is already a wave called “{name}”."})
    return name


@transaction.atomic
def wave_create(
    *,
    user,
    name: str,
    patients: QuerySet,
    site: Site | None = None,
    no_contact_days: int | None = None,
    reminder_weeks: int = 4,
    answer_days: int = 90,
    today: date | None = None,
) -> Wave:
    """A new wave to every due patient among `patients` (the creator's site scope), each with why."""
    today = today or timezone.localdate()
    name = _validate_wave_name(name)
    if no_contact_days is not None and no_contact_days < 0:
        raise ValidationError({"no_contact_days": "Must be 0 or more days."})
    if not 1 <= reminder_weeks <= 52:
        raise ValidationError({"reminder_weeks": f"Between 1 and 52 weeks (got {reminder_weeks})."})
    if not 7 <= answer_days <= 365:
        raise ValidationError({"answer_days": f"Between 7 and 365 days (got {answer_days})."})
    candidates = wave_candidates(patients=patients, today=today, site=site, no_contact_days=no_contact_days)
    if not candidates:
        raise ValidationError({"__all__": "No patient is due with these choices: the wave was not created."})
    wave = Wave.objects.create(
        name=name,
        questionnaire=current_questionnaire(),
        site=site,
        no_contact_days=no_contact_days,
        reminder_weeks=reminder_weeks,
        answer_days=answer_days,
        created_by=acting_user(user),
        created_on=today,
    )
    codes: set[str] = set()
    members = []
    for c in candidates:
        code = new_response_code()
        while code in codes or WaveMember.objects.filter(response_code=code).exists():
            code = new_response_code()
        codes.add(code)
        members.append(
            WaveMember(
                wave=wave,
                patient=c.patient,
                reason=c.reason,
                response_code=code,
                token=new_token(),
                token_expires_on=today + timedelta(days=answer_days),
            )
        )
    WaveMember.objects.bulk_create(members, batch_size=500)
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE,
        instance=wave,
        patient=None,
        changes=diff(
            {},
            {
                **snapshot(wave, ["name", "site", "no_contact_days", "reminder_weeks", "answer_days"]),
                "patients": len(members),
            },
        ),
    )
    entries = [
        audit_entry(
            user=user,
            action=AuditEntry.Action.CREATE,
            instance=m,
            patient_id=m.patient_id,
            changes={"wave": [None, wave.name], "reason": [None, m.reason]},
        )
        for m in WaveMember.objects.filter(wave=wave)
    ]
    AuditEntry.objects.bulk_create(entries, batch_size=500)
    return wave


def _member_audit(user, member: WaveMember, before: dict, reason: str = "") -> None:
    changes = diff(before, snapshot(member, _MEMBER_FIELDS))
    if changes:
        audit_record(
            user=user,
            action=AuditEntry.Action.UPDATE,
            instance=member,
            patient=member.patient,
            changes=changes,
            reason=reason,
        )


_MEMBER_FIELDS = ["status", "sent_on", "reminder_on", "returned_on", "status_note", "token_expires_on"]


def _save_member(member: WaveMember, fields: list[str]) -> None:
    member.version += 1
    member.save(update_fields=[*fields, "version"])


def _require_open(wave: Wave) -> None:
    if not wave.is_open:
        raise ValidationError({"__all__": f"The wave “{wave.name}” was closed on {wave.closed_on.isoformat()}."})  # type: ignore[union-attr]


@transaction.atomic
def letters_sent(*, user, wave: Wave, on: date, members: QuerySet | None = None) -> int:
    """Record that the letters of these members (default: every one not sent yet) went out on `on`."""
    wave = Wave.objects.select_for_update().get(pk=wave.pk)
    _require_open(wave)
    if on > timezone.localdate():
        raise ValidationError({"on": f"{on.isoformat()} is in the future."})
    chosen = (members if members is not None else wave.members.all()).filter(wave=wave, status=MemberStatus.TO_SEND)
    count = 0
    for member in chosen.select_for_update().select_related("patient"):
        before = snapshot(member, _MEMBER_FIELDS)
        member.status, member.sent_on = MemberStatus.SENT, on
        member.token_expires_on = max(member.token_expires_on, on + timedelta(days=wave.answer_days))
        _save_member(member, ["status", "sent_on", "token_expires_on"])
        _member_audit(user, member, before)
        count += 1
    return count


def reminders_due(wave: Wave, *, today: date) -> QuerySet:
    """Members whose letter went out `reminder_weeks` or more ago, not returned and not reminded yet."""
    return wave.members.filter(
        status=MemberStatus.SENT, sent_on__lte=today - timedelta(weeks=wave.reminder_weeks)
    ).select_related("patient", "patient__site")


@transaction.atomic
def reminders_sent(*, user, wave: Wave, on: date, members: QuerySet | None = None) -> int:
    """Record reminders sent on `on` (default: to every member due one); their links stay valid
    `answer_days` from the reminder."""
    wave = Wave.objects.select_for_update().get(pk=wave.pk)
    _require_open(wave)
    chosen = members.filter(wave=wave, status=MemberStatus.SENT) if members is not None else reminders_due(wave, today=on)
    count = 0
    for member in chosen.select_for_update():
        before = snapshot(member, _MEMBER_FIELDS)
        member.status, member.reminder_on = MemberStatus.REMINDED, on
        member.token_expires_on = max(member.token_expires_on, on + timedelta(days=wave.answer_days))
        _save_member(member, ["status", "reminder_on", "token_expires_on"])
        _member_audit(user, member, before)
        count += 1
    return count


@transaction.atomic
def member_mark(*, user, member: WaveMember, status: str, note: str = "", expected_version: int | None = None) -> WaveMember:
    """Mark a letter returned to sender (address unknown) or a patient as not responding."""
    if status not in (MemberStatus.RETURN_TO_SENDER, MemberStatus.NO_RESPONSE):
        raise ValidationError({"status": "Only “returned to sender” and “no response” are marked by hand."})
    member = WaveMember.objects.select_for_update().select_related("patient", "wave").get(pk=member.pk)
    _require_open(member.wave)
    if expected_version is not None and member.version != expected_version:
        raise ValidationError({"__all__": "This patient's letter was changed after you opened the page; look again."})
    if member.status == MemberStatus.RETURNED:
        raise ValidationError({"status": f"The questionnaire was already returned on {member.returned_on.isoformat()}."})  # type: ignore[union-attr]
    before = snapshot(member, _MEMBER_FIELDS)
    member.status, member.status_note = status, (note or "").strip()[:300]
    _save_member(member, ["status", "status_note"])
    _member_audit(user, member, before, reason=member.status_note)
    return member


@transaction.atomic
def wave_close(*, user, wave: Wave, on: date) -> int:
    """Close the wave: every letter still out becomes "no response" and every link stops working.
    Returns how many became "no response"."""
    wave = Wave.objects.select_for_update().get(pk=wave.pk)
    _require_open(wave)
    count = 0
    for member in wave.members.filter(status__in=OUTSTANDING_STATUSES).select_for_update():
        before = snapshot(member, _MEMBER_FIELDS)
        member.status = MemberStatus.NO_RESPONSE
        _save_member(member, ["status"])
        _member_audit(user, member, before, reason="wave closed")
        count += 1
    before = snapshot(wave, ["closed_on"])
    wave.closed_on = on
    wave.version += 1
    wave.save(update_fields=["closed_on", "version"])
    audit_record(
        user=user,
        action=AuditEntry.Action.UPDATE,
        instance=wave,
        patient=None,
        changes=diff(before, snapshot(wave, ["closed_on"])),
    )
    return count


# Online links -------------------------------------------------------------------------------


def member_for_token(token: str, *, today: date) -> tuple[WaveMember | None, str]:
    """The member whose link this is and "ok", or (None or the member, why not): "unknown",
    "used", "expired", "closed". Callers show a polite page for anything but "ok", never data."""
    if not token or len(token) > 40:
        return None, "unknown"
    member = WaveMember.objects.select_related("wave", "wave__questionnaire").filter(token=token).first()
    if member is None or not secrets.compare_digest(member.token, token):
        return None, "unknown"
    if member.token_used_at is not None or member.status == MemberStatus.RETURNED:
        return member, "used"
    if not member.wave.is_open or member.status == MemberStatus.NO_RESPONSE:
        return member, "closed"
    if member.token_expires_on < today:
        return member, "expired"
    return member, "ok"


# Returned questionnaires --------------------------------------------------------------------


class AlreadyReturned(ValidationError):
    pass


@transaction.atomic
def response_submit(
    *, user, member: WaveMember, answers: dict, via: str, returned_on: date | None = None
) -> QuestionnaireResponse:
    """Store a returned questionnaire and everything it leads to, all or nothing:
    - the answers (on the questionnaire version of the wave), with who entered them and how;
    - each reported occurrence, and for a death, MI, stroke, PCI or CABG a pending clinical event
      (source: questionnaire) at the approximate date, with its precision;
    - a source-document request to the hospital named, for every occurrence;
    - a "questionnaire returned" contact (vital status alive), unless the patient has died;
    - the member returned, the link used.
    `answers` is the cleaned form (followup.forms); `user` is the coordinator, or PATIENT_ONLINE."""
    if via not in EntryMethod.values:
        raise ValidationError({"via": f"unknown entry method {via!r}"})
    member = (
        WaveMember.objects.select_for_update().select_related("wave", "wave__questionnaire", "patient").get(pk=member.pk)
    )
    if member.status == MemberStatus.RETURNED or _has_response(member):
        raise AlreadyReturned(
            {
                "__all__": f"The questionnaire of {member.patient.study_id} in {member.wave.name} was already returned on {member.returned_on}."
            }
        )
    today = timezone.localdate()
    if not member.wave.is_open or member.status == MemberStatus.NO_RESPONSE:
        raise ValidationError({"__all__": f"The wave “{member.wave.name}” no longer takes answers for this patient."})
    returned_on = returned_on or today
    if via == EntryMethod.ONLINE and member.token_expires_on < returned_on:
        raise ValidationError({"__all__": "This link has expired."})
    patient = member.patient
    if returned_on > today:
        raise ValidationError({"returned_on": f"{returned_on.isoformat()} is in the future."})
    if returned_on < patient.index_date:
        raise ValidationError({"returned_on": f"{returned_on.isoformat()} is before the index date."})
    definition = member.wave.questionnaire.definition
    response = QuestionnaireResponse.objects.create(
        member=member,
        questionnaire=member.wave.questionnaire,
        answers=answers,
        entered_via=via,
        entered_by=acting_user(user),
        returned_on=returned_on,
    )
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE,
        instance=response,
        patient=patient,
        changes={
            "wave": [None, member.wave.name],
            "entered_via": [None, via],
            "returned_on": [None, returned_on.isoformat()],
        },
    )
    died = answers.get("health") == "deceased"
    latest = returned_on
    for occurrence in qn.occurrences(definition, answers):
        _report(user=user, response=response, patient=patient, definition=definition, occurrence=occurrence, latest=latest)
    if not died:
        try:
            registry_services.contact_record(
                user=user,
                patient=patient,
                data={
                    "contact_date": returned_on,
                    "method": ContactMethod.QUESTIONNAIRE_RETURNED,
                    "vital_status": VitalStatus.ALIVE,
                    "notes": f"wave {member.wave.name}, response {member.response_code}",
                },
            )
        except ValidationError as exc:
            # A death recorded before the return date: the answers are kept, the contact is not.
            response.answers = {**answers, "_contact_problem": "; ".join(exc.messages)}
            response.save(update_fields=["answers"])
    before = snapshot(member, _MEMBER_FIELDS)
    member.status, member.returned_on = MemberStatus.RETURNED, returned_on
    member.token_used_at = timezone.now()
    _save_member(member, ["status", "returned_on", "token_used_at"])
    _member_audit(user, member, before)
    return response


def _has_response(member: WaveMember) -> bool:
    return QuestionnaireResponse.objects.filter(member=member).exists()


def _report(*, user, response, patient: Patient, definition: dict, occurrence: qn.Occurrence, latest: date) -> ReportedEvent:
    reported = ReportedEvent.objects.create(
        response=response,
        patient=patient,
        question=occurrence.question,
        which=occurrence.which[:10],
        description=qn.occurrence_label(definition, occurrence)[:300],
        year=occurrence.when.year,
        month=occurrence.when.month,
        day=occurrence.when.day,
        hospital=occurrence.hospital.strip()[:200],
    )
    kind = qn.clinical_event_of(definition, occurrence)
    event = None
    if kind is not None:
        event_type, method = kind
        death = registry_services._death_date(patient)  # noqa: SLF001 - the registry's own rule input
        earliest = patient.index_date
        last = min(d for d in (latest, death) if d is not None) if event_type != EventType.DEATH else latest
        event_date = occurrence.when.as_date(earliest=earliest, latest=last)
        try:
            with transaction.atomic():
                event = registry_services.event_record(
                    user=user,
                    patient=patient,
                    data={
                        "event_type": event_type,
                        "event_date": event_date,
                        "event_date_precision": occurrence.when.precision,
                        "revascularization_method": method,
                        "source": EventSource.QUESTIONNAIRE,
                        "notes": f"Reported on the questionnaire ({response.member.wave.name}): {reported.description}"[
                            :1000
                        ],
                    },
                )
        except ValidationError as exc:
            reported.problem = ("Not entered as an event: " + "; ".join(exc.messages))[:300]
        else:
            reported.clinical_event = event
        reported.save(update_fields=["clinical_event", "problem"])
    request = SourceDocumentRequest.objects.create(
        patient=patient,
        reported_event=reported,
        clinical_event=event,
        hospital=reported.hospital,
        what=reported.description,
        requested_on=response.returned_on,  # the day the questionnaire that asks for it came back
        created_by=acting_user(user),
    )
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE,
        instance=request,
        patient=patient,
        changes=diff({}, snapshot(request, _REQUEST_FIELDS)),
    )
    return reported


# Source-document requests -------------------------------------------------------------------

_REQUEST_FIELDS = [
    "hospital",
    "what",
    "status",
    "requested_on",
    "reminder_on",
    "received_on",
    "document_reference",
    "closed_reason",
]
_REQUEST_MOVES: dict[str, tuple[str, ...]] = {
    RequestStatus.REMINDED: (RequestStatus.REQUESTED,),
    RequestStatus.RECEIVED: (RequestStatus.REQUESTED, RequestStatus.REMINDED, RequestStatus.NOT_AVAILABLE),
    RequestStatus.NOT_AVAILABLE: (RequestStatus.REQUESTED, RequestStatus.REMINDED),
}


@transaction.atomic
def request_update(
    *,
    user,
    request: SourceDocumentRequest,
    status: str,
    on: date,
    document_reference: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> SourceDocumentRequest:
    """Move a request on: reminder sent, received (with the document reference), not available."""
    request = SourceDocumentRequest.objects.select_for_update().select_related("patient").get(pk=request.pk)
    if expected_version is not None and request.version != expected_version:
        raise ValidationError({"__all__": "This request was changed after you opened the page; look again."})
    allowed = _REQUEST_MOVES.get(status)
    if allowed is None:
        raise ValidationError({"status": f"A request cannot be set to {status!r} by hand."})
    if request.status not in allowed:
        raise ValidationError(
            {"status": f"A request that is “{request.get_status_display()}” cannot become “{RequestStatus(status).label}”."}
        )
    if on > timezone.localdate():
        raise ValidationError({"on": f"{on.isoformat()} is in the future."})
    if on < request.requested_on:
        raise ValidationError({"on": f"{on.isoformat()} is before the request ({request.requested_on.isoformat()})."})
    document_reference = (document_reference or "").strip()
    if status == RequestStatus.RECEIVED and not document_reference:
        raise ValidationError({"document_reference": "Name the document received (e.g. “discharge letter 2025-03-14”)."})
    before = snapshot(request, _REQUEST_FIELDS)
    request.status = status
    if status == RequestStatus.REMINDED:
        request.reminder_on = on
    elif status == RequestStatus.RECEIVED:
        request.received_on, request.document_reference = on, document_reference[:200]
    else:
        request.closed_reason = (note or "").strip()[:300]
    _save_request(user, request, before, reason=(note or "").strip())
    return request


def _save_request(user, request: SourceDocumentRequest, before: dict, *, reason: str) -> None:
    """Save a changed request (its version raised) with its audit row."""
    request.version += 1
    request.save()
    audit_record(
        user=user,
        action=AuditEntry.Action.UPDATE,
        instance=request,
        patient=request.patient,
        changes=diff(before, snapshot(request, _REQUEST_FIELDS)),
        reason=reason,
    )


def requests_close_for_event(*, user, event: ClinicalEvent, decision: str, reason: str) -> int:
    """Close the event's requests that are not closed: verified, or rejected with the reason.
    Called from the registry's verification (followup.receivers), in its transaction."""
    status = RequestStatus.CLOSED_VERIFIED if decision == Verification.VERIFIED else RequestStatus.CLOSED_REJECTED
    count = 0
    for request in (
        SourceDocumentRequest.objects.select_for_update()
        .filter(clinical_event=event)
        .exclude(status__in=(RequestStatus.CLOSED_VERIFIED, RequestStatus.CLOSED_REJECTED))
    ):
        before = snapshot(request, _REQUEST_FIELDS)
        request.status = status
        if decision == Verification.VERIFIED:
            request.document_reference = request.document_reference or event.source_document[:200]
            request.closed_reason = ""
        else:
            request.closed_reason = (reason or "event rejected")[:300]
        _save_request(user, request, before, reason=reason)
        count += 1
    return count
