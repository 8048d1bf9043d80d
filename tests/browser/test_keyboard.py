"""Keyboard-only use in a real browser (headless Debian Chromium driven by Playwright): log in,
record a follow-up contact and verify an event without touching the mouse."""

import os
import shutil
from datetime import date

import pytest

from registry.models import ClinicalEvent, FollowUpContact
from tests.factories import EventFactory, PatientFactory, UserFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
# Playwright's sync API runs an event loop in this thread; the ORM calls below are plain sync code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            env={**os.environ, "LANG": "en_US.UTF-8", "LANGUAGE": "en_US"},  # date inputs: mm/dd/yyyy
            args=[
                "--lang=en-US",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        context = browser.new_context(locale="en-US", timezone_id="Europe/Amsterdam")
        yield context.new_page()
        browser.close()


def _tab_to(page, selector: str, max_tabs: int = 25) -> None:
    """Press Tab until the element matching `selector` has focus: it must be reachable by keyboard."""
    for _ in range(max_tabs):
        if page.evaluate("(sel) => document.activeElement === document.querySelector(sel)", selector):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} is not reachable with the Tab key")


def _choose(page, label: str, max_steps: int = 12) -> None:
    """Pick an option of the focused <select> with the arrow keys."""
    page.keyboard.press("Home")
    for _ in range(max_steps):
        if page.evaluate("() => document.activeElement.selectedOptions[0].label") == label:
            return
        page.keyboard.press("ArrowDown")
    pytest.fail(f"option {label!r} not reachable with the arrow keys")


def _goto_focused(page, url: str, element_id: str) -> None:
    """Open a page and wait until autofocus has put the cursor in `element_id`."""
    page.goto(url)
    page.wait_for_function("(id) => document.activeElement && document.activeElement.id === id", arg=element_id)


def _log_in(page, live_server, username: str) -> None:
    _goto_focused(page, f"{live_server.url}/accounts/login/", "id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_coordinator_records_a_contact_with_the_keyboard_only(page, live_server, site):
    UserFactory(username="kb-coordinator", roles=["coordinator"])
    patient = PatientFactory(study_id="ICS-0042", site=site, index_date=date(2015, 3, 2))
    _log_in(page, live_server, "kb-coordinator")
    # Signed in by keyboard alone, on the home dashboard with today's work.
    assert page.url == f"{live_server.url}/" and page.get_by_role("heading", name="Today's work").is_visible()

    _goto_focused(page, f"{live_server.url}/patients/ICS-0042/contacts/new/", "id_contact_date")
    page.keyboard.type("06012017", delay=20)  # en-US date input: mm/dd/yyyy
    _tab_to(page, "#id_method")
    _choose(page, "Phone")
    _tab_to(page, "#id_vital_status")
    _choose(page, "Alive")
    _tab_to(page, "form.form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    contact = FollowUpContact.objects.get(patient=patient)
    assert (contact.contact_date, contact.method, contact.vital_status) == (date(2017, 6, 1), "phone", "alive")
    assert "ICS-0042" in page.url
    assert "2017-06-01" in page.inner_text("body")


def test_a_validation_error_is_shown_next_to_the_field(page, live_server, site):
    UserFactory(username="kb-coordinator", roles=["coordinator"])
    PatientFactory(study_id="ICS-0043", site=site, index_date=date(2015, 3, 2))
    _log_in(page, live_server, "kb-coordinator")
    _goto_focused(page, f"{live_server.url}/patients/ICS-0043/contacts/new/", "id_contact_date")
    page.keyboard.type("01012015", delay=20)  # before the index date
    _tab_to(page, "#id_method")
    _choose(page, "Phone")
    _tab_to(page, "form.form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "2015-01-01 is before the index date 2015-03-02" in page.inner_text("form.form")
    assert FollowUpContact.objects.count() == 0


def test_one_click_verification_from_the_worklist_by_keyboard(page, live_server, site):
    UserFactory(username="kb-coordinator", roles=["coordinator"])
    patient = PatientFactory(study_id="ICS-0044", site=site, index_date=date(2015, 3, 2))
    event = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10), verification="pending")
    _log_in(page, live_server, "kb-coordinator")
    page.goto(f"{live_server.url}/worklist/")
    field = page.locator("input[name=source_document]").first
    field.focus()
    page.keyboard.type("discharge letter 2016-05-12")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    event = ClinicalEvent.objects.get(pk=event.pk)
    assert (event.verification, event.source_document) == ("verified", "discharge letter 2016-05-12")
    assert event.verified_by.username == "kb-coordinator"


def test_the_first_tab_offers_a_skip_past_the_menu_and_the_help_opens_by_keyboard(page, live_server, site):
    UserFactory(username="kb-clinician", roles=["clinician"])
    PatientFactory(study_id="ICS-0043", site=site, ics_imported=120.0)
    _log_in(page, live_server, "kb-clinician")
    page.goto(f"{live_server.url}/patients/ICS-0043/")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("() => document.activeElement.className") == "skip-link" and skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # The "?" next to the ICS opens its explanation with the keyboard, and closes again.
    _tab_to(page, "#help-ics summary")
    assert not page.locator("#help-ics .help-tip-text").is_visible()
    page.keyboard.press("Enter")
    assert page.locator("#help-ics .help-tip-text").is_visible()
    assert "calcium" in page.inner_text("#help-ics .help-tip-text")
    page.keyboard.press("Enter")
    assert not page.locator("#help-ics .help-tip-text").is_visible()
