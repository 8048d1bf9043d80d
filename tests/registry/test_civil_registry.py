"""Civil-registry checks (registry.civil_registry): the request file (who is in it, its columns, the
audit), the response (every rule as a row-numbered problem with nothing written, deaths, alive
contacts, pending deaths verified, idempotence, site scope), the command and the web page."""

import csv
import io
import re
from datetime import date

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.roles import COORDINATOR
from registry.civil_registry import REQUEST_COLUMNS, ResponseFailed, export_rows, import_response, write_export
from registry.models import (
    AuditEntry,
    ClinicalEvent,
    ContactMethod,
    EventSource,
    FollowUpContact,
    Patient,
    Verification,
    VitalStatus,
)
from tests.conftest import client_for
from tests.factories import (
    ContactFactory,
    EventFactory,
    IdentityFactory,
    PatientFactory,
    UserFactory,
    assert_no_external_assets,
)

pytestmark = pytest.mark.django_db

HEADER = "study_id,vital_status,date_of_death,checked_on"
FILE = "response-2026-11.csv"


@pytest.fixture(autouse=True)
def _today():
    # "In the future" is judged against this day.
    with time_machine.travel("2026-11-27 12:00 +0000", tick=False):
        yield


def _death(patient, day: date, verification: str = Verification.VERIFIED, **fields) -> ClinicalEvent:
    return EventFactory(
        patient=patient, event_type="death", event_date=day, target_vessel=None, verification=verification, **fields
    )


def _response(*lines: str, header: str = HEADER) -> io.StringIO:
    return io.StringIO("\n".join([header, *lines]) + "\n")


def _counts() -> tuple[int, int, int]:
    return ClinicalEvent.objects.count(), FollowUpContact.objects.count(), AuditEntry.objects.count()


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# The request file --------------------------------------------------------------------------------


@pytest.fixture
def cohort(site, other_site):
    """Living patients with and without identifiers, at two sites, and the ones the request leaves out."""
    living = PatientFactory(study_id="ICS-0001", site=site, sex="F")
    IdentityFactory(patient=living, family_name="Jansen", date_of_birth=date(1950, 1, 31), hospital_number="MRN0000001")
    no_identity = PatientFactory(study_id="ICS-0002", site=site, sex="M")
    rejected_death = PatientFactory(study_id="OTH-0001", site=other_site, sex="M")
    _death(rejected_death, date(2019, 1, 1), verification=Verification.REJECTED)
    dead = PatientFactory(study_id="ICS-0003", site=site)
    _death(dead, date(2020, 1, 1))
    pending_death = PatientFactory(study_id="ICS-0004", site=site)
    _death(pending_death, date(2020, 2, 1), verification=Verification.PENDING)
    PatientFactory(study_id="ICS-0005", site=site, withdrawn_on=date(2018, 1, 1), withdrawal_reason="withdrew consent")
    return {"living": living, "no_identity": no_identity, "rejected_death": rejected_death}


def test_the_request_lists_living_not_withdrawn_patients_with_exactly_the_columns(cohort):
    out = io.StringIO()

    count = write_export(out, user=None)

    assert count == 3
    assert _read(out.getvalue()) == [
        list(REQUEST_COLUMNS),
        ["ICS-0001", "Jansen", "1950-01-31", "F", "MRN0000001"],
        ["ICS-0002", "", "", "M", ""],
        ["OTH-0001", "", "", "M", ""],
    ]
    assert REQUEST_COLUMNS == ("study_id", "family_name", "date_of_birth", "sex", "hospital_number")


def test_a_dead_patient_is_left_out_by_the_stored_vital_status_too(cohort):
    Patient.objects.filter(pk=cohort["no_identity"].pk).update(fu_vital_status=VitalStatus.DEAD)

    assert [r["study_id"] for r in export_rows(Patient.objects.all())] == ["ICS-0001", "OTH-0001"]


def test_the_request_of_one_site(cohort):
    out = io.StringIO()

    assert write_export(out, user=None, site="OTH") == 1

    assert _read(out.getvalue())[1:] == [["OTH-0001", "", "", "M", ""]]


