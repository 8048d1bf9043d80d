"""The progress bar of a background job follows the job and the page shows the result when it
has finished (static/js/progress.js, here on the import page)."""

import pytest

from registry.models import ImportJob
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def test_the_import_page_follows_the_job_and_shows_its_summary(page, live_server):  # noqa: F811
    user = UserFactory(username="kb-coordinator", roles=["coordinator"])
    job = ImportJob.objects.create(
        created_by=user, status="running", progress_percent=40, patients_file="imports/patients.csv"
    )
    _log_in(page, live_server, "kb-coordinator")
    page.goto(f"{live_server.url}/import/{job.pk}/")
    assert page.locator("#import-progress").get_attribute("value") == "40"

    ImportJob.objects.filter(pk=job.pk).update(progress_percent=70)
    page.wait_for_function("() => document.getElementById('import-progress').value === 70", timeout=10_000)
    assert page.inner_text("#import-percent") == "70%"

    ImportJob.objects.filter(pk=job.pk).update(status="succeeded", progress_percent=100, summary={"patients_created": 12})
    page.wait_for_selector("ul.import-summary", timeout=10_000)  # the page reloaded with the result
    assert page.inner_text("ul.import-summary") == "12 patients created"
    assert page.locator("#import-job").get_attribute("data-done") == "true"
