"""The CSV import in words, for its pages: an import's outcome ("60 patients created"), its
problems ("Row 3, column age_at_index: ..."), and the data dictionary of the input files, built
from the column definitions the importer reads with (`registry.csv_io`) and the ranges it checks
(`registry.rules`), so that the page and the importer cannot disagree."""

from dataclasses import dataclass

from django.db import models

from core.models import JobStatus
from registry import csv_io, rules
from registry.csv_io import EVENTS_FILE, PATIENTS_FILE, Column
from registry.models import EventType, IcsSource, ImportJob, IndexTreatment, Presentation, Sex, Vessel

# The importer's summary keys (importer._Import.summary) in words: (singular, plural, what happened).
_SUMMARY_WORDS = {
    "patients_created": ("patient", "patients", "created"),
    "patients_updated": ("patient", "patients", "updated"),
    "patients_unchanged": ("patient", "patients", "unchanged"),
    "events_created": ("event", "events", "created"),
    "events_updated": ("event", "events", "updated"),
    "events_unchanged": ("event", "events", "unchanged"),
    "contacts_created": ("last contact", "last contacts", "created"),
    "contacts_updated": ("last contact", "last contacts", "moved"),
    "contacts_removed": ("last contact", "last contacts", "removed"),
}


def summary_lines(summary: dict) -> list[str]:
    """Each count of an import's summary as words, "60 patients created", leaving out the zeros."""
    lines = []
    # In the order above, whatever order the stored JSON comes back in (PostgreSQL's jsonb sorts keys).
    for key in sorted(summary, key=lambda k: list(_SUMMARY_WORDS).index(k) if k in _SUMMARY_WORDS else 99):
        count = summary[key]
        if not count:
            continue
        singular, plural, done = _SUMMARY_WORDS.get(key, (key.replace("_", " "), key.replace("_", " "), ""))
        lines.append(f"{count} {singular if count == 1 else plural} {done}".rstrip())
    return lines


def summary_text(summary: dict) -> str:
    """The summary in one sentence: "60 patients created, 12 events created."."""
    lines = summary_lines(summary)
    return (", ".join(lines) + ".") if lines else "Nothing to change: the registry already held every row."


def problem_text(problem: dict, *, file_named: bool = True) -> str:
    """One problem of an import, as the importer stored it ({file, row, column, message}): "Row 3,
    column age_at_index: must be ..." (with the file in front unless `file_named` is False); a
    problem of the whole file names the file, one of the header says so."""
    file, row, column, message = problem.get("file"), problem.get("row"), problem.get("column"), problem["message"]
    if row is None:
        return f"{file}: {message}" if file else message
    where = "Header (row 1)" if row == 1 and column is None else f"Row {row}"
    if column:
        where += f", column {column}"
    return f"{file} {where[0].lower()}{where[1:]}: {message}" if file_named and file else f"{where}: {message}"


def problems_by_file(problems: list[dict]) -> list[tuple[str, list[str]]]:
    """[(file, [problem texts])] in the importer's order; the file is the heading, so a row's text
    leaves it out and a whole file's problem keeps it."""
    groups: dict[str, list[str]] = {}
    for problem in problems:
        text = problem_text(problem, file_named=problem.get("row") is None)
        groups.setdefault(problem.get("file") or "", []).append(text)
    return list(groups.items())


def job_outcome(job: ImportJob) -> str:
    """An import job's state and result in a few words, for the import history."""
    if job.status == JobStatus.SUCCEEDED:
        return summary_text(job.summary)
    if job.status == JobStatus.FAILED:
        if job.problems:
            count = len(job.problems)
            return f"{count} problem{'s' if count != 1 else ''} in the files; nothing was imported."
        return "Stopped by an unexpected error; nothing was imported."
    if job.status == JobStatus.RUNNING:
        return f"Checking and importing ({job.progress_percent} %)."
    return "Waiting for the worker to start."


# The data dictionary ---------------------------------------------------------------------------

# Units and ranges that registry.rules checks, per number column.
_NUMBER_RULES = {
    "age_at_index": f"years, {rules.AGE_MIN}-{rules.AGE_MAX}",
    "egfr": f"ml/min/1.73 m², {rules.EGFR_MIN}-{rules.EGFR_MAX}",
    "ics": f"{rules.ICS_MIN}-{rules.ICS_MAX}",
}
# The models' names of the choice codes (a test keeps csv_io's codes equal to these).
_CHOICE_NAMES: dict[str, type[models.TextChoices]] = {
    "sex": Sex,
    "presentation": Presentation,
    "index_treatment": IndexTreatment,
    "study_vessel": Vessel,
    "event_type": EventType,
    "ics_source": IcsSource,
}


@dataclass(frozen=True)
class DictionaryRow:
    column: str
    meaning: str
    values: str  # type and allowed values
    required: str  # whether the column and a value are required
    example: str


def _values(column: Column) -> str:
    if column.kind == "choice":
        names = dict(_CHOICE_NAMES[column.name].choices) if column.name in _CHOICE_NAMES else {}
        return "one of " + ", ".join(
            f"{code} ({names[code]})" if names.get(code, code).casefold() != code.casefold() else code
            for code in column.choices
        )
    if column.kind == "number":
        return "number" + (f": {_NUMBER_RULES[column.name]}" if column.name in _NUMBER_RULES else "")
    if column.kind == "date":
        return "date, YYYY-MM-DD"
    if column.kind == "flag":
        return "1 (yes) or 0 (no)" + ("" if column.required else "; empty: unknown")
    return "text" + (f", at most {column.max_length} characters" if column.max_length else "")


def _required(column: Column, *, optional_column: bool) -> str:
    if optional_column:
        return "No: column may be left out"
    if column.required:
        return "Yes"
    return "Column yes; value may be empty"


def _rows(columns: tuple[Column, ...], optional_columns: tuple[Column, ...] = ()) -> list[DictionaryRow]:
    return [
        DictionaryRow(c.name, c.meaning, _values(c), _required(c, optional_column=c in optional_columns), c.example)
        for c in (*columns, *optional_columns)
    ]


def data_dictionary() -> list[tuple[str, list[DictionaryRow]]]:
    """[(file name, its columns)] for patients.csv and events.csv, in the order of their templates."""
    return [
        (PATIENTS_FILE, _rows(csv_io.PATIENT_COLUMNS, csv_io.PATIENT_OPTIONAL_COLUMNS)),
        (EVENTS_FILE, _rows(csv_io.EVENT_COLUMNS)),
    ]


# The input files: their names and columns, for the template downloads and the upload checks.
INPUT_FILES: dict[str, tuple[tuple[Column, ...], tuple[Column, ...]]] = {
    PATIENTS_FILE: (csv_io.PATIENT_COLUMNS, csv_io.PATIENT_OPTIONAL_COLUMNS),
    EVENTS_FILE: (csv_io.EVENT_COLUMNS, ()),
}