def test_the_export_is_audited_once_with_the_file_name_the_count_and_the_site(cohort, tmp_path):
    before = AuditEntry.objects.count()

    write_export(tmp_path / "request.csv", user=None, site="EMC")

    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.action, entry.entity, entry.object_id) == (
        AuditEntry.Action.EXPORT,
        "civil_registry_export",
        "request.csv",
    )
    assert entry.changes == {"patients": [None, 2], "site": [None, "EMC"]}
    assert (entry.user, entry.username, entry.patient) == (None, "system", None)
    assert (tmp_path / "request.csv").read_text().startswith("study_id,family_name,")


def test_the_export_of_all_sites_is_audited_as_all_with_the_acting_user(cohort, coordinator):
    write_export(io.StringIO(), user=coordinator, file_name="civil.csv")

    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.user, entry.username, entry.object_id) == (coordinator, "coordinator", "civil.csv")
    assert entry.changes == {"patients": [None, 3], "site": [None, "all"]}


def test_a_site_restricted_user_exports_only_their_sites_and_not_another_site(cohort, other_site_coordinator):
    out = io.StringIO()

    assert write_export(out, user=other_site_coordinator) == 1
    assert [row[0] for row in _read(out.getvalue())[1:]] == ["OTH-0001"]
    with pytest.raises(ValidationError, match="unknown site EMC"):
        write_export(io.StringIO(), user=other_site_coordinator, site="EMC")


def test_text_that_a_spreadsheet_would_run_is_neutralised(site):
    IdentityFactory(patient=PatientFactory(study_id="ICS-0001", site=site), family_name="=HYPERLINK(1)")
    out = io.StringIO()

    write_export(out, user=None)

    assert _read(out.getvalue())[1][1] == "'=HYPERLINK(1)"


# The response: rules -----------------------------------------------------------------------------


@pytest.fixture
def followed(site, other_site):
    """ICS-0001 (index 2015-03-02) with a phone contact on 2017-06-01 and a pending MI on 2016-05-10;
    OTH-0001 at the other site."""
    patient = PatientFactory(study_id="ICS-0001", site=site)
    ContactFactory(patient=patient, contact_date=date(2017, 6, 1))
    EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10))
    PatientFactory(study_id="ICS-0002", site=site)
    PatientFactory(study_id="OTH-0001", site=other_site)
    return patient


RULE_CASES = [
    (
        "unknown study_id",
        ["ICS-9999,alive,,2026-01-05"],
        "row 2: unknown study_id ICS-9999: no patient that you may see has it",
    ),
    (
        "study_id twice",
        ["ICS-0001,alive,,2026-01-05", "ICS-0001,unknown,,2026-01-05"],
        "row 3: study_id ICS-0001 appears more than once in the file (first in row 2)",
    ),
    (
        "impossible date",
        ["ICS-0001,deceased,2021-02-30,2026-01-05"],
        "row 2: date_of_death: 2021-02-30 is not a valid date (YYYY-MM-DD)",
    ),
    ("bad date", ["ICS-0001,alive,,05/01/2026"], "row 2: checked_on: 05/01/2026 is not a valid date (YYYY-MM-DD)"),
    (
        "death before the index date",
        ["ICS-0001,deceased,2014-12-31,2026-01-05"],
        "row 2: date_of_death: 2014-12-31 is before the index date 2015-03-02",
    ),
    (
        "death before a later contact",
        ["ICS-0001,deceased,2017-01-01,2026-01-05"],
        "row 2: date_of_death: death on 2017-01-01 is before the patient's follow-up record on 2017-06-01: "
        "nothing may follow death",
    ),
    (
        "death after checked_on",
        ["ICS-0001,deceased,2025-06-01,2025-05-01"],
        "row 2: date_of_death: 2025-06-01 is after checked_on 2025-05-01",
    ),
    (
        "checked_on in the future",
        ["ICS-0001,alive,,2026-11-28"],
        "row 2: checked_on: 2026-11-28 is in the future (today is 2026-11-27)",
    ),
    (
        "checked_on before the index date",
        ["ICS-0001,unknown,,2015-03-01"],
        "row 2: checked_on: 2015-03-01 is before the index date 2015-03-02",
    ),
    ("checked_on missing", ["ICS-0001,alive,,"], "row 2: checked_on: is required"),
    (
        "deceased without a date",
        ["ICS-0001,deceased,,2026-01-05"],
        "row 2: date_of_death: is required when vital_status is deceased",
    ),
    (
        "alive with a date of death",
        ["ICS-0001,alive,2025-01-01,2026-01-05"],
        "row 2: date_of_death: must be empty when vital_status is alive (got 2025-01-01)",
    ),
    (
        "unknown vital status",
        ["ICS-0001,dead,2025-01-01,2026-01-05"],
        "row 2: vital_status: must be one of alive, deceased, unknown (got dead)",
    ),
    ("too few cells", ["ICS-0001,alive,2026-01-05"], "row 2: has 3 cells, expected 4 as in the header"),
]


