"""Study pullback (longest analyzable, reviewer override), the patient's ICS and its place in the
registry, quality control, and the analysis rows' ICS."""

import pytest
from django.core.exceptions import ValidationError

from registry import selectors as registry_selectors
from registry.models import AuditEntry
from registry.patient_page import ics_summary
from scoring import selectors, services
from tests.factories import PatientFactory
from tests.scoring.pullback_files import make_pullback

pytestmark = pytest.mark.django_db


def test_the_study_pullback_is_the_longest_analyzable_one(patient):
    make_pullback(patient, length_mm=45, ics=10)
    longest = make_pullback(patient, length_mm=60, ics=20)
    make_pullback(patient, length_mm=80, ics=30, qc_status="excluded")  # excluded
    make_pullback(patient, length_mm=90, ics=None)  # not scored
    make_pullback(patient, length_mm=39.9, ics=40)  # shorter than 40 mm
    choice = selectors.study_pullback(patient)
    assert choice.pullback == longest and choice.overridden is False and choice.run.ics == pytest.approx(20)
    patient.refresh_from_db()
    info = ics_summary(patient)
    assert info.ics == pytest.approx(20) and info.from_pullback
    assert info.source == f"Study pullback #{longest.pk} (longest analyzable, model default-test)"
    assert info.rule == "The longest scored pullback of at least 40 mm that passed quality control counts."


def test_each_pullback_says_in_words_why_it_is_or_is_not_the_study_pullback(patient):
    short = make_pullback(patient, length_mm=45, ics=10)
    longest = make_pullback(patient, length_mm=60, ics=20)
    twin = make_pullback(patient, length_mm=60, ics=22)  # as long, uploaded later
    excluded = make_pullback(patient, length_mm=80, ics=30, qc_status="excluded")
    unscored = make_pullback(patient, length_mm=90, ics=None)
    too_short = make_pullback(patient, length_mm=10, ics=40)
    rows = selectors.pullback_rows_for_patient(patient)
    reasons = selectors.study_reasons(rows, selectors.study_choice(rows))
    assert reasons == {
        short.pk: f"Not used: pullback #{longest.pk} is longer (60.0 mm).",
        longest.pk: "Study pullback: the longest scored pullback of at least 40 mm that passed quality control.",
        twin.pk: f"Not used: pullback #{longest.pk} is as long and was uploaded first.",
        excluded.pk: "Not used: excluded at quality control (poor image quality).",
        unscored.pk: "Not used: not scored.",
        too_short.pk: "Not used: 10.0 mm, shorter than the 40 mm the study requires.",
    }


def test_a_reviewers_choice_is_named_as_the_reason(patient, coordinator):
    longest = make_pullback(patient, length_mm=60, ics=20)
    short = make_pullback(patient, length_mm=35, ics=50)
    services.study_pullback_override(user=coordinator, patient=patient, pullback=short, reason="stent in the 60 mm run")
    rows = selectors.pullback_rows_for_patient(patient)
    reasons = selectors.study_reasons(rows, selectors.study_choice(rows))
    assert reasons == {
        longest.pk: f"Not used: a reviewer chose pullback #{short.pk}.",
        short.pk: "Study pullback: chosen by a reviewer.",
    }
    patient.refresh_from_db()
    assert ics_summary(patient).rule == "A reviewer chose this pullback as the study pullback."


def test_without_an_analyzable_pullback_the_imported_ics_is_shown_with_its_source(site):
    patient = PatientFactory(site=site, ics_imported=123.0, ics_imported_source="study core lab")
    make_pullback(patient, length_mm=30, ics=5)
    patient.refresh_from_db()
    info = ics_summary(patient)
    assert not info.from_pullback and (info.ics, info.source) == (123.0, "Imported (Study core lab)")  # the label
    assert info.rule.startswith("No pullback of at least 40 mm has passed quality control and been scored")


def test_a_reviewer_overrides_the_study_pullback_with_a_reason_audited(patient, coordinator):
    make_pullback(patient, length_mm=60, ics=20)
    short = make_pullback(patient, length_mm=35, ics=50)
    with pytest.raises(ValidationError, match="reason is required"):
        services.study_pullback_override(user=coordinator, patient=patient, pullback=short, reason=" ")
    services.study_pullback_override(user=coordinator, patient=patient, pullback=short, reason="60 mm run has a stent")
    choice = selectors.study_pullback(patient)
    assert choice.pullback == short and choice.overridden is True
    entry = AuditEntry.objects.get(entity="pullback", action="update")
    assert entry.changes["study_override"] == [False, True] and entry.reason == "60 mm run has a stent"
    assert entry.user == coordinator and entry.patient == patient
    services.study_pullback_override(user=coordinator, patient=patient, pullback=None, reason="back to the rule")
    assert selectors.study_pullback(patient).overridden is False
    assert AuditEntry.objects.filter(entity="pullback").count() == 2


