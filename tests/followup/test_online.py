"""The patient's online questionnaire at /q/<token>/: no login, the link is the key, and the pages
show nothing of any patient; a link that is not "ok" gets a polite page (404 unknown, 410 used,
expired or closed); guessing is throttled per address; the answers become what a paper return does."""

import logging
import re
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from followup import public_views, services
from followup.models import MemberStatus, QuestionnaireResponse, ReportedEvent, RequestStatus, SourceDocumentRequest
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient
from tests.factories import IdentityFactory, PatientFactory, assert_no_external_assets

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 15)
NO_TO_THE_REST = dict.fromkeys(["admissions", "chest_pain", "stroke", "pci", "cabg"], "no")
ANSWERS = {
    "health": "well",
    **NO_TO_THE_REST,
    "mi": "yes",
    "mi_0_year": "2025",
    "mi_0_month": "3",
    "mi_0_hospital": "Isala Zwolle",
    "remark": "",
}
# What a patient's record holds that the questionnaire page must never show.
PLANTED = {
    "study_id": "ICS-7319",
    "name": "Wilhelmina Vandersteen",
    "family_name": "Vandersteen",
    "hospital_number": "MRN4455667",
    "postal_address": "Keizersgracht 999\n1015 ZZ Amsterdam",
    "date_of_birth": date(1948, 2, 29),
    "index_date": date(2015, 3, 2),
}


@pytest.fixture(autouse=True)
def _frozen_and_fresh():
    """A fixed day (for future dates and expiry), and a guess count that starts at nothing."""
    cache.clear()
    with time_machine.travel("2026-06-15 10:00 +0200", tick=False):
        yield
    cache.clear()


def _patient(site, study_id: str, name: str, **identity) -> Patient:
    patient = PatientFactory(study_id=study_id, site=site, index_date=PLANTED["index_date"])
    IdentityFactory(patient=patient, name=name, **identity)
    return patient


@pytest.fixture
def member(coordinator, site):
    _patient(
        site,
        PLANTED["study_id"],
        PLANTED["name"],
        family_name=PLANTED["family_name"],
        hospital_number=PLANTED["hospital_number"],
        postal_address=PLANTED["postal_address"],
        date_of_birth=PLANTED["date_of_birth"],
    )
    wave = services.wave_create(user=coordinator, name="2026 spring", patients=Patient.objects.all(), today=TODAY)
    return wave.members.select_related("patient").get()


def _url(token: str) -> str:
    return reverse("followup_public_form", args=[token])


def _text(response) -> str:
    """The page's words, without tags and runs of white space."""
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _assert_nothing_of(response, patient_values: dict, *extra: str) -> None:
    html = response.content.decode()
    dob: date = patient_values["date_of_birth"]
    index: date = patient_values["index_date"]
    shown = [
        patient_values["study_id"],
        patient_values["name"],
        patient_values["family_name"],
        patient_values["hospital_number"],
        "Keizersgracht",
        "1015 ZZ",
        "Erasmus",  # the site's name
        *(d.isoformat() for d in (dob, index)),
        *(d.strftime(f) for d in (dob, index) for f in ("%d-%m-%Y", "%d/%m/%Y", "%m/%d/%Y", "%d %B %Y", "%B %d, %Y")),
        *extra,
    ]
    for value in shown:
        assert value.lower() not in html.lower(), value


class _Page(HTMLParser):
    """What the accessibility checks read: inputs, the ids that labels point at, style attributes
    and inline scripts, fieldsets and their legends."""

    def __init__(self, html: str):
        super().__init__()
        self.inputs: list[dict] = []
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.inline: list[str] = []
        self.fieldsets = self.legends = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if "id" in values:
            self.ids.add(values["id"])
        if "style" in values or (tag == "script" and not values.get("src")) or tag == "style":
            self.inline.append(self.get_starttag_text())
        if tag == "label" and values.get("for"):
            self.label_for.add(values["for"])
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.inputs.append(values)
        self.fieldsets += tag == "fieldset"
        self.legends += tag == "legend"


# The form --------------------------------------------------------------------------------------


def test_a_valid_link_shows_the_questions_and_nothing_of_the_patient(member):
    response = Client().get(_url(member.token))

    assert response.status_code == 200
    assert "Have you had a heart attack (myocardial infarction)?" in _text(response)
    assert "IVUS-calcium study — health questionnaire" in _text(response)
    _assert_nothing_of(response, PLANTED, member.response_code, member.wave.name)
    assert 'href="/patients' not in response.content.decode()  # not the staff site's navigation
    assert_no_external_assets(response.content.decode())


