"""manage.py ingest_dicom: files matched to patients by PatientID = hospital number."""

import pytest
from django.core.management import CommandError, call_command

from scoring.models import Pullback
from tests.factories import IdentityFactory, PatientFactory
from tests.scoring import pullback_files
from tests.scoring.pullback_files import phantom_file

pytestmark = pytest.mark.django_db

# Fixtures shared by the pullback tests (a small detector model in a temporary store).
scoring_model, _model_folder = pullback_files.scoring_model, pullback_files._model_folder


def test_files_are_matched_by_hospital_number_and_unmatched_ones_reported(
    tmp_path, site, scoring_model, capsys, django_capture_on_commit_callbacks
):
    known = PatientFactory(site=site, study_id="ICS-0042")
    IdentityFactory(patient=known, hospital_number="MRN0000042")
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    phantom_file(folder / "a.dcm", n_frames=4, seed=1, patient_id="MRN0000042")
    phantom_file(folder / "sub" / "b.dcm", n_frames=4, seed=2, patient_id="MRN9999999")
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(CommandError, match="1 unmatched and 1 invalid"), django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_dicom", str(folder))
    out, err = capsys.readouterr()
    assert "STORED" in out and "-> ICS-0042" in out and "stored=1 duplicate=0 unmatched=1 invalid=1" in out
    assert "UNMATCHED" in err and "b.dcm" in err and "MRN9999999" not in err and "INVALID" in err
    pullback = Pullback.objects.get()
    assert pullback.patient == known and pullback.runs.get().status == "succeeded"
    call_command("ingest_dicom", str(folder / "a.dcm"))
    assert "DUPLICATE" in capsys.readouterr().out and Pullback.objects.count() == 1


def test_patient_option_assigns_every_file(tmp_path, site, scoring_model):
    patient = PatientFactory(site=site, study_id="ICS-0007")
    phantom_file(tmp_path / "x.dcm", n_frames=4, patient_id="SOMETHING")
    call_command("ingest_dicom", str(tmp_path / "x.dcm"), "--patient", "ICS-0007")
    assert Pullback.objects.get().patient == patient
    with pytest.raises(CommandError, match="No patient"):
        call_command("ingest_dicom", str(tmp_path / "x.dcm"), "--patient", "ICS-9999")
