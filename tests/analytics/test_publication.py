"""Publication-ready output: numbers as the study prints them, Table 1 with its tests in footnotes,
Table 3 side by side, the manuscript workbook, the Kaplan-Meier figure with the numbers at risk
under its ticks at journal sizes, and the figure as a PDF of a journal column's width."""

import io
import re
import shutil
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook

from analytics import charts, exports, figure_pdf
from analytics.analysis import run_analysis
from analytics.services import analysis_run
from tests.analytics.conftest import FIXTURES
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for


@pytest.fixture(scope="module")
def result():
    return run_analysis(pd.read_csv(FIXTURES / "study_408.csv"), {"endpoint": "revascularization"})


# Numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0004, "<0.001"), (0.001, "0.001"), (0.0456, "0.046"), (0.5, "0.500"), (1.0, "1.000"), (None, "–")],
)
def test_p_values_have_3_decimals_and_less_than_0_001_below(p, text):
    assert exports.p_text(p) == text


def test_estimates_read_as_in_the_study():
    assert exports.estimate_ci_text(1.51, 1.05, 2.17) == "1.51 (1.05–2.17)"
    assert exports.estimate_ci_text(1.234, 1.0149, 1.5) == "1.23 (1.01–1.50)"
    # A negative bound: "to", and a real minus sign, as the study's Table 2 ("−0.04 −0.06 to −0.02").
    assert exports.estimate_ci_text(-0.04, -0.06, -0.02) == "−0.04 (−0.06 to −0.02)"
    assert exports.estimate_ci_text(0.08, -0.004, 0.16) == "0.08 (0.00 to 0.16)"  # never "−0.00"
    assert exports.estimate_ci_text(None, None, None) == "–"


# Tables -----------------------------------------------------------------------------------------


def test_table_1_marks_each_p_with_the_test_that_tables_py_chose(result):
    table = exports.publication_tables(result)["table1"]
    assert table.columns[0] == "Characteristic" and table.columns[-1] == "p value"
    marks = {note[0]: note[2:] for note in table.footnotes if note[:1] in exports.MARKS}
    tests = {row["variable"]: row["test"] for row in result["baseline_table"]}
    names = {"t-test": "Student's t-test", "mann-whitney": "Mann-Whitney U test", "chi-square": "Pearson's chi-square test"}
    names |= {"fisher": "Fisher's exact test", "anova": "One-way ANOVA", "kruskal-wallis": "Kruskal-Wallis test"}
    checked = 0
    for row in table.rows:
        label, p = row[0], row[-1]
        if not p:
            continue
        variable = next(v for v in tests if label.startswith(exports.dictionary.variable_label(v)))
        assert marks[p[-1]].startswith(names[tests[variable]]), (label, p)
        checked += 1
    assert checked == len(result["baseline_table"])
    assert any(note.startswith("Values are") for note in table.footnotes)
    assert any("ACS acute coronary syndrome" in note for note in table.footnotes)
    # A category: a header row with the p, then its levels, indented, in the registry's order.
    header = next(i for i, row in enumerate(table.rows) if row[0] == "Index treatment")
    assert [table.rows[i][0] for i in table.indented if header < i <= header + 3] == ["PCI", "CABG", "Conservative"]


def test_table_3_sets_the_models_side_by_side(result):
    table = exports.publication_tables(result)["cox"]
    rows = {row[0]: row for row in table.rows}
    cut = result["cutoffs_display"][0]
    assert rows[f"ICS < {cut}"][1] == "1 (reference)"
    high = rows[f"ICS ≥ {cut}"]
    uni = result["cox"]["univariable"][0]
    assert high[1] == exports.hr_text(uni) and high[2] == exports.p_text(uni["p"])
    adjusted = result["cox"]["multivariable"]["continuous"][0]
    per_100 = rows["ICS (per 100 units)"]
    assert per_100[5] == exports.hr_text(adjusted) and per_100[3] == ""
    assert re.fullmatch(r"\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)", high[1])
    assert "Model 1: ICS groups adjusted for Age (years)" in table.footnotes[0]


def test_the_manuscript_workbook_is_formatted(result):
    tables = exports.publication_tables(result)
    book = load_workbook(io.BytesIO(exports.manuscript_xlsx(tables, about=[("Endpoint", "Revascularization")])))
    assert book.sheetnames[:4] == ["Groups", "Table 1", "Table 2", "Table 3"] and book.sheetnames[-1] == "Analysis"
    sheet = book["Table 1"]
    assert sheet["A1"].value == "Table 1. Baseline characteristics" and sheet["A1"].font.bold
    assert [c.value for c in sheet[2]] == tables["table1"].columns and all(c.font.bold for c in sheet[2])
    assert sheet.column_dimensions["A"].width > 20
    values = [row[0].value for row in sheet.iter_rows()]
    assert "* Student's t-test" in values  # the footnotes under the table
    note_row = values.index("* Student's t-test") + 1
    assert any(str(r).startswith(f"A{note_row}:") for r in sheet.merged_cells.ranges)
    level = values.index("PCI") + 1
    assert sheet.cell(row=level, column=1).alignment.indent == 2
    assert [[c.value for c in row] for row in book["Analysis"].iter_rows()] == [
        ["Item", "Value"],
        ["Endpoint", "Revascularization"],
    ]


