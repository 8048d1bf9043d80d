"""analytics.datasets over registry.selectors.analysis_table: the rows derived patient by patient, in a
constant number of queries whatever the cohort size, honouring the user's site."""

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import datasets
from registry import follow_up
from registry.models import BASELINE_FLAGS, Patient
from registry.selectors import analysis_columns, analysis_rows
from tests.analytics.registry_cohort import registry_cohort
from tests.factories import EventFactory, PatientFactory
from tests.scoring.pullback_files import make_pullback


def _expected_row(p: Patient, horizon_days: int, count_pending: bool) -> dict:
    """One analysis row derived patient by patient from the ORM objects and registry.follow_up."""
    contacts = [follow_up.Contact(c.contact_date, c.vital_status) for c in p.contacts.all()]
    events = [follow_up.Event(e.event_type, e.event_date, e.verification, e.target_vessel) for e in p.events.all()]
    last = follow_up.last_contact_date(contacts, events)
    row = {
        "study_id": p.study_id,
        "site": p.site.code,
        "sex": p.sex,
        "age_at_index": p.age_at_index,
        "index_date": p.index_date,
        **{f: getattr(p, f) for f in BASELINE_FLAGS},
        "egfr": p.egfr,
        "renal_impairment": p.renal_impairment,
        "presentation": p.presentation,
        "acs": p.acs,
        "index_treatment": p.index_treatment,
        "study_vessel": p.study_vessel,
        "vessel_revascularized": p.vessel_revascularized,
        "ics": p.ics,
        "ics_source": p.ics_source,
        "last_contact_date": last,
        "follow_up_days": None if last is None else (last - p.index_date).days,
    }
    outcomes = follow_up.endpoint_outcomes(
        index_date=p.index_date, last_contact=last, events=events, horizon_days=horizon_days, count_pending=count_pending
    )
    for name, outcome in outcomes.items():
        row[f"{name}_days"], row[f"{name}_status"] = outcome.duration_days, outcome.status
    return row


@pytest.mark.django_db
@pytest.mark.parametrize("horizon_days,count_pending", [(2191, True), (365, False)])
def test_it_gives_the_rows_derived_patient_by_patient(investigator, horizon_days, count_pending):
    registry_cohort(300, seed=3)
    # Edge cases: an event on the index date, a rejected event, no contact at all, missing flags,
    # a scored study pullback next to an imported ICS.
    odd = PatientFactory(study_id="ZZ-1", hypertension=None, egfr=None, presentation="", ics_imported=25.0)
    EventFactory(patient=odd, event_date=odd.index_date, event_type="revascularization", verification="verified")
    EventFactory(patient=odd, event_type="death", verification="rejected", target_vessel=None)
    make_pullback(odd, length_mm=50.0, ics=180.0)
    rows = datasets.analysis_dataframe(
        patients=Patient.objects.all(), horizon_days=horizon_days, count_pending=count_pending
    )
    expected = pd.DataFrame(
        [_expected_row(p, horizon_days, count_pending) for p in Patient.objects.select_related("site").order_by("study_id")]
    )
    assert list(rows.columns) == analysis_columns()
    assert len(rows) == 301
    pd.testing.assert_frame_equal(rows, expected)
    zz = rows.loc[rows["study_id"] == "ZZ-1"].iloc[0]
    assert zz["revascularization_days"] == 0
    assert zz["ics"] == 180.0 and zz["ics_source"].startswith("study pullback #")
    api_rows = pd.DataFrame(analysis_rows(user=investigator, horizon_days=horizon_days, count_pending=count_pending))
    pd.testing.assert_frame_equal(api_rows, rows)


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_the_cohort():
    counts = []
    for n, seed in ((20, 1), (400, 2)):
        registry_cohort(n, seed=seed, prefix=f"N{n}")
        with CaptureQueriesContext(connection) as queries:
            frame = datasets.analysis_dataframe(patients=Patient.objects.all())
        counts.append(len(queries))
        assert len(frame) == Patient.objects.count()
    assert counts[0] == counts[1] == 3


@pytest.mark.django_db
def test_progress_reaches_100_percent():
    registry_cohort(50)
    seen = []
    datasets.analysis_dataframe(patients=Patient.objects.all(), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 100


@pytest.mark.django_db
def test_a_site_restricted_user_gets_only_their_site(other_site_coordinator, investigator):
    registry_cohort(30, site_code="EMC", prefix="A")
    registry_cohort(12, site_code="OTH", prefix="B", seed=4)
    mine = datasets.analysis_dataframe(patients=datasets.analysis_patients(user=other_site_coordinator))
    assert set(mine["site"]) == {"OTH"} and len(mine) == 12
    assert len(datasets.analysis_dataframe(patients=datasets.analysis_patients(user=investigator))) == 42
    assert len(datasets.analysis_dataframe(patients=datasets.analysis_patients(user=None))) == 42


@pytest.mark.django_db
def test_baseline_rows_match_the_full_rows():
    registry_cohort(60)
    full = datasets.analysis_dataframe(patients=Patient.objects.all())
    base = datasets.baseline_dataframe(patients=Patient.objects.all())
    pd.testing.assert_frame_equal(base, full[base.columns])
    assert "last_contact_date" not in base


@pytest.mark.django_db
def test_narrowing_by_the_baseline_filters_changes_no_result():
    from analytics.analysis import run_analysis
    from analytics.services import analysis_spec_check

    registry_cohort(400, seed=8)
    filters = [
        {"field": "age_at_index", "op": "ge", "value": 60},
        {"field": "study_vessel", "op": "in", "value": ["LAD", "RCA"]},
        {"field": "male", "op": "eq", "value": 1},
        {"field": "follow_up_days", "op": "ge", "value": 200},
    ]
    spec = analysis_spec_check(
        {"cohort": {"filters": filters}, "endpoint": "poce", "grouping": {"variable": "ics", "cutoff": "tertiles"}}
    )
    narrowed = datasets.cohort_patients(Patient.objects.all(), filters)
    assert 0 < narrowed.count() < 400
    full = run_analysis(datasets.analysis_dataframe(patients=Patient.objects.all()), spec)
    small = run_analysis(datasets.analysis_dataframe(patients=narrowed), spec)
    assert small == full  # every number, the data hash included
    assert datasets.cohort_patients(Patient.objects.all(), filters[3:]).count() == 400  # follow-up filters: no narrowing
