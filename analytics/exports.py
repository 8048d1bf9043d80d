"""A run's result as tables: the data tables (full precision, human headers and labels) as CSV and
one XLSX workbook, and the publication tables (the study's style: "1.51 (1.05–2.17)", p to 3
decimals, tests and abbreviations in footnotes) on the result page and in the manuscript XLSX.

Only aggregates leave here (no per-patient row, so no identifier can). Every label comes from the
data dictionary (analytics.dictionary). Text cells in the files (labels are site codes, ICS
sources, ...) go through `registry.csv_io.spreadsheet_safe`, so that no spreadsheet runs one as a
formula.
"""

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from analytics import dictionary
from analytics import warnings as safeguards
from registry.csv_io import spreadsheet_safe

YEAR_DAYS = dictionary.YEAR_DAYS
MISSING = "–"  # a value that could not be computed (en dash, as in the study's tables)
# Footnote marks for Table 1's tests, in order of first use (symbols every font has).
MARKS = ("*", "†", "‡", "§", "¶", "#")


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    sheet: str = ""  # the XLSX sheet's name ("" -> name)
    indented: list[int] = field(default_factory=list)  # rows shown indented (levels under their variable)


# Formatting, as the study prints numbers ----------------------------------------------------------


def p_text(p: float | None) -> str:
    """p to 3 decimals, "<0.001" below that."""
    if p is None or not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def number_text(value: float | None, decimals: int = 2) -> str:
    """A number with a true minus sign (−0.04), as typeset."""
    if value is None or not math.isfinite(value):
        return MISSING
    rounded = round(value, decimals) + 0.0  # + 0.0: -0.004 prints 0.00, not −0.00
    return f"{rounded:.{decimals}f}".replace("-", "−")


def estimate_ci_text(estimate: float | None, lower: float | None, upper: float | None, *, decimals: int = 2) -> str:
    """ "1.23 (1.01–1.50)"; with a negative bound "−0.04 (−0.06 to −0.02)" (a dash would read as a minus)."""
    if estimate is None or lower is None or upper is None:
        return number_text(estimate, decimals)
    between = " to " if min(lower, upper) < 0 else "–"
    return f"{number_text(estimate, decimals)} ({number_text(lower, decimals)}{between}{number_text(upper, decimals)})"


def hr_text(row: dict) -> str:
    """A model row's hazard ratio with its 95% CI, the one place HR cells are written: "not
    estimable (no events in ...)" where it cannot be estimated, marked with the row's warnings."""
    return safeguards.hr_cell(row, estimate_ci_text(row.get("hr"), row.get("ci_lower"), row.get("ci_upper")))


def abbreviations_note(texts: Iterable[str]) -> str | None:
    """ "ACS acute coronary syndrome, ..." for the abbreviations that the texts use (as the study's footnotes)."""
    words = set(re.findall(r"[A-Za-z]+", " ".join(texts)))
    used = [
        f"{a} {meaning}" for a, meaning in sorted(dictionary.ABBREVIATIONS.items(), key=lambda i: i[0].lower()) if a in words
    ]
    return ", ".join(used) if used else None


def _with_abbreviations(table: Table) -> Table:
    texts = [table.title, *table.columns, *[str(c) for row in table.rows for c in row[:1]], *table.footnotes]
    note = abbreviations_note(texts)
    if note:
        table.footnotes.append(note)
    return table


# The data tables (CSV, "All tables" XLSX) ------------------------------------------------------------


def result_tables(result: dict) -> dict[str, Table]:
    """Every data table of a result, by name (the name is the CSV file name)."""
    result = dictionary.label_result(result)
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
    tables += optional_tables(result)
    return {t.name: t for t in tables}


def optional_tables(result: dict) -> list[Table]:
    """The data tables of the optional analyses (issue 13) that the result has: none for one not
    asked for, or one that failed (its key is null and a warning says why)."""
    tables = []
    if result.get("spline"):
        tables += [spline_table(result), spline_tests_table(result)]
    if result.get("rmst"):
        tables.append(rmst_table(result))
    if result.get("subgroup_forest"):
        tables.append(subgroup_forest_table(result))
    return tables


def groups_table(result: dict) -> Table:
    table = Table("groups", "Groups", ["Group", "Patients", "Events"], sheet="Groups")
    table.rows = [[g["label"], g["n"], g["events"]] for g in result["groups"]]
    return table