# Figures ----------------------------------------------------------------------------------------


def test_the_numbers_at_risk_sit_under_the_ticks_of_the_time_axis(result):
    figure = charts.km_figure(result)
    days = exports.at_risk_days(result)
    for layout in (figure["layout"], *[e["layout"] for e in figure["exports"].values()]):
        ticks = layout["xaxis"]["tickvals"]
        assert ticks == [round(d / exports.YEAR_DAYS) for d in days]
        for g in exports.dictionary.label_result(result)["groups"]:
            counts = exports.numbers_at_risk(result["km"][g["key"]], days)
            row = [a for a in layout["annotations"] if a.get("xref") == "x" and a["font"]["color"] in _colour(figure, g)]
            assert [a["text"] for a in row] == [str(n) for n in counts]
            assert [a["x"] for a in row] == ticks and all(a["yshift"] < 0 and a["y"] == 0 for a in row)


def _colour(figure: dict, group: dict) -> list[str]:
    return [t["line"]["color"] for t in figure["data"] if t.get("name") == group["label"]]


def test_journal_sizes_are_85_and_175_mm_at_300_dpi(result):
    exports_ = charts.km_figure(result)["exports"]
    assert exports_["single"]["width"] == 321 and exports_["double"]["width"] == 661  # CSS pixels, 1/96 inch
    assert exports_["single"]["width"] * exports_["single"]["scale"] == pytest.approx(1004)  # 85 mm at 300 dpi
    assert exports_["double"]["width"] * exports_["double"]["scale"] == pytest.approx(2067)
    assert exports_["single"]["layout"]["width"] == 321 and exports_["single"]["label"] == "single column (85 mm)"


def test_the_config_has_no_cloud_or_logo():
    config = charts.figure_config("km")
    assert config["displaylogo"] is False and config["showSendToCloud"] is False
    assert "sendDataToCloud" in config["modeBarButtonsToRemove"]


def test_the_pdf_is_a_column_wide_and_holds_the_numbers_at_risk(result):
    size = charts.JOURNAL_SIZES[0]
    pdf = figure_pdf.curve_pdf(charts.km_curves(result), size)
    assert pdf.startswith(b"%PDF")
    width = float(re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)", pdf)[1])
    assert width == pytest.approx(85 / 25.4 * 72, abs=0.8)  # points
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run([pdftotext, "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Number at risk" in text
    for g in result["groups"]:
        counts = exports.numbers_at_risk(result["km"][g["key"]], exports.at_risk_days(result))
        assert re.search(r"\s+".join(str(n) for n in counts), text), counts


# Views ------------------------------------------------------------------------------------------


@pytest.fixture
def run(db, investigator):
    registry_cohort(120, seed=3)
    return analysis_run(spec={"endpoint": "revascularization", "subgroup": "diabetes"}, user=investigator)


def test_the_downloads_for_a_manuscript(run, investigator, outsider):
    client = client_for(investigator)
    book = client.get(f"/analytics/runs/{run.pk}/manuscript-tables.xlsx")
    assert book.status_code == 200 and "manuscript-tables.xlsx" in book["Content-Disposition"]
    assert "Table 3" in load_workbook(io.BytesIO(book.content)).sheetnames
    for figure in ("km_cumulative", "km_survival", "cif", "subgroup_0"):
        for size in ("single", "double"):
            pdf = client.get(f"/analytics/runs/{run.pk}/figures/{figure}.pdf?size={size}")
            assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf", (figure, size)
            assert pdf.content.startswith(b"%PDF") and f"-{figure}-{size}.pdf" in pdf["Content-Disposition"]
    assert client.get(f"/analytics/runs/{run.pk}/figures/hazard_ratios.pdf").status_code == 404
    assert client.get(f"/analytics/runs/{run.pk}/figures/km_cumulative.pdf?size=poster").status_code == 404
    assert client.get(f"/analytics/runs/{run.pk}/figures/subgroup_9.pdf").status_code == 404
    assert client_for(outsider).get(f"/analytics/runs/{run.pk}/figures/km_cumulative.pdf").status_code == 403
    assert client_for(outsider).get(f"/analytics/runs/{run.pk}/manuscript-tables.xlsx").status_code == 403


def test_the_page_offers_the_figure_at_journal_sizes(run, investigator):
    page = client_for(investigator).get(f"/analytics/runs/{run.pk}/").content.decode()
    for label in (
        "PNG, single column (85 mm, 300 dpi)",
        "PNG, double column (175 mm, 300 dpi)",
        "SVG, single column (85 mm)",
        "SVG, double column (175 mm)",
        "PDF, single column (85 mm)",
        "PDF, double column (175 mm)",
        "Download for manuscript (XLSX)",
    ):
        assert label in page, label
    assert f"/analytics/runs/{run.pk}/figures/km_cumulative.pdf?size=single" in page
    report = client_for(investigator).get(f"/analytics/runs/{run.pk}/report/").content.decode()
    assert "PNG, single column" not in report  # the printable report has no download buttons
