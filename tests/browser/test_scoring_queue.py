"""The scoring queue follows the workers by itself: a run that starts and moves on shows its new
state and progress without a reload, and a run that finishes leaves the list."""

import os

import pytest

from scoring.models import ScoringRun
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import PatientFactory, UserFactory
from tests.scoring.pullback_files import make_pullback

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_the_queue_updates_itself_while_runs_move(page, live_server, site):  # noqa: F811
    UserFactory(username="kb-coordinator", roles=["coordinator"])
    first = make_pullback(PatientFactory(study_id="ICS-0901", site=site), ics=None)
    second = make_pullback(PatientFactory(study_id="ICS-0902", site=site), ics=None)
    runs = [ScoringRun.objects.create(pullback=p, model_name="default", status="queued") for p in (first, second)]
    _log_in(page, live_server, "kb-coordinator")
    page.goto(f"{live_server.url}/pullbacks/queue/")
    rows = page.locator("table.scoring-queue tbody tr")
    assert rows.count() == 2 and rows.nth(0).locator("td").nth(6).inner_text() == "Queued"
    page.evaluate("() => { window.__notReloaded = true; }")

    ScoringRun.objects.filter(pk=runs[0].pk).update(status="running", progress_percent=60)
    page.wait_for_function(
        "() => { const c = document.querySelectorAll('table.scoring-queue tbody tr')[0].querySelectorAll('td');"
        " return c[6].textContent.trim() === 'Scoring' && c[7].textContent.trim().endsWith('60%'); }"
    )
    ScoringRun.objects.filter(pk=runs[0].pk).update(status="succeeded", progress_percent=100)
    page.wait_for_function("() => document.querySelectorAll('table.scoring-queue tbody tr').length === 1")
    assert rows.nth(0).locator("td").nth(1).inner_text() == f"#{second.pk}"
    assert page.evaluate("() => window.__notReloaded") is True  # updated in place, not reloaded
    ScoringRun.objects.filter(pk=runs[1].pk).update(status="failed")
    page.wait_for_selector("text=Nothing is waiting to be scored.")