def baseline_table(result: dict) -> Table:
    """Table 1 as data: one row per variable (yes/no) or level, the summary named, test and p."""
    groups = result["groups"]
    table = Table(
        "table1",
        "Table 1. Baseline characteristics",
        [
            "Characteristic",
            "Level",
            "Summary",
            f"All patients (n = {result['n']})",
            *[f"{g['label']} (n = {g['n']})" for g in groups],
            "Test",
            "p",
        ],
        sheet="Table 1",
    )
    for row in result["baseline_table"]:
        label, test = dictionary.variable_label(row["variable"]), dictionary.test_label(row["test"])
        if row["kind"] == "continuous":
            summary = dictionary.SUMMARIES[row["summary"]]
            table.rows.append([label, "", summary, *_continuous_cells(row, result), test, row["p"]])
            continue
        for i, level in enumerate(_shown_levels(row["levels"])):
            first = i == 0
            level_text = "" if level is True else dictionary.level_label(row["variable"], level)
            cells = _count_cells(row, row["levels"].index(level), result)
            table.rows.append([label, level_text, "n (%)", *cells, test if first else "", row["p"] if first else None])
    return table


def _shown_levels(levels: list) -> list:
    """A yes/no variable shows its "yes" row only; a category every level."""
    if levels in ([False, True], [True]):
        return [True]
    return [] if levels == [False] else levels


def _in_dictionary_order(variable: str, levels: list) -> list:
    """Levels in the order the dictionary lists them (PCI, CABG, conservative), unknown ones last."""
    known = list(dictionary.VARIABLES[variable].levels) if variable in dictionary.VARIABLES else []
    return sorted(levels, key=lambda v: known.index(str(v)) if str(v) in known else len(known))


def _continuous_cells(row: dict, result: dict) -> list[str]:
    sizes = {g["key"]: g["n"] for g in result["groups"]}
    return [
        _continuous(row["overall"], row["summary"], result["n"]),
        *[_continuous(row["by_group"][g["key"]], row["summary"], sizes[g["key"]]) for g in result["groups"]],
    ]


def _count_cells(row: dict, i: int, result: dict) -> list[str]:
    sizes = {g["key"]: g["n"] for g in result["groups"]}
    return [
        _count(row["overall"], i, result["n"]),
        *[_count(row["by_group"][g["key"]], i, sizes[g["key"]]) for g in result["groups"]],
    ]


def _continuous(d: dict, summary: str, size: int) -> str:
    if not d["n"]:
        return MISSING
    text = (
        f"{d['mean']:.1f} ± {d['sd']:.1f}"
        if summary == "mean_sd" and d["sd"] is not None
        else f"{d['median']:.1f} ({d['q1']:.1f}–{d['q3']:.1f})"
    )
    return text if d["n"] == size else f"{text} [n = {d['n']}]"


def _count(counts: dict, i: int, size: int) -> str:
    n, denominator, percent = counts["n"][i], counts["denominator"], counts["percent"][i]
    if percent is None:
        return MISSING
    return f"{n} ({percent:.1f}%)" if denominator == size else f"{n}/{denominator} ({percent:.1f}%)"


def sqrt_ics_table(result: dict) -> Table:
    table = Table(
        "table2",
        "Table 2. Linear regression of √ICS",
        ["Model", "Variable", "β", "95% CI lower", "95% CI upper", "p"],
        sheet="Table 2",
    )
    for model in ("univariable", "multivariable"):
        table.rows += [
            [
                dictionary.model_label(model),
                dictionary.term_label(r["term"]),
                r["beta"],
                r["ci_lower"],
                r["ci_upper"],
                r["p"],
            ]
            for r in result["sqrt_ics_regression"][model]
        ]
    return table


def _cox_models(result: dict) -> list[tuple[str, list[dict]]]:
    models = [
        (dictionary.model_label("univariable"), result["cox"]["univariable"]),
        (dictionary.model_label("group"), result["cox"]["multivariable"]["group"]),
        (dictionary.model_label("continuous"), result["cox"]["multivariable"]["continuous"]),
    ]
    if "competing_risks" in result:
        models.append((dictionary.model_label("cause_specific"), result["competing_risks"]["cause_specific"]))
        models.append((dictionary.model_label("fine_gray"), result["competing_risks"].get("fine_gray", [])))
    return models


