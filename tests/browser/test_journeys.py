"""Three whole journeys in a real browser (headless Debian Chromium driven by Playwright), each
leaving full-page screenshots in test-artifacts/ (git-ignored):

- a coordinator types in a returned paper questionnaire that reports a heart attack, finds the
  pending event on the worklist and verifies it against the hospital's letter, which closes the
  source-document request (every step audited);
- a coordinator uploads a pullback and watches its page go from queued through running to the
  score without reloading it (the test keeps the scoring message and plays the Celery worker);
- an investigator narrows the cohort, runs the analysis and downloads the Kaplan-Meier figure,
  whose numbers at risk are those of the narrowed cohort.

The patient page is left out on purpose: these journeys use the worklist, the follow-up pages,
the upload and pullback pages and the analysis pages, by their element ids and roles."""

import io
import os
import re
import struct
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from django.template.defaultfilters import floatformat
from django.utils import timezone
from PIL import Image

from analytics import exports
from analytics.models import AnalysisRun
from core import jobs
from followup import services as followup_services
from followup.models import EntryMethod, MemberStatus, RequestStatus, SourceDocumentRequest
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient
from scoring import services as scoring_services
from scoring.models import Pullback, ScoringRun
from scoring.tasks import scoring_run_task
from tests.analytics.registry_cohort import registry_cohort
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.browser.test_publication_figure import _texts
from tests.factories import PatientFactory, UserFactory
from tests.scoring.pullback_files import phantom_file

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESK = {"width": 1280, "height": 900}


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def _shoot(browser_page, name: str) -> None:
    browser_page.screenshot(path=str(_artifact(name)), full_page=True)


def _follow(browser_page, locator) -> None:
    """Click a link or a submit button and wait for the page it leads to."""
    with browser_page.expect_navigation():
        locator.click()


def _audit(entity: str, object_id: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(entity=entity, object_id=str(object_id)).order_by("at", "id"))


# 1. A returned paper questionnaire, its heart attack on the worklist, verified ---------------------


