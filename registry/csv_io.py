"""The registry's CSV interchange format, as plain functions over text (no Django).

Two files: `patients.csv` (one row per patient) and `events.csv` (one row per clinical event).
UTF-8 (a byte-order mark is allowed), comma-separated, a header row, dates YYYY-MM-DD, flags 0/1,
an empty cell means "missing". Header names are case-sensitive after stripping whitespace; the
column order is free. Row numbers are spreadsheet rows: the header is row 1, the first data row 2.

This module reads a file into typed rows and reports cell-level problems; the registry rules
(ranges, dates against the index date and death) are checked by `registry.importer`. The
writer side (`write_rows`, `format_value`, `spreadsheet_safe`) is the one place that decides how a
value looks in a file, so that export -> import -> export gives the same bytes, and that no text
cell is run as a formula by a spreadsheet.
"""

import codecs
import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol, TypeVar, overload

from registry.variables import BASELINE_FLAGS

PATIENTS_FILE = "patients.csv"
EVENTS_FILE = "events.csv"
ANALYSIS_FILE = "analysis_dataset.csv"

# The CSV dialect of every file we write; the reader accepts "\r\n" line ends as well.
LINE_TERMINATOR = "\n"


_T = TypeVar("_T")


class TextSource(Protocol):
    """What a CSV file is read from: an open text file, a StringIO."""

    def read(self) -> str: ...


class TextSink(Protocol):
    """Where CSV text is written: an open text file, a StringIO, an HttpResponse."""

    def write(self, text: str, /) -> object: ...


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text, date, number, flag or choice
    required: bool = False  # an empty cell is a problem
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    # Human names of the choices, in the same order: accepted as well (any letter case, as the codes).
    labels: tuple[str, ...] = ()
    # For people: what the column holds and a synthetic example value (the data dictionary and
    # the template files at /import/ are generated from these).
    meaning: str = ""
    example: str = ""


# Choice values as stored in registry.models (a test keeps the two in step).
SEXES = ("M", "F")
PRESENTATIONS = ("ACS", "stable")
INDEX_TREATMENTS = ("PCI", "CABG", "conservative")
VESSELS = ("LAD", "LCX", "RCA", "LM")
EVENT_TYPES = ("death", "stroke", "mi", "revascularization")
ICS_SOURCES = ("registry import", "study core lab", "earlier scoring software", "synthetic", "other source")
ICS_SOURCE_LABELS = (
    "Registry import",
    "Study core lab",
    "Earlier scoring software",
    "Synthetic data (demo and tests)",
    "Other source",
)

# The baseline flags' meanings, in BASELINE_FLAGS order.
FLAG_MEANINGS = {
    "hypertension": "Hypertension",
    "hypercholesterolemia": "Hypercholesterolaemia",
    "statin": "Statin treatment",
    "diabetes": "Diabetes mellitus",
    "family_history": "Positive family history of coronary artery disease",
    "smoking": "Smoking",
    "prior_mi": "Previous myocardial infarction",
    "prior_pci": "Previous PCI",
    "prior_cabg": "Previous CABG",
    "prior_stroke": "Previous stroke",
    "prior_pad": "Previous peripheral arterial disease",
}
_FLAG_EXAMPLES = {"hypertension": "1", "statin": "1", "smoking": "", "prior_pci": "1"}