def cox_table(result: dict) -> Table:
    """Cox models (Efron): univariable, the two adjusted models, cause-specific and Fine-Gray
    subdistribution hazard ratios (non-fatal endpoints)."""
    columns = ["Model", "Variable", "HR", "95% CI lower", "95% CI upper", "p", "Warnings"]
    table = Table("cox", "Cox regression", columns, sheet="Cox regression")
    for model, rows in _cox_models(result):
        table.rows += [[model, r["label"], *_cox_numbers(r), _warnings_text(r)] for r in rows]
    return table


def _cox_numbers(row: dict) -> list[Any]:
    """HR, CI and p at full precision; "not estimable (...)" and no CI or p where the HR cannot be
    estimated (the result's JSON keeps R's numbers)."""
    if safeguards.estimable(row):
        return [row["hr"], row["ci_lower"], row["ci_upper"], row["p"]]
    return [safeguards.not_estimable_text(row), None, None, None]


def _warnings_text(row: dict) -> str:
    return "; ".join(safeguards.describe(w) for w in safeguards.for_row(row))


def ph_table(result: dict) -> Table:
    table = Table(
        "ph_test",
        "Proportional hazards test (cox.zph), Model 2 (ICS per 100 units, adjusted)",
        ["Variable", "Chi-square", "p"],
        sheet="PH test",
    )
    table.rows = [[r["label"], r["statistic"], r["p"]] for r in result["ph_test"]["terms"]]
    table.rows.append(["Global", result["ph_test"]["global_statistic"], result["ph_test"]["global_p"]])
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
    table = Table("at_risk", "Numbers at risk", ["Group", *[f"Year {round(d / YEAR_DAYS)}" for d in days]], sheet="At risk")
    labels = {g["key"]: dictionary.group_label(g["key"], **_grouping(result)) for g in result["groups"]}
    table.rows = [[labels[g["key"]], *numbers_at_risk(result["km"][g["key"]], days)] for g in result["groups"]]
    return table


def _grouping(result: dict) -> dict[str, Any]:
    """The group-label context of a result: its grouping variable and cut-offs."""
    return dictionary.grouping_context(result)


def km_table(result: dict) -> Table:
    table = Table(
        "km",
        "Kaplan-Meier estimates",
        ["Group", "Time (days)", "Survival", "95% CI lower", "95% CI upper", "At risk", "Events"],
        sheet="Kaplan-Meier",
    )
    for g in result["groups"]:
        km = result["km"][g["key"]]
        table.rows += [
            [g["label"], *values]
            for values in zip(
                km["time"], km["survival"], km["ci_lower"], km["ci_upper"], km["at_risk"], km["events"], strict=True
            )
        ]
    return table


def cif_table(result: dict) -> Table:
    table = Table(
        "cif",
        "Cumulative incidence (death as competing event)",
        ["Group", "Time (days)", "Cumulative incidence", "At risk"],
        sheet="Cumulative incidence",
    )
    labels = {g["key"]: g["label"] for g in result["groups"]}
    for key, cif in result["competing_risks"]["cif"].items():
        table.rows += [
            [labels.get(key, key), *values] for values in zip(cif["time"], cif["cif"], cif["at_risk"], strict=True)
        ]
    return table


def subgroups_table(result: dict) -> Table:
    table = Table(
        "subgroups", "Subgroups", ["Subgroup", "Group", "Patients", "Events", "Log-rank p", "Note"], sheet="Subgroups"
    )
    for panel in result["subgroups"]:
        if "error" in panel:
            table.rows.append([panel["label"], "", None, None, None, panel["error"]])
            continue
        sub = panel["result"]
        table.rows += [[panel["label"], g["label"], g["n"], g["events"], sub["logrank"]["p"], ""] for g in sub["groups"]]
    return table


def _spline_title(spline: dict) -> str:
    return f"Hazard ratio by ICS (natural cubic spline, {spline['df']} df)"


def _reference_text(spline: dict) -> str:
    return f"vs ICS {dictionary.cutoff_text(spline['reference'])}"


def spline_table(result: dict) -> Table:
    """The spline's HR curve: the HR against the reference ICS at ICS 0, 10, 20, ..."""
    spline = result["spline"]
    columns = ["ICS", f"Hazard ratio ({_reference_text(spline)})", "95% CI lower", "95% CI upper"]
    table = Table("spline", _spline_title(spline), columns, sheet="ICS spline")
    table.rows = [[p["ics"], p["hr"], p["ci_lower"], p["ci_upper"]] for p in spline["curve"]]
    return table


