"""Registry CSV export: byte-identical round trips through the import, and the pseudonymised
analysis dataset with hand-computed times and statuses per endpoint."""

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from registry.csv_io import format_value, spreadsheet_safe, write_rows
from registry.exporter import write_analysis_csv, write_events_csv, write_patients_csv
from registry.importer import registry_import
from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient, PatientIdentity, Site
from registry.selectors import analysis_columns
from tests.factories import ContactFactory, EventFactory, IdentityFactory, PatientFactory, SiteFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "registry" / "canonical"
INDEX = date(2015, 1, 1)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-11-27 12:00 +0000", tick=False):
        yield


def day(n: int) -> date:
    return INDEX + timedelta(days=n)


def import_folder(folder: Path) -> dict:
    with open(folder / "patients.csv", newline="") as p, open(folder / "events.csv", newline="") as e:
        return registry_import(user=None, patients_csv=p, events_csv=e).summary


def export_folder(folder: Path, *options: str) -> str:
    out = io.StringIO()
    call_command("export_registry", str(folder), *options, stdout=out)
    return out.getvalue()


def wipe_registry() -> None:
    AuditEntry.objects.all().delete()
    ClinicalEvent.objects.all().delete()
    FollowUpContact.objects.all().delete()
    PatientIdentity.objects.all().delete()
    Patient.objects.all().delete()
    Site.objects.all().delete()


# Round trips -------------------------------------------------------------------------------------


def test_a_canonical_folder_exports_byte_for_byte_as_it_was_imported(tmp_path):
    import_folder(FIXTURES)

    printed = export_folder(tmp_path)

    assert (tmp_path / "patients.csv").read_bytes() == (FIXTURES / "patients.csv").read_bytes()
    assert (tmp_path / "events.csv").read_bytes() == (FIXTURES / "events.csv").read_bytes()
    assert printed.splitlines() == [
        f"  {tmp_path / 'patients.csv'}: 4 rows",
        f"  {tmp_path / 'events.csv'}: 4 rows",
        f"  {tmp_path / 'analysis_dataset.csv'}: 4 rows",
    ]


def test_registry_data_entered_on_the_web_survives_export_and_import_into_an_empty_registry(tmp_path, site):
    a = PatientFactory(
        study_id="ICS-0010",
        site=site,
        age_at_index=70.0,
        egfr=59.999,
        ics_imported=1 / 3,
        ics_imported_source="study core lab",
        hypertension=None,
    )
    ContactFactory(patient=a, contact_date=date(2016, 1, 5), method="phone")
    ContactFactory(patient=a, contact_date=date(2018, 2, 3), method="gp")
    EventFactory(patient=a, event_type="mi", event_date=date(2016, 5, 10), target_vessel=False, verification="verified")
    EventFactory(patient=a, event_type="revascularization", event_date=date(2017, 1, 2), target_vessel=None)
    EventFactory(patient=a, event_type="stroke", event_date=date(2017, 3, 3), target_vessel=None, verification="rejected")
    b = PatientFactory(study_id="ICS-0002", site=SiteFactory(code="RDAM"), sex="F", presentation="", egfr=None)
    EventFactory(patient=b, event_type="death", event_date=date(2019, 9, 9), target_vessel=None, verification="verified")
    IdentityFactory(patient=b)
    first, second = tmp_path / "first", tmp_path / "second"
    export_folder(first)

    wipe_registry()
    summary = import_folder(first)
    export_folder(second)

    assert (summary["patients_created"], summary["events_created"], summary["contacts_created"]) == (2, 3, 2)
    for name in ("patients.csv", "events.csv", "analysis_dataset.csv"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    assert (first / "events.csv").read_text() == (
        "study_id,event_type,event_date,target_vessel,verified\n"
        "ICS-0002,death,2019-09-09,,1\n"
        "ICS-0010,mi,2016-05-10,0,1\n"
        "ICS-0010,revascularization,2017-01-02,,0\n"
    )
    rows = list(csv.DictReader(io.StringIO((first / "patients.csv").read_text())))
    assert [(r["study_id"], r["site"], r["last_contact_date"], r["egfr"], r["ics"]) for r in rows] == [
        ("ICS-0002", "RDAM", "2019-09-09", "", ""),
        ("ICS-0010", "EMC", "2018-02-03", "59.999", "0.3333333333333333"),
    ]
    assert Patient.objects.get(study_id="ICS-0010").ics_imported == 1 / 3


def test_floats_are_written_in_shortest_round_trip_form():
    assert [format_value(v) for v in (78.0, 65.5, 0.1 + 0.2, 1e-7, None, True, False, date(2020, 2, 29))] == [
        "78",
        "65.5",
        "0.30000000000000004",
        "1e-07",
        "",
        "1",
        "0",
        "2020-02-29",
    ]


def test_the_writers_return_the_number_of_rows_and_skip_rejected_events(site):
    p = PatientFactory(study_id="ICS-0001", site=site)
    EventFactory(patient=p, verification="rejected")
    EventFactory(patient=p, event_date=date(2016, 6, 1))

    patients_out, events_out = io.StringIO(), io.StringIO()
    assert write_patients_csv(patients_out, patients=Patient.objects.all()) == 1
    assert write_events_csv(events_out, patients=Patient.objects.all()) == 1
    assert events_out.getvalue().splitlines()[1] == "ICS-0001,mi,2016-06-01,1,0"


# Formula injection: text that a spreadsheet would run is written with a "'" in front ---------------


def test_write_rows_neutralises_formula_text_and_keeps_numbers_as_numbers():
    out = io.StringIO()
    rows = [
        {"text": t, "number": n}
        for t, n in [
            ("=cmd|' /C calc'!A0", -1.5),
            ("+SUM(1+1)", -2),
            ("-2+3", 0.0),
            ("@SUM(A1)", None),
            ("\t=1", 1e-07),
            ("\r=1", True),
            ("core lab = B", 3),
            ("-1.5", 78.0),
            ("-", -0.25),
            ("'=already quoted", date(2020, 2, 29)),
            ("core lab\r=1+1", 5),
            ("two\r\nlines", 6),
        ]
    ]

    write_rows(out, columns=["text", "number", "=header"], rows=rows)

    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        ["text", "number", "'=header"],
        ["'=cmd|' /C calc'!A0", "-1.5", ""],
        ["'+SUM(1+1)", "-2", ""],
        ["'-2+3", "0", ""],
        ["'@SUM(A1)", "", ""],
        ["'\t=1", "1e-07", ""],
        ["'\n=1", "1", ""],
        ["core lab = B", "3", ""],
        ["-1.5", "78", ""],
        ["-", "-0.25", ""],
        ["'=already quoted", "2020-02-29", ""],
        ["core lab\n=1+1", "5", ""],
        ["two\nlines", "6", ""],
    ]
    # A line break inside a cell is quoted: it does not start a new row whose first cell would be "=1+1".
    assert '"core lab\n=1+1",5,' in out.getvalue()


