"""A run's result as tables: the same tables on the result page, as CSV and as one XLSX workbook.

Only aggregates leave here (no per-patient row, so no identifier can). Numbers keep full
precision in the files; `display` formats them for the page. Text cells in the files (labels are
site codes, ICS sources, ...) go through `registry.csv_io.spreadsheet_safe`, so that no spreadsheet
runs one as a formula.
"""

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook

from registry.csv_io import spreadsheet_safe

YEAR_DAYS = 365.25


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


# Building the tables ------------------------------------------------------------------------


def result_tables(result: dict) -> dict[str, Table]:
    """Every table of a result, by name (the name is the CSV file name and the XLSX sheet)."""
    tables = [
        groups_table(result),
        baseline_table(result),
        sqrt_ics_table(result),
        cox_table(result),
        ph_table(result),
        at_risk_table(result),
        km_table(result),
    ]
    if "competing_risks" in result:
        tables.append(cif_table(result))
    if result.get("subgroups"):
        tables.append(subgroups_table(result))
    return {t.name: t for t in tables}


def groups_table(result: dict) -> Table:
    table = Table("groups", "Groups", ["group", "label", "patients", "events"])
    table.rows = [[g["key"], g["label"], g["n"], g["events"]] for g in result["groups"]]
    return table


def baseline_table(result: dict) -> Table:
    """Table 1: mean ± SD or median (IQR); n (%) with the denominator when values are missing."""
    groups = result["groups"]
    sizes = {g["key"]: g["n"] for g in groups}
    table = Table(
        "table1",
        "Table 1. Baseline characteristics",
        [
            "variable",
            "level",
            f"overall (n = {result['n']})",
            *[f"{g['label']} (n = {g['n']})" for g in groups],
            "test",
            "p",
        ],
    )
    for row in result["baseline_table"]:
        if row["kind"] == "continuous":
            cells = [
                _continuous(row["overall"], row["summary"], result["n"]),
                *[_continuous(row["by_group"][g["key"]], row["summary"], sizes[g["key"]]) for g in groups],
            ]
            label = "mean ± SD" if row["summary"] == "mean_sd" else "median (IQR)"
            table.rows.append([row["variable"], label, *cells, row["test"], row["p"]])
            continue
        levels = row["levels"]
        shown = [True] if levels in ([False, True], [True]) else ([] if levels == [False] else levels)
        for level in shown:
            i = levels.index(level)
            cells = [
                _count(row["overall"], i, result["n"]),
                *[_count(row["by_group"][g["key"]], i, sizes[g["key"]]) for g in groups],
            ]
            first = level == shown[0]
            table.rows.append(
                [
                    row["variable"],
                    "yes" if level is True else str(level),
                    *cells,
                    row["test"] if first else "",
                    row["p"] if first else None,
                ]
            )
    return table


def _continuous(d: dict, summary: str, size: int) -> str:
    if not d["n"]:
        return "-"
    text = (
        f"{d['mean']:.1f} ± {d['sd']:.1f}"
        if summary == "mean_sd" and d["sd"] is not None
        else f"{d['median']:.1f} ({d['q1']:.1f}-{d['q3']:.1f})"
    )
    return text if d["n"] == size else f"{text} [n = {d['n']}]"


def _count(counts: dict, i: int, size: int) -> str:
    n, denominator, percent = counts["n"][i], counts["denominator"], counts["percent"][i]
    if percent is None:
        return "-"
    return f"{n} ({percent:.1f}%)" if denominator == size else f"{n}/{denominator} ({percent:.1f}%)"


def sqrt_ics_table(result: dict) -> Table:
    table = Table(
        "table2", "Table 2. Linear regression of sqrt(ICS)", ["model", "term", "beta", "ci_lower", "ci_upper", "p"]
    )
    for model in ("univariable", "multivariable"):
        table.rows += [
            [model, r["term"], r["beta"], r["ci_lower"], r["ci_upper"], r["p"]] for r in result["sqrt_ics_regression"][model]
        ]
    return table


def cox_table(result: dict) -> Table:
    """Cox models (Efron): univariable, the two adjusted models, cause-specific and Fine-Gray
    subdistribution hazard ratios (non-fatal endpoints)."""
    table = Table("cox", "Cox regression", ["model", "term", "hr", "ci_lower", "ci_upper", "p"])
    models = [
        ("univariable", result["cox"]["univariable"]),
        ("adjusted, ICS group", result["cox"]["multivariable"]["group"]),
        ("adjusted, ICS per 100", result["cox"]["multivariable"]["continuous"]),
    ]
    if "competing_risks" in result:
        models.append(("cause-specific, univariable", result["competing_risks"]["cause_specific"]))
        models.append(("Fine-Gray subdistribution, univariable", result["competing_risks"].get("fine_gray", [])))
    for model, rows in models:
        table.rows += [[model, r["term"], r["hr"], r["ci_lower"], r["ci_upper"], r["p"]] for r in rows]
    return table