def test_a_coordinator_records_a_returned_questionnaire_and_an_mi_then_verifies_it(page, live_server, site):  # noqa: F811
    coordinator = UserFactory(username="kb-coordinator", roles=["coordinator"])
    patient = PatientFactory(study_id="ICS-0081", site=site, index_date=date(2015, 3, 2))
    PatientFactory(study_id="ICS-0082", site=site, index_date=date(2016, 5, 9))  # another letter of the wave
    today = timezone.localdate()
    wave = followup_services.wave_create(user=coordinator, name="2026 autumn", patients=Patient.objects.all(), today=today)
    followup_services.letters_sent(user=coordinator, wave=wave, on=today)
    member = wave.members.get(patient=patient)
    mi_year = today.year - 1
    letter = f"Isala discharge letter {mi_year}-03-20"

    page.set_viewport_size(DESK)
    _log_in(page, live_server, "kb-coordinator")
    _follow(page, page.get_by_role("link", name="Follow-up waves", exact=True))
    # The code as read off the paper: lower case, a space for the dash.
    paper = page.locator("section[aria-labelledby=h-paper]")
    paper.locator("#id_code").fill(member.response_code.lower().replace("-", " "))
    _follow(page, paper.get_by_role("button", name="Find"))
    assert page.url == f"{live_server.url}/followup/entry/{member.response_code}/"
    assert member.response_code in page.inner_text("h1")
    assert "ICS-0081" in page.inner_text("dl.facts") and "2026 autumn" in page.inner_text("dl.facts")
    assert page.input_value("#id_returned_on") == today.isoformat()  # came back today, unless changed

    page.check("#id_health_0")  # alive and well
    page.check("#id_admissions_1")  # no
    page.check("#id_chest_pain_1")
    page.check("#id_mi_0")  # yes: a heart attack in March last year, at Isala Zwolle
    page.fill("#id_mi_0_year", str(mi_year))
    page.select_option("#id_mi_0_month", label="March")
    page.fill("#id_mi_0_hospital", "Isala Zwolle")
    for question in ("stroke", "pci", "cabg"):
        page.check(f"#id_{question}_1")
    _shoot(page, "journey_paper_questionnaire.png")
    _follow(page, page.get_by_role("button", name="Save questionnaire"))

    assert page.url == f"{live_server.url}/followup/entry/"
    assert page.inner_text("li.message-success") == (
        "Questionnaire of ICS-0081 saved: 1 reported event, each with a source-document request."
    )
    member.refresh_from_db()
    assert (member.status, member.returned_on) == (MemberStatus.RETURNED, today)
    assert (member.response.entered_via, member.response.entered_by) == (EntryMethod.PAPER, coordinator)
    event = ClinicalEvent.objects.get(patient=patient)
    assert (event.event_type, event.event_date, event.event_date_precision, event.source, event.verification) == (
        "mi",
        date(mi_year, 3, 15),
        "month",
        "questionnaire",
        "pending",
    )
    request = SourceDocumentRequest.objects.get(clinical_event=event)
    assert (request.status, request.hospital, request.requested_on) == (RequestStatus.REQUESTED, "Isala Zwolle", today)
    assert FollowUpContact.objects.filter(patient=patient, contact_date=today, method="questionnaire_returned").exists()
    assert not ClinicalEvent.objects.exclude(patient=patient).exists()

    # The hospital's letter is asked for ...
    page.goto(f"{live_server.url}/followup/requests/")
    asked = page.locator("tbody tr", has_text="ICS-0081")
    assert asked.count() == 1
    assert "Isala Zwolle" in asked.inner_text() and "Requested" in asked.inner_text()

    # ... and the heart attack waits on the worklist; the letter has come: verify it there.
    _follow(page, page.get_by_role("link", name="Worklist", exact=True))
    pending = page.locator("section[aria-labelledby=h-pending]")
    assert pending.locator(".count-badge").inner_text() == "1"
    row = pending.locator("tbody tr", has_text="ICS-0081")
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == ["ICS-0081", "Myocardial infarction", f"{mi_year}-03-15", "Questionnaire"]
    row.locator(f"#source-{event.pk}").fill(letter)
    _follow(page, row.get_by_role("button", name="Verify against source"))

    assert page.url.startswith(f"{live_server.url}/worklist/")
    assert page.inner_text("li.message-success") == f"Myocardial infarction of ICS-0081 ({mi_year}-03-15) verified."
    assert pending.locator(".count-badge").inner_text() == "0"
    assert pending.locator(".empty").inner_text() == "No events pending verification."
    _shoot(page, "journey_mi_verified_worklist.png")

    event.refresh_from_db()
    assert (event.verification, event.source_document, event.verified_by) == ("verified", letter, coordinator)
    request.refresh_from_db()
    assert (request.status, request.document_reference) == (RequestStatus.CLOSED_VERIFIED, letter)

    # Who did what, in the audit trail: the questionnaire, the event and its request, the verification.
    response_audit = _audit("questionnaireresponse", member.response.pk)
    assert [(a.action, a.username, a.patient_id) for a in response_audit] == [("create", "kb-coordinator", patient.pk)]
    assert response_audit[0].changes["entered_via"] == [None, "paper"]
    event_audit = _audit("clinicalevent", event.pk)
    assert [(a.action, a.username) for a in event_audit] == [("create", "kb-coordinator"), ("verify", "kb-coordinator")]
    assert event_audit[0].changes["event_type"] == [None, "mi"]
    assert event_audit[1].changes["verification"] == ["pending", "verified"]
    assert event_audit[1].changes["source_document"] == ["", letter]
    request_audit = _audit("sourcedocumentrequest", request.pk)
    assert [(a.action, a.username) for a in request_audit] == [("create", "kb-coordinator"), ("update", "kb-coordinator")]
    assert request_audit[1].changes["status"] == ["requested", "closed_verified"]
    assert request_audit[1].changes["document_reference"] == ["", letter]
    assert _audit("wavemember", member.pk)[-1].changes["status"] == ["sent", "returned"]

    # The request is closed: no longer outstanding, and listed as closed with the letter.
    page.goto(f"{live_server.url}/followup/requests/")
    assert page.locator("tbody tr", has_text="ICS-0081").count() == 0
    page.goto(f"{live_server.url}/followup/requests/?show=all")
    closed = page.locator("tbody tr", has_text="ICS-0081").inner_text()
    assert "Closed: event verified" in closed and letter in closed
    _shoot(page, "journey_mi_request_closed.png")


