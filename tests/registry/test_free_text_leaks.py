"""Standing test: investigators never receive a direct identifier or any free text, on any page,
API endpoint or file that shows patient data.

A unique marker is planted in every free-text and identifier field of the models (found by
introspection: a new text field fails `test_every_text_field_is_classified` until it is put in
CONFIDENTIAL or NOT_FREE_TEXT). Every URL of the project is fetched as each role (the URL list is
enumerated from the URLconf: a new URL fails `test_every_url_is_fetched_or_has_a_reason` until it
is put in FETCHED or NOT_FETCHED). The investigator must receive no marker at all; the roles that
may see them must receive every marker somewhere, and the patient record's on the patient page, so
that the test cannot pass by fetching nothing.
"""

import io
from datetime import date

import pytest
from django.apps import apps
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from openpyxl import load_workbook

from analytics import exports
from analytics.models import SavedCohort
from analytics.services import analysis_run
from followup import services as followup_services
from followup.models import QuestionnaireResponse, ReportedEvent, SourceDocumentRequest, Wave, WaveMember
from registry import services
from registry.models import AuditEntry, ImportJob
from scoring import services as scoring_services
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, PatientFactory
from tests.scoring.pullback_files import make_pullback

pytestmark = pytest.mark.django_db

DATE_OF_BIRTH = date(1931, 7, 19)
# field -> marker. Letters, digits and hyphens only: the same in HTML, JSON, CSV and XLSX.
MARKERS = {
    "registry.PatientIdentity.name": "Zebulon Markerman",
    "registry.PatientIdentity.hospital_number": "MRN-LEAK-4711",
    "registry.PatientIdentity.date_of_birth": "1931-07-19",
    "registry.Patient.withdrawal_reason": "LEAK-withdrawal-reason",
    "registry.FollowUpContact.notes": "LEAK-contact-note",
    "registry.ClinicalEvent.source_document": "LEAK-source-document",
    "registry.ClinicalEvent.notes": "LEAK-event-note",
    "registry.AuditEntry.reason": "LEAK-audit-reason",
    "registry.ImportJob.error": "LEAK-import-error",
    "scoring.Pullback.original_filename": "LEAK-original-file.dcm",
    "scoring.Pullback.qc_note": "LEAK-qc-note",
    "scoring.Pullback.study_override_reason": "LEAK-override-reason",
    "registry.PatientIdentity.family_name": "Markerfamilyname",
    "registry.PatientIdentity.postal_address": "LEAK-postal-address",
    "followup.WaveMember.status_note": "LEAK-wave-status-note",
    "followup.WaveMember.token": "LEAK-token-x7",
    "followup.ReportedEvent.description": "LEAK-reported-description",
    "followup.ReportedEvent.hospital": "LEAK-reported-hospital",
    "followup.SourceDocumentRequest.hospital": "LEAK-request-hospital",
    "followup.SourceDocumentRequest.what": "LEAK-request-what",
    "followup.SourceDocumentRequest.document_reference": "LEAK-request-document",
    "followup.SourceDocumentRequest.closed_reason": "LEAK-request-closed-reason",
}
CONFIDENTIAL = set(MARKERS)
# The date of birth as the pages or files might write it besides ISO.
OTHER_DATE_OF_BIRTH_FORMS = ("July 19, 1931", "19.07.1931", "19/07/1931", "07/19/1931")
# Also planted (JSON fields, not found by the introspection): old values in the audit trail, rows quoted by an import.
AUDIT_OLD_VALUE, IMPORT_PROBLEM = "LEAK-audit-old-value", "LEAK-import-problem"
QUESTIONNAIRE_REMARK = "LEAK-questionnaire-remark"  # in the answers (a JSON field)
ALL_MARKERS = (*MARKERS.values(), AUDIT_OLD_VALUE, IMPORT_PROBLEM, QUESTIONNAIRE_REMARK)
IMPORT_MARKERS = {MARKERS["registry.ImportJob.error"], IMPORT_PROBLEM}  # only the uploader and admins see an import
# The online link's token is in the links file and the letters, for coordinators and admins only.
FOLLOW_UP_ONLY_MARKERS = {MARKERS["followup.WaveMember.token"]}
PATIENT_PAGE_MARKERS = {MARKERS[f] for f in CONFIDENTIAL if f.startswith("registry.") and "ImportJob" not in f}

