"""Sign-in throttling (django-axes): 10 failed sign-ins from one address, or for one username,
lock sign-in for 15 minutes, even with the right password, on the login page and for API tokens."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client, RequestFactory
from rest_framework.authtoken.models import Token

from registry.lockout import client_ip_address
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"
MESSAGE = "Too many failed sign-in attempts; try again in 15 minutes."
START = "2026-11-27 12:00 +0000"


def _page_sign_in(username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password})


def _api_sign_in(username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}, content_type="application/json"
    )


def _assert_page_refused(response) -> None:
    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def _assert_api_refused(response) -> None:
    assert response.status_code == 429
    assert response.json() == {"detail": MESSAGE}


@time_machine.travel(START, tick=False)
def test_the_login_page_refuses_the_right_password_after_ten_failures():
    UserFactory(username="alice")
    for _ in range(9):
        response = _page_sign_in("alice", "wrong")
        assert response.status_code == 200
        assert "Please enter a correct username and password." in response.content.decode()

    _assert_page_refused(_page_sign_in("alice", "wrong"))  # the tenth failure locks
    _assert_page_refused(_page_sign_in("alice", PASSWORD))


@time_machine.travel(START, tick=False)
def test_the_token_api_refuses_the_right_password_after_ten_failures():
    UserFactory(username="alice")
    for _ in range(9):
        assert _api_sign_in("alice", "wrong").status_code == 400

    _assert_api_refused(_api_sign_in("alice", "wrong"))
    _assert_api_refused(_api_sign_in("alice", PASSWORD))
    assert not Token.objects.exists()


@time_machine.travel(START, tick=False)
def test_failures_for_many_usernames_from_one_address_lock_that_address():
    UserFactory(username="alice")
    for n in range(10):
        _api_sign_in(f"guess{n}", "wrong", address="10.0.0.9")

    _assert_page_refused(_page_sign_in("alice", PASSWORD, address="10.0.0.9"))
    _assert_api_refused(_api_sign_in("alice", PASSWORD, address="10.0.0.9"))
    assert _page_sign_in("alice", PASSWORD, address="10.0.0.10").status_code == 302  # another address


@time_machine.travel(START, tick=False)
def test_failures_for_one_username_from_many_addresses_lock_that_username():
    UserFactory(username="alice")
    UserFactory(username="bob")
    for n in range(10):
        _page_sign_in("alice", "wrong", address=f"10.0.1.{n}")

    _assert_page_refused(_page_sign_in("alice", PASSWORD, address="10.0.2.1"))
    _assert_api_refused(_api_sign_in("alice", PASSWORD, address="10.0.2.1"))
    assert _page_sign_in("bob", PASSWORD, address="10.0.2.1").status_code == 302  # another username


def test_sign_in_works_again_after_fifteen_minutes():
    UserFactory(username="alice")
    with time_machine.travel(START, tick=False) as traveller:
        for _ in range(10):
            _page_sign_in("alice", "wrong")
        traveller.shift(timedelta(minutes=14, seconds=59))
        _assert_page_refused(_page_sign_in("alice", PASSWORD))
        _assert_api_refused(_api_sign_in("alice", PASSWORD))

        traveller.shift(timedelta(seconds=2))
        response = _page_sign_in("alice", PASSWORD)
        assert response.status_code == 302
        assert response.wsgi_request.user.username == "alice"
        assert _api_sign_in("alice", PASSWORD).status_code == 200


def test_failures_further_apart_than_fifteen_minutes_do_not_add_up():
    UserFactory(username="alice")
    with time_machine.travel(START, tick=False) as traveller:
        for _ in range(9):
            _page_sign_in("alice", "wrong")
        traveller.shift(timedelta(minutes=15, seconds=1))
        assert _page_sign_in("alice", "wrong").status_code == 200  # counting starts again
        assert _page_sign_in("alice", PASSWORD).status_code == 302


@pytest.mark.parametrize(("behind_proxy", "expected"), [(False, "10.9.9.9"), (True, "203.0.113.7")])
def test_the_counted_address_behind_a_proxy_is_the_one_the_proxy_appended(settings, behind_proxy, expected):
    settings.BEHIND_PROXY = behind_proxy
    # The first entry is whatever the client claims; the proxy (10.9.9.9) appended the real one.
    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7"
    )
    assert client_ip_address(request) == expected
