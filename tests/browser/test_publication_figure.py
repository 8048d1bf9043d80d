"""The Kaplan-Meier figure as a journal downloads it: run an analysis in the browser, download the
figure's SVG (single column) and find the numbers at risk of the result inside it, each centred
under its year's tick on the time axis; the PNG is 1004 pixels wide at 300 dpi (85 mm); and Tab
from the top of the page never stops on a Plotly toolbar button. The spline and the subgroup forest
download too (SVG in mm, PNG at 300 dpi, PDF), the forest only at the double column's width."""

import os
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from analytics import exports
from analytics.models import AnalysisRun
from tests.analytics.registry_cohort import registry_cohort
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SVG = "{http://www.w3.org/2000/svg}"
TRANSLATE = re.compile(r"translate\(\s*([-\d.e]+)(?:[ ,]+([-\d.e]+))?\s*\)")


def _texts(svg: ET.Element) -> list[tuple[str, float, float, list[str]]]:
    """Every <text> as (text, x, y, classes of it and its ancestors), x and y in the SVG's pixels
    after the translations around it (Plotly positions with translate() and x/y attributes)."""
    found = []

    def walk(element: ET.Element, dx: float, dy: float, classes: list[str]) -> None:
        for match in TRANSLATE.finditer(element.get("transform", "")):
            dx, dy = dx + float(match[1]), dy + float(match[2] or 0)
        classes = [*classes, *element.get("class", "").split()]
        if element.tag == f"{SVG}text":
            x, y = float(element.get("x", 0)), float(element.get("y", 0))
            found.append(("".join(element.itertext()).strip(), dx + x, dy + y, classes))
        for child in element:
            walk(child, dx, dy, classes)

    walk(svg, 0.0, 0.0, [])
    return found


def _run_in_the_browser(page, live_server) -> AnalysisRun:  # noqa: F811
    page.goto(f"{live_server.url}/analytics/")
    page.wait_for_function("() => document.getElementById('cohort-count-value').textContent.trim() !== '…'")
    with page.expect_navigation():
        page.get_by_role("button", name="Run the analysis").click()
    page.wait_for_selector("#chart-km .main-svg")
    return AnalysisRun.objects.latest("pk")


def test_the_downloaded_svg_holds_the_numbers_at_risk_under_the_ticks(page, live_server, tmp_path):  # noqa: F811
    registry_cohort(150, seed=7)
    UserFactory(username="fig-investigator", roles=["investigator"])
    _log_in(page, live_server, "fig-investigator")
    run = _run_in_the_browser(page, live_server)
    assert run.result is not None and run.spec["endpoint"] == "poce"
    at_risk = exports.at_risk_table(run.result)

    with page.expect_download() as download:
        page.get_by_role("button", name="SVG, single column (85 mm)").first.click()
    path = tmp_path / "km.svg"
    download.value.save_as(path)
    svg = ET.fromstring(path.read_text(encoding="utf-8"))  # noqa: S314 - our own page's figure, in a test
    assert svg.get("width") == "85mm"

    texts = _texts(svg)
    ticks = {text: x for text, x, _, classes in texts if "xtick" in classes}
    years = [column.removeprefix("Year ") for column in at_risk.columns[1:]]
    assert set(years) <= set(ticks), ticks
    notes = [(text, x, y) for text, x, y, classes in texts if "annotation" in classes]
    assert any(text == "Number at risk" for text, _, _ in notes)
    for label, *counts in at_risk.rows:
        # The row's label, left of the axis (at the median split the figure's short label is the full one).
        (row_y,) = [y for text, _, y in notes if text == label]
        row = sorted((x, text) for text, x, y in notes if abs(y - row_y) < 1 and text != label)
        assert [text for _, text in row] == [str(n) for n in counts], label
        for (x, _), year in zip(row, years, strict=True):
            assert x == pytest.approx(ticks[year], abs=1.5), (label, year)
    # Below the time axis (the labels are lower on the page: larger y).
    axis_y = max(y for _, _, y, classes in texts if "xtick" in classes)
    assert min(y for text, _, y in notes if text.isdigit()) > axis_y


