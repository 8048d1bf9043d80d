"""The registry CSV import: happy path, upserts, every validation rule (file and registry), the
command line and the background job. Every rejected import must leave the database untouched."""

import csv
import io
from datetime import date
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from registry import csv_io
from registry.importer import ImportFailed, import_job_run, import_job_start, registry_import
from registry.models import (
    AuditEntry,
    ClinicalEvent,
    EventType,
    FollowUpContact,
    ImportJob,
    IndexTreatment,
    Patient,
    Presentation,
    Sex,
    Site,
    Vessel,
)
from tests.factories import ContactFactory, EventFactory, PatientFactory, SiteFactory, set_user_sites

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "registry" / "canonical"
PATIENT_HEADER = [c.name for c in csv_io.PATIENT_COLUMNS]
EVENT_HEADER = [c.name for c in csv_io.EVENT_COLUMNS]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    # "In the future" is judged against this day.
    with time_machine.travel("2026-11-27 12:00 +0000", tick=False):
        yield


def patient_row(**cells) -> dict:
    row = {name: "" for name in PATIENT_HEADER}
    row |= {
        "study_id": "ICS-0001",
        "sex": "M",
        "age_at_index": "65.5",
        "index_date": "2015-03-02",
        "egfr": "78",
        "presentation": "stable",
        "index_treatment": "PCI",
        "study_vessel": "LAD",
        "hypertension": "1",
        "diabetes": "0",
        "vessel_revascularized": "1",
        "last_contact_date": "2021-03-01",
    }
    return row | cells


def event_row(**cells) -> dict:
    return {
        "study_id": "ICS-0001",
        "event_type": "mi",
        "event_date": "2016-04-06",
        "target_vessel": "1",
        "verified": "1",
    } | cells


def csv_text(rows: list[dict], header: list[str] | None = None) -> str:
    header = header or list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row.get(name, "") for name in header] for row in rows])
    return out.getvalue()


def run(patients: list[dict] | str, events: list[dict] | str | None = None, **kwargs):
    patients_text = patients if isinstance(patients, str) else csv_text(patients, PATIENT_HEADER)
    events_text = events if isinstance(events, str) or events is None else csv_text(events, EVENT_HEADER)
    return registry_import(
        user=kwargs.pop("user", None),
        patients_csv=io.StringIO(patients_text),
        events_csv=None if events_text is None else io.StringIO(events_text),
        **kwargs,
    )


def problems_of(patients, events=None, **kwargs) -> list[str]:
    """The problems of a failing import, after checking that it wrote nothing at all."""
    before = row_counts()
    with pytest.raises(ImportFailed) as failed:
        run(patients, events, **kwargs)
    assert row_counts() == before
    return [str(p) for p in failed.value.problems]


def row_counts() -> dict:
    return {model.__name__: model.objects.count() for model in (Patient, ClinicalEvent, FollowUpContact, AuditEntry)}


@pytest.fixture
def unchanged_db():
    """Asserts, after the test, that no patient, event, contact or audit row was written."""
    before = row_counts()
    yield
    assert row_counts() == before


def import_fixture_folder(**kwargs):
    with open(FIXTURES / "patients.csv", newline="") as p, open(FIXTURES / "events.csv", newline="") as e:
        return registry_import(user=kwargs.pop("user", None), patients_csv=p, events_csv=e, **kwargs)


# Happy path and upserts ------------------------------------------------------------------------


def test_it_imports_patients_events_and_last_contacts_from_the_fixture_folder(coordinator):
    report = import_fixture_folder(user=coordinator)

    assert report.summary == {
        "patients_created": 4,
        "patients_updated": 0,
        "patients_unchanged": 0,
        "events_created": 4,
        "events_updated": 0,
        "events_unchanged": 0,
        "contacts_created": 3,
        "contacts_updated": 0,
        "contacts_removed": 0,
    }
    assert row_counts() == {"Patient": 4, "ClinicalEvent": 4, "FollowUpContact": 3, "AuditEntry": 11}
    first = Patient.objects.get(study_id="ICS-0001")
    assert (first.site.code, first.sex, first.age_at_index, first.index_date) == ("EMC", "M", 65.5, date(2015, 3, 2))
    assert (first.hypertension, first.diabetes, first.smoking, first.egfr) == (True, False, True, 78.0)
    assert (first.ics_imported, first.ics_imported_source) == (212.75, "study core lab")
    third = Patient.objects.get(study_id="ICS-0003")
    assert (third.age_at_index, third.egfr, third.hypertension, third.vessel_revascularized) == (None, None, None, None)
    assert (third.presentation, third.index_treatment, third.study_vessel) == ("", "conservative", "RCA")
    assert (third.ics_imported, third.ics_imported_source) == (0.5, "registry import")
    assert Patient.objects.get(study_id="ICS-0004").site.code == "OTH"
    assert Patient.objects.get(study_id="ICS-0004").ics_imported_source == "earlier scoring software"

    contact = FollowUpContact.objects.get(patient=first)
    assert (contact.contact_date, contact.method, contact.vital_status) == (date(2021, 3, 1), "registry_import", "unknown")
    assert not FollowUpContact.objects.filter(patient=third).exists()
    mi = ClinicalEvent.objects.get(patient=first)
    assert (mi.event_type, mi.event_date, mi.target_vessel, mi.source) == ("mi", date(2016, 4, 6), True, "registry_import")
    assert (mi.verification, mi.verified_by, mi.source_document) == ("verified", coordinator, "registry import")
    assert mi.verified_at is not None
    revasc = ClinicalEvent.objects.get(patient=third)
    assert (revasc.verification, revasc.target_vessel, revasc.verified_at) == ("pending", False, None)
    assert ClinicalEvent.objects.get(patient__study_id="ICS-0002", event_type="stroke").target_vessel is None

    audit = AuditEntry.objects.get(entity="patient", object_id=str(first.pk))
    assert (audit.action, audit.user, audit.reason) == ("import", coordinator, "registry import patients.csv")
    assert audit.changes["egfr"] == [None, 78.0]
    event_audit = AuditEntry.objects.get(entity="clinicalevent", object_id=str(mi.pk))
    assert (event_audit.patient, event_audit.reason) == (first, "registry import events.csv")


