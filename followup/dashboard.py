"""Reads for a wave's dashboard: how many came back and when, per site, what was reported and how
far verification got, what the hospitals still owe, and who is due a reminder.

Everything counts only the members among `patients` (the viewer's site scope). A handful of
aggregate queries whatever the wave's size: grouped counts come back from the database and are
folded together here, never one query per member.
"""

from collections import Counter, defaultdict
from datetime import date, timedelta

from django.db.models import Case, CharField, Count, F, Min, Q, QuerySet, Value, When

from followup import services
from followup.models import MemberStatus, ReportedEvent, RequestStatus, SourceDocumentRequest, Wave, WaveMember
from registry.models import Verification

# The kinds of reported occurrence, in the order shown; keys are ReportedEvent.question, and
# "tia" for a stroke question answered "TIA".
EVENT_KINDS = {
    "mi": "Heart attack (MI)",
    "stroke": "Stroke",
    "tia": "TIA",
    "pci": "PCI",
    "cabg": "CABG",
    "death": "Death",
    "admissions": "Hospital admission",
    "chest_pain": "Chest pain admission",
}
HOSPITAL_NOT_NAMED = "Hospital not named"

# A letter counts as sent when it went out, or when it came back although its sending was never
# recorded (a paper questionnaire entered for a letter not marked sent).
_SENT = Q(sent_on__isnull=False) | Q(status=MemberStatus.RETURNED)
_RETURNED = Q(status=MemberStatus.RETURNED)


def wave_dashboard(wave: Wave, *, patients: QuerySet, today: date) -> dict:
    """The dashboard's numbers for `wave`, counting only the members among `patients`."""
    members = wave.members.filter(patient__in=patients.values("pk"))
    by_site = _by_site(members)
    requests = _requests_by_hospital(wave, patients=patients, today=today)
    return {
        "totals": _totals(by_site, requests),
        "by_site": by_site,
        "response_over_time": _response_over_time(members, end=_end_day(wave, today)),
        "events": _events(wave, patients=patients),
        "requests_by_hospital": requests,
        "reminders_due": _reminders_due(wave, patients=patients, today=today),
    }


def _rate(returned: int, sent: int) -> float | None:
    """Returned per letter sent, in percent (one decimal); None before any letter went out."""
    return round(100 * returned / sent, 1) if sent else None


def _end_day(wave: Wave, today: date) -> date:
    return min(wave.closed_on, today) if wave.closed_on is not None else today


# Members ------------------------------------------------------------------------------------


def _by_site(members: QuerySet[WaveMember]) -> list[dict]:
    rows = (
        members.values("patient__site__code")
        .annotate(
            members=Count("pk"),
            sent=Count("pk", filter=_SENT),
            returned=Count("pk", filter=_RETURNED),
            return_to_sender=Count("pk", filter=Q(status=MemberStatus.RETURN_TO_SENDER)),
            no_response=Count("pk", filter=Q(status=MemberStatus.NO_RESPONSE)),
        )
        .order_by("patient__site__code")
    )
    return [
        {
            "site": row["patient__site__code"],
            "members": row["members"],
            "sent": row["sent"],
            "returned": row["returned"],
            "return_to_sender": row["return_to_sender"],
            "no_response": row["no_response"],
            "response_rate": _rate(row["returned"], row["sent"]),
        }
        for row in rows
    ]


def _totals(by_site: list[dict], requests: list[dict]) -> dict:
    totals = {
        key: sum(row[key] for row in by_site) for key in ("members", "sent", "returned", "return_to_sender", "no_response")
    }
    totals["response_rate"] = _rate(totals["returned"], totals["sent"])
    totals["outstanding_requests"] = sum(row["outstanding"] for row in requests)
    return totals


def _response_over_time(members: QuerySet[WaveMember], *, end: date) -> list[dict]:
    """One point a day from the first letter to `end`: letters sent and questionnaires returned by
    the end of that day, and their ratio in percent. `changed`: something happened that day."""
    pairs = members.filter(_SENT).values_list("sent_on", "returned_on").annotate(n=Count("pk")).order_by()
    sent_per_day: Counter[date] = Counter()
    returned_per_day: Counter[date] = Counter()
    for sent_on, returned_on, n in pairs:
        sent_per_day[min(d for d in (sent_on, returned_on) if d is not None)] += n
        if returned_on is not None:
            returned_per_day[returned_on] += n
    if not sent_per_day:
        return []
    day, points, sent, returned = min(sent_per_day), [], 0, 0
    last = max(end, day)
    while day <= last:
        sent += sent_per_day[day]
        returned += returned_per_day[day]
        changed = day in sent_per_day or day in returned_per_day or day == last
        points.append(
            {"date": day, "sent": sent, "returned": returned, "response_rate": _rate(returned, sent), "changed": changed}
        )
        day += timedelta(days=1)
    return points