def spline_tests_table(result: dict) -> Table:
    """The spline's likelihood-ratio tests: the ICS overall (df degrees of freedom) and non-linearity (df - 1)."""
    spline = result["spline"]
    table = Table(
        "spline_tests",
        f"{_spline_title(spline)}: likelihood-ratio tests",
        ["Test", "Chi-square", "df", "p"],
        sheet="ICS spline tests",
    )
    table.rows = [["ICS overall (against the covariates only)", spline["chisq_overall"], spline["df"], spline["p_overall"]]]
    if spline.get("p_nonlinear") is not None:
        table.rows.append(
            ["Non-linearity (against ICS linear)", spline["chisq_nonlinear"], spline["df"] - 1, spline["p_nonlinear"]]
        )
    return table


def _rmst_parts(result: dict) -> tuple[dict, dict[str, str], dict[str, dict]]:
    """The RMST result, its groups' labels (the dictionary's, as the other tables) and its differences by group."""
    rmst = result["rmst"]
    context = _grouping(result)
    labels = {g["group"]: dictionary.group_label(g["group"], **context) for g in rmst["groups"]}
    return rmst, labels, {d["group"]: d for d in rmst["differences"]}


def _rmst_title(rmst: dict) -> str:
    return f"Restricted mean survival time up to day {dictionary.cutoff_text(rmst['tau'])}"


def rmst_table(result: dict) -> Table:
    """RMST and its SE per group; each group but the first: its difference from the first with the 95% CI."""
    rmst, labels, differences = _rmst_parts(result)
    first = labels[rmst["groups"][0]["group"]] if rmst["groups"] else ""
    columns = [
        "Group",
        "Patients",
        "RMST (days)",
        "SE (days)",
        f"Difference vs {first} (days)",
        "95% CI lower",
        "95% CI upper",
    ]
    table = Table("rmst", _rmst_title(rmst), columns, sheet="RMST")
    for g in rmst["groups"]:
        d = differences.get(g["group"], {})
        numbers = [d.get("difference"), d.get("ci_lower"), d.get("ci_upper")]
        table.rows.append([labels[g["group"]], g["n"], g["rmst"], g["se"], *numbers])
    return table


def _forest_title(result: dict) -> str:
    return (
        f"Subgroups: hazard ratio of {dictionary.exposure_text(result['subgroup_forest']['exposure'], **_grouping(result))}"
    )


def subgroup_forest_table(result: dict) -> Table:
    """The ICS hazard ratio per subgroup level (unadjusted Cox) and each variable's interaction test;
    a level without an HR says why, with no CI or p (as the Cox table)."""
    columns = ["Subgroup", "Level", "Patients", "Events", "HR", "95% CI lower", "95% CI upper", "p"]
    columns += ["Interaction chi-square", "Interaction df", "Interaction p", "Note"]
    table = Table("subgroup_forest", _forest_title(result), columns, sheet="Subgroup forest")
    for variable in result["subgroup_forest"]["variables"]:
        name = variable["variable"]
        interaction = [variable["chisq_interaction"], variable["df_interaction"], variable["p_interaction"]]
        if not variable["levels"]:
            table.rows.append([dictionary.variable_label(name), "", variable["n"], None, *[None] * 4, *interaction, ""])
        for level in variable["levels"]:
            why = safeguards.forest_level_text(level)
            numbers = [why, None, None, None] if why else [level["hr"], level["ci_lower"], level["ci_upper"], level["p"]]
            counts = [level["n"], level["events"]]
            row = [dictionary.variable_label(name), dictionary.level_label(name, level["level"]), *counts, *numbers]
            table.rows.append([*row, *interaction, level.get("note") or ""])
    return table


# The publication tables (result page, manuscript XLSX) -----------------------------------------------


def publication_tables(result: dict) -> dict[str, Table]:
    """The result's tables as a manuscript prints them, by name (the page's and the manuscript
    workbook's): formatted text, footnotes with the tests, models and abbreviations."""
    result = dictionary.label_result(result)
    data = result_tables(result)
    tables = [
        _formatted(data["groups"]),
        table1(result),
        table2(result),
        table3(result),
    ]
    if "competing_risks" in result:
        tables.append(competing_table(result))
    tables += [ph_publication_table(result), _formatted(data["at_risk"])]
    if "subgroups" in data:
        tables.append(_formatted(data["subgroups"]))
    if result.get("spline"):
        tables.append(spline_publication_table(result))
    if result.get("rmst"):
        tables.append(rmst_publication_table(result))
    if result.get("subgroup_forest"):
        tables.append(forest_publication_table(result))
    return {t.name: t for t in tables}


