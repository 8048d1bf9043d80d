"""A write that cannot get the database's write lock is a 503 "The registry is busy; try again in a
moment." with Retry-After (JSON for the API, a page for the web), never a 500; other database
errors stay errors."""

from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.utils import OperationalError
from django.test import RequestFactory
from django.urls import reverse

from registry.busy import is_busy, server_error
from registry.models import AuditEntry, FollowUpContact
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

CONTACT = {"contact_date": "2020-01-01", "method": "phone", "vital_status": "alive"}


@contextmanager
def writes_fail_with(message: str):
    """Every INSERT/UPDATE/DELETE raises `message`, as SQLite does after the busy timeout."""

    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise OperationalError(message)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


def test_an_api_write_on_a_locked_database_is_a_503_with_retry_after(coordinator, patient):
    client = client_for(coordinator)
    with writes_fail_with("database is locked"):
        response = client.post(reverse("api-contacts", args=[patient.study_id]), CONTACT, content_type="application/json")
    assert response.status_code == 503
    assert response.json() == {"detail": "The registry is busy; try again in a moment."}
    assert response["Retry-After"] == "5"
    assert (FollowUpContact.objects.count(), AuditEntry.objects.count()) == (0, 0)


def test_an_api_patch_on_a_locked_database_is_a_503(coordinator, patient):
    client = client_for(coordinator)
    with writes_fail_with("database is locked"):
        response = client.patch(
            reverse("api-patient", args=[patient.study_id]),
            {"egfr": 55, "reason": "new lab value"},
            content_type="application/json",
        )
    assert (response.status_code, response.json(), response["Retry-After"]) == (
        503,
        {"detail": "The registry is busy; try again in a moment."},
        "5",
    )
    patient.refresh_from_db()
    assert patient.egfr == 78.0


def test_a_web_form_write_on_a_locked_database_is_a_503_page(coordinator, patient):
    client = client_for(coordinator)
    with writes_fail_with("database is locked"):
        response = client.post(reverse("contact_create", args=[patient.study_id]), CONTACT)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Busy</h1>" in response.content.decode()
    assert "The registry is busy; try again in a moment. Nothing was saved" in response.content.decode()
    assert FollowUpContact.objects.count() == 0


def test_another_database_error_is_not_turned_into_a_503(coordinator, patient):
    client = client_for(coordinator)
    with writes_fail_with("disk I/O error"), pytest.raises(OperationalError, match="disk I/O error"):
        client.post(reverse("api-contacts", args=[patient.study_id]), CONTACT, content_type="application/json")


@pytest.mark.parametrize(
    ("message", "sqlstate", "busy"),
    [
        ("database is locked", None, True),
        ("database table is locked", None, True),  # SQLite's shared cache
        ("canceling statement due to lock timeout", "55P03", True),
        ("could not serialize access due to concurrent update", "40001", True),
        ("deadlock detected", "40P01", True),
        ("disk I/O error", None, False),
        ("relation does not exist", "42P01", False),
    ],
)
def test_which_database_errors_are_busy(message, sqlstate, busy):
    class DriverError(Exception):
        pass

    exc = OperationalError(message)
    driver_error = DriverError(message)
    driver_error.sqlstate = sqlstate
    exc.__cause__ = driver_error
    assert is_busy(exc) is busy


def test_a_busy_database_outside_a_view_is_a_503_from_handler500(coordinator):
    # e.g. the session saved by SessionMiddleware after the view: only handler500 sees that one.
    for path, content_type in (("/api/patients/", "application/json"), ("/patients/", "text/html; charset=utf-8")):
        request = RequestFactory().post(path)
        request.user = coordinator
        try:
            raise OperationalError("database is locked")
        except OperationalError:
            response = server_error(request)
        assert (response.status_code, response["Retry-After"], response["Content-Type"]) == (503, "5", content_type)


def test_handler500_leaves_other_errors_a_500(coordinator):
    request = RequestFactory().get("/patients/")
    request.user = coordinator
    try:
        raise OperationalError("disk I/O error")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 500