@pytest.mark.parametrize(("lines", "expected"), [c[1:] for c in RULE_CASES], ids=[c[0] for c in RULE_CASES])
def test_each_rule_gives_its_row_numbered_problem_and_nothing_is_written(followed, lines, expected):
    before = _counts()
    # A valid row last: it is not written either.
    with pytest.raises(ResponseFailed) as failed:
        import_response(_response(*lines, "ICS-0002,alive,,2026-01-05"), user=None, file_name=FILE)

    assert expected in failed.value.messages
    assert _counts() == before


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("study_id,vital_status,checked_on", "row 1: missing column(s): date_of_death"),
        (f"{HEADER},notes", "row 1: unknown column(s): notes"),
    ],
)
def test_a_missing_or_extra_column_is_named(followed, header, expected):
    before = _counts()
    with pytest.raises(ResponseFailed) as failed:
        import_response(_response("ICS-0001,alive,,2026-01-05", header=header), user=None, file_name=FILE)

    assert failed.value.messages == [expected]
    assert _counts() == before


def test_every_problem_of_the_file_is_listed_in_row_order(followed):
    lines = ["ICS-9999,alive,,2026-01-05", "ICS-0002,deceased,,2026-01-05", "ICS-0001,alive,,2026-11-30"]

    with pytest.raises(ResponseFailed) as failed:
        import_response(_response(*lines), user=None, file_name=FILE)

    assert failed.value.messages == [
        "row 2: unknown study_id ICS-9999: no patient that you may see has it",
        "row 3: date_of_death: is required when vital_status is deceased",
        "row 4: checked_on: 2026-11-30 is in the future (today is 2026-11-27)",
    ]


def test_a_verified_death_on_another_date_is_a_problem(followed):
    _death(followed, date(2020, 1, 1))
    before = _counts()

    with pytest.raises(ResponseFailed) as failed:
        import_response(_response("ICS-0001,deceased,2020-01-02,2026-01-05"), user=None, file_name=FILE)

    assert failed.value.messages[0].startswith(
        "row 2: date_of_death: 2020-01-02 differs from the patient's verified death on 2020-01-01"
    )
    assert _counts() == before


def test_alive_after_a_recorded_death_is_a_problem(followed):
    _death(followed, date(2020, 1, 1))

    with pytest.raises(ResponseFailed) as failed:
        import_response(_response("ICS-0001,alive,,2026-01-05"), user=None, file_name=FILE)

    assert failed.value.messages == ["row 2: checked_on: 2026-01-05 is after the patient's death on 2020-01-01"]


def test_another_sites_patient_is_an_unknown_study_id_for_a_site_restricted_user(followed, site):
    coordinator_a = UserFactory(username="coordinator-a", roles=[COORDINATOR], sites=[site])
    before = _counts()

    with pytest.raises(ResponseFailed) as failed:
        import_response(_response("OTH-0001,deceased,2025-01-01,2026-01-05"), user=coordinator_a, file_name=FILE)

    assert failed.value.messages == ["row 2: unknown study_id OTH-0001: no patient that you may see has it"]
    assert _counts() == before


def test_an_empty_file_is_one_problem(followed):
    with pytest.raises(ResponseFailed) as failed:
        import_response(io.StringIO(""), user=None, file_name=FILE)

    assert failed.value.messages == [f"{FILE}: the file is empty (expected a header row)"]


# The response: what is written -------------------------------------------------------------------