def test_spreadsheet_safe_leaves_everything_but_formula_text_alone():
    assert [spreadsheet_safe(v) for v in (-1.5, -3, None, True, "-7", "+1e5", "ICS-0001", "", "=1", "@a", "-a")] == [
        -1.5,
        -3,
        None,
        True,
        "-7",
        "+1e5",
        "ICS-0001",
        "",
        "'=1",
        "'@a",
        "'-a",
    ]


def test_registry_exports_neutralise_values_planted_before_identifiers_were_checked(tmp_path):
    # Written around the services (as older data may be): the exports must still be safe to open.
    p = PatientFactory(
        study_id="=cmd|' /C calc'!A0",
        site=SiteFactory(code="+SUM(1+1)"),
        ics_imported=12.0,
        ics_imported_source="@SUM(1+1)",
        egfr=55.5,
    )
    EventFactory(patient=p, event_date=date(2016, 5, 10), verification="verified")

    export_folder(tmp_path)

    patients = list(csv.DictReader(io.StringIO((tmp_path / "patients.csv").read_text())))
    assert [(r["study_id"], r["site"], r["ics_source"], r["ics"], r["egfr"]) for r in patients] == [
        ("'=cmd|' /C calc'!A0", "'+SUM(1+1)", "'@SUM(1+1)", "12", "55.5")
    ]
    assert (tmp_path / "events.csv").read_text().splitlines()[1] == "'=cmd|' /C calc'!A0,mi,2016-05-10,1,1"
    row = analysis(tmp_path)["'=cmd|' /C calc'!A0"]
    assert (row["site"], row["ics"], row["ics_source"]) == ("'+SUM(1+1)", "12", "'@SUM(1+1)")


# The analysis dataset ----------------------------------------------------------------------------


