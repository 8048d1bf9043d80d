"""The follow-up health questionnaire: its questions as plain data, and the rules that turn a
filled-in questionnaire into reported events. No Django: the forms (followup.forms), the letters
(followup.letters) and the services read the same definition.

A definition is versioned (followup.models.Questionnaire keeps each version's copy); answers
are stored against the version they were given on. Version 1 is the study's questionnaire
("Data Collection Procedure"): alive and well or not, hospital admissions since the last
contact, chest-pain admissions, myocardial infarction, stroke or TIA, PCI or CABG (each with the
hospital), and a free-text remark.

Question kinds:
- "choice": one of `options` [(code, label)];
- "events": yes or no, and when yes up to `max_items` occurrences, each with a date that may be
  approximate (year; month and year; or the exact day), the hospital, and the fields in
  `item_fields` ("reason": free text, "which": one of `which`);
- "text": free text, optional.
An "events" question `reports` what each occurrence becomes: a pending clinical event of that
type (and a source-document request to the hospital), or None for a request only.
"""

from dataclasses import dataclass
from datetime import date

STUDY_QUESTIONNAIRE_V1: dict = {
    "version": 1,
    "title": "Health questionnaire",
    "intro": (
        "These questions are about your health since we were last in touch. "
        "Answer what you remember: an approximate month or year is fine."
    ),
    "questions": [
        {
            "id": "health",
            "kind": "choice",
            "text": "How are you?",
            "options": [
                ["well", "I am alive and well"],
                ["not_well", "I am alive, but not well"],
                ["deceased", "The patient has died (filled in by a relative or carer)"],
            ],
            "required": True,
        },
        {
            "id": "death",
            "kind": "events",
            "text": "If the patient has died: when, and in which hospital (if any)?",
            "max_items": 1,
            "item_fields": [],
            "reports": "death",
            "only_if": ["health", "deceased"],
        },
        {
            "id": "admissions",
            "kind": "events",
            "text": "Have you been admitted to a hospital since we were last in touch?",
            "max_items": 3,
            "item_fields": ["reason"],
            "reports": None,
        },
        {
            "id": "chest_pain",
            "kind": "events",
            "text": "Were you admitted to a hospital because of chest pain?",
            "max_items": 2,
            "item_fields": [],
            "reports": None,
        },
        {
            "id": "mi",
            "kind": "events",
            "text": "Have you had a heart attack (myocardial infarction)?",
            "max_items": 2,
            "item_fields": [],
            "reports": "mi",
        },
        {
            "id": "stroke",
            "kind": "events",
            "text": "Have you had a stroke, or a TIA (a 'mini-stroke' that passed within a day)?",
            "max_items": 2,
            "item_fields": ["which"],
            "which": [["stroke", "Stroke"], ["tia", "TIA (mini-stroke)"]],
            "reports": "stroke",
        },
        {
            "id": "pci",
            "kind": "events",
            "text": "Have you had a balloon treatment or a stent in a heart artery (PCI)?",
            "max_items": 2,
            "item_fields": [],
            "reports": "revascularization:PCI",
        },
        {
            "id": "cabg",
            "kind": "events",
            "text": "Have you had heart bypass surgery (CABG)?",
            "max_items": 1,
            "item_fields": [],
            "reports": "revascularization:CABG",
        },
        {
            "id": "remark",
            "kind": "text",
            "text": "Is there anything else you would like to tell us? (optional)",
            "required": False,
        },
    ],
}

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class ApproximateDate:
    """A date known to the day, the month or the year (`day`/`month` None when not known)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.day is not None and self.month is None:
            raise ValueError("a day needs a month")
        date(self.year, self.month or 1, self.day or 1)  # raises ValueError for an impossible date

    @property
    def precision(self) -> str:
        return "day" if self.day is not None else "month" if self.month is not None else "year"

    def __str__(self) -> str:
        if self.month is None:
            return str(self.year)
        if self.day is not None:
            return f"{self.day} {MONTHS[self.month - 1]} {self.year}"
        return f"{MONTHS[self.month - 1]} {self.year}"

    def first_day(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)

    def last_day(self) -> date:
        if self.day is not None:
            return self.first_day()
        if self.month is None:
            return date(self.year, 12, 31)
        following = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return date.fromordinal(following.toordinal() - 1)

    def as_date(self, *, earliest: date, latest: date) -> date:
        """One date for this approximate one: itself when exact, else the middle of its month (the
        15th) or year (1 July), moved inside [earliest, latest] (follow-up: after the index date,
        not after today or a death) when the period straddles a bound."""
        if self.day is not None:
            chosen = self.first_day()
        elif self.month is not None:
            chosen = date(self.year, self.month, 15)
        else:
            chosen = date(self.year, 7, 1)
        if latest < earliest:
            return chosen
        return min(max(chosen, earliest), latest)

    def to_json(self) -> dict:
        return {"year": self.year, "month": self.month, "day": self.day}

    @classmethod
    def from_json(cls, value: dict) -> "ApproximateDate":
        return cls(year=value["year"], month=value.get("month"), day=value.get("day"))


@dataclass(frozen=True)
class Occurrence:
    """One reported occurrence of an "events" question."""

    question: str
    when: ApproximateDate
    hospital: str = ""
    reason: str = ""
    which: str = ""


def questions(definition: dict) -> list[dict]:
    return list(definition["questions"])


def question(definition: dict, question_id: str) -> dict:
    for q in definition["questions"]:
        if q["id"] == question_id:
            return q
    raise KeyError(question_id)


def occurrences(definition: dict, answers: dict) -> list[Occurrence]:
    """Every occurrence the answers report, in the questionnaire's order. `answers` is the stored
    form: {question id: value}, an "events" question's value {"answer": "yes"/"no", "items":
    [{"when": {year, month, day}, "hospital", "reason", "which"}]}."""
    found = []
    for q in definition["questions"]:
        if q["kind"] != "events":
            continue
        value = answers.get(q["id"]) or {}
        if value.get("answer") != "yes":
            continue
        for item in value.get("items", []):
            found.append(
                Occurrence(
                    question=q["id"],
                    when=ApproximateDate.from_json(item["when"]),
                    hospital=item.get("hospital", ""),
                    reason=item.get("reason", ""),
                    which=item.get("which", ""),
                )
            )
    return found


def clinical_event_of(definition: dict, occurrence: Occurrence) -> tuple[str, str] | None:
    """(event type, revascularization method or "") of the pending clinical event an occurrence
    becomes, or None when it becomes a source-document request only (an admission, a chest-pain
    admission, a TIA: the hospital's letter says whether it was an endpoint event)."""
    reports = question(definition, occurrence.question).get("reports")
    if not reports:
        return None
    if occurrence.question == "stroke" and occurrence.which == "tia":
        return None
    kind, _, method = reports.partition(":")
    return kind, method


def occurrence_label(definition: dict, occurrence: Occurrence) -> str:
    """What was reported, in words: "Heart attack (MI), March 2025" (the hospital is kept apart)."""
    names = {
        "death": "Death",
        "admissions": "Hospital admission",
        "chest_pain": "Admission for chest pain",
        "mi": "Heart attack (MI)",
        "stroke": "Stroke",
        "pci": "PCI (balloon or stent)",
        "cabg": "Bypass surgery (CABG)",
    }
    name = (
        "TIA"
        if occurrence.question == "stroke" and occurrence.which == "tia"
        else names.get(occurrence.question, occurrence.question)
    )
    parts = [name, str(occurrence.when)]
    if occurrence.reason:
        parts.append(f"reason: {occurrence.reason}")
    return ", ".join(parts)
