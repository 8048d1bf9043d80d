"""Every page needs a signed-in user (Django's LoginRequiredMiddleware). The views that step aside
are named here; the API's (DRF marks all of its views) authenticate and answer 401 themselves."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from core.api import ApiView

PAGES_WITHOUT_LOGIN = {
    "login",
    "healthz",
    "admin:login",
    # Django's password reset by e-mail: the e-mailed, signed, expiring link is the key.
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    # The patient's online questionnaire (followup.public_views): the single-use, expiring link
    # from the letter is the key; its pages show nothing of any patient, and guessing is throttled.
    "followup_public_form",
    "followup_public_thanks",
}
# DRF views that are not core.api.ApiView (whose roles every method declares) and why they are safe
API_OUTSIDE_ROLES = {
    "api-token",  # signing in with a password; DELETE needs a token
    "api-schema",
    "api-docs",  # SPECTACULAR_SETTINGS SERVE_PERMISSIONS: any role
}


def _patterns(resolver: URLResolver, namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", entry.callback


def _drf_class(callback):
    view_class = getattr(callback, "cls", None)
    return view_class if isinstance(view_class, type) and issubclass(view_class, APIView) else None


def test_only_the_named_pages_step_aside_from_the_login_requirement():
    exempt = {
        name
        for name, callback in _patterns(get_resolver())
        if getattr(callback, "login_required", True) is False and _drf_class(callback) is None
    }
    assert exempt == PAGES_WITHOUT_LOGIN


def test_every_api_view_declares_its_roles_or_is_named_as_safe():
    outside = {
        name
        for name, callback in _patterns(get_resolver())
        if _drf_class(callback) is not None and not issubclass(_drf_class(callback), ApiView)
    }
    assert outside == API_OUTSIDE_ROLES


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "status", "location"),
    [
        ("/patients/", 302, "/accounts/login/?next=/patients/"),
        ("/analytics/", 302, "/accounts/login/?next=/analytics/"),
        ("/pullbacks/7/", 302, "/accounts/login/?next=/pullbacks/7/"),
        ("/admin/", 302, "/admin/login/?next=/admin/"),
        ("/api/patients/", 401, None),
        ("/api/pullbacks/1/", 401, None),
        ("/api/analyses/", 401, None),
        ("/api/schema/", 401, None),
        ("/api/docs/", 401, None),
        ("/healthz", 200, None),
        ("/accounts/login/", 200, None),
        ("/q/not-a-link-we-know/", 404, None),
        ("/q/thanks/", 200, None),
    ],
)
def test_an_anonymous_caller_is_sent_to_sign_in_or_refused(client, url, status, location):
    response = client.get(url)
    assert response.status_code == status
    if location:
        assert response["Location"] == location
