"""The analysis downloads (CSV per table, one XLSX workbook) are safe to open in a spreadsheet: text
that would run as a formula gets a "'" in front; numbers, also negative ones, stay numbers."""

import csv
import io

from openpyxl import load_workbook

from analytics.exports import Table, table_csv, tables_xlsx


def planted_table() -> Table:
    # Group labels come from site codes and ICS sources, which older data may hold unchecked.
    return Table(
        "groups",
        "=Groups",
        ["group", "label", "+patients", "hr"],
        [
            ["=cmd|' /C calc'!A0", "+SUM(1+1)", 12, -1.5],
            ["@SUM(A1)", "-2+3", -3, 0.25],
            ["EMC", "-", 0, None],
        ],
    )


def test_the_csv_download_neutralises_formula_text_and_keeps_numbers():
    text = table_csv(planted_table())

    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["group", "label", "'+patients", "hr"],
        ["'=cmd|' /C calc'!A0", "'+SUM(1+1)", "12", "-1.5"],
        ["'@SUM(A1)", "'-2+3", "-3", "0.25"],
        ["EMC", "-", "0", ""],
    ]


def test_the_xlsx_download_neutralises_formula_text_and_keeps_numbers_numeric():
    book = load_workbook(io.BytesIO(tables_xlsx({"groups": planted_table()}, about=[("=note", "@SUM(1)")])))

    sheet = book["groups"]
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["'=Groups", None, None, None],
        ["group", "label", "'+patients", "hr"],
        ["'=cmd|' /C calc'!A0", "'+SUM(1+1)", 12, -1.5],
        ["'@SUM(A1)", "'-2+3", -3, 0.25],
        ["EMC", "-", 0, None],
    ]
    # Stored as text and numbers, not as formulas (openpyxl would store "=..." as a formula).
    assert [cell.data_type for cell in sheet[3]] == ["s", "s", "n", "n"]
    assert [[cell.value for cell in row] for row in book["Analysis"].iter_rows()] == [
        ["Item", "Value"],
        ["'=note", "'@SUM(1)"],
    ]
