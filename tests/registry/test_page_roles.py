"""The role x page matrix of the web pages: every page (GET) and every write (POST) for every
persona, with the exact status code; other sites' patients are 404; investigators never see
direct identifiers, free-text notes or the audit history."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry import services
from registry.models import AuditEntry, ImportJob, Patient
from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, PatientFactory

PERSONAS = ("coordinator", "clinician", "investigator", "admin", "outsider", "anonymous")


def _statuses(coordinator, clinician, investigator, admin, outsider, anonymous) -> dict[str, int]:
    return dict(zip(PERSONAS, (coordinator, clinician, investigator, admin, outsider, anonymous), strict=True))


# Anonymous users are redirected to the login page (302) everywhere.
READ = _statuses(200, 200, 200, 200, 403, 302)
# A patients.csv with the full header and no rows: accepted for import (an empty registry file).
PATIENTS_CSV_HEADER = (
    "study_id,sex,age_at_index,index_date,hypertension,hypercholesterolemia,statin,diabetes,family_history,smoking,"
    "prior_mi,prior_pci,prior_cabg,prior_stroke,prior_pad,egfr,presentation,index_treatment,study_vessel,"
    "vessel_revascularized,ics,last_contact_date,site\n"
)
HOME = _statuses(200, 200, 200, 200, 403, 302)
EDIT_PAGE = _statuses(200, 403, 403, 200, 403, 302)
EDIT_POST = _statuses(302, 403, 403, 302, 403, 302)
IMPORT_EXPORT = _statuses(200, 403, 403, 200, 403, 302)
EXPORT_PAGE = _statuses(200, 403, 200, 200, 403, 302)
ANALYSIS_DATA = _statuses(200, 403, 200, 200, 403, 302)
# The import job below was started by the coordinator: the uploader and admins see it.
IMPORT_JOB = _statuses(200, 403, 403, 200, 403, 302)

NAME, HOSPITAL_NUMBER, DATE_OF_BIRTH = "Johanna Testpersoon", "MRN7654321", date(1950, 1, 31)
CONTACT_NOTE, EVENT_NOTE = "Spoke with her daughter Marieke", "Admitted to the Ikazia hospital"


@pytest.fixture
def world(patient, coordinator):
    """One patient with identifiers (set through the audited service), a contact, a pending event
    and an import job started by the coordinator."""
    services.identity_set(
        user=coordinator,
        patient=patient,
        data={"name": NAME, "hospital_number": HOSPITAL_NUMBER, "date_of_birth": DATE_OF_BIRTH},
    )
    contact = ContactFactory(patient=patient, contact_date=date(2017, 6, 1), notes=CONTACT_NOTE)
    event = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10), notes=EVENT_NOTE)
    job = ImportJob.objects.create(
        created_by=coordinator,
        patients_file="imports/patients.csv",
        status="succeeded",
        progress_percent=100,
        summary={"patients_created": 1},
    )
    return {"patient": patient, "contact": contact, "event": event, "job": job}


def _patient_form(patient: Patient, **changes) -> dict:
    data = {
        "study_id": patient.study_id,
        "site": patient.site_id,
        "sex": patient.sex,
        "age_at_index": patient.age_at_index,
        "index_date": patient.index_date.isoformat(),
        "presentation": patient.presentation,
        "index_treatment": patient.index_treatment,
        "study_vessel": patient.study_vessel,
        "vessel_revascularized": "true",
        "hypertension": "true",
        "diabetes": "false",
        "egfr": patient.egfr,
        "version": patient.version,
    }
    return {**data, **changes}


def _csv(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


# (name, method, url(world), data(world) or None, expected statuses)
CASES = [
    ("home", "get", lambda w: reverse("home"), None, HOME),
    ("patient_list", "get", lambda w: reverse("patient_list"), None, READ),
    ("patient_list_search", "get", lambda w: reverse("patient_list") + "?q=ICS&status=active", None, READ),
    ("patient_detail", "get", lambda w: reverse("patient_detail", args=["ICS-0001"]), None, READ),
    ("worklist", "get", lambda w: reverse("worklist"), None, READ),
    ("patient_create", "get", lambda w: reverse("patient_create"), None, EDIT_PAGE),
    (
        "patient_create",
        "post",
        lambda w: reverse("patient_create"),
        lambda w: {"study_id": "ICS-9001", "site": w["patient"].site_id, "index_date": "2020-01-01"},
        EDIT_POST,
    ),
    ("patient_edit", "get", lambda w: reverse("patient_edit", args=["ICS-0001"]), None, EDIT_PAGE),
    (
        "patient_edit",
        "post",
        lambda w: reverse("patient_edit", args=["ICS-0001"]),
        lambda w: _patient_form(w["patient"], egfr=55, reason="lab report corrected"),
        EDIT_POST,
    ),
    ("identity_edit", "get", lambda w: reverse("identity_edit", args=["ICS-0001"]), None, EDIT_PAGE),
    (
        "identity_edit",
        "post",
        lambda w: reverse("identity_edit", args=["ICS-0001"]),
        lambda w: {
            "name": "Johanna Test",
            "hospital_number": HOSPITAL_NUMBER,
            "date_of_birth": "1950-01-31",
            "reason": "typo in name",
        },
        EDIT_POST,
    ),
    ("patient_withdraw", "get", lambda w: reverse("patient_withdraw", args=["ICS-0001"]), None, EDIT_PAGE),
    (
        "patient_withdraw",
        "post",
        lambda w: reverse("patient_withdraw", args=["ICS-0001"]),
        lambda w: {"withdrawn_on": "2020-01-01", "reason": "withdrew consent"},
        EDIT_POST,
    ),
    ("contact_create", "get", lambda w: reverse("contact_create", args=["ICS-0001"]), None, EDIT_PAGE),
    (
        "contact_create",
        "post",
        lambda w: reverse("contact_create", args=["ICS-0001"]),
        lambda w: {"contact_date": "2020-01-01", "method": "phone", "vital_status": "alive"},
        EDIT_POST,
    ),
    ("contact_edit", "get", lambda w: reverse("contact_edit", args=["ICS-0001", w["contact"].pk]), None, EDIT_PAGE),
    (
        "contact_edit",
        "post",
        lambda w: reverse("contact_edit", args=["ICS-0001", w["contact"].pk]),
        lambda w: {
            "contact_date": "2017-06-02",
            "method": "phone",
            "vital_status": "alive",
            "reason": "wrong day",
            "version": w["contact"].version,
        },
        EDIT_POST,
    ),
    ("contact_delete", "get", lambda w: reverse("contact_delete", args=["ICS-0001", w["contact"].pk]), None, EDIT_PAGE),
    (
        "contact_delete",
        "post",
        lambda w: reverse("contact_delete", args=["ICS-0001", w["contact"].pk]),
        lambda w: {"reason": "entered for the wrong patient"},
        EDIT_POST,
    ),
    ("event_create", "get", lambda w: reverse("event_create", args=["ICS-0001"]), None, EDIT_PAGE),
    (
        "event_create",
        "post",
        lambda w: reverse("event_create", args=["ICS-0001"]),
        lambda w: {"event_type": "stroke", "event_date": "2019-01-01", "source": "hospital_record"},
        EDIT_POST,
    ),
    ("event_edit", "get", lambda w: reverse("event_edit", args=["ICS-0001", w["event"].pk]), None, EDIT_PAGE),
    (
        "event_edit",
        "post",
        lambda w: reverse("event_edit", args=["ICS-0001", w["event"].pk]),
        lambda w: {
            "event_type": "mi",
            "event_date": "2016-05-11",
            "target_vessel": "true",
            "source": "hospital_record",
            "reason": "date from the discharge letter",
            "version": w["event"].version,
        },
        EDIT_POST,
    ),
    ("event_delete", "get", lambda w: reverse("event_delete", args=["ICS-0001", w["event"].pk]), None, EDIT_PAGE),
    (
        "event_delete",
        "post",
        lambda w: reverse("event_delete", args=["ICS-0001", w["event"].pk]),
        lambda w: {"reason": "duplicate"},
        EDIT_POST,
    ),
    ("event_verify", "get", lambda w: reverse("event_verify", args=["ICS-0001", w["event"].pk]), None, EDIT_PAGE),
    (
        "event_verify",
        "post",
        lambda w: reverse("event_verify", args=["ICS-0001", w["event"].pk]),
        lambda w: {"decision": "verified", "source_document": "discharge letter 2016-05-12"},
        EDIT_POST,
    ),
    (
        "event_reject",
        "post",
        lambda w: reverse("event_verify", args=["ICS-0001", w["event"].pk]),
        lambda w: {"decision": "rejected", "reason": "no MI in the hospital record"},
        EDIT_POST,
    ),
    ("import_upload", "get", lambda w: reverse("import_upload"), None, IMPORT_EXPORT),
    (
        "import_upload",
        "post",
        lambda w: reverse("import_upload"),
        lambda w: {"patients_file": _csv("patients.csv", PATIENTS_CSV_HEADER)},
        EDIT_POST,
    ),
    ("import_detail", "get", lambda w: reverse("import_detail", args=[w["job"].pk]), None, IMPORT_JOB),
    ("import_status", "get", lambda w: reverse("import_status", args=[w["job"].pk]), None, IMPORT_JOB),
    ("export", "get", lambda w: reverse("export"), None, EXPORT_PAGE),
    ("export_patients", "get", lambda w: reverse("export_patients"), None, IMPORT_EXPORT),
    ("export_events", "get", lambda w: reverse("export_events"), None, IMPORT_EXPORT),
    (
        "export_analysis",
        "get",
        lambda w: reverse("export_analysis") + "?horizon_days=1826&count_pending=no",
        None,
        ANALYSIS_DATA,
    ),
]


@pytest.fixture
def client_of(personas):
    def make(persona: str):
        return client_for(None if persona == "anonymous" else personas[persona])

    return make


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method", "url", "data", "expected"), CASES, ids=[f"{c[1].upper()} {c[0]}" for c in CASES])
def test_each_persona_gets_the_expected_status(world, client_of, persona, name, method, url, data, expected):
    audit_rows_before = AuditEntry.objects.count()
    client = client_of(persona)
    target = url(world)

    response = client.post(target, data(world)) if method == "post" else client.get(target)

    assert response.status_code == expected[persona], response.content[:2000]
    if persona == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")
    if method == "post" and expected[persona] != 302:
        assert AuditEntry.objects.count() == audit_rows_before
    if method == "post" and persona in ("coordinator", "admin"):
        assert AuditEntry.objects.count() > audit_rows_before or name == "import_upload"


@pytest.mark.parametrize(
    ("persona", "shown", "hidden"),
    [
        ("coordinator", ["Today's work", "Follow-up waves", "The study"], ["Background jobs"]),
        ("admin", ["Today's work", "Follow-up waves", "The study", "Background jobs"], []),
        ("clinician", ["The study"], ["Today's work", "Follow-up waves", "Background jobs"]),
        ("investigator", ["The study"], ["Today's work", "Follow-up waves", "Background jobs"]),
    ],
)
def test_home_is_a_dashboard_per_role(client_of, persona, shown, hidden):
    page = client_of(persona).get("/").content.decode()

    assert all(f">{heading}</h2>" in page for heading in shown)
    assert not any(f">{heading}</h2>" in page for heading in hidden)


_NOT_PATIENT_PAGES = {
    "home",
    "patient_list",
    "patient_list_search",
    "worklist",
    "patient_create",
    "import_upload",
    "import_detail",
    "import_status",
    "export",
    "export_patients",
    "export_events",
    "export_analysis",
}
PATIENT_CASES = [c for c in CASES if c[0] not in _NOT_PATIENT_PAGES]


@pytest.mark.parametrize(
    ("name", "method", "url", "data", "expected"), PATIENT_CASES, ids=[f"{c[1].upper()} {c[0]}" for c in PATIENT_CASES]
)
def test_another_sites_coordinator_gets_404_for_every_patient_page(
    world, other_site_coordinator, name, method, url, data, expected
):
    client = client_for(other_site_coordinator)
    target = url(world)
    audit_rows_before = AuditEntry.objects.count()

    response = client.post(target, data(world)) if method == "post" else client.get(target)

    assert response.status_code == 404
    assert AuditEntry.objects.count() == audit_rows_before


def test_another_sites_coordinator_lists_only_their_sites_patients(world, other_site_coordinator, other_site):
    PatientFactory(study_id="OTH-0001", site=other_site)
    EventFactory(patient=Patient.objects.get(study_id="OTH-0001"), event_type="stroke", target_vessel=None)

    listing = client_for(other_site_coordinator).get("/patients/").content.decode()
    worklist = client_for(other_site_coordinator).get("/worklist/").content.decode()

    assert "OTH-0001" in listing
    assert "ICS-0001" not in listing
    assert "ICS-0001" not in worklist


def test_another_sites_coordinator_cannot_see_another_users_import(world, other_site_coordinator):
    response = client_for(other_site_coordinator).get(reverse("import_detail", args=[world["job"].pk]))

    assert response.status_code == 404


PRIVATE_TEXTS = (NAME, HOSPITAL_NUMBER, "1950-01-31", "31 Jan", CONTACT_NOTE, EVENT_NOTE, "withdrew consent")


@pytest.mark.parametrize("page", ["/patients/", "/patients/ICS-0001/", "/worklist/"])
def test_investigator_never_sees_identifiers_notes_or_audit(world, investigator, coordinator, page):
    services.patient_withdraw(
        user=coordinator, patient=world["patient"], withdrawn_on=date(2020, 1, 1), reason="withdrew consent"
    )

    html = client_for(investigator).get(page).content.decode()

    for text in PRIVATE_TEXTS:
        assert text not in html
    assert "Audit history" not in html
    assert "Identifiers" not in html
    assert "Hospital number" not in html


def test_investigator_cannot_find_a_patient_by_hospital_number(world, investigator):
    response = client_for(investigator).get("/patients/", {"q": HOSPITAL_NUMBER})

    assert response.context["page"].paginator.count == 0
    assert "ICS-0001" not in response.content.decode()


@pytest.mark.parametrize("persona", ["clinician", "coordinator", "admin"])
def test_identifier_roles_see_identifiers_notes_and_audit(world, client_of, persona):
    detail = client_of(persona).get("/patients/ICS-0001/").content.decode()
    listing = client_of(persona).get("/patients/").content.decode()

    for text in (NAME, HOSPITAL_NUMBER, "1950-01-31", CONTACT_NOTE, EVENT_NOTE, "Audit history"):
        assert text in detail
    assert NAME in listing and HOSPITAL_NUMBER in listing


@pytest.mark.parametrize(
    ("persona", "links", "hidden"),
    [
        ("coordinator", ["/worklist/", "/patients/", "/patients/new/", "/import/", "/export/"], []),
        ("admin", ["/worklist/", "/patients/", "/patients/new/", "/import/", "/export/"], []),
        ("clinician", ["/worklist/", "/patients/"], ["/patients/new/", "/import/", "/export/"]),
        ("investigator", ["/worklist/", "/patients/", "/export/"], ["/patients/new/", "/import/"]),
    ],
)
def test_navigation_shows_only_the_links_the_role_allows(world, client_of, persona, links, hidden):
    html = client_of(persona).get("/patients/").content.decode()

    for link in links:
        assert f'href="{link}"' in html
    for link in hidden:
        assert f'href="{link}"' not in html


@pytest.mark.parametrize("persona", ["clinician", "investigator"])
def test_read_only_roles_see_no_write_buttons(world, client_of, persona):
    html = client_of(persona).get("/patients/ICS-0001/").content.decode()

    assert "/edit/" not in html
    assert "Verify against source" not in html
    assert "/withdraw/" not in html


def test_a_user_without_a_role_is_told_to_ask_for_one(outsider):
    response = client_for(outsider).get("/patients/")

    assert response.status_code == 403
    assert "Your account has no registry role yet" in response.content.decode()
    assert 'href="/patients/"' not in response.content.decode()