def ph_table(result: dict) -> Table:
    table = Table(
        "ph_test", "Proportional hazards test (cox.zph), adjusted model with ICS per 100", ["term", "statistic", "p"]
    )
    table.rows = [[r["term"], r["statistic"], r["p"]] for r in result["ph_test"]["terms"]]
    table.rows.append(["GLOBAL", result["ph_test"]["global_statistic"], result["ph_test"]["global_p"]])
    return table


def at_risk_days(result: dict) -> list[int]:
    """Yearly time points (days) up to the horizon."""
    horizon = result["spec"]["horizon_days"]
    return [round(y * YEAR_DAYS) for y in range(int(horizon // YEAR_DAYS) + 1)]


def numbers_at_risk(km: dict, days: list[int]) -> list[int]:
    """Patients still at risk (time >= t) at each `t`: the KM steps are at every distinct time
    (events and censorings), so it is the at-risk count of the first step at or after t, else 0."""
    times, at_risk = km["time"], km["at_risk"]
    out, j = [], 0
    for t in days:
        while j < len(times) and times[j] < t:
            j += 1
        out.append(int(at_risk[j]) if j < len(times) else 0)
    return out


def at_risk_table(result: dict) -> Table:
    days = at_risk_days(result)
    table = Table("at_risk", "Numbers at risk", ["group", *[f"year {round(d / YEAR_DAYS)}" for d in days]])
    table.rows = [[g["label"], *numbers_at_risk(result["km"][g["key"]], days)] for g in result["groups"]]
    return table


def km_table(result: dict) -> Table:
    table = Table(
        "km", "Kaplan-Meier estimates", ["group", "time_days", "survival", "ci_lower", "ci_upper", "at_risk", "events"]
    )
    for g in result["groups"]:
        km = result["km"][g["key"]]
        table.rows += [
            [g["key"], *values]
            for values in zip(
                km["time"], km["survival"], km["ci_lower"], km["ci_upper"], km["at_risk"], km["events"], strict=True
            )
        ]
    return table


def cif_table(result: dict) -> Table:
    table = Table("cif", "Cumulative incidence (death as competing event)", ["group", "time_days", "cif", "at_risk"])
    for key, cif in result["competing_risks"]["cif"].items():
        table.rows += [[key, *values] for values in zip(cif["time"], cif["cif"], cif["at_risk"], strict=True)]
    return table


def subgroups_table(result: dict) -> Table:
    table = Table("subgroups", "Subgroups", ["subgroup", "group", "patients", "events", "log-rank p", "note"])
    for panel in result["subgroups"]:
        if "error" in panel:
            table.rows.append([panel["label"], "", None, None, None, panel["error"]])
            continue
        sub = panel["result"]
        table.rows += [[panel["label"], g["label"], g["n"], g["events"], sub["logrank"]["p"], ""] for g in sub["groups"]]
    return table


# Files -----------------------------------------------------------------------------------------


def table_csv(table: Table) -> str:
    """CSV text; floats at full precision (repr), missing as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([spreadsheet_safe(c) for c in table.columns])
    writer.writerows(
        [
            ["" if v is None else (repr(v) if isinstance(v, float) else spreadsheet_safe(v)) for v in row]
            for row in table.rows
        ]
    )
    return out.getvalue()


def tables_xlsx(tables: dict[str, Table], *, spec: dict | None = None) -> bytes:
    """One workbook: a sheet per table (title in the first row), plus the spec."""
    book = Workbook()
    book.remove(book.active)
    for table in tables.values():
        sheet = book.create_sheet(table.name[:31])
        sheet.append([spreadsheet_safe(table.title)])
        sheet.append([spreadsheet_safe(c) for c in table.columns])
        for row in table.rows:
            sheet.append([None if isinstance(v, float) and not math.isfinite(v) else spreadsheet_safe(v) for v in row])
    if spec is not None:
        sheet = book.create_sheet("spec")
        for key, value in spec.items():
            sheet.append([spreadsheet_safe(key), spreadsheet_safe(str(value))])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Display --------------------------------------------------------------------------------------


def display(value: object, column: str = "") -> str:
    """A cell for the page: p values to 3 significant digits (< 0.001), ratios to 2 decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if column in ("p", "log-rank p"):
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def display_rows(table: Table) -> list[list[str]]:
    return [[display(v, c) for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
