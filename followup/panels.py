"""The patient page's follow-up panel (registered with registry.panels in FollowupConfig.ready):
the waves the patient was in, what they reported and the requests for source documents.
Free text (what was reported, hospitals, document references, notes) only for the roles that
see identifiers; investigators see the statuses and dates."""

from django.http import HttpRequest
from django.utils import timezone

from core.roles import FOLLOW_UP_WAVES, can_see_identifiers, has_role
from followup.models import OPEN_REQUEST_STATUSES, MemberStatus, ReportedEvent, SourceDocumentRequest, Wave, WaveMember
from followup.services import reminders_due
from registry.access import patients_of_sites, user_site_ids
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


HOME_PANEL_TEMPLATE = "followup/_home_panel.html"


def home_follow_up_panel(request: HttpRequest) -> dict:
    """The coordinators' follow-up work on the home page: running waves (returned, reminders due),
    source documents outstanding."""
    patients = patients_of_sites(user_site_ids(request.user))
    today = timezone.localdate()
    waves = []
    for wave in Wave.objects.filter(closed_on__isnull=True).order_by("-created_on"):
        members = wave.members.filter(patient__in=patients)
        total = members.count()
        if not total:
            continue
        returned = members.filter(status=MemberStatus.RETURNED).count()
        waves.append(
            {
                "wave": wave,
                "members": total,
                "to_send": members.filter(status=MemberStatus.TO_SEND).count(),
                "returned": returned,
                "rate": round(100 * returned / total),
                "reminders_due": reminders_due(wave, today=today).filter(patient__in=patients).count(),
            }
        )
    requests = SourceDocumentRequest.objects.filter(patient__in=patients, status__in=OPEN_REQUEST_STATUSES)
    oldest = requests.order_by("requested_on").values_list("requested_on", flat=True).first()
    return {
        "waves": waves,
        "open_requests": requests.count(),
        "oldest_request_days": (today - oldest).days if oldest else None,
    }
