"""Layout check (issue 14): the daily pages at 1400 and 768 px wide never widen the page beyond the
window (wide tables scroll inside their box). Headless Debian Chromium driven by Playwright."""

import os
import shutil
from datetime import date

import pytest

from followup import services as followup_services
from registry.models import Patient
from tests.factories import ContactFactory, EventFactory, IdentityFactory, PatientFactory, UserFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "pw-for-tests-only"
PAGES = [
    "/",
    "/patients/",
    "/worklist/",
    "/patients/ICS-0001/",
    "/followup/",
    "/followup/{wave}/",
    "/followup/requests/?show=all",
]


@pytest.fixture
def registry(site):
    for i in range(1, 13):
        patient = PatientFactory(study_id=f"ICS-{i:04d}", site=site, index_date=date(2016, 1, i), ics_imported=20.0 * i)
        IdentityFactory(patient=patient, name=f"Maria Antonia van den Berg-Oosterhuis {i}")
        ContactFactory(patient=patient, contact_date=date(2019, 3, i))
        EventFactory(patient=patient, event_type="mi", event_date=date(2018, 5, i), notes="a long note " * 10)
    coordinator = UserFactory(username="layout-coordinator", roles=["coordinator"])
    wave = followup_services.wave_create(
        user=coordinator, name="Autumn wave with a long name", patients=Patient.objects.all()
    )
    return {"wave": wave.pk}


def _log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "layout-coordinator")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


@pytest.mark.parametrize("width", [1400, 768])
def test_no_page_is_wider_than_the_window(live_server, registry, width, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        _log_in(page, live_server)
        too_wide = {}
        for path in PAGES:
            page.goto(live_server.url + path.format(**registry))
            page.wait_for_load_state("load")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                too_wide[path] = scroll_width
        browser.close()
    assert too_wide == {}
