"""Validation rules of the registry, as plain functions over plain values (no Django).

Each check returns a list of `Problem(field, message)`; the message names the rule and the
offending value so that a coordinator can fix it without reading code. Services, forms, the
API and the CSV import all call these, so a rule is written once.
"""

import re
from dataclasses import dataclass
from datetime import date

from registry.csv_io import FORMULA_START, ICS_SOURCES

AGE_MIN, AGE_MAX = 18, 110
EGFR_MIN, EGFR_MAX = 0, 200
ICS_MIN, ICS_MAX = 0, 1000
TARGET_VESSEL_TYPES = ("mi", "revascularization")

# Study IDs and site codes travel in file names, URLs and spreadsheets: plain ASCII only, and never
# a first character that a spreadsheet reads as the start of a formula.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IDENTIFIER_REST = re.compile(r"[A-Za-z0-9_.-]")
IDENTIFIER_NAMES = {"study_id": "A study ID", "site": "A site code"}
_CHARACTER_NAMES = {" ": "a space", "\t": "a tab", "\r": "a line break", "\n": "a line break"}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _range(field: str, value: float | None, low: float, high: float, unit: str = "") -> list[Problem]:
    if value is None or low <= value <= high:
        return []
    suffix = f" {unit}" if unit else ""
    return [Problem(field, f"must be between {low:g} and {high:g}{suffix} (got {value:g})")]


def _not_future(field: str, value: date | None, today: date) -> list[Problem]:
    if value is not None and value > today:
        return [Problem(field, f"{value.isoformat()} is in the future (today is {today.isoformat()})")]
    return []


def _shown(character: str) -> str:
    return _CHARACTER_NAMES.get(character, f'"{character}"')


def identifier_problems(field: str, value: str | None) -> list[Problem]:
    """A study ID (`field` "study_id") or site code ("site"): letters A-Z, digits, "-", "_" and ".",
    starting with a letter or digit. Empty is left to the "required" rules."""
    if not value or _IDENTIFIER.fullmatch(value):
        return []
    if not _IDENTIFIER.fullmatch(value[0]):
        found = f"it starts with {_shown(value[0])}"
    else:
        found = f"it contains {_shown(next(c for c in value if not _IDENTIFIER_REST.fullmatch(c)))}"
    return [
        Problem(
            field,
            f"{IDENTIFIER_NAMES[field]} may contain only letters A-Z, digits 0-9, hyphens (-), "
            f"underscores (_) and full stops (.), and must start with a letter or digit ({found})",
        )
    ]


def spreadsheet_text_problems(field: str, value: str | None) -> list[Problem]:
    """Text written to exported files must not start like a spreadsheet formula (=, +, -, @, tab, line break)."""
    if not value or not value.startswith(FORMULA_START):
        return []
    return [
        Problem(
            field,
            f"must not start with =, +, -, @, a tab or a line break, which spreadsheets read as "
            f"the start of a formula (it starts with {_shown(value[0])})",
        )
    ]


def ics_source_problems(field: str, value: str | None) -> list[Problem]:
    """Where an imported ICS came from is one of a fixed list (investigators analyse it as a category)."""
    if not value or value in ICS_SOURCES:
        return []
    return [Problem(field, f"must be one of {', '.join(ICS_SOURCES)} (got {value})")]


def patient_problems(
    *,
    age_at_index: float | None,
    egfr: float | None,
    index_date: date | None,
    today: date,
    ics: float | None = None,
    date_of_birth: date | None = None,
    study_id: str | None = None,
    ics_source: str | None = None,
) -> list[Problem]:
    """Single-patient rules: study ID characters, age 18-110, eGFR 0-200, ICS 0-1000 and its source
    from the list, index date known and not in the future."""
    problems = identifier_problems("study_id", study_id)
    problems += _range("age_at_index", age_at_index, AGE_MIN, AGE_MAX, "years")
    problems += _range("egfr", egfr, EGFR_MIN, EGFR_MAX, "ml/min")
    problems += _range("ics", ics, ICS_MIN, ICS_MAX)
    problems += ics_source_problems("ics_imported_source", ics_source)
    if index_date is None:
        problems.append(Problem("index_date", "is required (time zero of follow-up)"))
    else:
        problems += _not_future("index_date", index_date, today)
    if date_of_birth is not None:
        problems += _not_future("date_of_birth", date_of_birth, today)
        if index_date is not None and date_of_birth >= index_date:
            problems.append(Problem("date_of_birth", "must be before the index date"))
    return problems


def follow_up_date_problems(
    *, field: str, value: date, index_date: date, today: date, death_date: date | None
) -> list[Problem]:
    """A contact or event date: not before the index date, not in the future, not after death."""
    problems = []
    if value < index_date:
        problems.append(Problem(field, f"{value.isoformat()} is before the index date {index_date.isoformat()}"))
    problems += _not_future(field, value, today)
    if death_date is not None and value > death_date:
        problems.append(Problem(field, f"{value.isoformat()} is after the patient's death on {death_date.isoformat()}"))
    return problems


def event_problems(
    *,
    event_type: str,
    event_date: date,
    target_vessel: bool | None,
    revascularization_method: str = "",
    index_date: date,
    today: date,
    death_date: date | None,
    other_death_date: date | None,
    latest_other_date: date | None,
) -> list[Problem]:
    """Rules for one clinical event.

    `death_date` is the patient's death other than this event (for "nothing after death");
    `other_death_date` the date of another death event (for "one death at most");
    `latest_other_date` the latest contact or event date, which a new death may not precede.
    """
    problems = follow_up_date_problems(
        field="event_date", value=event_date, index_date=index_date, today=today, death_date=death_date
    )
    if target_vessel is not None and event_type not in TARGET_VESSEL_TYPES:
        problems.append(Problem("target_vessel", f"applies only to MI and revascularization, not to {event_type}"))
    if revascularization_method and event_type != "revascularization":
        problems.append(Problem("revascularization_method", f"applies only to revascularization, not to {event_type}"))
    if event_type == "death":
        if other_death_date is not None:
            problems.append(
                Problem(
                    "event_type", f"the patient already has a death on {other_death_date.isoformat()}: one death at most"
                )
            )
        elif latest_other_date is not None and latest_other_date > event_date:
            problems.append(
                Problem(
                    "event_date",
                    f"death on {event_date.isoformat()} is before the patient's follow-up record on "
                    f"{latest_other_date.isoformat()}: nothing may follow death",
                )
            )
    return problems


def age_from_birth(*, date_of_birth: date, index_date: date) -> float:
    """Age in years at the index date, to two decimals (days / 365.25)."""
    return round((index_date - date_of_birth).days / 365.25, 2)


AGE_BIRTH_TOLERANCE_YEARS = 1.0


def age_birth_mismatch(*, age_at_index: float | None, date_of_birth: date | None, index_date: date | None) -> str:
    """Why the age at index does not fit the date of birth ("" when it does, or when a value is
    missing): more than a year from the age computed on the index date (age_from_birth).
    A date of birth on or after the index date is the service's rule, not repeated here."""
    if age_at_index is None or date_of_birth is None or index_date is None or date_of_birth >= index_date:
        return ""
    computed = age_from_birth(date_of_birth=date_of_birth, index_date=index_date)
    if abs(age_at_index - computed) <= AGE_BIRTH_TOLERANCE_YEARS:
        return ""
    return (
        f"Age at index {age_at_index:g} does not match the date of birth {date_of_birth:%Y-%m-%d}: on the index date "
        f"{index_date:%Y-%m-%d} the patient was {int(computed)}. Correct one of them, or leave the age empty to "
        "compute it from the date of birth."
    )
