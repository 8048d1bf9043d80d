"""A patient answers the online questionnaire on a phone (375 x 740, partly with the keyboard), and
a coordinator then verifies the heart attack they reported against the hospital's letter, which
closes the source-document request (headless Debian Chromium driven by Playwright)."""

import os
from datetime import date

import pytest
from django.utils import timezone

from followup import services
from followup.models import MemberStatus, RequestStatus, SourceDocumentRequest
from registry.models import ClinicalEvent, Patient
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.browser.test_keyboard import CHROMIUM, _choose, _log_in, _tab_to, page  # noqa: F401 - the page fixture
from tests.factories import IdentityFactory, PatientFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = {"width": 375, "height": 740}
NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= 375"


@pytest.fixture
def phone(page):  # noqa: F811
    """A phone-sized page in the same browser as `page` (which stays the coordinator's desktop)."""
    context = page.context.browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="en-US", timezone_id="Europe/Amsterdam"
    )
    context.add_init_script(RECORD_VIOLATIONS)
    yield context.new_page()
    context.close()


def _focused_id(browser_page) -> str:
    return browser_page.evaluate("() => document.activeElement && document.activeElement.id")


def test_a_patient_answers_on_a_phone_and_a_coordinator_verifies_the_reported_mi(page, phone, live_server, site):  # noqa: F811
    coordinator = UserFactory(username="kb-coordinator", roles=["coordinator"])
    patient = PatientFactory(study_id="ICS-0070", site=site, index_date=date(2015, 3, 2))
    IdentityFactory(patient=patient, name="Wilhelmina Vandersteen", hospital_number="MRN4455667")
    wave = services.wave_create(
        user=coordinator, name="2026 autumn", patients=Patient.objects.all(), today=timezone.localdate()
    )
    member = wave.members.get()
    mi_year = str(timezone.localdate().year - 1)

    # The patient opens the link from the letter.
    response = phone.goto(f"{live_server.url}/q/{member.token}/")
    assert response.status == 200
    assert phone.evaluate(NO_HORIZONTAL_SCROLL), phone.evaluate("() => document.documentElement.scrollWidth")
    body = phone.inner_text("body")
    assert "Have you had a heart attack" in body
    assert "ICS-0070" not in body and "Vandersteen" not in body and member.response_code not in body

    # With the keyboard: Tab to a question, Space or the arrow keys to answer, typing for the dates.
    _tab_to(phone, "#id_health_0")
    phone.keyboard.press("Space")  # "I am alive and well"
    _tab_to(phone, "#id_admissions_0")
    phone.keyboard.press("ArrowDown")  # moves to "No" and chooses it
    _tab_to(phone, "#id_chest_pain_0")
    phone.keyboard.press("ArrowDown")
    _tab_to(phone, "#id_mi_0")
    phone.keyboard.press("Space")  # "Yes"
    phone.keyboard.press("Tab")
    assert _focused_id(phone) == "id_mi_0_year"
    phone.keyboard.type(mi_year)
    phone.keyboard.press("Tab")
    _choose(phone, "March")
    _tab_to(phone, "#id_mi_0_hospital")
    phone.keyboard.type("Isala Zwolle")
    # The rest by touch; the bypass-surgery question is forgotten at first.
    for question in ("stroke", "pci"):
        phone.locator(f"label[for=id_{question}_1]").tap()
    assert phone.is_checked("#id_health_0") and phone.is_checked("#id_admissions_1") and phone.is_checked("#id_mi_0")
    with phone.expect_navigation():
        phone.locator("button[type=submit]").tap()

    # The mistake: the error summary at the top has the focus, and its link leads to the question.
    assert _focused_id(phone) == "error-summary"  # questionnaire.js ran under the CSP ...
    assert phone.evaluate("() => window.__cspViolations") == []  # ... and nothing was blocked
    assert "Have you had heart bypass surgery (CABG)? Please choose one answer." in phone.inner_text("#error-summary")
    assert phone.evaluate(NO_HORIZONTAL_SCROLL)
    phone.keyboard.press("Tab")
    phone.keyboard.press("Enter")
    assert _focused_id(phone) == "id_cabg_0"
    phone.keyboard.press("ArrowDown")  # "No"
    assert phone.is_checked("#id_cabg_1")
    assert phone.input_value("#id_mi_0_hospital") == "Isala Zwolle"  # what was typed is still there
    _tab_to(phone, "button[type=submit]")
    with phone.expect_navigation():
        phone.keyboard.press("Enter")

    assert phone.url == f"{live_server.url}/q/thanks/"
    assert "Thank you" in phone.inner_text("h1")
    assert phone.evaluate(NO_HORIZONTAL_SCROLL)
    member.refresh_from_db()
    assert member.status == MemberStatus.RETURNED

    # The coordinator, at a desk, finds the pending heart attack on the patient's page ...
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, live_server, "kb-coordinator")
    page.goto(f"{live_server.url}/patients/ICS-0070/")
    row = page.locator("tr.timeline-event", has_text="Myocardial infarction").filter(has_text="source: Questionnaire")
    assert row.count() == 1
    assert row.locator(".badge-pending").count() == 1
    # ... and verifies it against the hospital's letter on the event's verification page.
    event = ClinicalEvent.objects.get(patient=patient, event_type="mi")
    verify_url = f"/patients/ICS-0070/events/{event.pk}/verify/"
    assert row.locator(f"form[action='{verify_url}']").count() >= 1
    page.goto(f"{live_server.url}{verify_url}")
    page.select_option("#id_decision", label="Verified against source")
    page.fill("#id_source_document", f"Isala discharge letter {mi_year}-03-20")
    with page.expect_navigation():
        page.get_by_role("button", name="Save decision").click()

    event.refresh_from_db()
    assert (event.verification, event.source_document, event.event_date_precision) == (
        "verified",
        f"Isala discharge letter {mi_year}-03-20",
        "month",
    )
    assert event.verified_by == coordinator
    request = SourceDocumentRequest.objects.get(clinical_event=event)
    assert (request.status, request.hospital, request.document_reference) == (
        RequestStatus.CLOSED_VERIFIED,
        "Isala Zwolle",
        f"Isala discharge letter {mi_year}-03-20",
    )
    assert page.url.rstrip("/").endswith("/patients/ICS-0070")