# Text fields that are not free text and hold no direct identifier, with the reason.
NOT_FREE_TEXT = {
    "registry.Site.code": "a plain identifier (letters, digits, - _ .), shown to every role",
    "registry.Site.name": "the hospital's name, not the patient's",
    "registry.Patient.study_id": "the pseudonym, the one identifier investigators see",
    "registry.AuditEntry.username": "staff, not patient; the audit trail is hidden from investigators anyway",
    "registry.AuditEntry.entity": "a model name",
    "registry.AuditEntry.object_id": "a row id",
    "scoring.Pullback.sop_instance_uid": "remapped at de-identification",
    "scoring.Pullback.content_sha256": "a hash",
    "scoring.Pullback.ivus_acquisition": "DICOM acquisition type (motor, manual)",
    "scoring.Pullback.photometric": "DICOM pixel format",
    "scoring.Pullback.transfer_syntax_uid": "DICOM encoding",
    "scoring.Pullback.modality": "DICOM modality",
    "scoring.Pullback.manufacturer": "the device's maker",
    "scoring.Pullback.model_name": "the device's model",
    "scoring.Pullback.burned_in_annotation": "DICOM YES/NO flag",
    "registry.Patient.study_ics_source": "written by the scoring app: pullback number, how chosen, model version",
    "scoring.ScoringRun.model_name": "detector model",
    "scoring.ScoringRun.model_version": "detector model version",
    "scoring.ScoringRun.error": "written by the scoring worker, not typed by a user",
    "scoring.DetectorModelVersion.name": "detector model",
    "scoring.DetectorModelVersion.version": "detector model version",
    "analytics.AnalysisRun.spec_hash": "a hash",
    "analytics.AnalysisRun.data_hash": "a hash",
    "analytics.AnalysisRun.error": "written by the analysis, not typed by a user",
    "analytics.SavedCohort.name": "an investigator's own name for a filter list",
    "registry.ImportJob.lease": "a background worker's random claim token",
    "scoring.ScoringRun.lease": "a background worker's random claim token",
    "analytics.AnalysisRun.lease": "a background worker's random claim token",
    "followup.Questionnaire.title": "the questionnaire's title, written by the study",
    "followup.Wave.name": "a coordinator's name for a round of letters (e.g. 2026 autumn)",
    "followup.WaveMember.reason": "written by the wave's selection rule (living, not withdrawn, last contact date)",
    "followup.WaveMember.response_code": "a random code for finding a returned paper questionnaire",
    "followup.ReportedEvent.question": "a question's code",
    "followup.ReportedEvent.which": "a choice code (stroke or tia)",
    "followup.ReportedEvent.problem": "written by the registry's validation, not typed by a user",
}


def _text_fields() -> set[str]:
    """Every CharField/TextField without choices of the three apps, and every identity field."""
    found = set()
    for app in ("registry", "followup", "scoring", "analytics"):
        for model in apps.get_app_config(app).get_models():
            for f in model._meta.concrete_fields:
                free = isinstance(f, models.CharField | models.TextField) and not f.choices
                identity = model._meta.model_name == "patientidentity" and not f.primary_key and f.name != "version"
                if free or identity:
                    found.add(f"{app}.{model.__name__}.{f.name}")
    return found


def test_every_text_field_is_classified():
    assert _text_fields() - CONFIDENTIAL - set(NOT_FREE_TEXT) == set(), "classify the new field(s) above"
    assert (CONFIDENTIAL | set(NOT_FREE_TEXT)) - _text_fields() == set(), "a classified field no longer exists"


# The world ---------------------------------------------------------------------------------------


