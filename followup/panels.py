"""The patient page's follow-up panel (registered with registry.panels in FollowupConfig.ready):
the waves the patient was in, what they reported and the requests for source documents.
Free text (what was reported, hospitals, document references, notes) only for the roles that
see identifiers; investigators see the statuses and dates."""

from django.http import HttpRequest

from core.roles import FOLLOW_UP_WAVES, can_see_identifiers, has_role
from followup.models import ReportedEvent, SourceDocumentRequest, WaveMember
from registry.models import Patient

PATIENT_PANEL_TEMPLATE = "followup/_patient_panel.html"


def patient_follow_up_panel(request: HttpRequest, patient: Patient) -> dict:
    memberships = list(
        WaveMember.objects.filter(patient=patient).select_related("wave").order_by("-wave__created_on", "-id")
    )
    reported = list(
        ReportedEvent.objects.filter(patient=patient)
        .select_related("clinical_event", "response__member__wave")
        .order_by("id")
    )
    requests = list(
        SourceDocumentRequest.objects.filter(patient=patient)
        .select_related("clinical_event")
        .order_by("-requested_on", "-id")
    )
    return {
        "memberships": memberships,
        "reported": reported,
        "requests": requests,
        "show_text": can_see_identifiers(request.user),
        "can_follow_up": has_role(request.user, FOLLOW_UP_WAVES),
    }
