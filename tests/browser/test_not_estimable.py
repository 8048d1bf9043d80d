"""An HR that cannot be estimated, in the browser (issue 13): run an analysis of TVR split at ICS 85
in a registry where no patient below 85 had a revascularization, and find "not estimable (no
events in ICS < 85)" where the HR would be, its warning behind the marker next to it, the row left
out of the forest plot with a note, and an x axis of plain numbers (no "10μ")."""

import os

import pytest

from analytics.models import AnalysisRun
from tests.analytics.test_safeguards import _registry_without_tvr_below
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_not_estimable_is_shown_next_to_the_hr_with_its_warning(page, live_server):  # noqa: F811
    _registry_without_tvr_below(85)
    UserFactory(username="safe-investigator", roles=["investigator"])
    _log_in(page, live_server, "safe-investigator")
    page.goto(f"{live_server.url}/analytics/")
    page.select_option("select[name=endpoint]", "tvr")
    page.select_option("select[name=cutoff]", "number")
    page.fill("input[name=cutoff_value]", "85")
    with page.expect_navigation():
        page.get_by_role("button", name="Run the analysis").click()
    page.wait_for_selector("#chart-hr .main-svg")
    run = AnalysisRun.objects.latest("pk")
    assert run.spec["endpoint"] == "tvr" and run.spec["grouping"]["cutoff"] == 85

    # Table 3: the first model row's univariable HR cell says why, and its marker holds the warning.
    cell = page.locator("#table-cox td", has_text="not estimable (no events in ICS < 85)").first
    assert cell.is_visible()
    marker = cell.locator("details.warning-marker")
    assert not marker.locator("li").first.is_visible()
    marker.locator("summary").click()
    warning = marker.locator("li", has_text="ICS ≥ 85: Loglik converged before variable 1; coefficient may be infinite")
    assert warning.is_visible()
    assert "no events in ICS < 85" in marker.inner_text()

    # The forest plot: the row left out, said so under the plot; ticks read as ordinary numbers.
    left_out = page.locator("#hr-left-out").inner_text()
    assert "ICS ≥ 85 (univariable): not estimable (no events in ICS < 85)" in left_out
    ticks = page.locator("#chart-hr .xtick text").all_text_contents()
    assert ticks and "1" in ticks
    assert not any("μ" in t or "m" in t or "k" in t for t in ticks), ticks
    assert "ICS ≥ 85 (univariable)" not in page.locator("#chart-hr .ytick text").all_text_contents()
    assert "Left out:" in page.locator("#chart-hr .annotation-text").first.text_content()

    # The warnings listed with the result: no events in the group, in words.
    assert "no events in ICS < 85" in page.locator(".result-warnings").first.inner_text()