def test_a_second_import_of_the_same_folder_changes_nothing():
    import_fixture_folder()
    before = {p.study_id: p.updated_at for p in Patient.objects.all()}
    audit_rows = AuditEntry.objects.count()

    report = import_fixture_folder()

    assert report.summary == {
        "patients_created": 0,
        "patients_updated": 0,
        "patients_unchanged": 4,
        "events_created": 0,
        "events_updated": 0,
        "events_unchanged": 4,
        "contacts_created": 0,
        "contacts_updated": 0,
        "contacts_removed": 0,
    }
    assert AuditEntry.objects.count() == audit_rows
    assert {p.study_id: p.updated_at for p in Patient.objects.all()} == before


def test_a_changed_egfr_updates_the_patient_with_an_audit_row_of_old_and_new(coordinator):
    run([patient_row(egfr="78")])
    patient = Patient.objects.get()

    report = run([patient_row(egfr="55.5")], user=coordinator)

    assert (report.summary["patients_updated"], report.summary["patients_unchanged"]) == (1, 0)
    patient.refresh_from_db()
    assert patient.egfr == 55.5
    audit = AuditEntry.objects.filter(entity="patient").order_by("-id").first()
    assert (audit.action, audit.username, audit.changes) == ("import", "coordinator", {"egfr": [78.0, 55.5]})
    assert audit.reason == "registry import patients.csv"


def test_the_import_leaves_registry_rows_that_are_not_in_the_file_alone(site):
    other = PatientFactory(study_id="ICS-0900", site=site, egfr=30.0)
    web_event = EventFactory(patient=other, event_type="stroke", target_vessel=None, event_date=date(2016, 1, 1))

    run([patient_row()], [event_row()])

    other.refresh_from_db()
    web_event.refresh_from_db()
    assert (other.egfr, web_event.event_type, web_event.verification) == (30.0, "stroke", "pending")
    assert Patient.objects.count() == 2


def test_it_creates_the_default_site_and_honours_the_site_option(settings):
    settings.DEFAULT_SITE_CODE = "MAIN"
    run([patient_row(study_id="ICS-0001")])
    run([patient_row(study_id="ICS-0002")], site_code="RDAM")

    assert Patient.objects.get(study_id="ICS-0001").site.code == "MAIN"
    assert Patient.objects.get(study_id="ICS-0002").site.code == "RDAM"
    assert sorted(Site.objects.values_list("code", flat=True)) == ["MAIN", "RDAM"]


def test_verified_0_makes_a_verified_event_pending_again_with_an_audit_row():
    run([patient_row()], [event_row(verified="1")])
    event = ClinicalEvent.objects.get()

    report = run([patient_row()], [event_row(verified="0")])

    event.refresh_from_db()
    assert report.summary["events_updated"] == 1
    assert (event.verification, event.verified_at) == ("pending", None)
    audit = AuditEntry.objects.filter(entity="clinicalevent").order_by("-id").first()
    assert audit.changes["verification"] == ["verified", "pending"]


def test_verified_1_verifies_an_existing_pending_event_and_keeps_its_source(patient):
    event = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 4, 6), target_vessel=True)

    run([patient_row()], [event_row(verified="1")])

    event.refresh_from_db()
    assert (event.verification, event.source, event.source_document) == ("verified", "hospital_record", "registry import")
    assert ClinicalEvent.objects.count() == 1


def test_an_event_the_registry_rejected_is_left_alone(patient):
    rejected = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 4, 6), verification="rejected")

    report = run([patient_row()], [event_row(verified="1")])

    rejected.refresh_from_db()
    assert rejected.verification == "rejected"
    assert ClinicalEvent.objects.count() == 1
    assert (report.summary["events_created"], report.summary["events_updated"]) == (0, 0)


