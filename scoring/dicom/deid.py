"""De-identification of a pullback header (DICOM PS3.15 Annex E, Basic Application
Confidentiality Profile), applied to a pydicom Dataset in place. File reading and writing stay
in :mod:`scoring.dicom.files`.

What it does, everywhere in the data set (nested sequences too):

* attributes of the basic profile's table with action X are removed, those with Z or D are
  emptied or given a dummy value (``PatientID`` becomes the registry's pseudonym);
* every person name (VR PN) is emptied, every date, time and date-time (DA, TM, DT) removed;
* every instance UID (VR UI, not a standard ``1.2.840.10008.`` class or syntax UID) is replaced
  by ``2.25.<HMAC-SHA256 of the UID>`` - deterministic for one key, so references stay consistent
  and a re-upload of the same file maps to the same SOP Instance UID;
* private attributes, overlays (60xx) and curves (50xx) are removed;
* Burned In Annotation (0028,0301) is kept as it was; Patient Identity Removed is set to YES and
  the method is recorded (De-identification Method, code 113100 "Basic Application
  Confidentiality Profile").

Burned-in text in the pixels themselves is not touched: such frames are shown only to roles
allowed to see identifiers.
"""

import hashlib
import hmac
from collections.abc import Iterable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

# Annex E, table E.1-1 (basic profile column), by keyword. X: remove.
REMOVE = (
    "AccessionNumber",
    "AcquisitionComments",
    "AcquisitionContextSequence",
    "AcquisitionDeviceProcessingDescription",
    "AcquisitionProtocolDescription",
    "ActualHumanPerformersSequence",
    "AdditionalPatientHistory",
    "AdmissionID",
    "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription",
    "Allergies",
    "Arbitrary",
    "AuthorObserverSequence",
    "BranchOfService",
    "CassetteID",
    "CommentsOnThePerformedProcedureStep",
    "ConfidentialityConstraintOnPatientDataDescription",
    "ContentCreatorIdentificationCodeSequence",
    "ContributionDescription",
    "CountryOfResidence",
    "CurrentPatientLocation",
    "CustodialOrganizationSequence",
    "DataSetTrailingPadding",
    "DerivationDescription",
    "DetectorID",
    "DeviceSerialNumber",
    "DeviceUID",
    "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription",
    "DistributionAddress",
    "DistributionName",
    "EthnicGroup",
    "FrameComments",
    "GantryID",
    "GeneratorID",
    "HumanPerformerOrganization",
    "IconImageSequence",
    "IdentifyingComments",
    "ImageComments",
    "ImagePresentationComments",
    "ImagingServiceRequestComments",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionName",
    "InstitutionCodeSequence",
    "InsurancePlanIdentification",
    "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence",
    "InterpretationAuthor",
    "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer",
    "InterpretationRecorder",
    "InterpretationText",
    "InterpretationTranscriber",
    "IssuerOfAdmissionID",
    "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID",
    "MedicalAlerts",
    "MedicalRecordLocator",
    "MilitaryRank",
    "ModifiedAttributesSequence",
    "ModifyingDeviceID",
    "ModifyingDeviceManufacturer",
    "NameOfPhysiciansReadingStudy",
    "NamesOfIntendedRecipientsOfResults",
    "Occupation",
    "OperatorIdentificationSequence",
    "OperatorsName",
    "OriginalAttributesSequence",
    "OrderCallbackPhoneNumber",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "ParticipantSequence",
    "PatientAddress",
    "PatientAge",
    "PatientComments",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientInstitutionResidence",
    "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence",
    "PatientReligiousPreference",
    "PatientSexNeutered",
    "PatientSize",
    "PatientState",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "PatientTransportArrangements",
    "PatientWeight",
    "PerformedLocation",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PersonAddress",
    "PersonIdentificationCodeSequence",
    "PersonName",
    "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation",
    "PhysiciansReadingStudyIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PlateID",
    "PreMedication",
    "PregnancyStatus",
    "ProtocolName",
    "ReasonForTheImagingServiceRequest",
    "ReasonForStudy",
    "ReferencedDigitalSignatureSequence",
    "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence",
    "ReferencedSOPInstanceMACSequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence",
    "RequestAttributesSequence",
    "RequestedContrastAgent",
    "RequestedProcedureComments",
    "RequestedProcedureID",
    "RequestedProcedureLocation",
    "RequestingPhysician",
    "RequestingService",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "ResultsComments",
    "ResultsDistributionListSequence",
    "ResultsIDIssuer",
    "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepLocation",
    "ScheduledStationAETitle",
    "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName",
    "ScheduledStationNameCodeSequence",
    "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle",
    "SeriesDescription",
    "ServiceEpisodeDescription",
    "ServiceEpisodeID",
    "SmokingStatus",
    "SourceImageSequence",
    "SpecialNeeds",
    "StationName",
    "StudyComments",
    "StudyDescription",
    "StudyIDIssuer",
    "TextComments",
    "TextString",
    "TopicAuthor",
    "TopicKeywords",
    "TopicSubject",
    "TopicTitle",
    "VerifyingObserverIdentificationCodeSequence",
    "VerifyingObserverName",
    "VerifyingObserverSequence",
    "VerifyingOrganization",
    "VisitComments",
    "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence",
    "RequestedProcedureDescription",
    "PerformedStationAETitle",
    "PerformedStationName",
    "PerformedStationNameCodeSequence",
    "ContentSequence",
    "StorageMediaFileSetID",
    "StorageMediaFileSetUID",
    "TimezoneOffsetFromUTC",
    "ClinicalTrialSponsorName",
)
# Z or D: keep the attribute (Type 1/2 in the IOD) with an empty or dummy value.
EMPTY = (
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ContentCreatorName",
    "ContentDate",
    "ContentTime",
)
STANDARD_UID_ROOT = "1.2.840.10008."
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
METHOD = ["PS3.15 Annex E Basic Profile", "Private tags removed", "UIDs remapped"]  # LO: 64 chars each
_DATE_VRS = ("DA", "DT", "TM")