@pytest.fixture
def world(site, coordinator, admin_user, investigator):
    """The planted patient, a small registry around it (for the analyses) and one of everything."""
    registry_cohort(60, seed=5)
    patient = PatientFactory(study_id="ICS-0001", site=site, age_at_index=83.6)  # born DATE_OF_BIRTH
    services.identity_set(
        user=coordinator,
        patient=patient,
        data={
            "name": MARKERS["registry.PatientIdentity.name"],
            "date_of_birth": DATE_OF_BIRTH,
            "hospital_number": MARKERS["registry.PatientIdentity.hospital_number"],
            "family_name": MARKERS["registry.PatientIdentity.family_name"],
            "postal_address": MARKERS["registry.PatientIdentity.postal_address"],
        },
    )
    contact = ContactFactory(patient=patient, contact_date=date(2017, 6, 1), notes=MARKERS["registry.FollowUpContact.notes"])
    free_text = {
        "notes": MARKERS["registry.ClinicalEvent.notes"],
        "source_document": MARKERS["registry.ClinicalEvent.source_document"],
    }
    event = EventFactory(
        patient=patient,
        event_type="mi",
        event_date=date(2016, 5, 10),
        verification="verified",
        verified_by=coordinator,
        verified_at="2016-06-01T10:00Z",
        **free_text,
    )
    EventFactory(patient=patient, event_type="stroke", event_date=date(2017, 1, 5), target_vessel=None, **free_text)
    AuditEntry.objects.create(
        user=coordinator,
        username="coordinator",
        action="update",
        entity="followupcontact",
        object_id=str(contact.pk),
        patient=patient,
        reason=MARKERS["registry.AuditEntry.reason"],
        changes={"notes": [AUDIT_OLD_VALUE, MARKERS["registry.FollowUpContact.notes"]]},
    )
    services.patient_withdraw(
        user=coordinator,
        patient=patient,
        withdrawn_on=date(2021, 1, 4),
        reason=MARKERS["registry.Patient.withdrawal_reason"],
    )
    study = make_pullback(patient, length_mm=45, ics=20, original_filename=MARKERS["scoring.Pullback.original_filename"])
    scoring_services.study_pullback_override(
        user=coordinator, patient=patient, pullback=study, reason=MARKERS["scoring.Pullback.study_override_reason"]
    )
    excluded = make_pullback(patient, length_mm=60, ics=30)
    scoring_services.pullback_qc_update(
        user=coordinator,
        pullback=excluded,
        qc_status="excluded",
        exclusion_reason="stent_struts",
        note=MARKERS["scoring.Pullback.qc_note"],
    )
    problem = {"file": "patients.csv", "row": 2, "column": "study_id", "message": IMPORT_PROBLEM}
    job = ImportJob.objects.create(
        created_by=coordinator,
        patients_file="imports/patients.csv",
        status="failed",
        progress_percent=100,
        error=MARKERS["registry.ImportJob.error"],
        problems=[problem],
    )
    run = analysis_run(spec={"endpoint": "poce", "subgroup": "vessel_revascularized"}, user=investigator)
    cohort = SavedCohort.objects.create(name="diabetics", filters=[], owner=investigator)
    member, document_request = _follow_up(patient, coordinator)
    annotation = study.annotations.create(frame=1, start_deg=10, end_deg=50, created_by=coordinator)
    return {
        "patient": patient,
        "contact": contact,
        "event": event,
        "job": job,
        "pullback": study,
        "run": run,
        "cohort": cohort,
        "annotation": annotation,
        "member": member,
        "request": document_request,
    }


def _follow_up(patient, coordinator):
    """A returned questionnaire of the planted patient, with a reported event and its request, made
    row by row: the planted patient is withdrawn, and a wave would leave them out."""
    questionnaire = followup_services.current_questionnaire()
    wave = Wave.objects.create(name="autumn", questionnaire=questionnaire, created_on=date(2020, 10, 1))
    member = WaveMember.objects.create(
        wave=wave,
        patient=patient,
        reason="living, not withdrawn",
        status="returned",
        returned_on=date(2020, 11, 2),
        status_note=MARKERS["followup.WaveMember.status_note"],
        response_code="AAAA-CCCC",
        token=MARKERS["followup.WaveMember.token"],
        token_expires_on=date(2021, 1, 1),
    )
    response = QuestionnaireResponse.objects.create(
        member=member,
        questionnaire=questionnaire,
        answers={"health": "well", "remark": QUESTIONNAIRE_REMARK},
        entered_via="paper",
        entered_by=coordinator,
        returned_on=date(2020, 11, 2),
    )
    reported = ReportedEvent.objects.create(
        response=response,
        patient=patient,
        question="admissions",
        description=MARKERS["followup.ReportedEvent.description"],
        year=2020,
        hospital=MARKERS["followup.ReportedEvent.hospital"],
    )
    document_request = SourceDocumentRequest.objects.create(
        patient=patient,
        reported_event=reported,
        hospital=MARKERS["followup.SourceDocumentRequest.hospital"],
        what=MARKERS["followup.SourceDocumentRequest.what"],
        status="not_available",
        requested_on=date(2020, 11, 3),
        document_reference=MARKERS["followup.SourceDocumentRequest.document_reference"],
        closed_reason=MARKERS["followup.SourceDocumentRequest.closed_reason"],
    )
    return member, document_request


