"""CSV fuzz run: 300 mutated copies of the canonical patients.csv / events.csv (fixed seed).

Each import either succeeds or raises ImportFailed; a refused import leaves the registry exactly as it
was, and every problem names a file and a data row of that file (or concerns the whole file or its
header); a successful import repeated changes nothing. `pytest -s` prints the outcome counts.
The mutations and checks are in tests/registry/csv_fuzz_cases.py; benchmarks/csv_fuzz.py runs more.
"""

import io

import pytest
import time_machine

from registry import csv_io
from registry.csv_io import CsvProblem
from tests.registry.csv_fuzz_cases import (
    EVENTS,
    FROZEN_NOW,
    PATIENTS,
    Case,
    canonical_files,
    problem_faults,
    run_case,
    run_cases,
    seed_registry,
)

pytestmark = pytest.mark.django_db

SEED = 20261127
CASES = 300


@pytest.fixture(autouse=True)
def _seeded():
    with time_machine.travel(FROZEN_NOW, tick=False):
        seed_registry()
        yield


def test_mutated_files_are_imported_or_refused_whole_with_every_problem_on_a_row():
    outcomes, findings = run_cases(SEED, CASES)
    print(
        f"\nCSV fuzz, seed {SEED}: {CASES} cases, {outcomes['imported']} imported, {outcomes['refused']} refused, "
        f"{outcomes['server error']} server errors, {outcomes['fault']} faults"
    )
    assert findings == []
    assert outcomes["imported"] + outcomes["refused"] == CASES
    # Neither outcome may be vacuous: the seed gives a mix (counts printed above).
    assert outcomes["refused"] >= 150
    assert outcomes["imported"] >= 40


def test_the_unmutated_files_import_and_a_broken_cell_is_refused_naming_its_row():
    canonical = canonical_files()
    assert run_case(Case(0, dict(canonical), [])) == "imported"
    broken = dict(canonical, **{EVENTS: canonical[EVENTS].replace(b"2016-04-06", b"2023-02-30")})
    assert run_case(Case(1, broken, ["bad_date"])) == "refused"


def test_a_problem_on_a_row_the_file_does_not_have_is_a_fault():
    files = canonical_files()
    assert problem_faults([CsvProblem(PATIENTS, 3, "egfr", "must be between 0 and 200")], files) == []
    assert problem_faults([CsvProblem(PATIENTS, None, None, "the file is empty")], files) == []
    assert problem_faults([CsvProblem(PATIENTS, 9, "egfr", "x")], files) == [
        "patients.csv row 9, column egfr: x: row 9 is not a data row of the file (6 rows)"
    ]
    assert problem_faults([CsvProblem(PATIENTS, 1, "egfr", "x")], files) == [
        "patients.csv row 1, column egfr: x: a column problem without a data row"
    ]
    assert problem_faults([CsvProblem("other.csv", 2, None, "x")], files) == [
        "other.csv row 2: x: names no file of the import"
    ]
    assert problem_faults([CsvProblem(EVENTS, 2, None, " ")], files) == ["events.csv row 2:  : empty message"]
    assert problem_faults([], files) == ["ImportFailed without any problem"]


def test_a_nul_character_in_a_cell_is_a_problem_of_its_row_not_a_database_error():
    # PostgreSQL refuses NUL even as a query parameter: the fuzz run's server error on PostgreSQL.
    text = "study_id,event_type,event_date,target_vessel,verified\nICS-0001,mi,2016-04-06,1,1\nICS-\x000002,stroke,2017-02-01,,1\n"
    table = csv_io.read_table(io.StringIO(text), file=EVENTS, columns=csv_io.EVENT_COLUMNS)
    assert [str(p) for p in table.problems] == [
        "events.csv row 3, column study_id: contains a NUL character (byte 0x00); save the file as CSV UTF-8 text"
    ]
