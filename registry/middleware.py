"""Every page and API call requires login, except the login page, static files and health."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse

# /api/auth/token/ is where an API client without a session exchanges its password for a token.
_OPEN_PREFIXES = ("/accounts/login/", "/static/", "/healthz", "/api/auth/token/")


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated or request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            # DRF authenticates tokens itself; let it answer 401/403 in its own format.
            if "HTTP_AUTHORIZATION" in request.META:
                return self.get_response(request)
            return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
        if request.path.startswith("/admin/"):
            return self.get_response(request)
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
