"""The import holds the database's write lock only to store rows prepared beforehand (registry.importer,
"The write lock"): one statement per table, whatever the number of rows; keys reserved before;
what changed while rows were prepared still refuses the whole import."""

import io
import re
from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.importer import ImportFailed, _reserve_ids, registry_import
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient, Site
from registry.synthetic import EVENT_COLUMNS, PATIENT_COLUMNS, synthetic_cohort, to_csv
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-11-27 12:00 +0000", tick=False):
        yield


def _cohort(n: int, **cells) -> tuple[io.StringIO, io.StringIO]:
    patients, events = synthetic_cohort(n, seed=3, today=date(2026, 11, 27), prefix="LOCK")
    patients = [row | cells for row in patients]
    columns = (*PATIENT_COLUMNS, *cells)
    return io.StringIO(to_csv(columns, patients)), io.StringIO(to_csv(EVENT_COLUMNS, events))


def _statements_in_the_write_transaction(n: int) -> list[str]:
    """(verb, table) of each statement from the start of the write transaction to its end."""
    patients_csv, events_csv = _cohort(n)
    start = []
    with CaptureQueriesContext(connection) as queries:
        registry_import(
            user=None,
            patients_csv=patients_csv,
            events_csv=events_csv,
            before_write=lambda: start.append(len(queries.captured_queries)),
        )
    assert Patient.objects.count() == n
    kinds = []
    for query in queries.captured_queries[start[0] :]:
        sql = re.sub(r"^\d+ times: ", "", query["sql"])  # an executemany
        sql = re.sub(r"^DECLARE .*? FOR SELECT", "SELECT", sql)  # PostgreSQL's server-side cursor (iterator)
        table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
        kinds.append(f"{sql.split()[0]} {table.group(1) if table else ''}".strip())
    return kinds


@pytest.mark.parametrize("n", [40, 400])
def test_the_write_transaction_runs_one_statement_per_table_whatever_the_number_of_rows(n):
    assert _statements_in_the_write_transaction(n) == [
        "SELECT registry_site",  # no site created by someone else meanwhile
        "INSERT registry_site",  # MAIN, the default site
        "INSERT registry_patient",
        "INSERT registry_followupcontact",
        "INSERT registry_clinicalevent",
        "INSERT registry_auditentry",
        # The follow-up summary of the imported patients (services.follow_up_refresh): their
        # contacts and events, their stored summary, one executemany of the changed rows.
        "SELECT registry_followupcontact",
        "SELECT registry_clinicalevent",
        "SELECT registry_patient",
        "UPDATE registry_patient",
        "RELEASE",  # the test's transaction makes the import's a savepoint
    ]


def test_imported_rows_and_their_audit_entries_use_the_reserved_keys():
    patients_csv, events_csv = _cohort(30)
    registry_import(user=None, patients_csv=patients_csv, events_csv=events_csv)
    patient = Patient.objects.get(study_id="LOCK-00007")
    audit = AuditEntry.objects.get(entity="patient", patient=patient)
    assert (audit.object_id, audit.changes["id"], audit.changes["site"]) == (
        str(patient.pk),
        [None, patient.pk],
        [None, Site.objects.get(code="MAIN").pk],
    )
    contact = FollowUpContact.objects.get(patient=patient)
    assert AuditEntry.objects.filter(entity="followupcontact", object_id=str(contact.pk), patient=patient).count() == 1
    events = ClinicalEvent.objects.all()
    assert sorted(int(a.object_id) for a in AuditEntry.objects.filter(entity="clinicalevent")) == sorted(
        e.pk for e in events
    )
    assert AuditEntry.objects.count() == 30 + 30 + events.count()


def test_reserved_keys_are_not_taken_by_the_next_insert():
    first = PatientFactory(study_id="ICS-0001")
    reserved = _reserve_ids({Patient: 3, Site: 0})
    assert reserved == {Patient: [first.pk + 1, first.pk + 2, first.pk + 3], Site: []}
    assert PatientFactory(study_id="ICS-0002").pk == first.pk + 4
    assert _reserve_ids({Patient: 1})[Patient] == [first.pk + 5]


def test_a_save_made_while_the_rows_were_prepared_refuses_the_import(coordinator, patient):
    # patient: ICS-0001, age 65.5, egfr 78
    row = {name: "" for name in PATIENT_COLUMNS} | {
        "study_id": "ICS-0001",
        "sex": "M",
        "age_at_index": "66",
        "index_date": "2015-03-02",
        "egfr": "78",
        "presentation": "stable",
        "index_treatment": "PCI",
        "study_vessel": "LAD",
        "vessel_revascularized": "1",
        "hypertension": "1",
        "diabetes": "0",
    }

    def save_while_preparing(percent: int) -> None:
        if percent == 80:  # rows prepared, the write transaction not begun
            services.patient_update(user=coordinator, patient=patient, data={"egfr": 33.0}, reason="new lab")

    with pytest.raises(ImportFailed) as failed:
        registry_import(
            user=coordinator, patients_csv=io.StringIO(to_csv(PATIENT_COLUMNS, [row])), progress=save_while_preparing
        )
    assert [p.message for p in failed.value.problems] == [
        "ICS-0001 was changed by someone else while this import was being checked. "
        "Nothing was imported: run the import again."
    ]
    patient.refresh_from_db()
    assert (patient.egfr, patient.age_at_index, patient.version) == (33.0, 65.5, 2)
    assert not AuditEntry.objects.filter(action="import").exists()


def test_a_site_created_while_the_rows_were_prepared_refuses_the_import():
    def create_the_site(percent: int) -> None:
        if percent == 80:
            Site.objects.create(code="NEWSITE", name="created meanwhile")

    patients_csv, events_csv = _cohort(5, site="NEWSITE")
    with pytest.raises(ImportFailed) as failed:
        registry_import(user=None, patients_csv=patients_csv, events_csv=events_csv, progress=create_the_site)
    assert [(p.file, p.row, p.column, p.message) for p in failed.value.problems] == [
        (
            "patients.csv",
            None,
            "site",
            "site NEWSITE was created by someone else while this import was being "
            "checked. Nothing was imported: run the import again.",
        )
    ]
    assert (Patient.objects.count(), ClinicalEvent.objects.count(), AuditEntry.objects.count()) == (0, 0, 0)
    assert list(Site.objects.values_list("code", flat=True)) == ["NEWSITE"]