def test_the_form_is_usable_without_a_mouse_or_a_screen(member):
    html = Client().get(_url(member.token)).content.decode()
    page = _Page(html)

    assert page.inline == []  # the CSP allows no inline script; the style guide no style=
    assert page.inputs and all(i["id"] in page.label_for for i in page.inputs), "an input without a label"
    assert page.fieldsets == page.legends and page.fieldsets > 9  # each question, each occurrence
    assert '<html lang="en">' in html
    assert 'autocomplete="off"' in html
    assert 'name="mi_0_year"' in html and 'inputmode="numeric"' in html
    # Only the first occurrence is open; the others wait behind "Add another time".
    assert html.count("<summary>Add another time</summary>") == 6  # 2 + 1 + 1 + 1 + 1 further times
    assert "Only if the patient has died" in html
    assert "/static/js/questionnaire.js" in html and "/static/css/questionnaire.css" in html


def test_sending_the_answers_stores_them_and_thanks_the_patient(member):
    client = Client(enforce_csrf_checks=True)  # no cookie and no CSRF token: the link is the key
    response = client.post(_url(member.token), ANSWERS)

    assert response.status_code == 303
    assert response["Location"] == reverse("followup_public_thanks")
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert "Thank you" in _text(thanks) and "we may ask that hospital for a letter" in _text(thanks)
    _assert_nothing_of(thanks, PLANTED, member.response_code, "Isala")

    stored = QuestionnaireResponse.objects.get(member=member)
    assert (stored.entered_via, stored.entered_by, stored.returned_on) == ("online", None, TODAY)
    assert stored.answers["mi"] == {
        "answer": "yes",
        "items": [{"when": {"year": 2025, "month": 3, "day": None}, "hospital": "Isala Zwolle"}],
    }
    mi = ClinicalEvent.objects.get(patient=member.patient)
    assert (mi.event_type, mi.event_date, mi.event_date_precision, mi.source, mi.verification) == (
        "mi",
        date(2025, 3, 15),
        "month",
        "questionnaire",
        "pending",
    )
    assert ReportedEvent.objects.get(patient=member.patient).clinical_event == mi
    request = SourceDocumentRequest.objects.get(patient=member.patient)
    assert (request.hospital, request.status, request.clinical_event) == ("Isala Zwolle", RequestStatus.REQUESTED, mi)
    assert FollowUpContact.objects.get(patient=member.patient).method == "questionnaire_returned"
    member.refresh_from_db()
    assert member.status == MemberStatus.RETURNED and member.token_used_at is not None
    assert AuditEntry.objects.filter(entity="questionnaireresponse", username="patient (online questionnaire)").exists()


# Links that cannot be answered -----------------------------------------------------------------


def _counts() -> tuple[int, ...]:
    return (
        QuestionnaireResponse.objects.count(),
        ClinicalEvent.objects.count(),
        SourceDocumentRequest.objects.count(),
        FollowUpContact.objects.count(),
        AuditEntry.objects.count(),
    )


def test_a_used_link_gets_a_polite_410_and_writes_nothing(member):
    Client().post(_url(member.token), ANSWERS)
    before = _counts()

    for response in (Client().get(_url(member.token)), Client().post(_url(member.token), ANSWERS)):
        assert response.status_code == 410
        assert "This link has already been used" in _text(response)
        assert "Thank you: we have your answers" in _text(response)
        assert "<form" not in response.content.decode()
        _assert_nothing_of(response, PLANTED, member.response_code)
    assert _counts() == before


def test_a_post_that_races_another_return_is_refused_politely(member, coordinator, monkeypatch):
    # The patient's page was checked while the link was still good, and a coordinator entered the
    # paper questionnaire in between: the service refuses (AlreadyReturned), with a message that
    # names the patient, which the page must not show.
    stale = (member, "ok")
    form = public_views.QuestionnaireForm(ANSWERS, definition=member.wave.questionnaire.definition)
    assert form.is_valid()
    services.response_submit(user=coordinator, member=member, answers=form.answers(), via="paper")
    monkeypatch.setattr(public_views.services, "member_for_token", lambda token, today: stale)
    before = _counts()

    response = Client().post(_url(member.token), ANSWERS)

    assert response.status_code == 410
    assert "This link has already been used" in _text(response)
    _assert_nothing_of(response, PLANTED, member.response_code)
    assert _counts() == before
    assert QuestionnaireResponse.objects.get(member=member).entered_via == "paper"