def test_the_png_is_85_mm_at_300_dpi(page, live_server, tmp_path):  # noqa: F811
    registry_cohort(60, seed=8)
    UserFactory(username="fig-investigator", roles=["investigator"])
    _log_in(page, live_server, "fig-investigator")
    _run_in_the_browser(page, live_server)

    with page.expect_download() as download:
        page.get_by_role("button", name="PNG, single column (85 mm, 300 dpi)").first.click()
    png = Path(download.value.path()).read_bytes()
    width, _height = struct.unpack(">II", png[16:24])
    assert width == 1004  # 85 mm at 300 dpi
    chunk = png.index(b"pHYs")
    assert struct.unpack(">IIB", png[chunk + 4 : chunk + 13]) == (11811, 11811, 1)  # pixels per metre = 300 dpi


def test_tab_never_stops_on_a_plotly_toolbar_button(page, live_server):  # noqa: F811
    registry_cohort(60, seed=9)
    UserFactory(username="fig-investigator", roles=["investigator"])
    _log_in(page, live_server, "fig-investigator")
    run = _run_in_the_browser(page, live_server)
    page.goto(f"{live_server.url}/analytics/runs/{run.pk}/")
    page.wait_for_selector("#chart-km .main-svg")
    page.locator("#chart-km").hover()  # the toolbar is there (shown on hover), so the check means something
    assert page.locator("#chart-km .modebar-btn").count() > 0

    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen = []
    for _ in range(400):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? [e.tagName, e.className || '', e.textContent.trim().slice(0, 40), !!e.closest('.modebar')] : null; }"
        )
        assert focused is not None and not focused[3], focused
        if seen and focused == seen[0]:
            break  # round the page once
        seen.append(focused)
    assert any("SVG, single column" in f[2] for f in seen)  # our own downloads are reachable


def test_the_spline_and_forest_figures_download_at_journal_sizes(page, live_server, tmp_path):  # noqa: F811
    from analytics.services import analysis_run

    registry_cohort(150, seed=7)
    user = UserFactory(username="fig-investigator", roles=["investigator"])
    spec = {"endpoint": "poce", "grouping": {"variable": "ics", "cutoff": 85}, "spline": {"df": 3}}
    run = analysis_run(spec={**spec, "subgroup_forest": ["vessel_revascularized"]}, user=user)
    assert run.result is not None and run.result["spline"] and run.result["subgroup_forest"], run.error
    _log_in(page, live_server, "fig-investigator")
    page.goto(f"{live_server.url}/analytics/runs/{run.pk}/")
    page.wait_for_selector("#chart-spline .main-svg")
    page.wait_for_selector("#chart-subgroup-forest .main-svg")

    spline = page.get_by_role("group", name="Download the figure hazard ratio by ICS")
    with page.expect_download() as download:
        spline.get_by_role("button", name="SVG, single column (85 mm)").click()
    path = tmp_path / "spline.svg"
    download.value.save_as(path)
    svg = ET.fromstring(path.read_text(encoding="utf-8"))  # noqa: S314 - our own page's figure, in a test
    assert svg.get("width") == "85mm"
    texts = [text for text, *_ in _texts(svg)]
    assert any(t.startswith("p overall") for t in texts) and "Hazard ratio" in texts and "ICS" in texts
    assert download.value.suggested_filename == f"analysis-{run.pk}-ics-spline-single-column.svg"

    forest = page.get_by_role("group", name="Download the figure subgroup forest plot")
    assert forest.get_by_role("button", name="PNG, single column (85 mm, 300 dpi)").count() == 0
    with page.expect_download() as download:
        forest.get_by_role("button", name="PNG, double column (175 mm, 300 dpi)").click()
    png = Path(download.value.path()).read_bytes()
    assert struct.unpack(">II", png[16:24])[0] == 2067  # 175 mm at 300 dpi
    pdf = page.request.get(f"{live_server.url}/analytics/runs/{run.pk}/figures/subgroup_forest.pdf?size=double")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
