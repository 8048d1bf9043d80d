"""The cohort builder's patient count follows the filters as they change, without a reload."""

from datetime import date

import pytest

from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import PatientFactory, SiteFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def test_the_live_count_follows_the_study_vessel_filter(page, live_server):  # noqa: F811
    site = SiteFactory(code="EMC")
    for i, vessel in enumerate(["LAD"] * 3 + ["RCA"] * 2):
        PatientFactory(study_id=f"ICS-{i:04d}", site=site, study_vessel=vessel, index_date=date(2015, 1, 1))
    UserFactory(username="kb-investigator", roles=["investigator"])
    _log_in(page, live_server, "kb-investigator")
    page.goto(f"{live_server.url}/analytics/")
    page.wait_for_function("() => document.getElementById('cohort-count-value').textContent.trim() === '5'")

    page.locator("input[name=study_vessel][value=RCA]").check()
    page.wait_for_function("() => document.getElementById('cohort-count-value').textContent.trim() === '2'")
    page.locator("input[name=study_vessel][value=LAD]").check()
    page.wait_for_function("() => document.getElementById('cohort-count-value').textContent.trim() === '5'")
    page.locator("input[name=study_vessel][value=RCA]").uncheck()
    page.wait_for_function("() => document.getElementById('cohort-count-value').textContent.trim() === '3'")
