"""The data dictionary (analytics.dictionary) names everything a reader sees: the result page,
the CSV and XLSX downloads and the API's `label` fields of a real analysis carry no internal
variable name (snake_case such as age_at_index, ics_high, prior_cabg), and the workbook's
"Analysis" sheet is rows of words, not a Python dict."""

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook

from analytics import dictionary, exports, variables
from analytics.services import analysis_run
from registry.models import IcsSource, IndexTreatment, Presentation, Sex, Vessel
from registry.selectors import analysis_columns
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for

SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
# Figure keys whose text a reader sees (titles, axis titles, legend entries, annotations, category ticks).
SHOWN_FIGURE_KEYS = {"text", "name", "ticktext"}


def snake_case_words(texts) -> set[str]:
    """The snake_case words in `texts` (internal names: every analysis variable and term has one)."""
    return {word for text in texts for word in SNAKE_CASE.findall(str(text))}


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes outside <script>/<style>, and aria-label/title/alt."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._open: list[bool] = []  # per open element: whether its text is left out

    def handle_starttag(self, tag, attrs):
        hidden = tag in ("script", "style") or (bool(self._open) and self._open[-1])
        if not hidden:
            self.texts += [value or "" for name, value in attrs if name in ("aria-label", "title", "alt")]
        if tag not in VOID:
            self._open.append(hidden)

    def handle_endtag(self, tag):
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        if not (self._open and self._open[-1]):
            self.texts.append(data)