# 2. A pullback uploaded, queued, scored while its page watches ------------------------------------


def test_a_coordinator_uploads_a_pullback_and_sees_the_score_arrive(page, live_server, site, tmp_path, monkeypatch):  # noqa: F811
    UserFactory(username="kb-coordinator", roles=["coordinator"])
    patient = PatientFactory(study_id="ICS-0090", site=site)
    # The broker: the web process's scoring message is kept here, and the test is the worker.
    queued: list[int] = []
    monkeypatch.setattr(scoring_run_task, "delay", queued.append)
    monkeypatch.setattr(scoring_services, "SCORING_CHUNK_FRAMES", 4)  # 8 frames in two chunks: 47 %, then 95 %
    dicom = phantom_file(tmp_path / "IVUS_RCA_run1.dcm", n_frames=8)

    page.set_viewport_size(DESK)
    _log_in(page, live_server, "kb-coordinator")
    page.goto(f"{live_server.url}/pullbacks/patients/ICS-0090/upload/")
    assert page.locator("#pullback-submit").is_hidden()  # the script sends each file once it is chosen
    page.set_input_files("#pullback-files", str(dicom))
    link = page.locator("#pullback-upload-list a")
    link.wait_for()
    pullback = Pullback.objects.get(patient=patient)
    run = ScoringRun.objects.get(pullback=pullback)
    assert link.inner_text().strip() == f"stored as pullback #{pullback.pk}, scoring queued"
    assert page.evaluate("() => document.querySelector('#pullback-upload-list progress').value") == 100
    assert (queued, run.status, pullback.original_filename) == ([run.pk], "queued", "IVUS_RCA_run1.dcm")
    _shoot(page, "journey_pullback_uploaded.png")

    _follow(page, link)
    assert page.url == f"{live_server.url}/pullbacks/{pullback.pk}/"
    assert page.inner_text("#run-status") == "Queued"
    assert page.get_attribute("#pullback-status", "data-done") == "false"
    assert page.locator("#pullback-ics").count() == 0
    # The page asks for the run's state every second: it has asked while the run waits.
    with page.expect_response(lambda r: r.url.endswith(f"/api/pullbacks/{pullback.pk}/")):
        pass
    assert page.inner_text("#run-status") == "Queued"  # the status as the page prints it, not the stored code
    _shoot(page, "journey_pullback_queued.png")

    # The worker takes the message. Half-way through the pullback the page shows the run running.
    progress, halfway = jobs.JobRun.progress, []

    def progress_watched_by_the_page(job_run, percent: int) -> None:
        progress(job_run, percent)
        if not halfway:
            halfway.append(percent)
            page.wait_for_function(
                "() => document.getElementById('run-status').textContent === 'Running'"
                " && document.getElementById('run-percent').textContent === '47%'"
                " && document.getElementById('run-progress').value === 47"
            )
            _shoot(page, "journey_pullback_running.png")

    monkeypatch.setattr(jobs.JobRun, "progress", progress_watched_by_the_page)
    page.evaluate("() => { window.__notReloaded = true; }")
    scoring_run_task.apply(args=[queued.pop()])
    assert halfway == [47]

    # The page reloads itself when the run has finished and shows the score the database holds.
    page.wait_for_function("() => document.getElementById('pullback-status').dataset.done === 'true'")
    assert page.evaluate("() => window.__notReloaded") is None  # it was the page's own reload
    run.refresh_from_db()
    patient.refresh_from_db()
    assert (run.status, run.progress_percent, run.is_current, run.n_frames) == ("succeeded", 100, True, 8)
    assert run.ics is not None and 0 < run.ics <= 1000  # the phantom is heavily calcified
    # 8 frames are far shorter than the study's 40 mm: scored, but not the patient's study pullback.
    assert patient.study_ics is None and not pullback.long_enough
    ics = floatformat(run.ics, "1")
    assert page.inner_text("#run-status") == "Succeeded"
    assert "(shorter than the 40 mm of the study)" in page.inner_text("dl.facts")
    assert page.inner_text("#pullback-ics") == ics
    assert f"{ics} (model {run.model_version}, 8 frames" in page.inner_text(".ics-line")
    assert page.inner_text("#study-reason").startswith("Not used: 0.1 mm, shorter than the 40 mm the study requires.")
    history = page.locator("table.data tbody tr", has=page.locator("td", has_text=re.compile(rf"^{run.pk}$")))
    assert history.locator("td").all_inner_texts()[3:] == ["Succeeded", ics, "yes"]
    assert queued == []  # scored once, nothing sent again
    _shoot(page, "journey_pullback_scored.png")