def test_the_imported_last_contact_is_moved_and_removed_when_the_cell_empties():
    run([patient_row(last_contact_date="2021-03-01")])
    contact = FollowUpContact.objects.get()

    moved = run([patient_row(last_contact_date="2022-01-31")])
    contact.refresh_from_db()
    assert (moved.summary["contacts_updated"], contact.contact_date) == (1, date(2022, 1, 31))

    removed = run([patient_row(last_contact_date="")])
    assert removed.summary["contacts_removed"] == 1
    assert not FollowUpContact.objects.exists()
    deletion = AuditEntry.objects.filter(entity="followupcontact").order_by("-id").first()
    assert (deletion.action, deletion.changes["contact_date"]) == ("delete", ["2022-01-31", None])


def test_other_contacts_of_the_patient_are_kept(patient):
    ContactFactory(patient=patient, contact_date=date(2017, 6, 1), method="phone")

    run([patient_row(study_id="ICS-0001")])

    assert list(FollowUpContact.objects.order_by("contact_date").values_list("method", flat=True)) == [
        "phone",
        "registry_import",
    ]


def test_a_bom_crlf_file_with_extra_whitespace_and_any_column_order_imports():
    header = ["index_date ", " study_id", *[n for n in PATIENT_HEADER if n not in ("index_date", "study_id")]]
    text = "\ufeff" + csv_text([patient_row(study_id=" ICS-0001 ")], [h.strip() for h in header])
    text = text.replace("index_date,study_id", ",".join(header[:2])).replace("\n", "\r\n")

    run(text)

    assert Patient.objects.get().study_id == "ICS-0001"


def test_a_dry_run_reports_the_summary_and_writes_nothing(unchanged_db):
    report = import_fixture_folder(dry_run=True)

    assert report.dry_run is True
    assert (report.summary["patients_created"], report.summary["events_created"]) == (4, 4)
    assert not Site.objects.exists()


# Validation: one rule per test; every rejected import writes nothing -------------------------------

PATIENT_RULES = {
    "egfr_range": ({"egfr": "250"}, "patients.csv row 2, column egfr: must be between 0 and 200 ml/min (got 250)"),
    "age_range": (
        {"age_at_index": "15"},
        "patients.csv row 2, column age_at_index: must be between 18 and 110 years (got 15)",
    ),
    "ics_range": ({"ics": "1200"}, "patients.csv row 2, column ics: must be between 0 and 1000 (got 1200)"),
    "index_date_future": (
        {"index_date": "2026-12-01", "last_contact_date": ""},
        "patients.csv row 2, column index_date: 2026-12-01 is in the future (today is 2026-11-27)",
    ),
    "index_date_required": ({"index_date": ""}, "patients.csv row 2, column index_date: is required"),
    "study_id_required": ({"study_id": ""}, "patients.csv row 2, column study_id: is required"),
    "bad_date": (
        {"index_date": "2019-02-30"},
        "patients.csv row 2, column index_date: 2019-02-30 is not a valid date (YYYY-MM-DD)",
    ),
    "bad_date_format": (
        {"last_contact_date": "01/03/2021"},
        "patients.csv row 2, column last_contact_date: 01/03/2021 is not a valid date (YYYY-MM-DD)",
    ),
    "bad_number": ({"egfr": "7o"}, "patients.csv row 2, column egfr: must be a number (got 7o)"),
    "not_a_finite_number": ({"age_at_index": "nan"}, "patients.csv row 2, column age_at_index: must be a number (got nan)"),
    "bad_flag": ({"diabetes": "yes"}, "patients.csv row 2, column diabetes: must be 0 or 1 (got yes)"),
    "bad_sex": ({"sex": "male"}, "patients.csv row 2, column sex: must be one of M, F (got male)"),
    "bad_presentation": (
        {"presentation": "acs"},
        "patients.csv row 2, column presentation: must be one of ACS, stable (got acs)",
    ),
    "bad_treatment": (
        {"index_treatment": "TAVI"},
        "patients.csv row 2, column index_treatment: must be one of PCI, CABG, conservative (got TAVI)",
    ),
    "bad_vessel": (
        {"study_vessel": "RIVA"},
        "patients.csv row 2, column study_vessel: must be one of LAD, LCX, RCA, LM (got RIVA)",
    ),
    "last_contact_before_index": (
        {"last_contact_date": "2014-12-31"},
        "patients.csv row 2, column last_contact_date: 2014-12-31 is before the index date 2015-03-02",
    ),
    "last_contact_future": (
        {"last_contact_date": "2027-01-01"},
        "patients.csv row 2, column last_contact_date: 2027-01-01 is in the future (today is 2026-11-27)",
    ),
    "study_id_too_long": (
        {"study_id": "X" * 41},
        "patients.csv row 2, column study_id: must be at most 40 characters (got 41)",
    ),
}