# Every URL ---------------------------------------------------------------------------------------


def _patient(w):
    return {"study_id": w["patient"].study_id}


def _tables(w) -> list[str]:
    return [
        reverse("analytics_run_csv", kwargs={"pk": w["run"].pk, "table": name})
        for name in exports.result_tables(w["run"].result)
    ]


# URL name -> the paths to GET, given the world.
FETCHED = {
    "home": lambda w: [reverse("home")],
    "worklist": lambda w: [reverse("worklist")],
    "patient_list": lambda w: [reverse("patient_list"), reverse("patient_list") + "?q=ICS-0001&status=withdrawn"],
    "patient_detail": lambda w: [reverse("patient_detail", kwargs=_patient(w))],
    "patient_edit": lambda w: [reverse("patient_edit", kwargs=_patient(w))],
    "identity_edit": lambda w: [reverse("identity_edit", kwargs=_patient(w))],
    "patient_withdraw": lambda w: [reverse("patient_withdraw", kwargs=_patient(w))],
    "contact_create": lambda w: [reverse("contact_create", kwargs=_patient(w))],
    "contact_edit": lambda w: [reverse("contact_edit", kwargs=_patient(w) | {"pk": w["contact"].pk})],
    "contact_delete": lambda w: [reverse("contact_delete", kwargs=_patient(w) | {"pk": w["contact"].pk})],
    "event_create": lambda w: [reverse("event_create", kwargs=_patient(w))],
    "event_edit": lambda w: [reverse("event_edit", kwargs=_patient(w) | {"pk": w["event"].pk})],
    "event_delete": lambda w: [reverse("event_delete", kwargs=_patient(w) | {"pk": w["event"].pk})],
    "event_verify": lambda w: [reverse("event_verify", kwargs=_patient(w) | {"pk": w["event"].pk})],
    "import_upload": lambda w: [reverse("import_upload")],
    "import_detail": lambda w: [reverse("import_detail", kwargs={"pk": w["job"].pk})],
    "import_status": lambda w: [reverse("import_status", kwargs={"pk": w["job"].pk})],
    "export": lambda w: [reverse("export")],
    "export_patients": lambda w: [reverse("export_patients")],
    "export_events": lambda w: [reverse("export_events")],
    "export_analysis": lambda w: [reverse("export_analysis") + "?horizon_days=2191&count_pending=no"],
    "pullback_upload": lambda w: [reverse("pullback_upload", kwargs=_patient(w))],
    "pullback_detail": lambda w: [reverse("pullback_detail", kwargs={"pk": w["pullback"].pk})],
    "pullback_figures": lambda w: [reverse("pullback_figures", kwargs={"pk": w["pullback"].pk})],
    "annotations_import": lambda w: [reverse("annotations_import")],
    "annotations_export": lambda w: [reverse("annotations_export")],
    "analytics_builder": lambda w: [
        reverse("analytics_builder"),
        reverse("analytics_builder") + f"?cohort={w['cohort'].pk}",
    ],
    "analytics_builder_count": lambda w: [
        reverse("analytics_builder_count") + "?filter-TOTAL_FORMS=0&filter-INITIAL_FORMS=0"
    ],
    "analytics_run_list": lambda w: [reverse("analytics_run_list")],
    "analytics_run_detail": lambda w: [reverse("analytics_run_detail", kwargs={"pk": w["run"].pk})],
    "analytics_run_report": lambda w: [reverse("analytics_run_report", kwargs={"pk": w["run"].pk})],
    "analytics_run_xlsx": lambda w: [reverse("analytics_run_xlsx", kwargs={"pk": w["run"].pk})],
    "analytics_run_manuscript": lambda w: [reverse("analytics_run_manuscript", kwargs={"pk": w["run"].pk})],
    "analytics_run_figure_pdf": lambda w: [
        reverse("analytics_run_figure_pdf", kwargs={"pk": w["run"].pk, "figure": "km_cumulative"}) + "?size=double"
    ],
    "analytics_run_csv": _tables,
    "api-patients": lambda w: [reverse("api-patients"), reverse("api-patients") + "?q=ICS-0001"],
    "api-patient": lambda w: [reverse("api-patient", kwargs=_patient(w))],
    "api-patient-history": lambda w: [reverse("api-patient-history", kwargs=_patient(w))],
    "api-contacts": lambda w: [reverse("api-contacts", kwargs=_patient(w))],
    "api-patient-events": lambda w: [reverse("api-patient-events", kwargs=_patient(w))],
    "api-events": lambda w: [reverse("api-events"), reverse("api-events") + "?verification=pending"],
    "api-analysis-dataset": lambda w: [reverse("api-analysis-dataset") + "?page_size=500"],
    "api-pullbacks": lambda w: [reverse("api-pullbacks", kwargs=_patient(w))],
    "api-pullback": lambda w: [reverse("api-pullback", kwargs={"pk": w["pullback"].pk})],
    "api-pullback-results": lambda w: [reverse("api-pullback-results", kwargs={"pk": w["pullback"].pk})],
    "api-pullback-map": lambda w: [reverse("api-pullback-map", kwargs={"pk": w["pullback"].pk})],
    "api-pullback-segment": lambda w: [
        reverse("api-pullback-segment", kwargs={"pk": w["pullback"].pk}) + "?start_mm=0&end_mm=20"
    ],
    "api-pullback-annotations": lambda w: [reverse("api-pullback-annotations", kwargs={"pk": w["pullback"].pk})],
    "api-analyses": lambda w: [reverse("api-analyses")],
    "api-analysis": lambda w: [reverse("api-analysis", kwargs={"pk": w["run"].pk})],
    "api-cohort-count": lambda w: [reverse("api-cohort-count")],
    "api-saved-cohorts": lambda w: [reverse("api-saved-cohorts")],
    "api-saved-cohort": lambda w: [reverse("api-saved-cohort", kwargs={"pk": w["cohort"].pk})],
    "civil_registry": lambda w: [reverse("civil_registry")],
    "import_history": lambda w: [reverse("import_history")],
    "import_dictionary": lambda w: [reverse("import_dictionary")],
    "import_template": lambda w: [
        reverse("import_template", args=["patients.csv"]),
        reverse("import_template", args=["events.csv"]),
    ],
    "pullback_list": lambda w: [reverse("pullback_list"), reverse("pullback_list") + "?state=excluded"],
    "scoring_queue": lambda w: [reverse("scoring_queue")],
    "followup_wave_list": lambda w: [reverse("followup_wave_list")],
    "followup_wave_create": lambda w: [reverse("followup_wave_create")],
    "followup_wave_detail": lambda w: [reverse("followup_wave_detail", kwargs={"pk": w["member"].wave_id})],
    "followup_wave_dashboard": lambda w: [reverse("followup_wave_dashboard", kwargs={"pk": w["member"].wave_id})],
    "followup_wave_links": lambda w: [reverse("followup_wave_links", kwargs={"pk": w["member"].wave_id})],
    "followup_wave_letters": lambda w: [reverse("followup_wave_letters", kwargs={"pk": w["member"].wave_id})],
    "followup_member_letter": lambda w: [reverse("followup_member_letter", kwargs={"pk": w["member"].pk})],
    "followup_paper_find": lambda w: [reverse("followup_paper_find") + "?code=AAAA-CCCC"],
    "followup_paper_entry": lambda w: [reverse("followup_paper_entry", kwargs={"code": "AAAA-CCCC"})],
    "followup_requests": lambda w: [reverse("followup_requests") + "?show=all"],
    "followup_request_update": lambda w: [reverse("followup_request_update", kwargs={"pk": w["request"].pk})],
}
# URL name -> why it is not fetched.
NOT_FETCHED = {
    "login": "no patient data",
    "password_reset": "no patient data (tests/test_password_reset.py)",
    "password_reset_done": "no patient data",
    "password_reset_confirm": "no patient data; needs the e-mailed token",
    "password_reset_complete": "no patient data",
    "logout": "POST only, no patient data",
    "healthz": "no patient data",
    "api-schema": "the API's description, no data",
    "api-docs": "the API's description, no data",
    "api-token": "POST only: a user's own token",
    "patient_create": "an empty enrolment form",
    "pullback_retry": "POST only, redirects",
    "pullback_qc": "POST only, redirects",
    "study_pullback_choose": "POST only, redirects",
    "annotation_add": "POST only, redirects",
    "annotation_delete": "POST only, redirects",
    "analytics_cohort_delete": "POST only, redirects",
    "analytics_run_rerun": "POST only, redirects",
    "api-patient-withdraw": "POST only; answers with the patient as api-patient does",
    "api-contact": "PATCH and DELETE only; answers as api-contacts does",
    "api-event": "PATCH and DELETE only; answers as api-patient-events does",
    "api-event-verify": "POST only; answers as api-patient-events does",
    "api-pullback-retry": "POST only; answers as api-pullback does",
    "api-pullback-qc": "POST only; answers as api-pullback does",
    "api-pullback-annotation": "DELETE only",
    "api-analysis-rerun": "POST only; answers as api-analysis does",
    "civil_registry_export": "POST only; identifiers for coordinators and admins (tests/registry/test_civil_registry.py)",
    "followup_letters_sent": "POST only, redirects",
    "followup_reminders_sent": "POST only, redirects",
    "followup_wave_close": "POST only, redirects",
    "followup_member_mark": "POST only, redirects",
    "followup_public_form": "the patient's own questionnaire, without login: shows no data (tests/followup/test_online.py)",
    "followup_public_thanks": "a thank-you page without login: no data",
    "api-pullback-frame": "a PNG image (burned-in text is removed at upload: tests/scoring/test_deid.py), "
    "and only for roles that may see identifiers",
    "api-pullback-lmode": "a PNG image of the frames, as api-pullback-frame (tests/scoring/test_viewer_lmode.py)",
}