def test_a_death_becomes_a_verified_civil_registry_death_event(followed, coordinator):
    summary = import_response(
        _response("ICS-0002,alive,,2026-01-05", "ICS-0001,deceased,2025-09-14,2026-01-05"), user=coordinator, file_name=FILE
    )

    death = ClinicalEvent.objects.get(patient=followed, event_type="death")
    assert (death.event_date, death.source, death.verification) == (
        date(2025, 9, 14),
        EventSource.CIVIL_REGISTRY,
        Verification.VERIFIED,
    )
    assert (death.source_document, death.notes, death.verified_by) == (f"{FILE} row 3", "", coordinator)
    followed.refresh_from_db()
    assert (followed.fu_vital_status, followed.fu_death_date) == (VitalStatus.DEAD, date(2025, 9, 14))
    assert summary["deaths_recorded"] == 1 and summary["rows"] == 2
    assert set(AuditEntry.objects.filter(patient=followed, entity="clinicalevent").values_list("action", "username")) == {
        (AuditEntry.Action.CREATE, "coordinator"),
        (AuditEntry.Action.VERIFY, "coordinator"),
    }


def test_alive_becomes_a_civil_registry_contact_with_vital_status_alive(followed):
    summary = import_response(_response("ICS-0001,Alive,,2026-01-05"), user=None, file_name=FILE)

    contact = FollowUpContact.objects.get(patient=followed, method=ContactMethod.CIVIL_REGISTRY)
    assert (contact.contact_date, contact.vital_status, contact.notes) == (date(2026, 1, 5), VitalStatus.ALIVE, "")
    assert summary == {
        "rows": 1,
        "deaths_recorded": 0,
        "deaths_verified": 0,
        "deaths_already_known": 0,
        "alive_recorded": 1,
        "alive_already_recorded": 0,
        "unknown": 0,
    }


def test_unknown_writes_nothing(followed):
    before = _counts()

    summary = import_response(_response("ICS-0001,unknown,,2026-01-05"), user=None, file_name=FILE)

    assert _counts() == before
    assert (summary["unknown"], summary["rows"]) == (1, 1)


def test_a_pending_death_is_verified_and_its_date_corrected(followed):
    pending = _death(followed, date(2025, 9, 15), verification=Verification.PENDING, event_date_precision="month")

    summary = import_response(_response("ICS-0001,deceased,2025-09-03,2026-01-05"), user=None, file_name=FILE)

    pending.refresh_from_db()
    assert (pending.event_date, pending.event_date_precision, pending.verification) == (
        date(2025, 9, 3),
        "day",
        Verification.VERIFIED,
    )
    assert pending.source_document == f"{FILE} row 2"
    assert ClinicalEvent.objects.filter(patient=followed, event_type="death").count() == 1
    update = AuditEntry.objects.get(entity="clinicalevent", object_id=str(pending.pk), action=AuditEntry.Action.UPDATE)
    assert update.reason == f"civil registry response {FILE} row 2"
    assert update.changes["event_date"] == ["2025-09-15", "2025-09-03"]
    assert summary["deaths_verified"] == 1


def test_a_pending_death_on_the_same_date_is_only_verified(followed):
    pending = _death(followed, date(2025, 9, 3), verification=Verification.PENDING)

    import_response(_response("ICS-0001,deceased,2025-09-03,2026-01-05"), user=None, file_name=FILE)

    pending.refresh_from_db()
    assert pending.verification == Verification.VERIFIED
    assert not AuditEntry.objects.filter(object_id=str(pending.pk), action=AuditEntry.Action.UPDATE).exists()


def test_a_verified_death_on_the_same_date_is_left_alone(followed):
    _death(followed, date(2025, 9, 3), source_document="death certificate")
    before = _counts()

    summary = import_response(_response("ICS-0001,deceased,2025-09-03,2026-01-05"), user=None, file_name=FILE)

    assert _counts() == before
    assert summary["deaths_already_known"] == 1
    assert ClinicalEvent.objects.get(event_type="death").source_document == "death certificate"