@pytest.mark.parametrize("cells, expected", PATIENT_RULES.values(), ids=PATIENT_RULES.keys())
def test_it_rejects_a_patient_row_breaking_a_rule(cells, expected):
    assert problems_of([patient_row(**cells)]) == [expected]


EVENT_RULES = {
    "before_index": (
        {"event_date": "2015-03-01"},
        "events.csv row 2, column event_date: 2015-03-01 is before the index date 2015-03-02",
    ),
    "future": (
        {"event_date": "2026-11-28"},
        "events.csv row 2, column event_date: 2026-11-28 is in the future (today is 2026-11-27)",
    ),
    "target_vessel_on_stroke": (
        {"event_type": "stroke", "target_vessel": "0"},
        "events.csv row 2, column target_vessel: applies only to MI and revascularization, not to stroke",
    ),
    "target_vessel_on_death": (
        {"event_type": "death", "target_vessel": "1", "event_date": "2021-03-01"},
        "events.csv row 2, column target_vessel: applies only to MI and revascularization, not to death",
    ),
    "bad_event_type": (
        {"event_type": "bleeding"},
        "events.csv row 2, column event_type: must be one of death, stroke, mi, revascularization (got bleeding)",
    ),
    "verified_required": ({"verified": ""}, "events.csv row 2, column verified: is required"),
    "bad_verified": ({"verified": "2"}, "events.csv row 2, column verified: must be 0 or 1 (got 2)"),
    "unknown_study_id": (
        {"study_id": "ICS-9999"},
        "events.csv row 2, column study_id: ICS-9999 is neither in patients.csv nor in the registry",
    ),
}


@pytest.mark.parametrize("cells, expected", EVENT_RULES.values(), ids=EVENT_RULES.keys())
def test_it_rejects_an_event_row_breaking_a_rule(cells, expected):
    assert problems_of([patient_row()], [event_row(**cells)]) == [expected]


def test_it_rejects_a_duplicate_study_id_within_the_file():
    assert problems_of([patient_row(), patient_row(egfr="50")]) == [
        "patients.csv row 3, column study_id: ICS-0001 appears more than once in the file (first in row 2)"
    ]


def test_it_rejects_the_same_event_twice_in_the_file():
    assert problems_of([patient_row()], [event_row(), event_row(target_vessel="0")]) == [
        "events.csv row 3: the same event (ICS-0001 mi on 2016-04-06) is already in row 2"
    ]


def test_it_rejects_an_event_after_a_death_in_the_same_file():
    events = [event_row(event_type="death", event_date="2019-01-01", target_vessel=""), event_row(event_date="2019-06-01")]
    assert problems_of([patient_row(last_contact_date="2019-01-01")], events) == [
        "events.csv row 3, column event_date: 2019-06-01 is after the patient's death on 2019-01-01"
    ]


def test_it_rejects_a_second_death_in_the_same_file():
    events = [
        event_row(event_type="death", event_date="2019-01-01", target_vessel=""),
        event_row(event_type="death", event_date="2019-01-02", target_vessel=""),
    ]
    assert problems_of([patient_row(last_contact_date="")], events) == [
        "events.csv row 3, column event_type: the patient already has a death on 2019-01-01: one death at most"
    ]


def test_it_rejects_a_death_when_the_registry_already_has_one(patient):
    EventFactory(patient=patient, event_type="death", event_date=date(2018, 1, 1), target_vessel=None)
    death = event_row(event_type="death", event_date="2018-02-01", target_vessel="")
    assert problems_of([patient_row(last_contact_date="")], [death]) == [
        "events.csv row 2, column event_type: the patient already has a death on 2018-01-01: one death at most"
    ]


def test_it_rejects_a_death_before_an_existing_contact(patient):
    ContactFactory(patient=patient, contact_date=date(2020, 5, 5))
    death = event_row(event_type="death", event_date="2019-01-01", target_vessel="")
    assert problems_of([patient_row(last_contact_date="")], [death]) == [
        "events.csv row 2, column event_date: death on 2019-01-01 is before the patient's follow-up record on "
        "2020-05-05: nothing may follow death"
    ]


def test_it_rejects_an_event_after_a_death_already_in_the_registry(patient):
    EventFactory(patient=patient, event_type="death", event_date=date(2018, 1, 1), target_vessel=None)
    header_only_patients = csv_text([patient_row()], PATIENT_HEADER).splitlines()[0] + "\n"
    assert problems_of(header_only_patients, [event_row(event_date="2018-03-01")]) == [
        "events.csv row 2, column event_date: 2018-03-01 is after the patient's death on 2018-01-01"
    ]


def test_it_rejects_a_last_contact_after_a_death_in_events_csv():
    death = event_row(event_type="death", event_date="2019-01-01", target_vessel="")
    assert problems_of([patient_row(last_contact_date="2020-01-01")], [death]) == [
        "patients.csv row 2, column last_contact_date: 2020-01-01 is after the patient's death on 2019-01-01"
    ]


