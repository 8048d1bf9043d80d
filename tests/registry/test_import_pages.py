"""The import pages: uploads that are not CSV UTF-8 text with the right header are refused before
a job is queued; an import's outcome and problems in words; a failed import's progress; the
template files and the data dictionary made from the importer's own column definitions; the
import history."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import csv_io, import_text, rules
from registry.importer import registry_import
from registry.models import ImportJob, Patient
from tests.conftest import client_for
from tests.factories import UserFactory

PATIENT_HEADER = ",".join(c.name for c in csv_io.PATIENT_COLUMNS)
EVENT_HEADER = ",".join(c.name for c in csv_io.EVENT_COLUMNS)
PATIENT_ROW = "ICS-0101,M,64.5,2016-03-01,1,0,1,0,,1,0,0,0,0,0,72,ACS,PCI,LAD,1,180.5,2021-03-01"
DICOM_HEAD = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + b"\x00" * 64


def _upload(name: str, content: bytes | str) -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def _post(client, django_capture_on_commit_callbacks, patients, events=None):
    files = {"patients_file": patients} | ({"events_file": events} if events is not None else {})
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/import/", files)


# File-type checks before anything is queued --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("patients.csv", DICOM_HEAD, "patients.csv is a DICOM image (pullbacks are uploaded on the patient's page)"),
        ("scan.dcm", DICOM_HEAD, "scan.dcm is a DICOM image"),
        ("notes.dcm", "just some text\n", "notes.dcm is not a CSV file (its name ends in .dcm): choose patients.csv"),
        ("patients.dcm", f"{PATIENT_HEADER}\n{PATIENT_ROW}\n", "patients.dcm is not a CSV file (its name ends in .dcm)"),
        ("patients", f"{PATIENT_HEADER}\n", "patients is not a CSV file (its name has no .csv ending)"),
        ("patients.csv", b"PK\x03\x04\x14\x00\x06\x00", "is a compressed file such as an Excel workbook"),
        ("patients.csv", b"%PDF-1.7\n", "patients.csv is a PDF document"),
        ("patients.csv", b"study_id\x00\x01\x02", "patients.csv is a binary file, not CSV UTF-8 text"),
        ("patients.csv", "study_id,sex\n".encode("utf-16"), "patients.csv is UTF-16 text"),
        ("patients.csv", "study_id,naam\nICS-1,Jos\xe9\n".encode("latin-1"), "patients.csv is not UTF-8 text (byte 0xe9"),
        (
            "patients.csv",
            "name,date of birth\nJan,1950-01-01\n",
            "patients.csv does not have the header row of patients.csv",
        ),
        ("events.csv", f"{EVENT_HEADER}\nICS-1,mi,2018-01-01,1,0\n", "events.csv looks like events.csv"),
    ],
)
def test_a_file_that_is_not_csv_utf8_with_the_expected_header_is_refused_before_a_job_is_queued(
    coordinator, django_capture_on_commit_callbacks, name, content, message
):
    response = _post(client_for(coordinator), django_capture_on_commit_callbacks, _upload(name, content))

    assert response.status_code == 200
    errors = response.context["form"].errors["patients_file"]
    assert len(errors) == 1 and message in errors[0], errors
    assert not ImportJob.objects.exists()


def test_a_swapped_events_file_is_named_for_what_it_is(coordinator, django_capture_on_commit_callbacks):
    response = _post(
        client_for(coordinator),
        django_capture_on_commit_callbacks,
        _upload("patients.csv", f"{PATIENT_HEADER}\n{PATIENT_ROW}\n"),
        _upload("export.csv", f"{PATIENT_HEADER}\n{PATIENT_ROW}\n"),
    )

    (error,) = response.context["form"].errors["events_file"]
    assert error.startswith("export.csv looks like patients.csv (its header has study_id, sex, age_at_index, index_date)")
    assert not ImportJob.objects.exists()


def test_a_missing_column_is_named_before_the_upload(coordinator, django_capture_on_commit_callbacks):
    header = PATIENT_HEADER.replace(",egfr", "")
    response = _post(client_for(coordinator), django_capture_on_commit_callbacks, _upload("p.csv", f"{header}\n"))

    (error,) = response.context["form"].errors["patients_file"]
    assert "missing column(s): egfr" in error


@pytest.mark.parametrize("name", ["patients.csv", "PATIENTS.CSV", "patients.txt"])
def test_csv_utf8_text_with_the_header_is_accepted_and_imported(coordinator, site, django_capture_on_commit_callbacks, name):
    content = "\ufeff" + f"{PATIENT_HEADER},site\n{PATIENT_ROW},EMC\n"  # a spreadsheet's byte-order mark is fine

    response = _post(client_for(coordinator), django_capture_on_commit_callbacks, _upload(name, content))

    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.status == "succeeded"
    assert Patient.objects.filter(study_id="ICS-0101").exists()


# Outcome and problems in words ---------------------------------------------------------------


def test_the_summary_reads_as_words(coordinator, site, django_capture_on_commit_callbacks):
    client = client_for(coordinator)
    patients = f"{PATIENT_HEADER},site\n{PATIENT_ROW},EMC\n{PATIENT_ROW.replace('ICS-0101', 'ICS-0102')},EMC\n"
    events = f"{EVENT_HEADER}\nICS-0101,mi,2018-02-01,1,0\n"
    _post(client, django_capture_on_commit_callbacks, _upload("p.csv", patients), _upload("e.csv", events))

    html = client.get(f"/import/{ImportJob.objects.get().pk}/").content.decode()

    assert "<li>2 patients created</li>" in html
    assert "<li>1 event created</li>" in html
    assert "<li>2 last contacts created</li>" in html
    assert "Patients_created" not in html and "patients_created" not in html
    assert "0 events" not in html  # zeros are left out


def test_problems_name_the_row_and_column_and_never_read_none(coordinator, site, django_capture_on_commit_callbacks):
    client = client_for(coordinator)
    bad_age = PATIENT_ROW.replace("64.5", "12").replace("ICS-0101", "ICS-0102")
    bad_cells = PATIENT_ROW.replace(",72,", ",72,extra,").replace("ICS-0101", "ICS-0103")
    _post(
        client,
        django_capture_on_commit_callbacks,
        _upload("p.csv", f"{PATIENT_HEADER}\n{PATIENT_ROW}\n{bad_age}\n{bad_cells}\n"),
    )

    job = ImportJob.objects.get()
    html = client.get(f"/import/{job.pk}/").content.decode()

    assert job.status == "failed" and not Patient.objects.exists()
    assert "<li>Row 3, column age_at_index: must be between 18 and 110 years (got 12)</li>" in html
    assert "<li>Row 4: has 23 cells, expected 22 as in the header</li>" in html
    assert "None" not in html


def test_a_problem_of_the_whole_file_names_the_file(coordinator):
    job = ImportJob.objects.create(
        created_by=coordinator,
        patients_file="imports/p.csv",
        status="failed",
        progress_percent=10,
        problems=[
            {"file": "events.csv", "row": None, "column": None, "message": "is not UTF-8 text (byte 0xe9 at position 70)"},
            {"file": "patients.csv", "row": 1, "column": None, "message": "missing column(s): egfr"},
        ],
    )

    html = client_for(coordinator).get(f"/import/{job.pk}/").content.decode()

    assert "<li>events.csv: is not UTF-8 text (byte 0xe9 at position 70)</li>" in html
    assert "<li>Header (row 1): missing column(s): egfr</li>" in html
    assert "None" not in html


def test_a_failed_import_shows_its_failure_not_a_progress_bar_standing_still(coordinator):
    job = ImportJob.objects.create(
        created_by=coordinator,
        patients_file="imports/p.csv",
        status="failed",
        progress_percent=10,
        error="The import stopped because of an unexpected error (OperationalError: disk full). Nothing was imported.",
    )
    client = client_for(coordinator)

    html = client.get(f"/import/{job.pk}/").content.decode()
    status = client.get(f"/import/{job.pk}/status.json").json()

    assert "<progress" not in html
    assert 'class="job-failed-bar"' in html
    assert "The import failed after checking 10 %: nothing was imported." in html
    assert "disk full" in html
    assert 'data-done="true"' in html  # the page does not poll any more
    assert status["done"] is True and status["status"] == "failed"


def test_a_running_import_keeps_its_progress_bar(coordinator):
    job = ImportJob.objects.create(
        created_by=coordinator, patients_file="imports/p.csv", status="running", progress_percent=40
    )

    html = client_for(coordinator).get(f"/import/{job.pk}/").content.decode()

    assert '<progress id="import-progress" max="100" value="40">' in html and 'data-done="false"' in html


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        ({"file": "patients.csv", "row": 7, "column": "egfr", "message": "must be between 0 and 200 ml/min (got 250)"},
         "patients.csv row 7, column egfr: must be between 0 and 200 ml/min (got 250)"),
        ({"file": "events.csv", "row": 3, "column": None, "message": "has 4 cells"}, "events.csv row 3: has 4 cells"),
        ({"file": "patients.csv", "row": 1, "column": None, "message": "missing column(s): sex"},
         "patients.csv header (row 1): missing column(s): sex"),
        ({"file": "events.csv", "row": None, "column": None, "message": "the file is empty"}, "events.csv: the file is empty"),
    ],
)  # fmt: skip
def test_problem_text(problem, text):
    assert import_text.problem_text(problem) == text


def test_summary_lines_are_words_in_a_fixed_order_whatever_the_stored_order():
    summary = {"events_created": 1, "patients_unchanged": 0, "contacts_removed": 2, "patients_created": 60}

    assert import_text.summary_lines(summary) == ["60 patients created", "1 event created", "2 last contacts removed"]
    assert import_text.summary_text({"patients_created": 0}).startswith("Nothing to change")


# Template and data dictionary -----------------------------------------------------------------


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize(
    ("file", "columns"),
    [
        ("patients.csv", (*csv_io.PATIENT_COLUMNS, *csv_io.PATIENT_OPTIONAL_COLUMNS)),
        ("events.csv", csv_io.EVENT_COLUMNS),
    ],
)
def test_each_template_has_the_importers_columns_and_one_example_row(coordinator, file, columns):
    response = client_for(coordinator).get(f"/import/template/{file}")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{file}"'
    header, *examples = _rows(response)
    assert header == [c.name for c in columns]
    assert len(examples) == 1 and len(examples[0]) == len(header)


def test_the_templates_import_cleanly_as_they_are(coordinator, site):
    client = client_for(coordinator)
    patients = client.get("/import/template/patients.csv").content.decode()
    events = client.get("/import/template/events.csv").content.decode()

    report = registry_import(
        user=coordinator, patients_csv=io.StringIO(patients), events_csv=io.StringIO(events), dry_run=True, site_code="EMC"
    )

    assert report.summary["patients_created"] == 1 and report.summary["events_created"] == 1


def test_an_unknown_template_is_404(coordinator):
    assert client_for(coordinator).get("/import/template/analysis_dataset.csv").status_code == 404


def test_the_data_dictionary_lists_every_column_the_importer_reads(coordinator):
    response = client_for(coordinator).get("/import/dictionary/")

    files = dict(response.context["files"])
    assert [r.column for r in files["patients.csv"]] == [
        c.name for c in (*csv_io.PATIENT_COLUMNS, *csv_io.PATIENT_OPTIONAL_COLUMNS)
    ]
    assert [r.column for r in files["events.csv"]] == [c.name for c in csv_io.EVENT_COLUMNS]
    assert all(row.meaning for rows in files.values() for row in rows)


def test_the_data_dictionary_states_types_allowed_values_ranges_and_what_is_required(coordinator):
    response = client_for(coordinator).get("/import/dictionary/")

    rows = {(file, r.column): r for file, file_rows in response.context["files"] for r in file_rows}
    assert rows["patients.csv", "age_at_index"].values == f"number: years, {rules.AGE_MIN}-{rules.AGE_MAX}"
    assert rows["patients.csv", "egfr"].values == "number: ml/min/1.73 m², 0-200"
    assert rows["patients.csv", "sex"].values == "one of M (Male), F (Female)"
    assert rows["events.csv", "event_type"].values == "one of death, stroke, mi (Myocardial infarction), revascularization"
    assert rows["patients.csv", "index_treatment"].values == "one of PCI, CABG, conservative"
    assert rows["patients.csv", "index_date"].required == "Yes"
    assert rows["patients.csv", "egfr"].required == "Column yes; value may be empty"
    assert rows["patients.csv", "site"].required == "No: column may be left out"
    assert rows["patients.csv", "hypertension"].values == "1 (yes) or 0 (no); empty: unknown"
    assert rows["events.csv", "verified"].values == "1 (yes) or 0 (no)"  # required: never unknown
    assert rows["patients.csv", "ics_source"].values.startswith("one of registry import, study core lab, earlier")
    html = response.content.decode()
    assert "<code>last_contact_date</code>" in html and 'href="/import/template/events.csv"' in html


def test_the_upload_page_links_the_templates_the_dictionary_and_the_history(coordinator):
    html = client_for(coordinator).get("/import/").content.decode()

    for href in ("/import/template/patients.csv", "/import/template/events.csv", "/import/dictionary/", "/import/history/"):
        assert f'href="{href}"' in html


# Import history ------------------------------------------------------------------------------


def _job(user, **fields) -> ImportJob:
    return ImportJob.objects.create(created_by=user, patients_file="imports/p.csv", **fields)


def test_the_history_lists_the_users_own_imports_in_words_with_links_to_their_reports(coordinator, admin_user):
    done = _job(coordinator, status="succeeded", progress_percent=100, summary={"patients_created": 60, "events_created": 0})
    failed = _job(
        coordinator, status="failed", problems=[{"file": "patients.csv", "row": 3, "column": "sex", "message": "x"}]
    )
    queued = _job(coordinator)
    others = _job(admin_user, status="succeeded", summary={"patients_updated": 2})

    response = client_for(coordinator).get("/import/history/")
    html = response.content.decode()

    assert [row["job"].pk for row in response.context["rows"]] == [queued.pk, failed.pk, done.pk]
    assert "60 patients created." in html
    assert "1 problem in the files; nothing was imported." in html
    assert "Waiting for the worker to start." in html
    assert f'href="/import/{done.pk}/"' in html and f'href="/import/{others.pk}/"' not in html
    assert "<td>coordinator</td>" in html


def test_an_admin_sees_every_import_in_the_history(coordinator, admin_user):
    _job(coordinator)
    _job(admin_user)

    response = client_for(admin_user).get("/import/history/")

    assert len(response.context["rows"]) == 2


@pytest.mark.parametrize("path", ["/import/history/", "/import/dictionary/", "/import/template/patients.csv"])
@pytest.mark.parametrize(("persona", "status"), [("clinician", 403), ("investigator", 403), ("outsider", 403)])
def test_the_import_pages_are_for_coordinators_and_admins(personas, path, persona, status):
    assert client_for(personas[persona]).get(path).status_code == status


def test_the_history_page_costs_the_same_queries_however_many_imports(coordinator, django_assert_max_num_queries):
    other = UserFactory(username="other-importer")
    for n in range(30):
        _job(coordinator, status="succeeded", summary={"patients_created": n})
        _job(other)
    client = client_for(coordinator)

    with django_assert_max_num_queries(6):
        response = client.get("/import/history/")

    assert len(response.context["rows"]) == 30
