"""The spline, RMST and subgroup-forest tables (issue 13) in the downloads: a CSV each, sheets of the
"All tables" workbook and of the manuscript workbook, with the data dictionary's headers and the
stored result's numbers (those are checked against R in test_spline_rmst.py and test_subgroups.py).
A run without them (not asked for, or an analysis that failed) exports the rest without error."""

import csv
import io
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook

from analytics import dictionary, exports
from analytics import warnings as safeguards
from analytics.analysis import run_analysis
from analytics.services import analysis_run
from tests.analytics.conftest import FIXTURES
from tests.analytics.registry_cohort import registry_cohort
from tests.analytics.test_labels import snake_case_words, workbook_texts
from tests.conftest import client_for

OPTIONAL = ("spline", "spline_tests", "rmst", "subgroup_forest")
SPEC = {
    "grouping": {"variable": "ics", "cutoff": 85},
    "spline": {"df": 3, "reference": 85},
    "rmst": {"tau": 1826},
    "subgroup_forest": ["vessel_revascularized", "index_treatment"],
}


@pytest.fixture(scope="module")
def result():
    return run_analysis(pd.read_csv(FIXTURES / "study_408.csv"), SPEC)


def test_the_data_tables_hold_the_stored_numbers_under_human_headers(result):
    tables = exports.result_tables(result)
    assert set(OPTIONAL) <= set(tables)

    spline = tables["spline"]
    assert spline.columns == ["ICS", "Hazard ratio (vs ICS 85)", "95% CI lower", "95% CI upper"]
    assert spline.rows == [[p["ics"], p["hr"], p["ci_lower"], p["ci_upper"]] for p in result["spline"]["curve"]]

    tests = tables["spline_tests"]
    assert tests.columns == ["Test", "Chi-square", "df", "p"]
    s = result["spline"]
    assert [row[1:] for row in tests.rows] == [
        [s["chisq_overall"], 3, s["p_overall"]],
        [s["chisq_nonlinear"], 2, s["p_nonlinear"]],
    ]

    rmst = tables["rmst"]
    assert rmst.columns == [
        "Group",
        "Patients",
        "RMST (days)",
        "SE (days)",
        "Difference vs ICS < 85 (days)",
        "95% CI lower",
        "95% CI upper",
    ]
    low, high = result["rmst"]["groups"]
    (difference,) = result["rmst"]["differences"]
    assert rmst.rows == [
        ["ICS < 85", low["n"], low["rmst"], low["se"], None, None, None],
        ["ICS ≥ 85", high["n"], high["rmst"], high["se"], *(difference[k] for k in ("difference", "ci_lower", "ci_upper"))],
    ]

    forest = tables["subgroup_forest"]
    assert forest.title == "Subgroups: hazard ratio of ICS ≥ 85 vs ICS < 85"
    assert forest.columns[:8] == ["Subgroup", "Level", "Patients", "Events", "HR", "95% CI lower", "95% CI upper", "p"]
    expected = [
        [
            dictionary.variable_label(v["variable"]),
            dictionary.level_label(v["variable"], level["level"]),
            level["n"],
            level["events"],
            level["hr"],
            level["ci_lower"],
            level["ci_upper"],
            level["p"],
            v["chisq_interaction"],
            v["df_interaction"],
            v["p_interaction"],
        ]
        for v in result["subgroup_forest"]["variables"]
        for level in v["levels"]
        if level["estimable"]
    ]
    assert [row[:11] for row in forest.rows if not str(row[4]).startswith("not estimable")] == expected
    assert forest.rows[0][:2] == ["Study vessel revascularized at index", "yes"]

    headers = [t.title for t in tables.values()] + [c for t in tables.values() for c in t.columns]
    assert snake_case_words(headers) == set()
    assert snake_case_words(str(c) for name in OPTIONAL for row in tables[name].rows for c in row) == set()