def test_it_checks_events_against_the_index_date_in_the_same_file_not_the_registry(patient):
    # The registry says 2015-03-02; the file moves the index date after the event.
    assert problems_of(
        [patient_row(index_date="2016-05-01", last_contact_date="")], [event_row(event_date="2016-04-06")]
    ) == ["events.csv row 2, column event_date: 2016-04-06 is before the index date 2016-05-01"]


def test_it_rejects_an_index_date_after_the_registry_s_follow_up_records(patient):
    ContactFactory(patient=patient, contact_date=date(2017, 6, 1))
    assert problems_of([patient_row(index_date="2018-01-01", last_contact_date="")]) == [
        "patients.csv row 2, column index_date: 2018-01-01 is after the patient's follow-up record on 2017-06-01"
    ]


def test_it_names_unknown_and_missing_header_columns():
    header = [n for n in PATIENT_HEADER if n not in ("egfr", "sex")] + ["eGFR", "comment"]
    assert problems_of(csv_text([patient_row(eGFR="78")], header)) == [
        "patients.csv row 1: missing column(s): sex, egfr",
        "patients.csv row 1: unknown column(s): eGFR, comment",
    ]


def test_it_names_a_repeated_header_column():
    assert problems_of(csv_text([patient_row()], [*PATIENT_HEADER, "egfr"])) == [
        "patients.csv row 1: column(s) appearing more than once: egfr"
    ]


def test_it_rejects_a_row_with_the_wrong_number_of_cells():
    text = csv_text([patient_row()], PATIENT_HEADER) + "ICS-0002,F,70\n"
    assert problems_of(text) == ["patients.csv row 3: has 3 cells, expected 22 as in the header"]


def test_it_rejects_an_empty_file():
    assert problems_of([patient_row()], "") == ["events.csv: the file is empty (expected a header row)"]


def test_it_rejects_a_file_that_is_not_utf8():
    latin1 = csv_text([patient_row(study_id="ICS-é")], PATIENT_HEADER).encode("latin-1")
    with pytest.raises(ImportFailed) as failed:
        registry_import(user=None, patients_csv=io.TextIOWrapper(io.BytesIO(latin1), encoding="utf-8"), events_csv=None)
    position = latin1.index(b"\xe9")
    assert [str(p) for p in failed.value.problems] == [
        f"patients.csv: is not UTF-8 text (byte 0xe9 at position {position}); save it as CSV UTF-8"
    ]


def test_it_reports_all_problems_of_all_rows_together():
    patients = [
        patient_row(study_id="A", egfr="250"),
        patient_row(study_id="B"),
        patient_row(study_id="C", sex="X"),
        patient_row(study_id="D", age_at_index="111", diabetes="2"),
    ]
    events = [event_row(study_id="B", event_date="2014-01-01"), event_row(study_id="B", event_date="2016-01-01")]

    assert problems_of(patients, events) == [
        "patients.csv row 2, column egfr: must be between 0 and 200 ml/min (got 250)",
        "patients.csv row 4, column sex: must be one of M, F (got X)",
        "patients.csv row 5, column age_at_index: must be between 18 and 110 years (got 111)",
        "patients.csv row 5, column diabetes: must be 0 or 1 (got 2)",
        "events.csv row 2, column event_date: 2014-01-01 is before the index date 2015-03-02",
    ]


def test_a_site_restricted_coordinator_may_not_import_another_site_s_patients(coordinator, site, other_site):
    set_user_sites(coordinator, sites=[site])
    PatientFactory(study_id="ICS-0002", site=other_site)

    rows = [patient_row(study_id="ICS-0001", site="OTH"), patient_row(study_id="ICS-0002")]
    assert problems_of(csv_text(rows, [*PATIENT_HEADER, "site"]), user=coordinator) == [
        "patients.csv row 2, column site: you may import only patients of your site EMC",
        "patients.csv row 3, column study_id: ICS-0002 belongs to another site: you may import only patients of your site EMC",
    ]


def test_another_site_s_patient_gets_one_problem_per_row_revealing_none_of_its_data(coordinator, site, other_site):
    """Rows that would break rules against the other site's data (dates before its index date, after
    its death, an index date after its contacts; an event it rejected) only say "another site"."""
    set_user_sites(coordinator, sites=[site])
    main = PatientFactory(study_id="DEMO-00010", site=other_site, index_date=date(2010, 4, 1))
    EventFactory(patient=main, event_type="death", event_date=date(2023, 5, 1), target_vessel=None, verification="verified")
    ContactFactory(patient=main, contact_date=date(2012, 1, 9))
    events_only = PatientFactory(study_id="DEMO-00011", site=other_site, index_date=date(2011, 7, 7))
    EventFactory(patient=events_only, event_type="mi", event_date=date(2015, 1, 1), verification="rejected")
    patients = [patient_row(study_id="DEMO-00010", index_date="2013-01-01", last_contact_date="2024-01-01")]
    events = [
        event_row(study_id="DEMO-00010", event_date="2024-02-02"),
        event_row(study_id="DEMO-00011", event_date="2009-05-05"),
        event_row(study_id="DEMO-00011", event_date="2015-01-01"),
    ]

    problems = problems_of(patients, events, user=coordinator)

    message = "belongs to another site: you may import only patients of your site EMC"
    assert problems == [
        f"patients.csv row 2, column study_id: DEMO-00010 {message}",
        f"events.csv row 2, column study_id: DEMO-00010 {message}",
        f"events.csv row 3, column study_id: DEMO-00011 {message}",
        f"events.csv row 4, column study_id: DEMO-00011 {message}",
    ]
    other_site_values = [
        "OTH",
        "Other hospital",
        "2010-04-01",
        "2011-07-07",
        "2023-05-01",
        "2012-01-09",
        "death",
        "rejected",
    ]
    assert [(p, v) for p in problems for v in other_site_values if v in p] == []


