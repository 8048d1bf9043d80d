"""The home page's figures for the study as a whole (registry.views.home): recruitment, follow-up
completeness per year of follow-up and per site, verification progress, the ICS distribution and
event rates. Aggregates of the patients a user may see, never a patient's identifiers; one
pass over a few columns per patient, so that it stays well under a second for a study-sized
registry."""

from collections import Counter, defaultdict
from datetime import date, timedelta
from statistics import median

from django.conf import settings
from django.db.models import Count, QuerySet

from registry.models import ICS_CUTOFF, ClinicalEvent, EventType, Verification, effective_ics

FOLLOW_UP_YEARS = 6
_ICS_BIN = 50


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def study_overview(patients: QuerySet, *, today: date) -> dict:
    rows = list(
        patients.annotate(ics_value=effective_ics()).values_list(
            "site__code", "index_date", "fu_last_contact", "fu_death_date", "withdrawn_on", "fu_days", "ics_value"
        )
    )
    return {
        "n": len(rows),
        "recruitment": _recruitment(rows),
        "completeness_by_year": _completeness_by_year(rows, today),
        "by_site": _by_site(rows, today),
        "verification": _verification(patients),
        "ics": _ics_distribution([r[6] for r in rows]),
        "event_rates": _event_rates(patients, patient_years=sum((r[5] or 0) for r in rows) / 365.25),
    }


def _recruitment(rows) -> dict:
    """Patients by year of their index procedure, and the running total."""
    by_year = Counter(r[1].year for r in rows)
    years = sorted(by_year)
    total, cumulative = 0, []
    for y in years:
        total += by_year[y]
        cumulative.append(total)
    return {
        "years": years,
        "patients": [by_year[y] for y in years],
        "cumulative": cumulative,
        "rows": [{"year": y, "patients": by_year[y], "cumulative": c} for y, c in zip(years, cumulative, strict=True)],
    }


def _known_at(row, day: date) -> bool:
    """Is the patient's state known at `day`: a contact on or after it, or a death before it."""
    _, _, last, death, _, _, _ = row
    return (death is not None and death <= day) or (last is not None and last >= day)


def _completeness_by_year(rows, today: date) -> list[dict]:
    """Per year k of follow-up: of the patients whose index date is k years ago or more (and not
    withdrawn before then), the share whose state at k years is known."""
    out = []
    for k in range(1, FOLLOW_UP_YEARS + 1):
        due = [r for r in rows if _years_later(r[1], k) <= today and (r[4] is None or r[4] >= _years_later(r[1], k))]
        known = sum(_known_at(r, _years_later(r[1], k)) for r in due)
        out.append(
            {"year": k, "due": len(due), "known": known, "percent": round(100 * known / len(due), 1) if due else None}
        )
    return out


def _by_site(rows, today: date) -> list[dict]:
    """Per site: patients, and how many are up to date (a contact within the overdue limit, or
    follow-up ended: died, withdrawn or the 6 years reached)."""
    overdue_before = today - timedelta(days=settings.FOLLOW_UP_OVERDUE_DAYS)
    sites: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        code, index_date, last, death, withdrawn, _, _ = row
        ended = (
            death is not None
            or withdrawn is not None
            or (last is not None and last >= _years_later(index_date, FOLLOW_UP_YEARS))
        )
        current = last is not None and last >= overdue_before
        sites[code][0] += 1
        sites[code][1] += int(ended or current)
    return [
        {"site": code, "patients": n, "up_to_date": ok, "percent": round(100 * ok / n, 1)}
        for code, (n, ok) in sorted(sites.items())
    ]


def _verification(patients: QuerySet) -> dict:
    counts = dict(
        ClinicalEvent.objects.filter(patient__in=patients.values("pk"))
        .values_list("verification")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {v.value: {"label": v.label, "count": counts.get(v.value, 0)} for v in Verification}


def _ics_distribution(values) -> dict:
    known = sorted(v for v in values if v is not None)
    if not known:
        return {"n": 0}
    top = max(known)
    edges = list(range(0, int(top // _ICS_BIN + 2) * _ICS_BIN, _ICS_BIN))
    counts = Counter(min(int(v // _ICS_BIN), len(edges) - 2) for v in known)
    q = len(known)
    return {
        "n": q,
        "median": median(known),
        "q1": known[(q - 1) // 4],
        "q3": known[(3 * (q - 1)) // 4],
        "at_or_above_cutoff": sum(v >= ICS_CUTOFF for v in known),
        "cutoff": ICS_CUTOFF,
        "bins": [{"from": edges[i], "to": edges[i + 1], "count": counts.get(i, 0)} for i in range(len(edges) - 1)],
    }


def _event_rates(patients: QuerySet, *, patient_years: float) -> list[dict]:
    """Per event type: verified and pending events, and verified events per 100 patient-years."""
    counts = Counter(
        ClinicalEvent.objects.filter(patient__in=patients.values("pk"))
        .exclude(verification=Verification.REJECTED)
        .values_list("event_type", "verification")
    )
    out = []
    for kind in EventType:
        verified, pending = (
            counts.get((kind.value, Verification.VERIFIED), 0),
            counts.get((kind.value, Verification.PENDING), 0),
        )
        rate = round(100 * verified / patient_years, 2) if patient_years else None
        out.append({"event": kind.label, "verified": verified, "pending": pending, "per_100_patient_years": rate})
    return out
