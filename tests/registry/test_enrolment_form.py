"""The long registry forms: enrolment cross-checks the age at index against the date of birth,
labels read as people write them, and errors are summarised at the top of the form, each linked
to its field, with a script that moves the focus there."""

import os
import re
import shutil
from datetime import date

import pytest
from django.core.exceptions import ValidationError

from registry import services
from registry.models import Patient
from registry.rules import age_birth_mismatch
from tests.conftest import client_for


def _enrolment(site, **changes) -> dict:
    data = {
        "study_id": "ICS-0001",
        "site": site.pk,
        "sex": "F",
        "age_at_index": "65",
        "index_date": "2015-03-02",
        "date_of_birth": "1950-01-31",  # 65 on the index date
        "egfr": "78",
    }
    return {**data, **changes}


def _summary(html: str) -> str:
    match = re.search(r'<div class="error-summary" id="error-summary" role="alert" tabindex="-1".*?</div>', html, re.S)
    assert match, "no error summary"
    return match.group(0)


# Age at index against the date of birth ---------------------------------------------------------


@pytest.mark.parametrize("age", ["65", "64.2", "66", "65.9"])
def test_an_age_within_a_year_of_the_date_of_birth_is_accepted(coordinator, site, age):
    response = client_for(coordinator).post("/patients/new/", _enrolment(site, age_at_index=age))

    assert response.status_code == 302
    assert Patient.objects.get().age_at_index == float(age)


@pytest.mark.parametrize(("age", "shown"), [("70", "70"), ("63.5", "63.5"), ("18", "18")])
def test_an_age_that_does_not_fit_the_date_of_birth_is_refused_naming_both(coordinator, site, age, shown):
    response = client_for(coordinator).post("/patients/new/", _enrolment(site, age_at_index=age))

    assert response.status_code == 200 and not Patient.objects.exists()
    assert response.context["form"].errors["age_at_index"] == [
        f"Age at index {shown} does not match the date of birth 1950-01-31: on the index date 2015-03-02 the "
        "patient was 65. Correct one of them, or leave the age empty to compute it from the date of birth."
    ]


def test_without_an_age_it_is_computed_from_the_date_of_birth(coordinator, site):
    response = client_for(coordinator).post("/patients/new/", _enrolment(site, age_at_index=""))

    assert response.status_code == 302
    assert Patient.objects.get().age_at_index == pytest.approx(65.08, abs=0.01)


def test_without_a_date_of_birth_any_valid_age_is_accepted(coordinator, site):
    response = client_for(coordinator).post("/patients/new/", _enrolment(site, age_at_index="80", date_of_birth=""))

    assert response.status_code == 302


def test_a_date_of_birth_after_the_index_date_gets_the_rule_not_the_age_check(coordinator, site):
    response = client_for(coordinator).post("/patients/new/", _enrolment(site, date_of_birth="2016-01-01"))

    errors = response.context["form"].errors
    assert "age_at_index" not in errors
    assert errors["date_of_birth"] == ["must be before the index date"]


@pytest.mark.parametrize(
    ("age", "born", "index", "mismatch"),
    [
        (65.0, date(1950, 1, 31), date(2015, 3, 2), False),
        (66.08, date(1950, 1, 31), date(2015, 3, 2), False),  # 65.08 + 1
        (66.2, date(1950, 1, 31), date(2015, 3, 2), True),
        (63.9, date(1950, 1, 31), date(2015, 3, 2), True),
        (None, date(1950, 1, 31), date(2015, 3, 2), False),
        (70.0, None, date(2015, 3, 2), False),
        (70.0, date(1950, 1, 31), None, False),
    ],
)
def test_age_birth_mismatch(age, born, index, mismatch):
    assert bool(age_birth_mismatch(age_at_index=age, date_of_birth=born, index_date=index)) is mismatch


@pytest.mark.django_db
def test_a_later_edit_of_the_age_or_the_date_of_birth_is_checked_too(site, coordinator):
    from tests.factories import IdentityFactory, PatientFactory

    patient = PatientFactory(site=site, age_at_index=65.0, index_date=date(2015, 3, 2))
    IdentityFactory(patient=patient, date_of_birth=date(1950, 1, 31))
    with pytest.raises(ValidationError) as age_error:
        services.patient_update(user=coordinator, patient=patient, data={"age_at_index": 72.0}, reason="typo")
    assert age_error.value.message_dict["age_at_index"] == [
        "Age at index 72 does not match the date of birth 1950-01-31: on the index date 2015-03-02 the patient was 65. "
        "Correct one of them, or leave the age empty to compute it from the date of birth."
    ]
    with pytest.raises(ValidationError) as birth_error:
        services.identity_set(user=coordinator, patient=patient, data={"date_of_birth": date(1940, 1, 31)}, reason="x")
    assert birth_error.value.message_dict["date_of_birth"][0].startswith(
        "Age at index 65 does not match the date of birth 1940-01-31"
    )
    patient.refresh_from_db()
    assert patient.age_at_index == 65.0 and patient.identity.date_of_birth == date(1950, 1, 31)  # nothing half-written
    services.patient_update(
        user=coordinator, patient=patient, data={"age_at_index": 65.5}, reason="exact age"
    )  # within a year


