"""Sign-in throttling (django-axes): the answer to a locked-out sign-in and the client's address.

django-axes counts failed sign-ins per address and per username (settings AXES_*); these are the
two hooks it calls: `lockout_response` (AXES_LOCKOUT_CALLABLE) and `client_ip_address`
(AXES_CLIENT_IP_CALLABLE). The token view (registry.api.TokenObtainApi) answers with
`lockout_response` too, so the page and the API say the same thing.
"""

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKOUT_TEMPLATE = "registration/locked_out.html"


def lockout_message(request: HttpRequest | None = None) -> str:
    minutes = round(get_cool_off(request).total_seconds() / 60)
    return f"Too many failed sign-in attempts; try again in {minutes} minute{'' if minutes == 1 else 's'}."


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 with the lockout message: JSON under /api/, else a page with a link back to sign-in."""
    message = lockout_message(request)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    return render(request, LOCKOUT_TEMPLATE, {"title": "Sign-in refused", "message": message}, status=429)


def client_ip_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; behind our reverse proxy, the address it appended to X-Forwarded-For.

    Only the last entry is the proxy's own: earlier ones come from the client and can be forged.
    """
    if settings.BEHIND_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")
