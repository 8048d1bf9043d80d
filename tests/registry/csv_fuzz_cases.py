"""Mutated registry CSV files and the checks every import of them must pass (used by
tests/registry/test_csv_fuzz.py and benchmarks/csv_fuzz.py).

A case starts from the canonical patients.csv and events.csv and applies one to three mutations
(bytes, lines, cells, columns). `run_case` imports the pair into a seeded registry and checks:
success or ImportFailed, never another exception; a refused import leaves every registry row as it
was; every problem names a file and, unless it concerns the whole file or its header, a data row
that exists in the file; a successful import repeated changes nothing.
"""

import io
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CANONICAL = Path(__file__).resolve().parent.parent / "fixtures" / "registry" / "canonical"
PATIENTS, EVENTS = "patients.csv", "events.csv"
FILES = (PATIENTS, EVENTS)
FROZEN_NOW = "2026-11-27 12:00 +0000"  # "in the future" is judged against this moment

BAD_DATES = (
    "2023-02-30",
    "2023-13-01",
    "0000-01-01",
    "9999-12-31",
    "2023-2-3",
    "20230203",
    "2023/02/03",
    "٢٠٢٣-٠١-٠١",
    "2031-01-01",
    "1900-01-01",
    " 2016-04-06 ",
    "2016-04-06T00:00",
)
BAD_NUMBERS = (
    "1e400",
    "-1e400",
    "NaN",
    "nan",
    "inf",
    "-0",
    "0",
    "1e-400",
    "1,5",
    "0x10",
    "١٢",
    "78.",
    ".5",
    "+78",
    "1_000",
    "99999999999999999999",
    "200.0000001",
    "-0.0",
    "1e2",
)
ODD_TEXT = (
    "\u2028",
    "\u00a0",
    "é",
    "\U0001f600",
    "\x00",
    "\x1b[31m",
    "'",
    '"',
    "\\",
    "ICS-0001 ",
    "ics-0001",
    "ICS 0001",
    "\t",
    "",
    " ",
    "NULL",
    "None",
)
LONG_CELL_LENGTHS = (300, 5_000, 140_000)  # the csv module refuses fields above 131072 characters


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def _lines(data: bytes) -> list[str]:
    return _text(data).split("\n")


def _join(lines: list[str]) -> bytes:
    return _bytes("\n".join(lines))


def _data_line(rng: random.Random, lines: list[str]) -> int:
    """A line index after the header (the header itself if there is nothing else)."""
    return rng.randrange(1, len(lines)) if len(lines) > 1 else 0


def _set_cell(rng: random.Random, data: bytes, value: str, *, header: bool = False) -> bytes:
    lines = _lines(data)
    i = 0 if header else _data_line(rng, lines)
    cells = lines[i].split(",")
    cells[rng.randrange(len(cells))] = value
    lines[i] = ",".join(cells)
    return _join(lines)


def _prefix_cell(rng: random.Random, data: bytes, prefix: str) -> bytes:
    lines = _lines(data)
    i = _data_line(rng, lines)
    cells = lines[i].split(",")
    j = rng.randrange(len(cells))
    cells[j] = prefix + cells[j]
    lines[i] = ",".join(cells)
    return _join(lines)


def _columns(rng: random.Random, data: bytes, edit) -> bytes:
    """Apply `edit(rng, cells_of_every_line, n_columns)` to the comma-split lines."""
    lines = _lines(data)
    table = [line.split(",") for line in lines]
    edit(rng, table, len(table[0]))
    return _join([",".join(cells) for cells in table])


def _delete_column(rng, table, n):
    j = rng.randrange(n)
    for cells in table:
        if j < len(cells):
            del cells[j]


def _add_column(rng, table, n):
    name = rng.choice(("site", "ics_source", "notes", "", "study_id", "Study_ID", " verified "))
    j = rng.randrange(n + 1)
    for i, cells in enumerate(table):
        cells.insert(min(j, len(cells)), name if i == 0 else rng.choice(("", "x", "EMC", "1")))


def _reorder_columns(rng, table, n):
    order = list(range(n))
    rng.shuffle(order)
    for i, cells in enumerate(table):
        if len(cells) == n:
            table[i] = [cells[j] for j in order]


def _rename_header(rng, table, n):
    j = rng.randrange(n)
    table[0][j] = rng.choice((table[0][j].upper(), table[0][j] + "x", " " + table[0][j] + " ", ""))