# 3. A cohort built, analysed, its figure downloaded ------------------------------------------------


def _count_is(browser_page, count: int) -> None:
    browser_page.wait_for_function(
        "(n) => document.getElementById('cohort-count-value').textContent.trim() === String(n)", arg=count
    )


def test_an_investigator_builds_a_cohort_and_downloads_the_figure(page, live_server, tmp_path):  # noqa: F811
    registry_cohort(150, seed=11)
    cohort = Patient.objects.filter(study_vessel="LAD", age_at_index__gte=60)
    expected = cohort.count()
    assert 20 < expected < Patient.objects.filter(study_vessel="LAD").count() < 150  # both filters narrow it
    UserFactory(username="fig-investigator", roles=["investigator"])

    page.set_viewport_size(DESK)
    _log_in(page, live_server, "fig-investigator")
    _follow(page, page.get_by_role("link", name="Analytics", exact=True))
    _count_is(page, 150)
    page.locator("input[name=study_vessel][value=LAD]").check()
    _count_is(page, Patient.objects.filter(study_vessel="LAD").count())
    page.select_option("#id_filter-0-field", "age_at_index")
    page.select_option("#id_filter-0-op", "ge")
    page.fill("#id_filter-0-value", "60")
    _count_is(page, expected)
    _shoot(page, "journey_cohort_builder.png")
    _follow(page, page.get_by_role("button", name="Run the analysis"))
    page.wait_for_selector("#chart-km .main-svg")

    run = AnalysisRun.objects.latest("pk")
    assert page.url == f"{live_server.url}/analytics/runs/{run.pk}/"
    assert (run.status, run.n_patients) == ("succeeded", expected)
    assert run.spec["cohort"]["filters"] == [
        {"field": "study_vessel", "op": "in", "value": ["LAD"]},
        {"field": "age_at_index", "op": "ge", "value": 60.0},
    ]
    assert f"{expected} patients analysed" in page.inner_text("#analysis-run")
    at_risk = exports.at_risk_table(run.result)
    assert sum(row[1] for row in at_risk.rows) == expected  # at time 0 every patient of the cohort is at risk

    # The SVG for a single journal column: the curves' figure with this cohort's numbers at risk.
    with page.expect_download() as svg_download:
        page.get_by_role("button", name="SVG, single column (85 mm)").first.click()
    svg_path = tmp_path / "km.svg"
    svg_download.value.save_as(svg_path)
    svg = ET.fromstring(svg_path.read_text(encoding="utf-8"))  # noqa: S314 - our own page's figure, in a test
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("width") == "85mm"
    notes = [(text, x, y) for text, x, y, classes in _texts(svg) if "annotation" in classes]
    assert "Number at risk" in [text for text, _, _ in notes]
    for label, *counts in at_risk.rows:
        (row_y,) = [y for text, _, y in notes if text == label]
        shown = [text for _, text in sorted((x, text) for text, x, y in notes if abs(y - row_y) < 1 and text != label)]
        assert shown == [str(n) for n in counts], label
    assert svg.find(".//{http://www.w3.org/2000/svg}path[@class='js-line']") is not None  # the curves are drawn

    # The PNG: 85 mm at 300 dpi, a real image with the curves' colours in it.
    with page.expect_download() as png_download:
        page.get_by_role("button", name="PNG, single column (85 mm, 300 dpi)").first.click()
    png = Path(png_download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 1004 and 600 < height < 2000
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (width, height)
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000)) > 10  # not a blank canvas
    page.locator("#chart-km").scroll_into_view_if_needed()
    _shoot(page, "journey_analysis_figure.png")