def test_the_manuscript_tables_print_them_as_the_study_does(result):
    tables = exports.publication_tables(result)
    assert set(OPTIONAL) - {"spline_tests"} <= set(tables)
    spline = tables["spline"]
    first = result["spline"]["curve"][0]
    assert spline.rows[0] == ["0", exports.estimate_ci_text(first["hr"], first["ci_lower"], first["ci_upper"])]
    assert any(f"p {exports.p_text(result['spline']['p_nonlinear'])}" in note for note in spline.footnotes)

    rmst = tables["rmst"]
    (difference,) = result["rmst"]["differences"]
    high = rmst.rows[1]
    assert high[0] == "ICS ≥ 85" and high[2] == exports.number_text(result["rmst"]["groups"][1]["rmst"], 1)
    assert high[-1] == exports.estimate_ci_text(
        difference["difference"], difference["ci_lower"], difference["ci_upper"], decimals=1
    )
    assert rmst.rows[0][-1] == "reference"

    forest = tables["subgroup_forest"]
    variable = result["subgroup_forest"]["variables"][0]
    assert forest.rows[0][0] == "Study vessel revascularized at index"
    assert forest.rows[0][-1] == exports.p_text(variable["p_interaction"])
    yes = variable["levels"][0]
    assert forest.rows[1][0] == "yes" and 1 in forest.indented
    assert forest.rows[1][3] == exports.estimate_ci_text(yes["hr"], yes["ci_lower"], yes["ci_upper"])


def test_a_level_without_an_hr_says_why_with_no_numbers():
    level = {"level": "CABG", "n": 12, "events": 0, "estimable": False, "note": "no events"}
    level |= dict.fromkeys(("coef", "se", "hr", "ci_lower", "ci_upper", "p"))
    assert safeguards.forest_level_text(level) == "not estimable (no events)"
    flagged = {**level, "events": 3, "hr": 3e8, "ci_lower": 0.0, "ci_upper": float("inf"), "p": 0.99}
    flagged["note"] = "not estimable (coefficient may be infinite)"
    assert safeguards.forest_level_text(flagged) == "not estimable (coefficient may be infinite)"
    result = {
        "spec": {"grouping": {"variable": "ics", "cutoff": 85}},
        "cutoffs": [85.0],
        "subgroup_forest": {
            "exposure": "ics_high",
            "variables": [
                {"variable": "index_treatment", "n": 12, "levels": [flagged]}
                | dict.fromkeys(("chisq_interaction", "df_interaction", "p_interaction"))
            ],
        },
    }
    (row,) = exports.subgroup_forest_table(result).rows
    assert row[4:8] == ["not estimable (coefficient may be infinite)", None, None, None]


# The downloads ------------------------------------------------------------------------------------


@pytest.fixture
def runs(db, investigator):
    registry_cohort(200, seed=11)
    with_all = analysis_run(spec={"endpoint": "poce", **SPEC}, user=investigator)
    plain = analysis_run(spec={"endpoint": "poce"}, user=investigator)
    # A stored run whose spline failed (the whole data's ICS reaches 503, this cohort's stays below
    # 100: the spec check passes, the fit cannot): null, with an analysis_failed warning.
    failed = analysis_run(spec={"endpoint": "poce"}, user=investigator)
    spec = {
        "cohort": {"filters": [{"field": "ics", "op": "le", "value": 100}]},
        "spline": {"df": 3, "reference": 300},
    }
    failed.result = json.loads(json.dumps(run_analysis(pd.read_csv(FIXTURES / "study_408.csv"), spec)))
    failed.save(update_fields=["result"])
    for run in (with_all, failed, plain):
        assert run.result is not None, run.error
    return with_all, failed, plain