def _url_names(patterns=None) -> list[str]:
    names = []
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            if p.namespace != "admin":  # Django's admin: admins only, its own permission checks
                names += _url_names(p.url_patterns)
        elif isinstance(p, URLPattern):
            names.append(p.name or f"(unnamed: {p.pattern})")
    return names


def test_every_url_is_fetched_or_has_a_reason():
    names = set(_url_names())
    assert names - set(FETCHED) - set(NOT_FETCHED) == set(), "a new URL: add it to FETCHED (or to NOT_FETCHED with why)"
    assert (set(FETCHED) | set(NOT_FETCHED)) - names == set(), "a listed URL no longer exists"
    assert set(FETCHED) & set(NOT_FETCHED) == set()


def _text(response) -> str:
    if response["Content-Type"].startswith("application/vnd.openxmlformats"):
        book = load_workbook(io.BytesIO(response.content))
        return "\n".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None)
    return response.content.decode("utf-8", errors="replace")


def _markers_in(text: str) -> set[str]:
    found = {m for m in ALL_MARKERS if m in text}
    if any(form in text for form in OTHER_DATE_OF_BIRTH_FORMS):
        found.add(MARKERS["registry.PatientIdentity.date_of_birth"])
    return found


def _received(user, world) -> dict[str, set[str]]:
    """path -> the markers in the response body, for every fetched path."""
    client = client_for(user)
    received = {}
    for name, paths in FETCHED.items():
        for path in paths(world):
            response = client.get(path)
            assert response.status_code < 500, (name, path)
            received[path] = _markers_in(_text(response))
    return received


def test_the_investigator_receives_no_identifier_and_no_free_text_anywhere(world, investigator):
    received = _received(investigator, world)

    assert {path: found for path, found in received.items() if found} == {}
    # Not vacuous: the investigator did get the patient pages, the analysis data and the downloads.
    detail = client_for(investigator).get(reverse("patient_detail", kwargs=_patient(world)))
    assert detail.status_code == 200 and "ICS-0001" in detail.content.decode()
    run = world["run"]
    assert client_for(investigator).get(reverse("analytics_run_xlsx", kwargs={"pk": run.pk})).status_code == 200
    assert client_for(investigator).get(reverse("api-analysis-dataset")).json()["count"] == 61


@pytest.mark.parametrize("role", ["coordinator", "clinician", "admin"])
def test_the_roles_that_may_see_them_receive_every_marker(world, personas, role):
    received = _received(personas[role], world)

    everything = set().union(*received.values())
    expected = set(ALL_MARKERS) - (IMPORT_MARKERS | FOLLOW_UP_ONLY_MARKERS if role == "clinician" else set())
    assert everything == expected
    assert received[reverse("patient_detail", kwargs=_patient(world))] >= PATIENT_PAGE_MARKERS | {AUDIT_OLD_VALUE}