def test_an_excluded_or_unscored_pullback_cannot_be_chosen(patient, coordinator, clinician):
    excluded = make_pullback(patient, ics=20, qc_status="excluded")
    unscored = make_pullback(patient, ics=None)
    with pytest.raises(ValidationError, match="excluded"):
        services.study_pullback_override(user=coordinator, patient=patient, pullback=excluded, reason="x")
    with pytest.raises(ValidationError, match="no score"):
        services.study_pullback_override(user=coordinator, patient=patient, pullback=unscored, reason="x")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.study_pullback_override(user=clinician, patient=patient, pullback=None, reason="x")


def test_quality_control_excludes_with_a_reason_and_a_note_audited(patient, coordinator):
    pullback = make_pullback(patient, length_mm=60, ics=20)
    with pytest.raises(ValidationError) as info:
        services.pullback_qc_update(user=coordinator, pullback=pullback, qc_status="excluded")
    assert "exclusion_reason" in info.value.message_dict
    with pytest.raises(ValidationError, match="note is required"):
        services.pullback_qc_update(
            user=coordinator, pullback=pullback, qc_status="excluded", exclusion_reason="stent_struts"
        )
    services.pullback_qc_update(
        user=coordinator,
        pullback=pullback,
        qc_status="excluded",
        exclusion_reason="false_lumen",
        note="catheter in the false lumen from 20 mm",
    )
    pullback.refresh_from_db()
    assert (pullback.qc_status, pullback.exclusion_reason) == ("excluded", "false_lumen")
    assert selectors.study_pullback(patient) is None
    entry = AuditEntry.objects.get(entity="pullback")
    assert entry.changes["qc_status"] == ["included", "excluded"] and entry.reason.startswith("catheter")


def test_the_percentile_and_group_place_the_ics_in_the_registry(site):
    patients = [PatientFactory(site=site, ics_imported=float(v)) for v in (10, 20, 30, 40)]
    scored = PatientFactory(site=site, ics_imported=999.0)
    make_pullback(scored, length_mm=50, ics=25)  # the study pullback's ICS replaces the imported one
    scored.refresh_from_db()
    info = ics_summary(scored)
    assert info.ics == pytest.approx(25) and info.n_registry == 5 and info.unused_imported == 999.0
    assert info.median == pytest.approx(25) and info.percentile == pytest.approx(60)
    assert info.high is False and info.cutoff == 85  # the group is taken at the study's cut-off, not the median
    low = ics_summary(patients[0])
    assert low.high is False and low.percentile == pytest.approx(20)
    at_cutoff = PatientFactory(site=site, ics_imported=85.0)
    assert ics_summary(at_cutoff).high is True  # "at or above"


def test_analysis_rows_use_the_study_pullback_ics_in_constant_queries(site, coordinator, django_assert_num_queries):
    with_pullback = PatientFactory(site=site, study_id="ICS-A", ics_imported=500.0, ics_imported_source="import")
    chosen = make_pullback(with_pullback, length_mm=70, ics=12.5)
    make_pullback(with_pullback, length_mm=50, ics=90)
    PatientFactory(site=site, study_id="ICS-B", ics_imported=7.0, ics_imported_source="core lab")
    rows = {r["study_id"]: r for r in registry_selectors.analysis_rows(user=coordinator)}
    assert rows["ICS-A"]["ics"] == pytest.approx(12.5)
    assert rows["ICS-A"]["ics_source"] == f"study pullback #{chosen.pk} (longest analyzable, model default-test)"
    assert (rows["ICS-B"]["ics"], rows["ICS-B"]["ics_source"]) == (7.0, "core lab")
    coordinator = type(coordinator).objects.get(pk=coordinator.pk)
    with django_assert_num_queries(5) as few:
        registry_selectors.analysis_rows(user=coordinator)
    for n in range(6):
        make_pullback(PatientFactory(site=site), length_mm=40 + n, ics=n)
    coordinator = type(coordinator).objects.get(pk=coordinator.pk)
    with django_assert_num_queries(len(few.captured_queries)):
        registry_selectors.analysis_rows(user=coordinator)