PATIENT_COLUMNS = (
    Column(
        "study_id",
        "text",
        required=True,
        max_length=40,
        meaning="The patient's pseudonym in the study, unique: letters, digits, '-', '_' and '.'",
        example="ICS-0001",
    ),
    Column("sex", "choice", choices=SEXES, meaning="Sex", example="F"),
    Column("age_at_index", "number", meaning="Age at the index procedure", example="67"),
    Column(
        "index_date",
        "date",
        required=True,
        meaning="Date of the index procedure: time zero of follow-up",
        example="2016-03-01",
    ),
    *(Column(name, "flag", meaning=FLAG_MEANINGS[name], example=_FLAG_EXAMPLES.get(name, "0")) for name in BASELINE_FLAGS),
    Column("egfr", "number", meaning="Estimated glomerular filtration rate at baseline", example="72"),
    Column(
        "presentation",
        "choice",
        choices=PRESENTATIONS,
        meaning="Clinical presentation at the index procedure",
        example="ACS",
    ),
    Column("index_treatment", "choice", choices=INDEX_TREATMENTS, meaning="Treatment at the index procedure", example="PCI"),
    Column("study_vessel", "choice", choices=VESSELS, meaning="The coronary artery imaged by IVUS", example="LAD"),
    Column("vessel_revascularized", "flag", meaning="Study vessel revascularized at the index procedure", example="1"),
    Column(
        "ics",
        "number",
        meaning="IVUS calcium score from an earlier scoring (the imported ICS; a scored study pullback takes precedence)",
        example="85.5",
    ),
    Column(
        "last_contact_date",
        "date",
        meaning="Date of the last follow-up contact, kept as the patient's 'registry import' contact (empty removes it)",
        example="2021-03-01",
    ),
)
# Accepted in patients.csv but not required: the site code and where the ICS came from.
PATIENT_OPTIONAL_COLUMNS = (
    Column(
        "site",
        "text",
        max_length=20,
        meaning="Site code of a new patient (empty: the site of the import, e.g. your own); an existing patient keeps theirs",
    ),
    Column(
        "ics_source",
        "choice",
        choices=ICS_SOURCES,
        labels=ICS_SOURCE_LABELS,
        meaning="Where the ICS came from (empty: registry import)",
        example="study core lab",
    ),
)
EVENT_COLUMNS = (
    Column(
        "study_id",
        "text",
        required=True,
        max_length=40,
        meaning="The patient: in patients.csv or already in the registry",
        example="ICS-0001",
    ),
    Column("event_type", "choice", required=True, choices=EVENT_TYPES, meaning="The clinical event", example="mi"),
    Column("event_date", "date", required=True, meaning="Date of the event", example="2018-02-01"),
    Column(
        "target_vessel",
        "flag",
        meaning="The event involved the study vessel: for mi and revascularization only (empty for death and stroke)",
        example="1",
    ),
    Column(
        "verified",
        "flag",
        required=True,
        meaning="1: verified against source documents; 0: pending verification",
        example="0",
    ),
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

# A spreadsheet (Excel, LibreOffice) reads a cell starting with one of these as a formula, which can
# run commands or send data away ("CSV injection", OWASP). Exports prefix such text with "'".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvProblem:
    """One problem in an input file. `row` is None for the whole file, `column` None for a whole row."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}


class CellError(ValueError):
    """A cell that does not parse; the message names the rule and the value."""


@dataclass
class Table:
    """A file read into typed rows: (row number, {column: value}), plus the problems found."""

    file: str
    columns: list[str]
    rows: list[tuple[int, dict]]
    problems: list[CsvProblem]

    @property
    def readable(self) -> bool:
        """The header is usable, so the rows could be checked (they may still have problems)."""
        return not any(p.row in (None, 1) for p in self.problems)


# A parsed cell: text (or a choice's code), a date, a number, a 0/1 flag, or missing.
CellValue = str | date | float | bool | None


def parse_cell(column: Column, text: str) -> CellValue:
    """Parse one stripped cell. Empty -> None ("" for text and choices); bad values raise CellError."""
    if "\x00" in text:
        # Not text, and PostgreSQL refuses it even in a query parameter (found by the CSV fuzz run).
        raise CellError("contains a NUL character (byte 0x00); save the file as CSV UTF-8 text")
    if text == "":
        if column.required:
            raise CellError("is required")
        return "" if column.kind in ("text", "choice") else None
    if column.kind == "date":
        return parse_date(text)
    if column.kind == "number":
        return parse_number(text)
    if column.kind == "flag":
        return _parse_flag(text)
    if column.kind == "choice" and text not in column.choices:
        return _parse_choice_name(column, text)
    if column.max_length is not None and len(text) > column.max_length:
        raise CellError(f"must be at most {column.max_length} characters (got {len(text)})")
    return text


def _parse_flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise CellError(f"must be 0 or 1 (got {text})")
    return text == "1"


def _parse_choice_name(column: Column, text: str) -> str:
    """The code of a choice given by another case of its code or by its label."""
    named: dict[str, str] = {}
    for code, label in zip(column.choices, column.labels or (), strict=bool(column.labels)):
        named[code.casefold()] = named[label.casefold()] = code
    if text.casefold() not in named:
        raise CellError(f"must be one of {', '.join(column.choices)} (got {text})")
    return named[text.casefold()]


def parse_date(text: str) -> date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date(int(text[:4]), int(text[5:7]), int(text[8:]))
    except ValueError:
        raise CellError(f"{text} is not a valid date (YYYY-MM-DD)") from None


def parse_number(text: str) -> float:
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value):
        raise CellError(f"must be a number (got {text})")
    return value


def read_table(
    file_obj: TextSource, *, file: str, columns: tuple[Column, ...], optional_columns: tuple[Column, ...] = ()
) -> Table:
    """Read and type one CSV file: header checks, cell counts and per-cell parsing.

    Rows whose cells are all empty (spreadsheets leave them at the end) are skipped; they still
    count for the row numbers.
    """
    try:
        text = file_obj.read()
    except UnicodeDecodeError as exc:
        bad_byte = exc.object[exc.start]
        message = f"is not UTF-8 text (byte 0x{bad_byte:02x} at position {exc.start}); save it as CSV UTF-8"
        return Table(file, [], [], [CsvProblem(file, None, None, message)])
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return Table(file, [], [], [CsvProblem(file, None, None, "the file is empty (expected a header row)")])
    records = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(records)]
    except csv.Error as exc:
        return Table(file, [], [], [CsvProblem(file, 1, None, f"is not readable as CSV ({exc})")])
    by_name = {c.name: c for c in (*columns, *optional_columns)}
    problems = _header_problems(header, file=file, columns=columns, known=by_name)
    table = Table(file, header, [], problems)
    if not problems:
        _read_rows(table, records, by_name)
    return table


def _read_rows(table: Table, records: Iterator[list[str]], by_name: Mapping[str, Column]) -> None:
    file, header, problems = table.file, table.columns, table.problems
    row = 1
    while True:
        row += 1
        try:
            cells = next(records)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(CsvProblem(file, row, None, f"is not readable as CSV ({exc}); nothing after it was read"))
            return
        if all(not cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            message = f"has {len(cells)} cells, expected {len(header)} as in the header"
            problems.append(CsvProblem(file, row, None, message))
            continue
        values: dict[str, CellValue] = {}
        for name, cell in zip(header, cells, strict=True):
            try:
                values[name] = parse_cell(by_name[name], cell.strip())
            except CellError as exc:
                problems.append(CsvProblem(file, row, name, str(exc)))
                values[name] = None
        table.rows.append((row, values))


def _header_problems(
    header: list[str], *, file: str, columns: tuple[Column, ...], known: Mapping[str, Column]
) -> list[CsvProblem]:
    problems = []
    missing = [c.name for c in columns if c.name not in header]
    if missing:
        problems.append(CsvProblem(file, 1, None, f"missing column(s): {', '.join(missing)}"))
    unknown = [name for name in header if name and name not in known]
    if unknown:
        problems.append(CsvProblem(file, 1, None, f"unknown column(s): {', '.join(unknown)}"))
    if "" in header:
        problems.append(CsvProblem(file, 1, None, f"column {header.index('') + 1} has no name"))
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        problems.append(CsvProblem(file, 1, None, f"column(s) appearing more than once: {', '.join(repeated)}"))
    return problems


# Uploads ---------------------------------------------------------------------------------------
# An uploaded file is judged by its name and first bytes before an import is queued, so that a
# DICOM image, a workbook or another file chosen by mistake is refused at once, in words.

UPLOAD_SNIFF_BYTES = 64 * 1024
CSV_SUFFIXES = (".csv", ".txt")


def upload_problem(
    head: bytes,
    *,
    name: str,
    file: str,
    columns: tuple[Column, ...],
    optional_columns: tuple[Column, ...] = (),
    other_files: Mapping[str, tuple[Column, ...]] | None = None,
) -> str | None:
    """Why the upload `name` (first bytes `head`) cannot be the input file `file`, in a sentence that
    names both; None when it looks like CSV UTF-8 text with `file`'s header. `other_files`: the
    other input files' columns, to say "this looks like events.csv" when the files were swapped."""
    kind = _binary_kind(head)
    if kind:
        return f"{name} is {kind}, not CSV UTF-8 text: choose {file}, saved as CSV UTF-8 (comma-separated)."
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in CSV_SUFFIXES:
        ends = f"ends in {suffix}" if suffix else "has no .csv ending"
        return f"{name} is not a CSV file (its name {ends}): choose {file}, saved as CSV UTF-8 (comma-separated)."
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return f"{name} is not UTF-8 text (byte 0x{head[exc.start]:02x} at position {exc.start}): save {file} as CSV UTF-8."
    return _header_problem(
        text, name=name, file=file, columns=columns, optional_columns=optional_columns, others=other_files
    )


def _binary_kind(head: bytes) -> str:
    """What a file that is not text is ("" for text), from its first bytes."""
    if head[128:132] == b"DICM":
        return "a DICOM image (pullbacks are uploaded on the patient's page)"
    if head.startswith(b"PK\x03\x04"):
        return "a compressed file such as an Excel workbook (save the sheet as CSV UTF-8)"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (a spreadsheet's 'Unicode text')"
    if b"\x00" in head:
        return "a binary file"
    return ""


def _header_problem(
    text: str,
    *,
    name: str,
    file: str,
    columns: tuple[Column, ...],
    optional_columns: tuple[Column, ...],
    others: Mapping[str, tuple[Column, ...]] | None,
) -> str | None:
    try:
        header = [cell.strip() for cell in next(csv.reader(io.StringIO(text, newline=""), strict=True), [])]
    except csv.Error as exc:
        return f"{name} is not readable as CSV ({exc}): save {file} as CSV UTF-8 (comma-separated)."
    known = {c.name: c for c in (*columns, *optional_columns)}
    problems = _header_problems(header, file=file, columns=columns, known=known)
    if not problems:
        return None
    for other, other_columns in (others or {}).items():
        if other != file and all(c.name in header for c in other_columns):
            return f"{name} looks like {other} (its header has {', '.join(header[:4])}), not {file}: choose it for {other}."
    reasons = "; ".join(p.message for p in problems)
    return f"{name} does not have the header row of {file} ({reasons}). The data dictionary lists its columns."


def write_template(out: TextSink, *, columns: Iterable[Column]) -> None:
    """A template input file: the header and one row of synthetic example values."""
    columns = list(columns)
    write_rows(out, columns=[c.name for c in columns], rows=[{c.name: c.example for c in columns}])


def format_value(value: object) -> str:
    """How a value is written: dates ISO, booleans 0/1, missing empty, floats shortest round-trip.

    A whole float is written without ".0" (78.0 -> "78"); `parse_number` reads it back exactly.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = repr(value)
        return text.removesuffix(".0")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@overload
def spreadsheet_safe(value: str) -> str: ...
@overload
def spreadsheet_safe(value: _T) -> _T: ...
def spreadsheet_safe(value: object) -> object:
    """A cell value that no spreadsheet runs as a formula: text starting with =, +, -, @, a tab or a
    carriage return gets a "'" in front (the OWASP rule). Anything else is returned as it is: numbers
    (also negative ones, -1.5 stays -1.5), dates, missing values, text that is a plain number ("-1.5"
    is read as the number it is, not as a formula) and a lone "-" (the tables' mark for "none").

    Line breaks inside text are written as "\n": Python 3.11's csv writer leaves a bare carriage
    return unquoted, and a spreadsheet would start a new row there, whose first cell nothing checked.

    Every CSV and XLSX export passes its cells (and headers) through this one function."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START) and value != "-" and not _NUMBER.fullmatch(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def write_rows(out: TextSink, *, columns: Iterable[str], rows: Iterable[Mapping[str, object]]) -> int:
    """Write a header and one line per row (values through `format_value`, text through
    `spreadsheet_safe`). Returns rows written."""
    columns = list(columns)
    writer = csv.writer(out, lineterminator=LINE_TERMINATOR)
    writer.writerow([spreadsheet_safe(name) for name in columns])
    count = 0
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
        count += 1
    return count


def _cell(value: object) -> str:
    # Only text is neutralised: a number formatted as "-1.5" is a number, not a formula.
    return spreadsheet_safe(format_value(value)) if isinstance(value, str) else format_value(value)