@pytest.fixture
def cohort(site):
    """Hand-made patients with known answers (index date 2015-01-01 for all)."""

    def patient(study_id, **kw):
        p = PatientFactory(study_id=study_id, site=site, index_date=INDEX, **kw)
        IdentityFactory(
            patient=p, name=f"Name of {study_id}", hospital_number=f"MRN-{study_id}", date_of_birth=date(1941, 7, 13)
        )
        return p

    a = patient("A-MI-DEATH")  # MI at day 400, death at day 900
    EventFactory(patient=a, event_type="mi", event_date=day(400), target_vessel=False, verification="verified")
    EventFactory(patient=a, event_type="death", event_date=day(900), target_vessel=None, verification="verified")
    b = patient("B-ALIVE")  # last contact at day 1000, no events
    ContactFactory(patient=b, contact_date=day(1000))
    c = patient("C-LATE-STROKE")  # stroke after the 2191-day horizon, contact at day 2600
    EventFactory(patient=c, event_type="stroke", event_date=day(2500), target_vessel=None, verification="verified")
    ContactFactory(patient=c, contact_date=day(2600))
    d = patient("D-PENDING")  # pending MI at day 300, contact at day 700
    EventFactory(patient=d, event_type="mi", event_date=day(300), target_vessel=True, verification="pending")
    ContactFactory(patient=d, contact_date=day(700))
    e = patient("E-REJECTED")  # rejected death at day 100, contact at day 500
    EventFactory(patient=e, event_type="death", event_date=day(100), target_vessel=None, verification="rejected")
    ContactFactory(patient=e, contact_date=day(500))
    return [a, b, c, d, e]


def analysis(folder: Path) -> dict[str, dict]:
    with open(folder / "analysis_dataset.csv", newline="") as f:
        return {row["study_id"]: row for row in csv.DictReader(f)}


def outcomes(row: dict, *endpoints: str) -> dict:
    return {name: (int(row[f"{name}_days"]), int(row[f"{name}_status"])) for name in endpoints}


ENDPOINTS = ("poce", "death", "mi", "stroke", "revascularization", "tvr", "tv_mi")


def test_the_analysis_dataset_has_the_known_time_and_status_per_endpoint(cohort, tmp_path):
    export_folder(tmp_path)
    rows = analysis(tmp_path)

    assert outcomes(rows["A-MI-DEATH"], *ENDPOINTS) == {
        "poce": (400, 1),
        "death": (900, 1),
        "mi": (400, 1),
        "stroke": (900, 2),
        "revascularization": (900, 2),
        "tvr": (900, 2),
        "tv_mi": (900, 2),
    }
    assert outcomes(rows["B-ALIVE"], *ENDPOINTS) == {name: (1000, 0) for name in ENDPOINTS}
    # The stroke after the horizon is ignored: censored at the horizon, not at the last contact.
    assert outcomes(rows["C-LATE-STROKE"], "poce", "stroke") == {"poce": (2191, 0), "stroke": (2191, 0)}
    assert outcomes(rows["D-PENDING"], "mi", "tv_mi", "death") == {"mi": (300, 1), "tv_mi": (300, 1), "death": (700, 0)}
    assert outcomes(rows["E-REJECTED"], "poce", "death") == {"poce": (500, 0), "death": (500, 0)}
    assert (rows["A-MI-DEATH"]["last_contact_date"], rows["A-MI-DEATH"]["follow_up_days"]) == ("2017-06-19", "900")
    assert (rows["B-ALIVE"]["sex"], rows["B-ALIVE"]["age_at_index"], rows["B-ALIVE"]["egfr"]) == ("M", "65.5", "78")
    assert (rows["B-ALIVE"]["hypertension"], rows["B-ALIVE"]["statin"], rows["B-ALIVE"]["acs"]) == ("1", "", "0")


def test_exclude_pending_counts_only_verified_events(cohort, tmp_path):
    export_folder(tmp_path, "--exclude-pending")

    assert outcomes(analysis(tmp_path)["D-PENDING"], "mi", "poce") == {"mi": (700, 0), "poce": (700, 0)}


def test_a_shorter_horizon_censors_later_events(cohort, tmp_path):
    export_folder(tmp_path, "--horizon-days", "365")

    assert outcomes(analysis(tmp_path)["A-MI-DEATH"], "poce", "death", "mi") == {
        "poce": (365, 0),
        "death": (365, 0),
        "mi": (365, 0),
    }


def test_the_analysis_dataset_holds_no_direct_identifiers(cohort, tmp_path):
    export_folder(tmp_path)
    text = (tmp_path / "analysis_dataset.csv").read_text()

    header = text.splitlines()[0].split(",")
    assert header == analysis_columns()
    assert not {"name", "hospital_number", "date_of_birth"} & set(header)
    for identity in PatientIdentity.objects.all():
        assert identity.name not in text
        assert identity.hospital_number not in text
    assert "1941-07-13" not in text
    assert len(text.splitlines()) == 1 + len(cohort)


def test_the_analysis_writer_shows_a_site_restricted_user_only_their_site(cohort, other_site_coordinator):
    PatientFactory(study_id="OTHER-1", site=other_site_coordinator.registry_profile.sites.get())
    out = io.StringIO()

    assert write_analysis_csv(out, user=other_site_coordinator) == 1
    assert out.getvalue().splitlines()[1].startswith("OTHER-1,OTH,")
