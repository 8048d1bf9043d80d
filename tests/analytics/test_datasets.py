"""analytics.datasets: the same rows as registry.selectors.analysis_rows, in a constant number of
queries whatever the cohort size, honouring the user's site."""

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import datasets
from registry.models import Patient
from registry.selectors import analysis_columns, analysis_rows
from tests.analytics.registry_cohort import registry_cohort
from tests.factories import EventFactory, PatientFactory


@pytest.mark.django_db
@pytest.mark.parametrize("horizon_days,count_pending", [(2191, True), (365, False)])
def test_it_gives_exactly_the_selector_rows(investigator, horizon_days, count_pending):
    registry_cohort(300, seed=3)
    # Edge cases: an event on the index date, a rejected event, no contact at all, missing flags.
    odd = PatientFactory(study_id="ZZ-1", hypertension=None, egfr=None, presentation="")
    EventFactory(patient=odd, event_date=odd.index_date, event_type="revascularization", verification="verified")
    EventFactory(patient=odd, event_type="death", verification="rejected", target_vessel=None)
    rows = datasets.analysis_dataframe(patients=Patient.objects.all(), horizon_days=horizon_days,
                                       count_pending=count_pending)
    expected = pd.DataFrame(analysis_rows(user=investigator, horizon_days=horizon_days, count_pending=count_pending))
    assert list(rows.columns) == analysis_columns()
    assert len(rows) == 301
    pd.testing.assert_frame_equal(rows, expected)
    assert rows.loc[rows["study_id"] == "ZZ-1", "revascularization_days"].item() == 0


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