def visible_texts(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.texts


def figure_texts(html: str) -> list[str]:
    """The shown texts of every Plotly figure on the page (the analysis-figures JSON block)."""
    block = re.search(r'<script id="analysis-figures" type="application/json">(.*?)</script>', html, re.S)
    assert block, "the page has no figures"
    found: list[str] = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            if key == "y" and value and all(isinstance(v, str) for v in value):
                found.extend(value)  # a category axis: its values are its tick labels
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in SHOWN_FIGURE_KEYS:
            found.append(value)

    figures = json.loads(block[1])
    for figure in figures.values():
        walk({"data": figure["data"], "layout": figure["layout"], "exports": figure.get("exports", {})})
    return found


def api_labels(value) -> list[str]:
    """Every label field of an API result: label, title, endpoint_label, exposure_label, level_labels, test_label."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("label", "title", "endpoint_label", "exposure_label", "test_label") and isinstance(v, str):
                found.append(v)
            elif k == "level_labels":
                found += [str(x) for x in v]
            else:
                found += api_labels(v)
    elif isinstance(value, list):
        for v in value:
            found += api_labels(v)
    return found


def workbook_texts(content: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(content))
    return [*book.sheetnames, *[c.value for s in book for row in s.iter_rows() for c in row if isinstance(c.value, str)]]


@pytest.fixture
def runs(db, investigator):
    registry_cohort(200, seed=11)
    by_median = analysis_run(
        spec={
            "endpoint": "tvr",
            "subgroup": "vessel_revascularized",
            "cohort": {"filters": [{"field": "ics", "op": "is_missing", "value": False}]},
        },
        user=investigator,
    )
    by_tertile = analysis_run(
        spec={
            "endpoint": "poce",
            "grouping": {"variable": "ics", "cutoff": "tertiles"},
            # The optional analyses' tables too (issue 13): spline, RMST, subgroup forest.
            "spline": {"df": 3},
            "rmst": {},
            "subgroup_forest": ["vessel_revascularized", "index_treatment"],
        },
        user=investigator,
    )
    return [by_median, by_tertile]


def test_no_internal_name_on_the_result_page_in_the_downloads_or_in_the_api_labels(runs, investigator):
    client = client_for(investigator)
    for run in runs:
        assert run.result is not None, run.error
        page = client.get(f"/analytics/runs/{run.pk}/").content.decode()
        report = client.get(f"/analytics/runs/{run.pk}/report/").content.decode()
        assert snake_case_words(visible_texts(page)) == set(), run.spec
        assert snake_case_words(visible_texts(report)) == set(), run.spec
        assert snake_case_words(figure_texts(page)) == set(), run.spec

        for name in exports.result_tables(run.result):
            text = client.get(f"/analytics/runs/{run.pk}/tables/{name}.csv").content.decode()
            rows = list(csv.reader(io.StringIO(text)))
            # The header, and every text cell (the group, model, variable and warnings columns).
            cells = [c for row in rows for c in row if not re.fullmatch(r"[-+.e\d]*", c)]
            assert snake_case_words(cells) == set(), (name, run.spec)
        for url in (f"/analytics/runs/{run.pk}/tables.xlsx", f"/analytics/runs/{run.pk}/manuscript-tables.xlsx"):
            assert snake_case_words(workbook_texts(client.get(url).content)) == set(), url

        body = client.get(f"/api/analyses/{run.pk}/").json()
        labels = api_labels(body["result"])
        assert snake_case_words([body["title"], *labels]) == set(), run.spec
        assert len(labels) > 20  # not vacuous: groups, terms, Table 1 rows, subgroups all carry one


def test_the_page_names_the_run_and_its_groups_in_words(runs, investigator):
    by_median, by_tertile = runs
    page = client_for(investigator).get(f"/analytics/runs/{by_median.pk}/").content.decode()
    cut = by_median.result["cutoffs_display"][0]
    title = (
        "Target-vessel revascularization, 2191 days (6.0 years), ICS split at the cohort median, "
        "subgroups by study vessel revascularized at index; cohort: ICS recorded"
    )
    assert title in page
    assert "ics is_missing" not in page and "ICS recorded" in page
    assert f"ICS &lt; {cut}" in page and f"ICS ≥ {cut}" in page
    assert "Study vessel revascularized at index: yes" in page
    tertiles = client_for(investigator).get(f"/analytics/runs/{by_tertile.pk}/").content.decode()
    first = by_tertile.result["cutoffs_display"][0]
    assert f"ICS tertile 1 (&lt; {first})" in tertiles and "Tertile 1" in tertiles


def test_the_analysis_sheet_is_rows_of_words(runs, investigator):
    run = runs[0]
    content = client_for(investigator).get(f"/analytics/runs/{run.pk}/tables.xlsx").content
    sheet = load_workbook(io.BytesIO(content))["Analysis"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Item", "Value"]
    items = dict((r[0], r[1]) for r in rows[1:])
    assert items["Endpoint"] == "Target-vessel revascularization"
    assert items["Groups"] == "ICS split at the cohort median"
    assert items["Cohort"] == "ICS recorded"
    assert items["Subgroups by"] == "Study vessel revascularized at index"
    assert (
        items["Covariates of the adjusted models"]
        == "Age (years), Presentation with ACS, eGFR (ml/min/1.73 m²), Diabetes mellitus, Previous CABG"
    )
    assert all(len(r) == 2 and isinstance(r[1], str) for r in rows)
    assert not any("{" in r[1] or "[" in r[1] or "'" in r[1] for r in rows[1:])


def test_every_analysis_name_has_an_entry():
    names = {c for c in analysis_columns() if not c.endswith(("_days", "_status"))} | set(variables.DERIVED_INDICATORS)
    names |= set(variables.COVARIATES) if hasattr(variables, "COVARIATES") else set()
    names |= set(variables.SUBGROUP_VARIABLES) | set(variables.CATEGORICAL) | set(variables.TABLE2_VARIABLES)
    assert names - set(dictionary.VARIABLES) == set()
    assert set(variables.ENDPOINTS) == set(dictionary.ENDPOINTS)


def test_the_dictionary_speaks_as_the_issue_asks():
    assert dictionary.variable_label("age_at_index") == "Age (years)"
    assert dictionary.variable_label("egfr") == "eGFR (ml/min/1.73 m²)"
    assert dictionary.variable_label("diabetes") == "Diabetes mellitus"
    assert dictionary.term_label("ics_high", cutoffs=[85.0]) == "ICS ≥ 85"
    assert dictionary.term_label("ics_per_100") == "ICS (per 100 units)"
    assert dictionary.group_label("low", cutoffs=[85.0]) == "ICS < 85"
    cuts = [59.99999999999999, 141.99999999999994]  # type 7 tertiles as the issue saw them
    assert [dictionary.group_label(k, cutoffs=cuts) for k in ("t1", "t2", "t3")] == [
        "ICS tertile 1 (< 60)",
        "ICS tertile 2 (60 to < 142)",
        "ICS tertile 3 (≥ 142)",
    ]
    assert dictionary.term_label("group_t2", cutoffs=cuts) == "ICS tertile 2 (60 to < 142)"
    assert dictionary.endpoint_label("poce") == "POCE"
    assert dictionary.endpoint_label("tvr") == "Target-vessel revascularization"
    assert dictionary.group_label("True", variable="diabetes") == "Diabetes mellitus: yes"
    assert dictionary.filter_text({"field": "ics", "op": "is_missing", "value": False}) == "ICS recorded"


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("sex", Sex),
        ("presentation", Presentation),
        ("index_treatment", IndexTreatment),
        ("study_vessel", Vessel),
        ("ics_source", IcsSource),
    ],
)
def test_category_levels_are_the_registry_choices(name, choices):
    levels = dict(dictionary.VARIABLES[name].levels)
    expected = dict(choices.choices)
    # The analysis says "Conservative" where the registry's form says it too; keys must match exactly.
    assert set(levels) == set(expected)
    assert {k: v for k, v in levels.items() if v != expected[k]} == {}


def test_the_cohort_builder_offers_variables_by_their_labels(db, investigator):
    page = client_for(investigator).get("/analytics/").content.decode()
    assert snake_case_words(visible_texts(page)) == set()
    for label in ("Age (years)", "Target-vessel revascularization", "Study vessel revascularized at index", "Previous CABG"):
        assert label in page, label