def remap_uid(uid: str, *, key: bytes) -> str:
    """A new UID for ``uid``: ``2.25.`` + the first 128 bits of HMAC-SHA256(key, uid) as an integer."""
    digest = hmac.new(key, uid.encode("ascii", "replace"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def deidentify(ds: Dataset, *, pseudonym: str, uid_key: bytes) -> Dataset:
    """De-identify ``ds`` in place (header only) and return it.

    Parameters
    ----------
    ds : Dataset
        A header read with ``stop_before_pixels`` (its ``file_meta`` is updated too).
    pseudonym : str
        Written as PatientID (the registry's study_id); PatientName is emptied.
    uid_key : bytes
        Secret for the UID remapping (the same key maps the same UID to the same new UID).
    """
    ds.remove_private_tags()
    _clean(ds, uid_key)
    ds.PatientID = pseudonym
    ds.PatientName = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
    ds.DeidentificationMethodCodeSequence = [code]
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _clean(ds: Dataset, uid_key: bytes) -> None:
    for keyword in REMOVE:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword in EMPTY:
        if keyword in ds:
            ds[keyword].value = ""
    for elem in list(ds):
        _clean_element(ds, elem, uid_key)


def _clean_element(ds: Dataset, elem: DataElement, uid_key: bytes) -> None:
    """Drop, empty or remap one element by its group and value representation (sequences recursively)."""
    tag = Tag(elem.tag)
    if 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
        del ds[tag]  # curves and overlays (may hold burned-in text as graphics)
    elif elem.VR == "SQ":
        for item in elem.value or Sequence():
            _clean(item, uid_key)
    elif elem.VR == "PN":
        elem.value = ""
    elif elem.VR in _DATE_VRS and elem.keyword not in EMPTY:
        del ds[tag]
    elif elem.VR == "UI" and elem.value:
        elem.value = _remap_value(elem.value, uid_key)


def _remap_value(value: str | Iterable[object], uid_key: bytes) -> str | list[str]:
    def one(uid: object) -> str:
        return str(uid) if str(uid).startswith(STANDARD_UID_ROOT) else remap_uid(str(uid), key=uid_key)

    return one(value) if isinstance(value, str) else [one(v) for v in value]