def _byte_flip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _insert_bytes(rng: random.Random, data: bytes, chunk: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + chunk + data[at:]


def _duplicate_row(rng, data):
    lines = _lines(data)
    i = _data_line(rng, lines)
    lines.insert(rng.randrange(1, len(lines) + 1), lines[i])
    return _join(lines)


def _delete_row(rng, data):
    lines = _lines(data)
    if len(lines) > 1:
        del lines[_data_line(rng, lines)]
    return _join(lines)


def _shuffle_rows(rng, data):
    lines = _lines(data)
    body = lines[1:]
    rng.shuffle(body)
    return _join(lines[:1] + body)


def _add_row(rng, data):
    lines = _lines(data)
    n = len(lines[0].split(","))
    cells = [rng.choice(("", "ICS-0099", "1", "0", "2020-01-01", "mi", "x")) for _ in range(n)]
    lines.insert(rng.randrange(1, len(lines) + 1), ",".join(cells))
    return _join(lines)


def _whitespace(rng, data):
    kind = rng.choice(("pad", "crlf", "cr", "blank_lines", "trailing", "tab"))
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    if kind == "cr":
        return data.replace(b"\n", b"\r")
    if kind == "blank_lines":
        return data + b"\n\n  \n,,,\n"
    if kind == "trailing":
        return data.rstrip(b"\n")
    return _prefix_cell(rng, data, " " if kind == "pad" else "\t")


MUTATIONS = {
    "byte_flip": _byte_flip,
    "truncate": lambda rng, data: data[: rng.randrange(len(data) + 1)],
    "truncate_mid_row": lambda rng, data: data[: data.rfind(b"\n", 0, max(len(data) - 2, 0)) + rng.randint(2, 12)],
    "duplicate_row": _duplicate_row,
    "delete_row": _delete_row,
    "shuffle_rows": _shuffle_rows,
    "add_row": _add_row,
    "delete_column": lambda rng, data: _columns(rng, data, _delete_column),
    "add_column": lambda rng, data: _columns(rng, data, _add_column),
    "reorder_columns": lambda rng, data: _columns(rng, data, _reorder_columns),
    "rename_header": lambda rng, data: _columns(rng, data, _rename_header),
    "extra_delimiter": lambda rng, data: _prefix_cell(rng, data, ","),
    "open_quote": lambda rng, data: _prefix_cell(rng, data, '"'),
    "stray_quote": lambda rng, data: _insert_bytes(rng, data, b'"'),
    "bom": lambda rng, data: rng.choice((b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe")) + data,
    "nul": lambda rng, data: _insert_bytes(rng, data, b"\x00"),
    "long_cell": lambda rng, data: _set_cell(rng, data, "A" * rng.choice(LONG_CELL_LENGTHS)),
    "non_utf8": lambda rng, data: _insert_bytes(rng, data, rng.choice((b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80"))),
    "bad_date": lambda rng, data: _set_cell(rng, data, rng.choice(BAD_DATES)),
    "bad_number": lambda rng, data: _set_cell(rng, data, rng.choice(BAD_NUMBERS)),
    "formula": lambda rng, data: _prefix_cell(rng, data, rng.choice(("=", "+", "-", "@", "=cmd|' /C calc'!A0"))),
    "odd_text": lambda rng, data: _set_cell(rng, data, rng.choice(ODD_TEXT)),
    "whitespace": _whitespace,
    "empty_file": lambda rng, data: rng.choice((b"", b"\n", b"   \r\n", b"\xef\xbb\xbf")),
    "header_only": lambda rng, data: data.split(b"\n", 1)[0] + rng.choice((b"", b"\n")),
}


@dataclass
class Case:
    number: int
    files: dict[str, bytes | None]  # events.csv may be absent (None)
    mutations: list[str]

    def __str__(self) -> str:
        return f"case {self.number} ({', '.join(self.mutations)})"


def canonical_files() -> dict[str, bytes]:
    return {name: (CANONICAL / name).read_bytes() for name in FILES}


def cases(seed: int, count: int):
    """`count` mutated file pairs, the same ones for the same seed."""
    rng = random.Random(seed)
    canonical = canonical_files()
    names = sorted(MUTATIONS)
    for number in range(count):
        files: dict[str, bytes | None] = dict(canonical)
        applied = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            name = rng.choice(names)
            target = rng.choice(FILES)
            files[target] = MUTATIONS[name](rng, files[target] or b"")
            applied.append(f"{name}:{target.split('.')[0]}")
        if rng.random() < 0.05:
            files[EVENTS] = None
            applied.append("no_events_file")
        yield Case(number, files, applied)


# Running a case against the database ---------------------------------------------------------


def _open(data: bytes) -> io.TextIOWrapper:
    # As the import command and the background job open the files.
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


def import_files(files: dict[str, bytes | None]):
    from registry.importer import registry_import

    events = files[EVENTS]
    return registry_import(
        user=None, patients_csv=_open(files[PATIENTS]), events_csv=None if events is None else _open(events)
    )


def seed_registry() -> None:
    """A known registry: the canonical files imported, then a second import that changes ICS-0001's
    eGFR, verifies ICS-0003's revascularization and adds ICS-0005 (not in the canonical files), so that
    a successful import of (mutated) canonical files changes rows and leaves one alone."""
    canonical = canonical_files()
    import_files(canonical)
    patients = _text(canonical[PATIENTS]).replace(
        "2015-03-02,1,1,1,0,0,1,0,0,0,0,0,78,", "2015-03-02,1,1,1,0,0,1,0,0,0,0,0,80,"
    )
    patients += "ICS-0005,F,55,2018-02-02,,,,,,,,,,,,,,PCI,RCA,1,,2019-01-01,OTH,\n"
    events = _text(canonical[EVENTS]).replace(
        "ICS-0003,revascularization,2018-01-10,0,0", "ICS-0003,revascularization,2018-01-10,0,1"
    )
    import_files({PATIENTS: _bytes(patients), EVENTS: _bytes(events)})


def registry_snapshot() -> dict:
    """Every row of every registry model (all columns, by primary key)."""
    from django.apps import apps

    return {
        model._meta.label: list(model.objects.order_by("pk").values_list())
        for model in apps.get_app_config("registry").get_models()
    }


def _row_count(data: bytes) -> int | None:
    """How many rows (spreadsheet rows: lines) the file has, or None if it is not UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return len(re.split(r"\r\n|\r|\n", text))


def problem_faults(problems, files: dict[str, bytes | None]) -> list[str]:
    """What is wrong with the problems of a refused import (empty: nothing)."""
    faults = []
    if not problems:
        faults.append("ImportFailed without any problem")
    for p in problems:
        data = files.get(p.file)
        if data is None:
            faults.append(f"{p}: names no file of the import")
            continue
        if not p.message.strip():
            faults.append(f"{p}: empty message")
        rows = _row_count(data)
        if p.row is None or p.row == 1:
            if p.column is not None:
                faults.append(f"{p}: a column problem without a data row")
        elif rows is None or not 2 <= p.row <= rows:
            faults.append(f"{p}: row {p.row} is not a data row of the file ({rows} rows)")
    return faults


def run_case(case: Case) -> str:
    """Import the case's files into the (seeded) registry; "imported" or "refused".

    Raises AssertionError when an invariant does not hold; any other exception is the import's.
    The caller rolls the database back afterwards."""
    from registry.importer import ImportFailed

    before = registry_snapshot()
    try:
        import_files(case.files)
    except ImportFailed as exc:
        faults = problem_faults(exc.problems, case.files)
        assert not faults, f"{case}: " + "; ".join(faults)
        assert registry_snapshot() == before, f"{case}: a refused import changed the registry"
        return "refused"
    after = registry_snapshot()
    import_files(case.files)
    assert registry_snapshot() == after, f"{case}: importing the same files again changed the registry"
    return "imported"


def run_cases(seed: int, count: int) -> tuple[Counter, list[str]]:
    """Run every case in a transaction that is rolled back. Returns the outcome counts ("imported",
    "refused", "fault": an invariant broken, "server error": any other exception) and what went wrong."""
    from django.db import transaction

    outcomes: Counter = Counter()
    findings = []
    for case in cases(seed, count):
        try:
            with transaction.atomic():
                outcomes[run_case(case)] += 1
                transaction.set_rollback(True)
        except AssertionError as exc:
            outcomes["fault"] += 1
            findings.append(str(exc)[:500])
        except Exception as exc:  # anything but ImportFailed would be a server error (500) on the web
            outcomes["server error"] += 1
            findings.append(f"{case}: {type(exc).__name__}: {str(exc)[:200]}")
    return outcomes, findings