# Labels ------------------------------------------------------------------------------------------


def test_labels_are_written_as_people_write_them(coordinator):
    html = client_for(coordinator).get("/patients/new/").content.decode()

    assert '<label for="id_egfr">eGFR (ml/min/1.73 m²):</label>' in html
    assert "EGFR" not in html
    assert '<label for="id_age_at_index">Age at index (years):</label>' in html
    assert '<label for="id_study_id">Study ID:</label>' in html


def test_the_model_says_the_unit_of_egfr():
    assert Patient._meta.get_field("egfr").verbose_name == "eGFR (ml/min/1.73 m²)"


# The error summary -------------------------------------------------------------------------------


def test_a_long_form_with_errors_summarises_them_at_the_top_linked_to_their_fields(coordinator, site):
    response = client_for(coordinator).post(
        "/patients/new/", _enrolment(site, study_id="", egfr="250", index_date="", age_at_index="70")
    )

    html = response.content.decode()
    summary = _summary(html)
    assert html.index('id="error-summary"') < html.index("<fieldset>")  # before the first field
    assert '<a href="#id_study_id">Study ID: This field is required.</a>' in summary
    assert '<a href="#id_index_date">Index procedure date: This field is required.</a>' in summary
    # Every link goes to a field of the form.
    for target in re.findall(r'href="#([^"]+)"', summary):
        assert f'id="{target}"' in html
    assert "js/form_errors.js" in html


def test_a_service_error_is_in_the_summary_and_next_to_its_field(coordinator, site):
    response = client_for(coordinator).post("/patients/new/", _enrolment(site, egfr="250"))

    summary = _summary(response.content.decode())
    assert '<a href="#id_egfr">eGFR (ml/min/1.73 m²): must be between 0 and 200 ml/min (got 250)</a>' in summary
    assert response.context["form"].errors["egfr"] == ["must be between 0 and 200 ml/min (got 250)"]


def test_the_age_check_is_in_the_summary(coordinator, site):
    summary = _summary(client_for(coordinator).post("/patients/new/", _enrolment(site, age_at_index="70")).content.decode())

    assert '<a href="#id_age_at_index">Age at index (years): Age at index 70 does not match' in summary


def test_a_form_without_errors_has_no_summary_and_no_script(coordinator):
    html = client_for(coordinator).get("/patients/new/").content.decode()

    assert "error-summary" not in html and "form_errors.js" not in html


def test_a_stale_edit_lists_what_changed_in_the_summary_once(coordinator, patient):
    client = client_for(coordinator)
    data = {
        "study_id": patient.study_id,
        "site": patient.site_id,
        "index_date": patient.index_date.isoformat(),
        "egfr": "50",
        "reason": "lab value corrected",
        "version": patient.version,
    }
    Patient.objects.filter(pk=patient.pk).update(version=patient.version + 1, egfr=33.0)

    html = client.post(f"/patients/{patient.study_id}/edit/", data).content.decode()

    summary = _summary(html)
    assert "eGFR (ml/min/1.73 m²): you submitted 50.0, it is now 33.0." in summary
    assert html.count("you submitted 50.0") == 1


def test_the_follow_up_forms_have_the_summary_without_repeating_form_errors(coordinator, patient):
    client = client_for(coordinator)

    html = client.post(f"/patients/{patient.study_id}/contacts/new/", {"contact_date": ""}).content.decode()

    summary = _summary(html)
    assert '<a href="#id_contact_date">Contact date:' in summary and '<a href="#id_method">Method:' in summary
    assert '<div class="errors" role="alert">' not in html
    assert "js/form_errors.js" in html


def test_the_script_focuses_the_summary_and_its_links_focus_their_fields(settings):
    from pathlib import Path

    script = (Path(settings.BASE_DIR) / "static" / "js" / "form_errors.js").read_text()

    assert 'getElementById("error-summary")' in script and "summary.focus()" in script
    assert "field.focus(" in script


# In a browser ------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_in_a_browser_the_summary_takes_the_focus_and_its_links_move_it_to_the_field(live_server, site):
    from playwright.sync_api import sync_playwright

    from tests.factories import UserFactory

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    UserFactory(username="form-coordinator", roles=["coordinator"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(locale="en-US").new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "form-coordinator")
        page.fill("#id_password", "pw-for-tests-only")
        with page.expect_navigation():
            page.press("#id_password", "Enter")
        page.goto(f"{live_server.url}/patients/new/")
        page.select_option("#id_site", str(site.pk))
        page.fill("#id_egfr", "250")  # a service error, after the browser's own checks pass
        page.fill("#id_study_id", "ICS-0900")
        page.fill("#id_index_date", "2015-03-02")
        with page.expect_navigation():
            page.click("form.form button[type=submit]")

        focused = page.evaluate("() => document.activeElement.id")
        summary_top = page.evaluate("() => document.getElementById('error-summary').getBoundingClientRect().top")
        page.click("#error-summary a[href='#id_egfr']")
        after_click = page.evaluate("() => document.activeElement.id")
        browser.close()

    assert focused == "error-summary"
    assert 0 <= summary_top < 800  # on screen, not below the fold of a long form
    assert after_click == "id_egfr"