def test_the_same_file_twice_changes_nothing_the_second_time(followed):
    pending = PatientFactory(study_id="ICS-0003", site=followed.site)
    _death(pending, date(2024, 1, 20), verification=Verification.PENDING)
    lines = [
        "ICS-0001,deceased,2025-09-14,2026-01-05",
        "ICS-0002,alive,,2026-01-05",
        "ICS-0003,deceased,2024-01-21,2026-01-05",
        "OTH-0001,unknown,,2026-01-05",
    ]
    first = import_response(_response(*lines), user=None, file_name=FILE)
    after_first = _counts()
    versions = list(ClinicalEvent.objects.order_by("pk").values_list("pk", "version"))

    second = import_response(_response(*lines), user=None, file_name="again.csv")

    assert _counts() == after_first
    assert list(ClinicalEvent.objects.order_by("pk").values_list("pk", "version")) == versions
    assert (first["deaths_recorded"], first["deaths_verified"], first["alive_recorded"]) == (1, 1, 1)
    assert (second["deaths_already_known"], second["alive_already_recorded"], second["unknown"]) == (2, 1, 1)
    assert second["deaths_recorded"] == second["deaths_verified"] == second["alive_recorded"] == 0


# The command --------------------------------------------------------------------------------------


def test_the_export_command_writes_the_request_file(cohort, tmp_path, capsys):
    path = tmp_path / "request.csv"

    call_command("civil_registry", "export", str(path), "--site", "EMC")

    assert [row[0] for row in _read(path.read_text())] == ["study_id", "ICS-0001", "ICS-0002"]
    assert "2 living, not withdrawn patient(s) of site EMC" in capsys.readouterr().out
    assert AuditEntry.objects.filter(action="export", object_id="request.csv", username="system").count() == 1


def test_the_export_command_as_a_coordinator(cohort, tmp_path, coordinator):
    call_command("civil_registry", "export", str(tmp_path / "r.csv"), "--user", "coordinator")

    assert AuditEntry.objects.get(action="export").username == "coordinator"


def test_the_export_command_refuses_an_unknown_site(cohort, tmp_path):
    with pytest.raises(CommandError, match="unknown site NOPE"):
        call_command("civil_registry", "export", str(tmp_path / "r.csv"), "--site", "NOPE")


@pytest.mark.parametrize("who", ["clinician", "investigator", "nobody", "inactive"])
def test_the_command_refuses_a_user_without_the_coordinator_or_admin_role(followed, tmp_path, personas, who):
    if who == "inactive":
        UserFactory(username="inactive", roles=[COORDINATOR], is_active=False)
    path = tmp_path / "response.csv"
    path.write_text(f"{HEADER}\nICS-0001,alive,,2026-01-05\n")
    before = _counts()

    for args in (["export", str(tmp_path / "r.csv")], ["import", str(path)]):
        with pytest.raises(CommandError, match="not an active user with the coordinator or admin role"):
            call_command("civil_registry", *args, "--user", who)

    assert _counts() == before
    assert not (tmp_path / "r.csv").exists()


def test_the_import_command_records_and_prints_a_summary(followed, tmp_path, capsys, admin_user):
    path = tmp_path / "response.csv"
    path.write_text(f"{HEADER}\nICS-0001,deceased,2025-09-14,2026-01-05\nICS-0002,alive,,2026-01-05\n", encoding="utf-8")

    call_command("civil_registry", "import", str(path), "--user", "registry-admin")

    out = capsys.readouterr().out
    assert out.strip() == "response.csv: 2 rows: 1 death recorded, 1 alive contact recorded."
    assert ClinicalEvent.objects.get(event_type="death").source_document == "response.csv row 2"
    assert AuditEntry.objects.filter(username="registry-admin", entity="clinicalevent").count() == 2


def test_the_import_command_lists_the_problems_and_writes_nothing(followed, tmp_path):
    path = tmp_path / "response.csv"
    path.write_text(f"{HEADER}\nICS-0002,alive,,2026-01-05\nICS-0001,deceased,2014-01-01,2026-01-05\nICS-9\n")
    before = _counts()

    with pytest.raises(CommandError) as failed:
        call_command("civil_registry", "import", str(path))

    message = str(failed.value)
    assert "3 problem(s) in response.csv; nothing was written" in message
    assert "row 3: date_of_death: 2014-01-01 is before the index date 2015-03-02" in message
    assert "row 4: has 1 cells, expected 4 as in the header" in message
    assert _counts() == before


