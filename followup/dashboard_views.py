"""A wave's dashboard: the numbers of followup.dashboard for the viewer's sites, and the
response-over-time line for static/js/followup_dashboard.js."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.roles import FOLLOW_UP_WAVES
from followup.dashboard import wave_dashboard
from followup.models import Wave
from registry.access import patients_of_sites, user_site_ids
from registry.views import role_required


@require_GET
@role_required(FOLLOW_UP_WAVES)
def wave_dashboard_view(request: HttpRequest, pk: int) -> HttpResponse:
    wave = get_object_or_404(Wave.objects.select_related("site"), pk=pk)
    today = timezone.localdate()
    dashboard = wave_dashboard(wave, patients=patients_of_sites(user_site_ids(request.user)), today=today)
    return render(
        request,
        "followup/wave_dashboard.html",
        {
            "title": f"Dashboard of {wave.name}",
            "wave": wave,
            "today": today,
            "dashboard": dashboard,
            "chart": _chart_data(dashboard["response_over_time"]),
            "timeline_changes": [p for p in dashboard["response_over_time"] if p["changed"]],
        },
    )


def _chart_data(points: list[dict]) -> dict:
    """The line's data, JSON-ready (dates as YYYY-MM-DD)."""
    return {
        "dates": [p["date"].isoformat() for p in points],
        "rate": [p["response_rate"] for p in points],
        "returned": [p["returned"] for p in points],
        "sent": [p["sent"] for p in points],
    }