def test_a_coordinator_of_two_sites_imports_both_and_names_the_site_of_each_new_patient(coordinator, site, other_site):
    third = SiteFactory(code="THIRD")
    set_user_sites(coordinator, sites=[site, other_site])
    PatientFactory(study_id="ICS-0009", site=third)
    header = [*PATIENT_HEADER, "site"]
    rows = [
        patient_row(study_id="ICS-0001", site="EMC"),
        patient_row(study_id="ICS-0002", site="OTH"),
        patient_row(study_id="ICS-0003", site=""),
        patient_row(study_id="ICS-0004", site="THIRD"),
        patient_row(study_id="ICS-0009", site=""),
    ]

    assert problems_of(csv_text(rows, header), user=coordinator) == [
        "patients.csv row 4, column site: is required for a new patient: you may import only patients of your sites "
        "EMC, OTH; name one of them in this column",
        "patients.csv row 5, column site: you may import only patients of your sites EMC, OTH",
        "patients.csv row 6, column study_id: ICS-0009 belongs to another site: you may import only patients of your "
        "sites EMC, OTH",
    ]
    run(csv_text(rows[:2], header), user=coordinator)
    assert sorted(Patient.objects.values_list("study_id", "site__code")) == [
        ("ICS-0001", "EMC"),
        ("ICS-0002", "OTH"),
        ("ICS-0009", "THIRD"),
    ]


def test_a_coordinator_of_one_site_imports_new_patients_without_a_site_cell_into_it(coordinator, other_site):
    set_user_sites(coordinator, sites=[other_site])

    run([patient_row(study_id="ICS-0001")], user=coordinator)

    assert list(Patient.objects.values_list("study_id", "site__code")) == [("ICS-0001", "OTH")]


def test_a_coordinator_without_a_site_imports_nothing(coordinator, site):
    set_user_sites(coordinator, sites=[])
    message = "you have access to no site, so you may import no patient (an administrator can give you access)"

    assert problems_of(
        csv_text(
            [patient_row(study_id="ICS-0001"), patient_row(study_id="ICS-0002", site="EMC")], [*PATIENT_HEADER, "site"]
        ),
        user=coordinator,
    ) == [
        f"patients.csv row 2, column site: {message}",
        f"patients.csv row 3, column site: {message}",
    ]


def test_the_ics_source_is_a_code_or_a_label_of_the_list(settings):
    header = [*PATIENT_HEADER, "ics_source"]
    rows = [
        patient_row(study_id="ICS-0001", ics="1", ics_source="Study core lab"),
        patient_row(study_id="ICS-0002", ics="2", ics_source="EARLIER SCORING SOFTWARE"),
        patient_row(study_id="ICS-0003", ics="3", ics_source="other source"),
        patient_row(study_id="ICS-0004", ics="4", ics_source="Synthetic data (demo and tests)"),
    ]

    assert problems_of(csv_text([patient_row(ics="5", ics_source="Dr Jansen, core lab")], header)) == [
        "patients.csv row 2, column ics_source: must be one of registry import, study core lab, earlier scoring "
        "software, synthetic, other source (got Dr Jansen, core lab)"
    ]
    run(csv_text(rows, header))
    assert list(Patient.objects.values_list("study_id", "ics_imported_source")) == [
        ("ICS-0001", "study core lab"),
        ("ICS-0002", "earlier scoring software"),
        ("ICS-0003", "other source"),
        ("ICS-0004", "synthetic"),
    ]


def test_a_site_restricted_coordinator_gets_every_rule_on_the_own_site_s_patients(coordinator, site):
    set_user_sites(coordinator, sites=[site])
    own = PatientFactory(study_id="ICS-0001", site=site)
    EventFactory(patient=own, event_type="death", event_date=date(2018, 1, 1), target_vessel=None)

    assert problems_of([patient_row(last_contact_date="2019-01-01")], user=coordinator) == [
        "patients.csv row 2, column last_contact_date: 2019-01-01 is after the patient's death on 2018-01-01"
    ]


# Formula injection: identifiers are plain, and no text cell may start like a formula -----------------