def test_the_import_command_says_when_the_file_is_missing(tmp_path):
    with pytest.raises(CommandError, match="not found"):
        call_command("civil_registry", "import", str(tmp_path / "missing.csv"))


# The web page ------------------------------------------------------------------------------------


def _upload(text: str, name: str = FILE) -> dict:
    return {"response-response_file": SimpleUploadedFile(name, text.encode(), content_type="text/csv")}


@pytest.mark.parametrize(
    ("persona", "status"), [("coordinator", 200), ("admin", 200), ("clinician", 403), ("investigator", 403)]
)
def test_the_page_and_the_download_are_for_coordinators_and_admins(followed, personas, persona, status):
    client = client_for(personas[persona])

    assert client.get(reverse("civil_registry")).status_code == status
    assert client.post(reverse("civil_registry_export"), {"export-site": ""}).status_code == status
    assert client.post(reverse("civil_registry"), _upload(f"{HEADER}\n")).status_code == status


def test_the_page_is_accessible_and_runs_no_inline_script(followed, coordinator):
    html = client_for(coordinator).get(reverse("civil_registry")).content.decode()

    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # scripts only from files (the base's chart_toolbar.js)
    assert_no_external_assets(html)
    assert '<label for="id_export-site">' in html and '<label for="id_response-response_file">' in html
    export_page = client_for(coordinator).get(reverse("export")).content.decode()
    assert reverse("civil_registry") in export_page


def test_the_download_offers_only_the_users_sites_and_is_audited(followed, other_site_coordinator):
    client = client_for(other_site_coordinator)
    page = client.get(reverse("civil_registry")).content.decode()
    assert 'value="OTH"' in page and 'value="EMC"' not in page

    response = client.post(reverse("civil_registry_export"), {"export-site": "OTH"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="civil_registry_request-OTH-2026-11-27.csv"' in response["Content-Disposition"]
    assert _read(response.content.decode()) == [list(REQUEST_COLUMNS), ["OTH-0001", "", "", "M", ""]]
    entry = AuditEntry.objects.get(action="export")
    assert (entry.username, entry.object_id) == ("other-coordinator", "civil_registry_request-OTH-2026-11-27.csv")
    # Another site's code is not a choice.
    refused = client.post(reverse("civil_registry_export"), {"export-site": "EMC"})
    assert refused.status_code == 400 and AuditEntry.objects.filter(action="export").count() == 1


def test_an_upload_is_recorded_and_summarised(followed, coordinator):
    response = client_for(coordinator).post(
        reverse("civil_registry"),
        _upload(f"{HEADER}\nICS-0001,deceased,2025-09-14,2026-01-05\nICS-0002,unknown,,2026-01-05\n"),
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "2 rows: 1 death recorded, 1 vital status unknown (nothing recorded)." in html
    assert ClinicalEvent.objects.get(event_type="death").verification == Verification.VERIFIED


def test_an_upload_with_problems_lists_them_and_keeps_nothing(followed, coordinator):
    before = _counts()

    response = client_for(coordinator).post(
        reverse("civil_registry"), _upload(f"{HEADER}\nICS-0002,alive,,2026-01-05\nICS-0001,deceased,,2026-01-05\n")
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "1 problem in response-2026-11.csv: nothing was saved" in html
    assert "row 3: date_of_death: is required when vital_status is deceased" in html
    assert _counts() == before


def test_an_upload_without_a_file_links_the_error_to_the_field(followed, coordinator):
    response = client_for(coordinator).post(reverse("civil_registry"), {})

    assert response.status_code == 400
    assert 'href="#id_response-response_file"' in response.content.decode()


def test_a_coordinator_of_site_a_cannot_record_a_site_b_patient(followed, site):
    coordinator_a = UserFactory(username="coordinator-a", roles=[COORDINATOR], sites=[site])
    before = _counts()

    response = client_for(coordinator_a).post(reverse("civil_registry"), _upload(f"{HEADER}\nOTH-0001,alive,,2026-01-05\n"))

    assert response.status_code == 400
    assert "row 2: unknown study_id OTH-0001" in response.content.decode()
    assert _counts() == before