def test_an_expired_link_gets_410(member):
    with time_machine.travel(_noon(member.token_expires_on), tick=False):
        assert Client().get(_url(member.token)).status_code == 200  # the last day still counts
    with time_machine.travel(_noon(member.token_expires_on + timedelta(days=1)), tick=False):
        for response in (Client().get(_url(member.token)), Client().post(_url(member.token), ANSWERS)):
            assert response.status_code == 410
            assert "This link is no longer valid" in _text(response)
            _assert_nothing_of(response, PLANTED)
    assert QuestionnaireResponse.objects.count() == 0


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=ZoneInfo("Europe/Amsterdam"))


def test_a_link_of_a_closed_wave_gets_410(member, coordinator):
    services.wave_close(user=coordinator, wave=member.wave, on=TODAY)
    before = _counts()

    for response in (Client().get(_url(member.token)), Client().post(_url(member.token), ANSWERS)):
        assert response.status_code == 410
        assert "This link is no longer valid" in _text(response)
        _assert_nothing_of(response, PLANTED)
    assert _counts() == before


def test_an_unknown_link_and_one_a_character_off_get_the_same_404(member):
    last = member.token[-1]
    one_off = member.token[:-1] + ("A" if last != "A" else "B")

    unknown = Client().get(_url("not-a-link-we-know"))
    near = Client().get(_url(one_off))
    posted = Client().post(_url(one_off), ANSWERS)

    assert unknown.status_code == near.status_code == posted.status_code == 404
    assert unknown.content == near.content == posted.content
    assert "This link does not work" in _text(unknown)
    _assert_nothing_of(near, PLANTED, member.response_code)
    assert QuestionnaireResponse.objects.count() == 0


def test_guessing_links_is_throttled_per_address(member):
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(20):
        assert guesser.get(_url(f"guess-{n}")).status_code == 404

    refused = guesser.get(_url("guess-21"))
    assert refused.status_code == 429
    assert "Too many attempts" in _text(refused) and "Please wait 10 minutes" in _text(refused)
    # Once throttled, a real link from that address is refused too: a guess that hit one would
    # otherwise still be told so.
    assert guesser.get(_url(member.token)).status_code == 429
    # Another address is not affected, and known links never count.
    patient_client = Client(REMOTE_ADDR="198.51.100.20")
    for _ in range(25):
        assert patient_client.get(_url(member.token)).status_code == 200


def test_the_throttle_limits_come_from_the_settings(member, settings):
    settings.FOLLOWUP_LINK_GUESS_LIMIT = 2
    settings.FOLLOWUP_LINK_GUESS_WINDOW_SECONDS = 60
    guesser = Client(REMOTE_ADDR="203.0.113.8")
    responses = [guesser.get(_url(f"guess-{n}")) for n in range(3)]
    assert [r.status_code for r in responses] == [404, 404, 429]
    assert "Please wait 1 minute, then type the address again" in _text(responses[2])


def test_tokens_stay_out_of_the_logs(member, caplog):
    caplog.set_level(logging.DEBUG)
    one_off = member.token[:-1] + ("A" if member.token[-1] != "A" else "B")
    Client().get(_url(one_off))
    Client().post(_url(member.token), {"health": "well"})  # errors
    Client().post(_url(member.token), ANSWERS)
    Client().get(_url(member.token))  # used
    Client().put(_url(member.token))  # not allowed

    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert member.token not in logged and one_off not in logged
    assert f"member {member.pk} returned" in caplog.text


# Two patients ----------------------------------------------------------------------------------