def _csv(client, run, name) -> list[list[str]]:
    response = client.get(f"/analytics/runs/{run.pk}/tables/{name}.csv")
    assert response.status_code == 200, name
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_each_table_downloads_as_csv_and_in_both_workbooks(runs, investigator):
    run = runs[0]
    client = client_for(investigator)
    tables = exports.result_tables(run.result)
    for name in OPTIONAL:
        rows = _csv(client, run, name)
        assert rows[0] == tables[name].columns
        assert len(rows) == len(tables[name].rows) + 1
    curve = run.result["spline"]["curve"]
    assert _csv(client, run, "spline")[1] == [repr(curve[0][k]) for k in ("ics", "hr", "ci_lower", "ci_upper")]
    rmst = run.result["rmst"]
    assert _csv(client, run, "rmst")[2][2:] == [
        repr(rmst["groups"][1]["rmst"]),
        repr(rmst["groups"][1]["se"]),
        *(repr(rmst["differences"][0][k]) for k in ("difference", "ci_lower", "ci_upper")),
    ]

    content = client.get(f"/analytics/runs/{run.pk}/tables.xlsx").content
    assert snake_case_words(workbook_texts(content)) == set()  # also the "Analysis" sheet's spec in words
    book = load_workbook(io.BytesIO(content))
    assert {"ICS spline", "ICS spline tests", "RMST", "Subgroup forest"} <= set(book.sheetnames)
    sheet = book["ICS spline"]
    assert [c.value for c in sheet[2]] == tables["spline"].columns
    assert sheet.cell(row=3, column=2).value == pytest.approx(curve[0]["hr"], rel=1e-15)

    manuscript = client.get(f"/analytics/runs/{run.pk}/manuscript-tables.xlsx")
    assert {"ICS spline", "RMST", "Subgroup forest"} <= set(load_workbook(io.BytesIO(manuscript.content)).sheetnames)
    assert snake_case_words(workbook_texts(manuscript.content)) == set()
    analysis = dict(exports.about_rows(run.spec, run_id=run.pk, created="", data_hash="", versions={}))
    assert analysis["ICS spline"] == "natural cubic spline, 3 df, hazard ratios against ICS 85"
    assert analysis["Restricted mean survival time"] == "up to day 1826"
    assert analysis["Subgroup forest by"] == "Study vessel revascularized at index, Index treatment"

    page = client.get(f"/analytics/runs/{run.pk}/").content.decode()
    for name in OPTIONAL:
        assert f"/analytics/runs/{run.pk}/tables/{name}.csv" in page, name


def test_a_run_without_them_exports_the_rest(runs, investigator):
    _, failed, plain = runs
    client = client_for(investigator)
    assert failed.result["spline"] is None
    for run in (failed, plain):
        assert not set(OPTIONAL) & set(exports.result_tables(run.result))
        for name in OPTIONAL:
            assert client.get(f"/analytics/runs/{run.pk}/tables/{name}.csv").status_code == 404
        assert _csv(client, run, "cox")[0][0] == "Model"
        for url in ("tables.xlsx", "manuscript-tables.xlsx"):
            response = client.get(f"/analytics/runs/{run.pk}/{url}")
            assert response.status_code == 200, url
            sheets = load_workbook(io.BytesIO(response.content)).sheetnames
            assert not {"ICS spline", "RMST", "Subgroup forest"} & set(sheets) and "Analysis" in sheets
        page = client.get(f"/analytics/runs/{run.pk}/").content.decode()
        assert "tables/spline.csv" not in page and "tables/rmst.csv" not in page


# The figures at journal sizes ---------------------------------------------------------------------


def test_the_spline_figure_downloads_at_both_journal_sizes(result):
    from analytics import charts, charts_extra

    figure = charts_extra.spline_figure(result["spline"], filename="x")
    for size in charts.JOURNAL_SIZES:
        entry = figure["exports"][size.key]
        layout = entry["layout"]
        assert entry["width"] == size.width_px == layout["width"] and entry["width"] * entry["scale"] == pytest.approx(
            size.print_width_px
        )
        assert entry["width_mm"] == size.width_mm and layout["font"]["size"] == size.font_px
        assert layout["margin"]["l"] + layout["margin"]["r"] < size.width_px / 2
        assert layout["yaxis"]["type"] == "log" and layout["yaxis"]["ticktext"] == figure["layout"]["yaxis"]["ticktext"]
        assert layout["title"]["text"].startswith("p overall ")
    assert "width" not in figure["layout"]  # the page's chart stays responsive


