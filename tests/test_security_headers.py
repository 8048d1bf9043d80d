"""Security headers on every answer: a Content-Security-Policy that lets no inline script run (and
pages that need none), and `Cache-Control: no-store` on whatever a signed-in user receives."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from registry.cache_control import NoStoreMiddleware
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.registry.test_free_text_leaks import FETCHED, world  # noqa: F401 - world is a fixture

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# Pages outside the FETCHED list of the leak test: sign-in, the API description, the browsable API.
EXTRA_PATHS = [
    ("/accounts/login/", {}),
    ("/api/docs/", {}),
    ("/api/docs/?script=", {}),
    ("/api/schema/", {}),
    ("/api/patients/", {"HTTP_ACCEPT": "text/html"}),
    ("/api/analyses/", {"HTTP_ACCEPT": "text/html"}),
]


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


class _InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, on*= handlers, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and not values.get("src") and values.get("type") != "application/json":
            self.found.append(self.get_starttag_text())
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(self.get_starttag_text())


def _inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


def _responses(client, world):  # noqa: F811
    for paths in FETCHED.values():
        for path in paths(world):
            yield path, client.get(path)
    for path, headers in EXTRA_PATHS:
        yield path, client.get(path, **headers)


@pytest.mark.parametrize("role", ["coordinator", "clinician", "investigator", "admin", "outsider", None])
def test_every_page_has_the_policy_and_no_inline_script(world, personas, role):  # noqa: F811
    client = client_for(personas[role]) if role else Client()
    html_pages = 0
    for path, response in _responses(client, world):
        assert response.status_code < 500, path
        assert _policy(response) == POLICY, path
        if response["Content-Type"].startswith("text/html"):
            html_pages += 1
            assert _inline_code(response.content.decode()) == [], path
        if role:
            assert "no-store" in response["Cache-Control"], path
    assert html_pages >= (30 if role in ("coordinator", "admin") else 2)  # not vacuous


def test_the_admin_pages_have_the_policy_and_no_inline_script(world):  # noqa: F811
    staff = UserFactory(username="staff-admin")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = client_for(staff)
    for path in (
        "/admin/",
        "/admin/registry/site/",
        f"/admin/registry/site/{world['patient'].site_id}/change/",
        "/admin/auth/user/add/",
        "/admin/registry/auditentry/",
        "/admin/password_change/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _policy(response) == POLICY, path
        assert _inline_code(response.content.decode()) == [], path
        assert "no-store" in response["Cache-Control"], path


def test_the_pages_that_draw_figures_pass_them_as_json_data(world, coordinator):  # noqa: F811
    client = client_for(coordinator)
    result = client.get(reverse("analytics_run_detail", kwargs={"pk": world["run"].pk})).content.decode()
    pullback = client.get(reverse("pullback_detail", kwargs={"pk": world["pullback"].pk})).content.decode()
    assert '<script id="analysis-figures" type="application/json">' in result
    assert '<script id="pullback-figures" type="application/json">' in pullback


def test_the_lockout_page_has_the_policy():
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(10):
        response = client.post("/accounts/login/", {"username": "nobody", "password": "wrong"})
    assert response.status_code == 429
    assert _policy(response) == POLICY
    assert _inline_code(response.content.decode()) == []


def test_static_files_keep_their_caching(coordinator):
    response = client_for(coordinator).get("/static/js/progress.js")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_an_api_answer_without_a_signed_in_user_is_not_stored():
    response = Client().post(
        "/api/auth/token/", {"username": "nobody", "password": "wrong"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-store"


def test_the_login_page_for_an_anonymous_visitor_keeps_djangos_own_header():
    response = Client().get("/accounts/login/")
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_a_views_own_cache_control_is_kept(coordinator):
    def view_with_own_header(request):
        response = HttpResponse(b"png")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    request = RequestFactory().get("/pullbacks/1/frames/0.png")
    request.user = coordinator
    assert NoStoreMiddleware(view_with_own_header)(request)["Cache-Control"] == "private, max-age=3600"
    request.user = AnonymousUser()
    assert "Cache-Control" not in NoStoreMiddleware(lambda r: HttpResponse(b"ok"))(request)