def test_each_link_shows_its_own_empty_form_and_sending_one_leaves_the_other(member, site, coordinator):
    _patient(site, "ICS-8800", "Pieter Groenewoud", hospital_number="MRN9988776", date_of_birth=date(1951, 7, 4))
    # The first patient waits on the first wave's questionnaire: the second wave is the other's.
    second = services.wave_create(user=coordinator, name="second", patients=Patient.objects.all(), today=TODAY)
    other = second.members.select_related("patient").get()
    first_page, other_page = Client().get(_url(member.token)), Client().get(_url(other.token))
    # The same empty questions: nothing on either page depends on whose link it is.
    assert first_page.content == other_page.content
    assert "checked" not in first_page.content.decode()
    _assert_nothing_of(other_page, PLANTED)
    assert "Groenewoud" not in first_page.content.decode() and "ICS-8800" not in first_page.content.decode()

    Client().post(_url(member.token), ANSWERS)

    other.refresh_from_db()
    assert other.status == MemberStatus.TO_SEND and other.token_used_at is None
    assert not QuestionnaireResponse.objects.filter(member=other).exists()
    assert not ClinicalEvent.objects.filter(patient=other.patient).exists()
    assert Client().get(_url(other.token)).status_code == 200
    assert "checked" not in Client().get(_url(other.token)).content.decode()


# Mistakes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"admissions": "yes"}, "admissions_0_year", "You answered “Yes”: when was it? The year is enough."),
        ({"mi_0_year": "2026", "mi_0_month": "7"}, "mi_0_year", "This date is in the future."),
        ({"mi_0_year": "2027"}, "mi_0_year", "This year is in the future."),
        ({"stroke": "yes", "stroke_0_year": "2024", "stroke_0_day": "5"}, "stroke_0_month", "A day needs a month."),
    ],
    ids=["yes-without-a-year", "a-future-date", "a-future-year", "a-day-without-a-month"],
)
def test_a_mistake_is_shown_next_to_its_field_and_in_the_summary_and_nothing_is_written(member, changes, field, message):
    before = _counts()

    response = Client().post(_url(member.token), {**ANSWERS, **changes})

    assert response.status_code == 200
    html = response.content.decode()
    # Next to the field, tied to it for screen readers ...
    errors = re.search(rf'<p class="q-field-error" id="id_{field}_errors">(.*?)</p>', html, re.S)
    assert errors and message in errors.group(1)
    tag = re.search(rf'<(?:input|select)[^>]*\bid="id_{field}"[^>]*>', html)
    assert tag and f'aria-describedby="id_{field}_errors"' in tag.group(0)
    # ... and in the summary at the top, which links to it and takes the focus (questionnaire.js).
    summary = re.search(r'<div class="q-error-summary" id="error-summary" role="alert" tabindex="-1"(.*?)</div>', html, re.S)
    assert summary and f'href="#id_{field}"' in summary.group(1) and message in summary.group(1)
    assert html.index("error-summary") < html.index("<form")
    # What the patient typed is kept; a later occurrence with an error would be shown open.
    assert 'value="Isala Zwolle"' in html
    assert _counts() == before
    member.refresh_from_db()
    assert member.status == MemberStatus.TO_SEND


def test_a_missing_answer_links_to_the_first_button_of_its_question(member):
    response = Client().post(_url(member.token), {k: v for k, v in ANSWERS.items() if k != "health"})
    html = response.content.decode()
    assert '<a href="#id_health_0">How are you? Please choose one answer.</a>' in html
    assert 'id="id_health_0"' in html
    assert QuestionnaireResponse.objects.count() == 0


def test_a_mistake_in_a_second_time_opens_it(member):
    response = Client().post(_url(member.token), {**ANSWERS, "mi_1_day": "3"})
    html = response.content.decode()
    opened = re.search(r'<details class="q-more" open>\s*<summary>Add another time</summary>\s*<fieldset', html)
    assert opened and "id_mi_1_year_errors" in html[opened.end() : opened.end() + 2000]


# Headers ---------------------------------------------------------------------------------------


def test_every_answer_keeps_the_link_out_of_caches_referers_and_search_engines(member):
    one_off = member.token[:-1] + ("A" if member.token[-1] != "A" else "B")
    responses = [
        Client().get(_url(member.token)),
        Client().post(_url(member.token), {"health": "well"}),
        Client().get(_url(one_off)),
        Client().post(_url(member.token), ANSWERS),
        Client().get(_url(member.token)),
        Client().get(reverse("followup_public_thanks")),
        Client().put(_url(member.token)),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 303, 410, 200, 405]
    for response in responses:
        assert response["Cache-Control"] == "no-store"
        assert response["Referrer-Policy"] == "no-referrer"
        assert "noindex" in response["X-Robots-Tag"]
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "csrftoken" not in response.cookies and "sessionid" not in response.cookies