def test_the_forest_figure_downloads_where_its_texts_leave_room_for_the_axis(result):
    from analytics import charts_extra

    forest = result["subgroup_forest"]
    figure = charts_extra.forest_figure(forest, cutoffs=[85.0], filename="x")
    entry = figure["exports"]["double"]
    layout = entry["layout"]
    assert layout["width"] - layout["margin"]["l"] - layout["margin"]["r"] >= charts_extra.MIN_FOREST_PLOT_PX
    assert [a["text"] for a in layout["annotations"]] == [a["text"] for a in figure["layout"]["annotations"]]
    assert layout["yaxis"]["ticktext"] == figure["layout"]["yaxis"]["ticktext"]
    # "yes (n = 321, events = 159)" and "p interaction = 0.869" leave no room for the axis in 85 mm.
    assert "single" not in figure["exports"]


def test_the_page_offers_the_spline_and_forest_figures_for_download(runs, investigator):
    run = runs[0]
    page = client_for(investigator).get(f"/analytics/runs/{run.pk}/").content.decode()
    spline = page.split('aria-label="Download the figure hazard ratio by ICS"')[1].split("</div>")[0]
    assert 'data-chart="chart-spline"' in spline and "PNG, single column (85 mm, 300 dpi)" in spline
    assert "SVG, double column (175 mm)" in spline
    forest = page.split('aria-label="Download the figure subgroup forest plot"')[1].split("</div>")[0]
    assert 'data-chart="chart-subgroup-forest"' in forest and "PNG, double column (175 mm, 300 dpi)" in forest
    assert "single column" not in forest


def test_the_spline_and_forest_figures_download_as_pdf(runs, investigator):
    run, failed, _ = runs
    client = client_for(investigator)
    for figure, sizes in (("spline", ("single", "double")), ("subgroup_forest", ("double",))):
        for size in sizes:
            pdf = client.get(f"/analytics/runs/{run.pk}/figures/{figure}.pdf?size={size}")
            assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf", (figure, size)
            assert pdf.content.startswith(b"%PDF") and f"-{figure}-{size}.pdf" in pdf["Content-Disposition"]
            width = float(re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)", pdf.content)[1])
            assert width == pytest.approx((85 if size == "single" else 175) / 25.4 * 72, abs=0.8)
    assert client.get(f"/analytics/runs/{run.pk}/figures/subgroup_forest.pdf?size=single").status_code == 404
    assert client.get(f"/analytics/runs/{failed.pk}/figures/spline.pdf").status_code == 404  # the spline failed
    page = client.get(f"/analytics/runs/{run.pk}/").content.decode()
    assert f"/analytics/runs/{run.pk}/figures/spline.pdf?size=single" in page
    assert f"/analytics/runs/{run.pk}/figures/subgroup_forest.pdf?size=double" in page
    assert "subgroup_forest.pdf?size=single" not in page


def test_the_pdfs_hold_the_figures_texts(result):
    from analytics import charts, charts_extra, figure_pdf

    pdftotext = shutil.which("pdftotext")
    spline = charts_extra.spline_figure(result["spline"], filename="x")
    forest = charts_extra.forest_figure(result["subgroup_forest"], cutoffs=[85.0], filename="x")
    double = charts.JOURNAL_SIZES[1]
    pdfs = [figure_pdf.spline_pdf(spline, size) for size in charts.JOURNAL_SIZES] + [figure_pdf.forest_pdf(forest, double)]
    assert all(pdf.startswith(b"%PDF") for pdf in pdfs)
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run([pdftotext, "-layout", "-", "-"], input=pdfs[0], capture_output=True, check=True).stdout.decode()
    assert "p overall" in text and "Hazard ratio" in text and "Reference (ICS 85)" in text
    text = subprocess.run([pdftotext, "-layout", "-", "-"], input=pdfs[2], capture_output=True, check=True).stdout.decode()
    assert "Study vessel revascularized at index" in text and "p interaction" in text