STUDY_ID_RULE = (
    "A study ID may contain only letters A-Z, digits 0-9, hyphens (-), underscores (_) and full stops (.), "
    "and must start with a letter or digit"
)
SITE_RULE = (
    "A site code may contain only letters A-Z, digits 0-9, hyphens (-), underscores (_) and full stops (.), "
    "and must start with a letter or digit"
)
ICS_SOURCE_RULE = "must be one of registry import, study core lab, earlier scoring software, synthetic, other source"

INJECTIONS = {
    "study_id_formula": (
        {"study_id": "=cmd|' /C calc'!A0"},
        f'patients.csv row 2, column study_id: {STUDY_ID_RULE} (it starts with "=")',
    ),
    "study_id_minus": ({"study_id": "-2+3"}, f'patients.csv row 2, column study_id: {STUDY_ID_RULE} (it starts with "-")'),
    "study_id_space": (
        {"study_id": "ICS 0001"},
        f"patients.csv row 2, column study_id: {STUDY_ID_RULE} (it contains a space)",
    ),
    "study_id_pipe": ({"study_id": "ICS|0001"}, f'patients.csv row 2, column study_id: {STUDY_ID_RULE} (it contains "|")'),
    "site_formula": ({"site": "+SUM(1+1)"}, f'patients.csv row 2, column site: {SITE_RULE} (it starts with "+")'),
    # The ICS source is a choice from a list: a formula is not one of them.
    "ics_source_formula": (
        {"ics": "12", "ics_source": "@SUM(1+1)"},
        f"patients.csv row 2, column ics_source: {ICS_SOURCE_RULE} (got @SUM(1+1))",
    ),
    "ics_source_equals": (
        {"ics": "12", "ics_source": '=HYPERLINK("http://x")'},
        f'patients.csv row 2, column ics_source: {ICS_SOURCE_RULE} (got =HYPERLINK("http://x"))',
    ),
    "ics_source_minus": (
        {"ics": "12", "ics_source": "-1+1"},
        f"patients.csv row 2, column ics_source: {ICS_SOURCE_RULE} (got -1+1)",
    ),
}


