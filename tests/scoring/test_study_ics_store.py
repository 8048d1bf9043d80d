"""The study pullback's ICS stored on the patient (Patient.study_ics / study_ics_source) stays equal
to scoring.selectors.study_choice after every scoring write, and the registry's ICS distribution
(registry.selectors.ics_place) reads it in SQL."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import Patient
from registry.selectors import ics_place
from scoring import selectors, services
from tests.factories import PatientFactory
from tests.scoring import pullback_files
from tests.scoring.pullback_files import make_pullback, phantom_file

pytestmark = pytest.mark.django_db
scoring_model, _model_folder = pullback_files.scoring_model, pullback_files._model_folder


def _stored(patient) -> tuple:
    row = Patient.objects.get(pk=patient.pk)
    return row.study_ics, row.study_ics_source, row.ics


def _chosen(patient) -> tuple:
    choice = selectors.study_pullback(patient)
    if choice is None:
        return None, "", patient.ics_imported
    return choice.run.ics, selectors.study_source(choice), choice.run.ics


def _upload_and_score(tmp_path, coordinator, patient, *, name: str, seed: int, speed: float):
    src = phantom_file(tmp_path / name, n_frames=8, seed=seed, pullback_rate_mm_s=speed)
    outcome = services.pullback_upload(
        user=coordinator, patient=patient, uploaded_file=SimpleUploadedFile(name, src.read_bytes())
    )
    services.scoring_run_execute(run_id=outcome.run.pk)
    outcome.pullback.refresh_from_db()
    return outcome.pullback


def test_every_scoring_write_keeps_the_stored_study_ics_equal_to_the_rule(tmp_path, coordinator, scoring_model, site):
    patient = PatientFactory(site=site, ics_imported=25.0, ics_imported_source="registry import")
    assert _stored(patient) == (None, "", 25.0)

    long_one = _upload_and_score(tmp_path, coordinator, patient, name="a.dcm", seed=3, speed=400.0)
    assert long_one.long_enough
    stored = _stored(patient)
    assert stored == _chosen(patient) and stored[0] is not None
    assert (
        stored[1]
        == f"study pullback #{long_one.pk} (longest analyzable, model {selectors.current_run(long_one).model_version})"
    )

    services.pullback_qc_update(
        user=coordinator, pullback=long_one, qc_status="excluded", exclusion_reason="poor_image_quality", note="blurred"
    )
    assert _stored(patient) == (None, "", 25.0) == _chosen(patient)  # back to the imported ICS

    services.pullback_qc_update(user=coordinator, pullback=long_one, qc_status="included", note="re-read: fine")
    assert _stored(patient) == _chosen(patient)

    short = _upload_and_score(tmp_path, coordinator, patient, name="b.dcm", seed=11, speed=20.0)
    assert not short.long_enough
    assert _stored(patient) == _chosen(patient) and _stored(patient)[1].startswith(f"study pullback #{long_one.pk} ")

    services.study_pullback_override(user=coordinator, patient=patient, pullback=short, reason="the long run has a stent")
    stored = _stored(patient)
    assert stored == _chosen(patient) and stored[1].startswith(f"study pullback #{short.pk} (reviewer's choice")

    services.pullback_qc_update(
        user=coordinator, pullback=short, qc_status="excluded", exclusion_reason="stent_struts", note="struts"
    )  # also ends the override
    assert _stored(patient) == _chosen(patient) and _stored(patient)[1].startswith(f"study pullback #{long_one.pk} ")

    services.study_pullback_override(user=coordinator, patient=patient, pullback=None, reason="rule again")
    assert _stored(patient) == _chosen(patient)


def test_the_registry_ics_distribution_is_counted_in_sql(site, django_assert_max_num_queries):
    values = [12.0, 40.0, 40.0, 85.0, 130.0, 510.0]
    for i, v in enumerate(values):
        make_pullback(PatientFactory(site=site, study_id=f"D-{i}"), length_mm=50, ics=v)
    PatientFactory(site=site, study_id="D-imp", ics_imported=60.0, ics_imported_source="registry import")
    PatientFactory(site=site, study_id="D-none")
    everything = np.array(sorted([*values, 60.0]))
    with django_assert_max_num_queries(2):
        place = ics_place(60.0)
    assert place.n == 7 and place.median == pytest.approx(float(np.median(everything)))
    assert place.percentile == pytest.approx(100 * 4 / 7)
    assert ics_place(None).percentile is None and ics_place(None).n == 7
    PatientFactory(site=site, study_id="D-even", ics_imported=1000.0, ics_imported_source="registry import")
    assert ics_place(0.0).median == pytest.approx((60.0 + 85.0) / 2) and ics_place(0.0).percentile == 0.0


def test_without_any_ics_there_is_no_place(site):
    PatientFactory(site=site)
    assert ics_place(50.0) == ics_place(None) == type(ics_place(None))(0, None, None)