def _reminders_due(wave: Wave, *, patients: QuerySet, today: date) -> list[dict]:
    due = (
        services.reminders_due(wave, today=today)
        .filter(patient__in=patients.values("pk"))
        .order_by("sent_on", "patient__study_id")
        .values_list("pk", "patient__study_id", "patient__site__code", "sent_on")
    )
    return [
        {"member_id": pk, "study_id": study_id, "site": site, "sent_on": sent_on, "weeks_since": (today - sent_on).days // 7}
        for pk, study_id, site, sent_on in due
    ]


# Reported events ----------------------------------------------------------------------------


def _events(wave: Wave, *, patients: QuerySet) -> list[dict]:
    """Per kind reported: how many, and what became of them (a pending, verified or rejected
    clinical event; not entered as an event, with the reason in `problem`; or a source-document
    request only: admissions, chest pain, TIA)."""
    # A TIA is a "stroke" answer whose "which" is TIA.
    kind = Case(
        When(question="stroke", which="tia", then=Value("tia")),
        default=F("question"),
        output_field=CharField(),
    )
    verification = "clinical_event__verification"
    rows = (
        ReportedEvent.objects.filter(response__member__wave=wave, patient__in=patients.values("pk"))
        .annotate(kind=kind)
        .values("kind")
        .annotate(
            reported=Count("pk"),
            pending=Count("pk", filter=Q(**{verification: Verification.PENDING})),
            verified=Count("pk", filter=Q(**{verification: Verification.VERIFIED})),
            rejected=Count("pk", filter=Q(**{verification: Verification.REJECTED})),
            not_entered=Count("pk", filter=~Q(problem="")),
            request_only=Count("pk", filter=Q(clinical_event__isnull=True, problem="")),
        )
        .order_by()
    )
    found = {row["kind"]: {key: n for key, n in row.items() if key != "kind"} for row in rows}
    order = [*EVENT_KINDS, *sorted(set(found) - set(EVENT_KINDS))]
    return [{"kind": EVENT_KINDS.get(k, k.replace("_", " ").capitalize()), **found[k]} for k in order if k in found]


# Source-document requests -------------------------------------------------------------------

_CLOSED = (RequestStatus.CLOSED_VERIFIED, RequestStatus.CLOSED_REJECTED)


def _hospital_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _requests_by_hospital(wave: Wave, *, patients: QuerySet, today: date) -> list[dict]:
    """Per hospital (spellings that differ only in case or spaces are one hospital, shown as
    the most common): requests outstanding (requested or reminded), the oldest of those and
    its age, received, not available, closed. Most outstanding first."""
    rows = (
        SourceDocumentRequest.objects.filter(reported_event__response__member__wave=wave, patient__in=patients.values("pk"))
        .values_list("hospital", "status")
        .annotate(n=Count("pk"), oldest=Min("requested_on"))
        .order_by()
    )
    spellings: defaultdict[str, Counter[str]] = defaultdict(Counter)
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    oldest: dict[str, date] = {}
    for hospital, status, n, first in rows:
        key = _hospital_key(hospital)
        spellings[key][" ".join(hospital.split())] += n
        counts[key][status] += n
        if status in (RequestStatus.REQUESTED, RequestStatus.REMINDED):
            oldest[key] = min(first, oldest.get(key, first))
    found = [_hospital_row(key, spellings[key], counts[key], oldest.get(key), today) for key in counts]
    return sorted(found, key=lambda r: (-r["outstanding"], r["oldest_outstanding"] or date.max, r["hospital"].casefold()))


def _hospital_row(key: str, spellings: Counter[str], counts: Counter[str], oldest: date | None, today: date) -> dict:
    # The most common spelling; a tie goes to the alphabetically first, so the name is stable.
    name = min(spellings, key=lambda s: (-spellings[s], s)) if key else HOSPITAL_NOT_NAMED
    return {
        "hospital": name,
        "outstanding": counts[RequestStatus.REQUESTED] + counts[RequestStatus.REMINDED],
        "oldest_outstanding": oldest,
        "oldest_age_days": (today - oldest).days if oldest is not None else None,
        "received": counts[RequestStatus.RECEIVED],
        "not_available": counts[RequestStatus.NOT_AVAILABLE],
        "closed": sum(counts[s] for s in _CLOSED),
    }
