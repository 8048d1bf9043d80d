"""Follow-up derivation: one place that turns a patient's contacts and events into the state
coordinators work from (last contact, follow-up days, status) and the time/status per endpoint
that the analyses use. Plain Python over plain values; no Django.

Rules (study protocol):
- time zero is the index date; an event on the index date counts at day 0;
- the date of last contact is the latest contact or verified event; death ends follow-up;
- no event within the horizon (default 2191 days = 6 years): censored at the earlier of the last
  contact and the horizon; events after the horizon are ignored;
- rejected events never count; pending events count unless `count_pending=False`;
- for non-fatal endpoints, a death first is a competing event (status 2).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

HORIZON_DAYS = 2191
MAX_HORIZON_DAYS = 36525  # 100 years: any longer horizon is a typing error, not a study design

# Endpoint name -> predicate on (event_type, target_vessel).
ENDPOINTS: dict[str, Callable[[str, bool | None], bool]] = {
    "poce": lambda kind, tv: kind in ("death", "stroke", "mi", "revascularization"),
    "death": lambda kind, tv: kind == "death",
    "stroke": lambda kind, tv: kind == "stroke",
    "mi": lambda kind, tv: kind == "mi",
    "revascularization": lambda kind, tv: kind == "revascularization",
    "tvr": lambda kind, tv: kind == "revascularization" and tv is True,
    "tv_mi": lambda kind, tv: kind == "mi" and tv is True,
}
FATAL_ENDPOINTS = ("poce", "death")

CENSORED, EVENT, COMPETING = 0, 1, 2


@dataclass(frozen=True)
class Event:
    event_type: str
    event_date: date
    verification: str = "verified"  # pending / verified / rejected
    target_vessel: bool | None = None


@dataclass(frozen=True)
class Contact:
    contact_date: date
    vital_status: str = "unknown"


@dataclass(frozen=True)
class FollowUpState:
    last_contact_date: date | None
    follow_up_days: int | None
    death_date: date | None
    vital_status: str  # alive / dead / unknown
    status: str  # withdrawn / deceased / complete / lost / overdue / active


@dataclass(frozen=True)
class Outcome:
    duration_days: int
    status: int  # CENSORED, EVENT or COMPETING


def death_date(events: Iterable[Event]) -> date | None:
    """Date of the verified death, if any (one death at most per patient)."""
    dates = [e.event_date for e in events if e.event_type == "death" and e.verification == "verified"]
    return min(dates) if dates else None


def last_contact_date(contacts: Iterable[Contact], events: Iterable[Event]) -> date | None:
    """Latest contact or verified event; a verified death ends follow-up."""
    events = list(events)
    died = death_date(events)
    if died is not None:
        return died
    dates = [c.contact_date for c in contacts]
    dates += [e.event_date for e in events if e.verification == "verified"]
    return max(dates) if dates else None


def follow_up_state(
    *,
    index_date: date,
    contacts: Iterable[Contact],
    events: Iterable[Event],
    as_of: date,
    withdrawn: bool = False,
    horizon_days: int = HORIZON_DAYS,
    overdue_days: int = 365,
    lost_days: int = 730,
) -> FollowUpState:
    """Where a patient's follow-up stands on `as_of`.

    Status: withdrawn; deceased (verified death, or a contact recording death); complete (last contact
    at or beyond the horizon); lost (no contact for more than `lost_days`); overdue (more than
    `overdue_days`); else active. Without any contact the index date is the reference.
    """
    contacts, events = list(contacts), list(events)
    died = death_date(events)
    last = last_contact_date(contacts, events)
    days = None if last is None else (last - index_date).days
    reported_dead = any(c.vital_status == "dead" for c in contacts)
    if died is not None or reported_dead:
        vital = "dead"
    elif contacts and max(contacts, key=lambda c: c.contact_date).vital_status == "alive":
        vital = "alive"
    else:
        vital = "unknown"
    status = status_of(
        index_date=index_date,
        last_contact=last,
        vital_status=vital,
        withdrawn=withdrawn,
        as_of=as_of,
        horizon_days=horizon_days,
        overdue_days=overdue_days,
        lost_days=lost_days,
    )
    return FollowUpState(last, days, died, vital, status)


def status_of(
    *,
    index_date: date,
    last_contact: date | None,
    vital_status: str,
    withdrawn: bool,
    as_of: date,
    horizon_days: int = HORIZON_DAYS,
    overdue_days: int = 365,
    lost_days: int = 730,
) -> str:
    """The follow-up status from the summary facts (see follow_up_state). `registry.selectors`
    applies the same rules in SQL to filter and page by status; a test keeps the two equal."""
    reference = last_contact or index_date
    if withdrawn:
        return "withdrawn"
    if vital_status == "dead":
        return "deceased"
    if (reference - index_date).days >= horizon_days:
        return "complete"
    if (as_of - reference).days > lost_days:
        return "lost"
    if (as_of - reference).days > overdue_days:
        return "overdue"
    return "active"


def endpoint_outcomes(
    *,
    index_date: date,
    last_contact: date | None,
    events: Iterable[Event],
    horizon_days: int = HORIZON_DAYS,
    count_pending: bool = True,
) -> dict[str, Outcome]:
    """Time (days from index) and status for every endpoint in ENDPOINTS.

    Status 1 = first qualifying event within the horizon; 2 = death came first (non-fatal
    endpoints only; a death on the same day as the endpoint event counts as the endpoint);
    0 = censored at min(last contact, horizon), or day 0 without any contact.
    """
    counted = sorted(
        (e for e in events if _counts(e, index_date=index_date, horizon_days=horizon_days, count_pending=count_pending)),
        key=lambda e: e.event_date,
    )
    censor_days = 0 if last_contact is None else max(0, min((last_contact - index_date).days, horizon_days))
    first_death = next((e for e in counted if e.event_type == "death"), None)
    outcomes = {}
    for name, qualifies in ENDPOINTS.items():
        hit = next((e for e in counted if qualifies(e.event_type, e.target_vessel)), None)
        if hit is not None and (first_death is None or hit.event_date <= first_death.event_date):
            outcomes[name] = Outcome((hit.event_date - index_date).days, EVENT)
        elif first_death is not None and name not in FATAL_ENDPOINTS:
            outcomes[name] = Outcome((first_death.event_date - index_date).days, COMPETING)
        else:
            outcomes[name] = Outcome(censor_days, CENSORED)
    return outcomes


def _counts(event: Event, *, index_date: date, horizon_days: int, count_pending: bool) -> bool:
    if event.verification == "rejected" or (event.verification == "pending" and not count_pending):
        return False
    days = (event.event_date - index_date).days
    return 0 <= days <= horizon_days