def _formatted(table: Table) -> Table:
    """A data table with its numbers as text (p as p_text)."""
    rows = [[_cell(v, c) for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
    return Table(
        table.name, table.title, list(table.columns), rows, list(table.footnotes), table.sheet, list(table.indented)
    )


def _cell(value: object, column: str) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return p_text(value) if column == "p" or column.endswith(" p") else number_text(value)
    return str(value)


def table1(result: dict) -> Table:
    """Table 1 as the study prints it: a row per yes/no variable, a header row with indented
    levels per category; the p value marked with its test, named in a footnote."""
    groups = result["groups"]
    columns = [
        "Characteristic",
        f"All patients (N = {result['n']})",
        *[f"{g['label']} (N = {g['n']})" for g in groups],
        "p value",
    ]
    table = Table("table1", "Table 1. Baseline characteristics", columns, sheet="Table 1")
    marks: dict[str, str] = {}
    summaries: set[str] = set()
    for row in result["baseline_table"]:
        p = _marked_p(row, marks)
        label = dictionary.variable_label(row["variable"])
        if row["kind"] == "continuous":
            summaries.add(row["summary"])
            label = f"{label}, {dictionary.SUMMARIES[row['summary']]}"
            table.rows.append([label, *_continuous_cells(row, result), p])
            continue
        summaries.add("n")
        levels = _in_dictionary_order(row["variable"], _shown_levels(row["levels"]))
        if levels == [True]:
            table.rows.append([label, *_count_cells(row, row["levels"].index(True), result), p])
            continue
        table.rows.append([label, *[""] * (len(groups) + 1), p])
        for level in levels:
            table.indented.append(len(table.rows))
            cells = _count_cells(row, row["levels"].index(level), result)
            table.rows.append([dictionary.level_label(row["variable"], level), *cells, ""])
    table.footnotes = [_summaries_note(summaries), *[f"{mark} {dictionary.test_label(t)}" for t, mark in marks.items()]]
    return _with_abbreviations(table)


def _marked_p(row: dict, marks: dict[str, str]) -> str:
    if row.get("p") is None:
        return ""
    mark = marks.setdefault(row["test"], MARKS[len(marks) % len(MARKS)] * (1 + len(marks) // len(MARKS)))
    return f"{p_text(row['p'])}{mark}"


def _summaries_note(summaries: set[str]) -> str:
    kinds = [
        text for key, text in (("mean_sd", "mean ± SD"), ("median_iqr", "median (IQR)"), ("n", "n (%)")) if key in summaries
    ]
    listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
    return (
        f"Values are {listed}; n/N (%) and [n = ...] where values are missing. "
        "Continuous: Shapiro-Wilk p ≥ 0.05 in every group gives mean ± SD and a t-test/ANOVA, else median (IQR) "
        "and a rank test; categorical: chi-square, Fisher's exact test for a 2 × 2 table with an expected count < 5."
    )


def table2(result: dict) -> Table:
    """Table 2 as the study prints it: β (95% CI) and p, univariable and multivariable side by side."""
    regression = result["sqrt_ics_regression"]
    multi = {r["term"]: r for r in regression["multivariable"]}
    table = Table(
        "table2",
        "Table 2. Uni- and multivariable linear regression of √ICS",
        ["Variable", "Univariable β (95% CI)", "Univariable p", "Multivariable β (95% CI)", "Multivariable p"],
        sheet="Table 2",
    )
    for r in regression["univariable"]:
        m = multi.get(r["term"])
        table.rows.append(
            [
                dictionary.term_label(r["term"]),
                estimate_ci_text(r["beta"], r["ci_lower"], r["ci_upper"]),
                p_text(r["p"]),
                estimate_ci_text(m["beta"], m["ci_lower"], m["ci_upper"]) if m else "",
                p_text(m["p"]) if m else "",
            ]
        )
    n = regression["multivariable"][0]["n"] if regression["multivariable"] else None
    table.footnotes = [
        "Variables with a univariable p < 0.1 entered the multivariable model"
        + (f" (complete cases, n = {n})." if n is not None else "; none did.")
    ]
    return _with_abbreviations(table)


def table3(result: dict) -> Table:
    """Table 3: Cox hazard ratios, univariable and the two adjusted models side by side."""
    cox = result["cox"]
    endpoint = result.get("endpoint_label") or dictionary.endpoint_label(result["spec"]["endpoint"])
    models = [cox["univariable"], cox["multivariable"]["group"], cox["multivariable"]["continuous"]]
    table = Table(
        "cox",
        f"Table 3. Cox regression for {endpoint}",
        [
            "Variable",
            "Univariable HR (95% CI)",
            "Univariable p",
            "Model 1 aHR (95% CI)",
            "Model 1 p",
            "Model 2 aHR (95% CI)",
            "Model 2 p",
        ],
        sheet="Table 3",
    )
    table.rows = _side_by_side(result, models, reference_in=(0, 1))
    covariates = ", ".join(dictionary.variable_label(c) for c in result["spec"]["covariates"]) or "no covariates"
    table.footnotes = [
        "Cox proportional hazards models (Efron ties). Univariable: one model per ICS term. "
        f"Model 1: ICS groups adjusted for {covariates}; Model 2: ICS per 100 units adjusted for the same "
        f"(complete cases, n = {cox['n_complete_cases']}). aHR adjusted hazard ratio."
    ]
    return _with_abbreviations(table)


def competing_table(result: dict) -> Table:
    """Cause-specific and Fine-Gray subdistribution hazard ratios (death competing), side by side."""
    competing = result["competing_risks"]
    table = Table(
        "competing",
        "Competing risks: cause-specific and subdistribution hazard ratios (death as competing event)",
        [
            "Variable",
            "Cause-specific HR (95% CI)",
            "Cause-specific p",
            "Subdistribution HR (95% CI)",
            "Subdistribution p",
        ],
        sheet="Competing risks",
    )
    table.rows = _side_by_side(result, [competing["cause_specific"], competing.get("fine_gray", [])], reference_in=(0, 1))
    table.footnotes = [
        "Univariable models, one per ICS term. Cause-specific Cox: a death censors; "
        "Fine-Gray: subdistribution hazards (as cmprsk::crr). Gray's test p = "
        f"{p_text(competing['gray']['p'])}."
    ]
    return _with_abbreviations(table)


def _side_by_side(result: dict, models: list[list[dict]], *, reference_in: tuple[int, ...]) -> list[list[str]]:
    """One row per term (in order of first appearance), an (HR (95% CI), p) pair per model; the
    first group as "1 (reference)" above the group terms in the models that have them."""
    terms = list(dict.fromkeys(r["term"] for rows in models for r in rows))
    by_model = [{r["term"]: r for r in rows} for rows in models]
    rows: list[list[str]] = []
    group_terms = [t for t in terms if t == "ics_high" or t.startswith("group_")]
    if group_terms:
        reference = dictionary.group_label(result["groups"][0]["key"], **_grouping(result))
        cells = [
            ("1 (reference)", "") if i in reference_in and group_terms[0] in m else ("", "") for i, m in enumerate(by_model)
        ]
        rows.append([reference, *[c for pair in cells for c in pair]])
    for term in terms:
        label = next(m[term]["label"] for m in by_model if term in m)
        cells = [
            (hr_text(m[term]), safeguards.p_cell(m[term], p_text(m[term]["p"]))) if term in m else ("", "") for m in by_model
        ]
        rows.append([label, *[c for pair in cells for c in pair]])
    return rows


def ph_publication_table(result: dict) -> Table:
    table = Table(
        "ph_test",
        "Proportional hazards test (Schoenfeld residuals), Model 2",
        ["Variable", "Chi-square", "p value"],
        sheet="PH test",
    )
    ph = result["ph_test"]
    table.rows = [[r["label"], number_text(r["statistic"]), p_text(r["p"])] for r in ph["terms"]]
    table.rows.append(["Global", number_text(ph["global_statistic"]), p_text(ph["global_p"])])
    table.footnotes = ["As R's cox.zph (survival 3): a small p suggests the hazards are not proportional."]
    return table


def spline_publication_table(result: dict) -> Table:
    """The spline's HR curve as "1.83 (1.30–2.58)" per ICS, the model and its tests in footnotes."""
    spline = result["spline"]
    table = Table(
        "spline",
        f"{_spline_title(spline)}, against ICS {dictionary.cutoff_text(spline['reference'])}",
        ["ICS", "HR (95% CI)"],
        sheet="ICS spline",
    )
    table.rows = [[f"{p['ics']:g}", estimate_ci_text(p["hr"], p["ci_lower"], p["ci_upper"])] for p in spline["curve"]]
    knots = ", ".join(dictionary.cutoff_text(k) for k in spline["knots"]) or "none"
    boundary = " and ".join(dictionary.cutoff_text(k) for k in spline["boundary_knots"])
    covariates = ", ".join(dictionary.variable_label(c) for c in result["spec"].get("covariates") or []) or "no covariates"
    tests = f"ICS overall p {p_text(spline['p_overall'])} ({spline['df']} df)"
    if spline.get("p_nonlinear") is not None:
        tests += f", non-linearity p {p_text(spline['p_nonlinear'])} ({spline['df'] - 1} df)"
    table.footnotes = [
        f"Cox proportional hazards model (Efron ties) with a natural cubic spline of the ICS (interior knots at "
        f"{knots}; boundary knots {boundary}), adjusted for {covariates} (complete cases, n = {spline['n']}, "
        f"{spline['events']} events). Hazard ratios against ICS {dictionary.cutoff_text(spline['reference'])}.",
        f"Likelihood-ratio tests: {tests}.",
    ]
    return _with_abbreviations(table)


def rmst_publication_table(result: dict) -> Table:
    """RMST (SE) per group in days, and each group's difference from the first with its 95% CI."""
    rmst, labels, differences = _rmst_parts(result)
    table = Table(
        "rmst",
        f"{_rmst_title(rmst)} (event-free days)",
        ["Group", "Patients", "RMST (days)", "SE (days)", "Difference (95% CI), days"],
        sheet="RMST",
    )
    for i, g in enumerate(rmst["groups"]):
        d = differences.get(g["group"], {})
        difference = (
            "reference"
            if i == 0
            else estimate_ci_text(d.get("difference"), d.get("ci_lower"), d.get("ci_upper"), decimals=1)
        )
        table.rows.append([labels[g["group"]], str(g["n"]), number_text(g["rmst"], 1), number_text(g["se"], 1), difference])
    table.footnotes = [
        "The area under the Kaplan-Meier curve up to the day named: the mean number of days without the event in that "
        "time. Differences: each group minus the first, 95% CI difference ± 1.96 √(SE₁² + SE₂²)."
    ]
    return table


def forest_publication_table(result: dict) -> Table:
    """Fig. 3b/c as a table: per variable a row with its interaction p, then its levels (indented)
    with n, events and HR (95% CI), or why there is none."""
    table = Table(
        "subgroup_forest",
        _forest_title(result),
        ["Subgroup", "Patients", "Events", "HR (95% CI)", "p", "p for interaction"],
        sheet="Subgroup forest",
    )
    for variable in result["subgroup_forest"]["variables"]:
        name = variable["variable"]
        table.rows.append([dictionary.variable_label(name), "", "", "", "", p_text(variable["p_interaction"])])
        for level in variable["levels"]:
            why = safeguards.forest_level_text(level)
            hr = why or estimate_ci_text(level["hr"], level["ci_lower"], level["ci_upper"])
            table.indented.append(len(table.rows))
            counts = [str(level["n"]), str(level["events"])]
            table.rows.append(
                [dictionary.level_label(name, level["level"]), *counts, hr, "" if why else p_text(level["p"]), ""]
            )
    table.footnotes = [
        "Unadjusted Cox proportional hazards model (Efron ties) within each subgroup level; p for interaction: "
        "likelihood-ratio test of ICS × subgroup (main effects of both in both models). A level without events, "
        "or where the ICS group does not vary, has no hazard ratio and is left out of the interaction test."
    ]
    return _with_abbreviations(table)


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


def tables_xlsx(tables: dict[str, Table], *, about: list[tuple[str, str]] | None = None) -> bytes:
    """The data workbook: a sheet per table (title in the first row, then the header, then the
    rows; numbers as numbers, 16 significant digits), and the "Analysis" sheet of `about` rows."""
    book = Workbook()
    book.remove(book.active)
    for table in tables.values():
        sheet = book.create_sheet(_sheet_name(table))
        sheet.append([spreadsheet_safe(table.title)])
        sheet.append([spreadsheet_safe(c) for c in table.columns])
        for row in table.rows:
            sheet.append([None if isinstance(v, float) and not math.isfinite(v) else spreadsheet_safe(v) for v in row])
        _style(sheet, table)
    if about is not None:
        _about_sheet(book, about)
    return _saved(book)


def manuscript_xlsx(tables: dict[str, Table], *, about: list[tuple[str, str]]) -> bytes:
    """The publication tables, one sheet each, ready to paste into a manuscript: bold title and
    header, indented levels, footnotes under the table, columns as wide as their text."""
    book = Workbook()
    book.remove(book.active)
    for table in tables.values():
        sheet = book.create_sheet(_sheet_name(table))
        sheet.append([spreadsheet_safe(table.title)])
        sheet.append([spreadsheet_safe(c) for c in table.columns])
        for i, row in enumerate(table.rows):
            sheet.append([spreadsheet_safe(v) for v in row])
            if i in table.indented:
                sheet.cell(row=sheet.max_row, column=1).alignment = Alignment(indent=2)
        _style(sheet, table)
        _footnotes(sheet, table)
    _about_sheet(book, about)
    return _saved(book)


def _sheet_name(table: Table) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    return re.sub(r"[\[\]:*?/\\]", " ", table.sheet or table.name)[:31]


_THIN = Side(style="thin")


def _style(sheet: Worksheet, table: Table) -> None:
    """Bold title and header (a rule under it), text columns as wide as their longest cell (at most 60)."""
    sheet.cell(row=1, column=1).font = Font(bold=True, size=12)
    for column in range(1, len(table.columns) + 1):
        cell = sheet.cell(row=2, column=column)
        cell.font = Font(bold=True)
        cell.border = Border(bottom=_THIN)
        cell.alignment = Alignment(wrap_text=True, vertical="bottom")
        longest = max([len(str(table.columns[column - 1]))] + [len(_shown(r[column - 1])) for r in table.rows[:500]])
        sheet.column_dimensions[get_column_letter(column)].width = min(60, max(8, longest + 2))


def _shown(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else "" if value is None else str(value)


def _footnotes(sheet: Worksheet, table: Table) -> None:
    """Each footnote in a merged row under the table, small and wrapped."""
    width = max(1, len(table.columns))
    total = sum(sheet.column_dimensions[get_column_letter(c)].width or 10 for c in range(1, width + 1))
    last = sheet.max_row
    for column in range(1, width + 1):
        sheet.cell(row=last, column=column).border = Border(bottom=_THIN)
    sheet.append([])
    for note in table.footnotes:
        sheet.append([spreadsheet_safe(note)])
        row = sheet.max_row
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
        sheet.cell(row=row, column=1).font = Font(size=9)
        sheet.cell(row=row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        sheet.row_dimensions[row].height = 12 * (1 + len(note) // max(20, int(total)))


def _about_sheet(book: Workbook, about: list[tuple[str, str]]) -> None:
    sheet = book.create_sheet("Analysis")
    sheet.append(["Item", "Value"])
    for key, value in about:
        sheet.append([spreadsheet_safe(key), spreadsheet_safe(value)])
    for column in (1, 2):
        sheet.cell(row=1, column=column).font = Font(bold=True)
    sheet.column_dimensions["A"].width = max(12, *(len(k) + 2 for k, _ in about)) if about else 12
    sheet.column_dimensions["B"].width = min(100, max(12, *(len(v) + 2 for _, v in about))) if about else 12


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def about_rows(spec: dict, *, run_id: int, created: str, data_hash: str, versions: dict[str, str]) -> list[tuple[str, str]]:
    """The "Analysis" sheet: what was analysed (the spec in words) and how to find the run again."""
    return [
        ("Analysis", f"#{run_id}, run {created}"),
        *dictionary.describe_spec(spec),
        ("Data (SHA-256 of the analysed rows)", data_hash),
        ("Software", ", ".join(f"{name} {version}" for name, version in versions.items())),
    ]


# Display --------------------------------------------------------------------------------------


def display(value: object, column: str = "") -> str:
    """A cell for the page: p values to 3 decimals ("<0.001"), other numbers to 2 decimals."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value  # as it is: a cell marked with its warnings (analytics.warnings.Marked) stays marked
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return p_text(value) if column == "p" or column.endswith(" p") else number_text(value)


def display_rows(table: Table) -> list[list[str]]:
    return [[display(v, c) for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
