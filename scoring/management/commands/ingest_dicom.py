"""python manage.py ingest_dicom PATH... [--patient STUDY_ID]: store IVUS files for registry patients.

Each file (folders are searched recursively) goes to the patient whose hospital number equals
the file's DICOM PatientID, or to --patient for all of them. Files are validated, de-identified
and queued for scoring exactly as uploads are; unmatched and invalid files are reported.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.models import Patient, PatientIdentity
from scoring import services
from scoring.dicom import files


def _files(paths: list[str]):
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise CommandError(f"{raw}: no such file or folder")


class Command(BaseCommand):
    help = "Ingest IVUS DICOM files, matched to patients by PatientID = hospital number (or --patient)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--patient", help="study_id of the patient for every file")

    def handle(self, *args, **opts):
        fixed = self._patient(opts["patient"]) if opts["patient"] else None
        counts = {"stored": 0, "duplicate": 0, "unmatched": 0, "invalid": 0}
        for path in _files(opts["paths"]):
            counts[self._one(path, fixed)] += 1
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
        if counts["unmatched"] or counts["invalid"]:
            raise CommandError(f"{counts['unmatched']} unmatched and {counts['invalid']} invalid file(s); see above.")

    def _patient(self, study_id: str) -> Patient:
        try:
            return Patient.objects.get(study_id=study_id)
        except Patient.DoesNotExist:
            raise CommandError(f"No patient with study_id {study_id!r}.") from None

    def _one(self, path: Path, fixed: Patient | None) -> str:
        try:
            patient = fixed or self._match(files.read_metadata(path))
        except files.DicomInputError as exc:
            self.stderr.write(f"INVALID {path}: {exc}")
            return "invalid"
        if patient is None:
            # The PatientID itself is an identifier: it is not printed, only the file.
            self.stderr.write(f"UNMATCHED {path}: no registry patient has this file's PatientID as hospital number")
            return "unmatched"
        try:
            outcome = services.pullback_ingest_path(patient=patient, path=path)
        except ValidationError as exc:
            self.stderr.write(f"INVALID {path}: {' '.join(exc.messages)}")
            return "invalid"
        kind = "duplicate" if outcome.duplicate else "stored"
        self.stdout.write(f"{kind.upper()} {path} -> {patient.study_id} pullback {outcome.pullback.pk}")
        return kind

    def _match(self, meta: files.PullbackMetadata) -> Patient | None:
        if not meta.patient_id.strip():
            return None
        identity = PatientIdentity.objects.filter(hospital_number=meta.patient_id.strip()).select_related("patient").first()
        return identity.patient if identity else None