@pytest.mark.parametrize("cells, expected", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_it_rejects_identifiers_and_sources_that_a_spreadsheet_would_run(cells, expected):
    header = [*PATIENT_HEADER, "site", "ics_source"]
    assert problems_of(csv_text([patient_row(**{"site": "EMC"} | cells)], header)) == [expected]
    assert list(Site.objects.values_list("code", flat=True)) == []


def test_it_rejects_a_formula_as_study_id_in_events_csv(patient):
    assert problems_of([patient_row()], [event_row(study_id="=1+1")]) == [
        f'events.csv row 2, column study_id: {STUDY_ID_RULE} (it starts with "=")',
        "events.csv row 2, column study_id: =1+1 is neither in patients.csv nor in the registry",
    ]


def test_plain_identifiers_with_dots_and_underscores_import(settings):
    header = [*PATIENT_HEADER, "site", "ics_source"]
    run(
        csv_text([patient_row(study_id="ics_2019.0001-b", site="EMC.north_2", ics="3", ics_source="study core lab")], header)
    )

    patient = Patient.objects.get()
    assert (patient.study_id, patient.site.code, patient.ics_imported_source) == (
        "ics_2019.0001-b",
        "EMC.north_2",
        "study core lab",
    )


def test_the_format_s_choices_match_the_models():
    assert csv_io.SEXES == tuple(Sex.values)
    assert csv_io.PRESENTATIONS == tuple(Presentation.values)
    assert csv_io.INDEX_TREATMENTS == tuple(IndexTreatment.values)
    assert csv_io.VESSELS == tuple(Vessel.values)
    assert csv_io.EVENT_TYPES == tuple(EventType.values)


# The command line -------------------------------------------------------------------------------


def test_the_command_imports_a_folder_and_prints_a_summary():
    out = io.StringIO()

    call_command("import_registry", str(FIXTURES), stdout=out)

    assert out.getvalue() == (
        f"Imported {FIXTURES}:\n"
        "  patients: 4 created, 0 updated, 0 unchanged\n"
        "  events: 4 created, 0 updated, 0 unchanged\n"
        "  last contacts: 3 created, 0 updated, 0 removed\n"
    )
    assert Patient.objects.count() == 4


def test_the_command_dry_run_writes_nothing(unchanged_db):
    out = io.StringIO()

    call_command("import_registry", str(FIXTURES), "--dry-run", stdout=out)

    assert out.getvalue().startswith("Dry run: nothing was written. The import would give:\n  patients: 4 created")


def test_the_command_prints_every_problem_and_fails(unchanged_db, tmp_path):
    (tmp_path / "patients.csv").write_text(
        csv_text(
            [
                patient_row(study_id="ICS-0001", egfr="250"),
                *[patient_row(study_id=f"ICS-000{i}") for i in (2, 3, 4)],
                patient_row(study_id="ICS-0005"),
                patient_row(study_id="ICS-0006", egfr="250"),
            ],
            PATIENT_HEADER,
        )
    )
    err = io.StringIO()

    with pytest.raises(CommandError, match=r"^2 problem\(s\) found; nothing was imported\.$"):
        call_command("import_registry", str(tmp_path), stderr=err)

    assert err.getvalue().splitlines() == [
        "patients.csv row 2, column egfr: must be between 0 and 200 ml/min (got 250)",
        "patients.csv row 7, column egfr: must be between 0 and 200 ml/min (got 250)",
    ]


def test_the_command_fails_with_exit_code_1_naming_missing_columns(unchanged_db, tmp_path):
    (tmp_path / "patients.csv").write_text("study_id\nICS-0001\n")
    err = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("import_registry", str(tmp_path), stderr=err, stdout=io.StringIO())

    # manage.py turns a CommandError into this exit status.
    assert failed.value.returncode == 1
    assert err.getvalue().startswith("patients.csv row 1: missing column(s): sex, age_at_index, index_date,")


def test_the_command_uses_the_site_option_and_imports_without_events_csv(tmp_path):
    (tmp_path / "patients.csv").write_text(csv_text([patient_row()], PATIENT_HEADER))
    out = io.StringIO()

    call_command("import_registry", str(tmp_path), "--site", "RDAM", stdout=out)

    assert out.getvalue().startswith("No events.csv in")
    assert Patient.objects.get().site.code == "RDAM"


def test_the_command_fails_when_patients_csv_is_missing(tmp_path):
    with pytest.raises(CommandError, match="patients.csv not found"):
        call_command("import_registry", str(tmp_path))


# The background job -------------------------------------------------------------------------------


def _upload(name: str, path: Path | None = None, content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else path.read_bytes(), content_type="text/csv")


def test_an_import_job_runs_in_the_background_and_records_its_summary(coordinator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = import_job_start(
            user=coordinator,
            patients_file=_upload("p.csv", FIXTURES / "patients.csv"),
            events_file=_upload("e.csv", FIXTURES / "events.csv"),
        )

    job.refresh_from_db()
    assert len(callbacks) == 1
    assert (job.status, job.progress_percent, job.problems, job.error) == ("succeeded", 100, [], "")
    assert job.summary["patients_created"] == 4 and job.summary["events_created"] == 4
    assert job.finished_at is not None and job.created_by == coordinator
    assert job.patients_file.name.startswith("imports/") and job.patients_file.name.endswith(".csv")
    assert AuditEntry.objects.filter(user=coordinator, action="import").count() == 11


def test_a_failing_import_job_stores_its_problems_and_imports_nothing(coordinator, django_capture_on_commit_callbacks):
    bad = csv_text([patient_row(egfr="250")], PATIENT_HEADER).encode()
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_start(user=coordinator, patients_file=_upload("p.csv", content=bad))

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.problems == [
        {"file": "patients.csv", "row": 2, "column": "egfr", "message": "must be between 0 and 200 ml/min (got 250)"}
    ]
    assert (Patient.objects.count(), job.finished_at is not None) == (0, True)


def test_an_import_job_reports_a_non_utf8_upload_as_a_problem(coordinator):
    job = import_job_start(user=coordinator, patients_file=_upload("p.csv", content="study_id\nICS-é\n".encode("cp1252")))

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.problems[0]["message"].startswith("is not UTF-8 text (byte 0xe9")


def test_an_import_job_accepts_a_utf8_bom(coordinator):
    content = ("\ufeff" + csv_text([patient_row()], PATIENT_HEADER)).encode()
    job = import_job_start(user=coordinator, patients_file=_upload("p.csv", content=content))

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, Patient.objects.get().study_id) == ("succeeded", "ICS-0001")


def test_an_unexpected_error_fails_the_job_with_a_readable_message(coordinator, monkeypatch):
    job = import_job_start(user=coordinator, patients_file=_upload("p.csv", FIXTURES / "patients.csv"))

    def explode(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("registry.importer.registry_import", explode)
    with pytest.raises(RuntimeError):
        import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == (
        "The import stopped because of an unexpected error (RuntimeError: disk on fire). "
        "Nothing was imported. Please tell the registry administrator."
    )


def test_a_finished_job_is_not_run_again(coordinator):
    job = import_job_start(user=coordinator, patients_file=_upload("p.csv", FIXTURES / "patients.csv"))
    ImportJob.objects.filter(pk=job.pk).update(status="succeeded")

    import_job_run(job_id=job.pk)

    assert Patient.objects.count() == 0


def test_only_coordinators_and_admins_may_start_an_import(clinician):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        import_job_start(user=clinician, patients_file=_upload("p.csv", FIXTURES / "patients.csv"))
    assert not ImportJob.objects.exists()


def test_an_imported_user_less_row_is_audited_as_system():
    run([patient_row()])
    assert AuditEntry.objects.get(entity="patient").username == "system"
