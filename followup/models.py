"""Follow-up waves: the questionnaire (versioned), who a wave goes to and why, each patient's
letter, reminder and return, the answers, what they reported, and the source-document requests
to the hospitals named. The registry keeps the clinical events and contacts these create;
`followup.services` is the only writer."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models import ClinicalEvent, Patient, Site


def _version_field() -> models.PositiveIntegerField:
    return models.PositiveIntegerField(default=1, help_text="Row version; raised by one on every change.")


class Questionnaire(models.Model):
    """One version of the questionnaire; answers keep the version they were given on."""

    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    definition = models.JSONField(help_text="The questions (followup.questionnaire).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.title} (version {self.version})"


class Wave(models.Model):
    """One round of questionnaires to the patients who were due when it was created."""

    name = models.CharField(max_length=80, unique=True)
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="waves")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    no_contact_days = models.PositiveIntegerField("only patients without contact for (days)", null=True, blank=True)
    reminder_weeks = models.PositiveSmallIntegerField("reminder after (weeks)", default=4)
    answer_days = models.PositiveSmallIntegerField("links valid for (days after the last letter)", default=90)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    created_on = models.DateField("created on")
    closed_on = models.DateField(null=True, blank=True)
    version = _version_field()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.closed_on is None


class MemberStatus(models.TextChoices):
    TO_SEND = "to_send", "Letter not sent yet"
    SENT = "sent", "Sent"
    REMINDED = "reminded", "Reminder sent"
    RETURNED = "returned", "Returned"
    NO_RESPONSE = "no_response", "No response"
    RETURN_TO_SENDER = "return_to_sender", "Returned to sender (address unknown)"


OUTSTANDING_STATUSES = (MemberStatus.TO_SEND, MemberStatus.SENT, MemberStatus.REMINDED)


class WaveMember(models.Model):
    """A patient in a wave: why they were chosen, their letter and reminder, and their return.

    `token` opens the patient's online questionnaire at /q/<token>/ without a login: random
    (128 bits), valid until `token_expires_on`, and dead once the questionnaire is returned (by
    either way) or the wave is closed. It is stored as it is printed on the letter, because
    letters are printed again (a reminder, a lost letter): anyone who can read this table can
    read the patient's record anyway. `response_code` is what coordinators type to find a
    returned paper questionnaire."""

    wave = models.ForeignKey(Wave, on_delete=models.PROTECT, related_name="members")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="wave_memberships")
    reason = models.CharField("why in this wave", max_length=300)
    status = models.CharField(max_length=16, choices=MemberStatus.choices, default=MemberStatus.TO_SEND)
    sent_on = models.DateField(null=True, blank=True)
    reminder_on = models.DateField("reminder sent on", null=True, blank=True)
    returned_on = models.DateField(null=True, blank=True)
    status_note = models.CharField(max_length=300, blank=True)
    response_code = models.CharField(max_length=9, unique=True)
    token = models.CharField(max_length=40, unique=True)
    token_expires_on = models.DateField()
    token_used_at = models.DateTimeField(null=True, blank=True)
    version = _version_field()

    class Meta:
        ordering = ["wave", "patient__study_id"]
        constraints = [models.UniqueConstraint(fields=["wave", "patient"], name="wave_member_once")]
        indexes = [models.Index(fields=["wave", "status"])]

    def __str__(self) -> str:
        return f"{self.patient_id} in {self.wave_id}"


class EntryMethod(models.TextChoices):
    PAPER = "paper", "Paper questionnaire, entered by a coordinator"
    ONLINE = "online", "Online, by the patient"


class QuestionnaireResponse(models.Model):
    """The answers of one patient in one wave, as given (`answers`: {question id: value})."""

    member = models.OneToOneField(WaveMember, on_delete=models.PROTECT, related_name="response")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="+")
    answers = models.JSONField()
    entered_via = models.CharField(max_length=8, choices=EntryMethod.choices)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    entered_at = models.DateTimeField(auto_now_add=True)
    returned_on = models.DateField()

    def __str__(self) -> str:
        return f"response of {self.member_id}"


class ReportedEvent(models.Model):
    """One occurrence reported on a questionnaire (a heart attack in March 2025 at hospital X), and
    the pending clinical event it became (None for an admission, chest pain or TIA, or when it could
    not be entered: `problem` says why)."""

    response = models.ForeignKey(QuestionnaireResponse, on_delete=models.PROTECT, related_name="reported")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    question = models.CharField(max_length=20)
    # The answer to an occurrence's "which" (stroke or TIA, for the stroke question); else blank.
    which = models.CharField(max_length=10, blank=True)
    description = models.CharField(max_length=300)
    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField(null=True, blank=True)
    day = models.PositiveSmallIntegerField(null=True, blank=True)
    hospital = models.CharField(max_length=200, blank=True)
    clinical_event = models.OneToOneField(
        ClinicalEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="reported_by"
    )
    problem = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["response", "id"]

    def __str__(self) -> str:
        return self.description


class RequestStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    REMINDED = "reminded", "Reminder sent"
    RECEIVED = "received", "Received"
    NOT_AVAILABLE = "not_available", "Not available"
    CLOSED_VERIFIED = "closed_verified", "Closed: event verified"
    CLOSED_REJECTED = "closed_rejected", "Closed: event rejected"


OPEN_REQUEST_STATUSES = (RequestStatus.REQUESTED, RequestStatus.REMINDED)


class SourceDocumentRequest(models.Model):
    """A request to a hospital for the document (discharge letter, procedure report) that confirms
    or refutes a reported event. Verifying the event closes it; rejecting it records why."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="document_requests")
    reported_event = models.ForeignKey(
        ReportedEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    clinical_event = models.ForeignKey(
        ClinicalEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="document_requests"
    )
    hospital = models.CharField(max_length=200, blank=True, help_text="Blank: the patient did not name one.")
    what = models.CharField("document about", max_length=300)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.REQUESTED)
    requested_on = models.DateField()
    reminder_on = models.DateField("reminder sent on", null=True, blank=True)
    received_on = models.DateField(null=True, blank=True)
    document_reference = models.CharField(max_length=200, blank=True)
    closed_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    version = _version_field()

    class Meta:
        ordering = ["status", "hospital", "requested_on", "id"]
        indexes = [models.Index(fields=["status", "hospital"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="received") | ~Q(document_reference=""), name="request_received_has_reference"
            )
        ]

    def __str__(self) -> str:
        return f"request to {self.hospital or 'unnamed hospital'} for {self.patient_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES
