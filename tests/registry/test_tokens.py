"""API tokens expire after API_TOKEN_TTL_DAYS and are revoked on logout, on a password change and
on request (DELETE /api/auth/token/)."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"
START = "2026-11-27 12:00 +0000"
EXPIRED = "Your API token has expired; request a new one."


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _obtain(username: str = "investigator", **headers) -> str:
    response = APIClient().post("/api/auth/token/", {"username": username, "password": PASSWORD}, format="json", **headers)
    assert response.status_code == 200
    return response.json()["token"]


def test_a_token_works_until_it_is_thirty_days_old(investigator):
    with time_machine.travel(START, tick=False) as traveller:
        key = _obtain()
        traveller.shift(timedelta(days=30, seconds=-1))
        assert _token_client(key).get("/api/patients/").status_code == 200

        traveller.shift(timedelta(seconds=1))
        response = _token_client(key).get("/api/patients/")
        assert response.status_code == 401
        assert response.json() == {"detail": EXPIRED}
        assert response["WWW-Authenticate"] == "Token"


def test_the_lifetime_is_a_setting(investigator, settings):
    settings.API_TOKEN_TTL_DAYS = 2
    with time_machine.travel(START, tick=False) as traveller:
        key = _obtain()
        traveller.shift(timedelta(days=2))
        assert _token_client(key).get("/api/patients/").status_code == 401


def test_an_expired_token_is_refused_on_every_api_too(investigator, coordinator):
    with time_machine.travel(START, tick=False) as traveller:
        key = _obtain("coordinator")
        traveller.shift(timedelta(days=31))
        for url in ("/api/analyses/", "/api/pullbacks/1/", "/api/events/", "/api/schema/"):
            response = _token_client(key).get(url)
            assert (url, response.status_code) == (url, 401)
            assert EXPIRED in response.content.decode()  # JSON, or YAML from the schema view


def test_signing_in_again_replaces_an_expired_token_and_keeps_a_valid_one(investigator):
    with time_machine.travel(START, tick=False) as traveller:
        first = _obtain()
        traveller.shift(timedelta(days=29))
        assert _obtain() == first

        traveller.shift(timedelta(days=1))
        # The client may still send its expired token: signing in needs only the password.
        second = _obtain(HTTP_AUTHORIZATION=f"Token {first}")
        assert second != first
        assert list(Token.objects.values_list("key", flat=True)) == [second]
        assert _token_client(second).get("/api/patients/").status_code == 200


def test_a_user_revokes_their_own_token(investigator, coordinator):
    key = _obtain()
    other = _obtain("coordinator")

    response = _token_client(key).delete("/api/auth/token/")

    assert response.status_code == 204
    assert _token_client(key).get("/api/patients/").status_code == 401
    assert list(Token.objects.values_list("key", flat=True)) == [other]


def test_revoking_needs_a_signed_in_user():
    response = APIClient().delete("/api/auth/token/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_signed_in_user_revokes_their_token_from_the_session(investigator):
    key = _obtain()
    client = APIClient()
    client.force_login(investigator)
    assert client.delete("/api/auth/token/").status_code == 204
    assert not Token.objects.filter(key=key).exists()


def test_logging_out_revokes_the_token(investigator):
    key = _obtain()
    client = client_for(investigator)

    assert client.post("/accounts/logout/").status_code == 302

    assert not Token.objects.filter(key=key).exists()
    assert _token_client(key).get("/api/patients/").status_code == 401


def test_changing_the_password_on_the_password_change_page_revokes_the_token():
    staff = UserFactory(username="staffer")
    staff.is_staff = True
    staff.save()
    key = _obtain("staffer")
    UserFactory(username="someone-else")
    other_key = _obtain("someone-else")

    response = client_for(staff).post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-and-long-passphrase",
            "new_password2": "a-new-and-long-passphrase",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/password_change/done/"
    assert not Token.objects.filter(key=key).exists()
    assert Token.objects.filter(key=other_key).exists()


def test_the_changepassword_command_revokes_the_token(investigator, monkeypatch):
    key = _obtain()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-new-and-long-passphrase")
    call_command("changepassword", "investigator", stdout=None)
    assert not Token.objects.filter(key=key).exists()


def test_a_password_made_unusable_revokes_the_token(investigator):
    key = _obtain()
    investigator.set_unusable_password()
    investigator.save()
    assert not Token.objects.filter(key=key).exists()


def test_saving_the_user_without_a_password_change_keeps_the_token(investigator):
    key = _obtain()
    investigator.first_name = "Ina"
    investigator.save()
    investigator.save(update_fields=["last_login"])
    assert Token.objects.filter(key=key).exists()


def test_a_rehash_at_sign_in_keeps_the_token(investigator, settings):
    key = _obtain()
    # A stronger hasher becomes the default: Django re-hashes the same password at the next sign-in.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    old_hash = investigator.password
    assert Client().post("/accounts/login/", {"username": "investigator", "password": PASSWORD}).status_code == 302
    investigator.refresh_from_db()
    assert investigator.password != old_hash
    assert Token.objects.filter(key=key).exists()


def test_the_schema_describes_token_authentication(coordinator):
    schema = client_for(coordinator).get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert {"tokenAuth": []} in schema["paths"]["/api/patients/"]["get"]["security"]
    assert set(schema["paths"]["/api/auth/token/"]) == {"post", "delete"}


@pytest.mark.parametrize(("field", "limit"), [("username", 150), ("password", 4096)])
def test_an_over_long_sign_in_is_a_400_that_names_the_limit_and_records_no_attempt(field, limit):
    # Found by the schema fuzzer on PostgreSQL: a 300-character username reached django-axes'
    # failed-attempt row (varchar 255) and was a 500.
    from axes.models import AccessAttempt

    data = {"username": "investigator", "password": PASSWORD} | {field: "x" * (limit + 1)}
    response = APIClient().post("/api/auth/token/", data, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [f"Ensure this field has no more than {limit} characters."]}
    assert not AccessAttempt.objects.exists()
