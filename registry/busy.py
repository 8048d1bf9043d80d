"""A write that cannot get the database's write lock in time is a 503, never a 500.

The embedded SQLite lets one writer at a time: a write waits up to its busy timeout (DATABASES
OPTIONS "timeout" in config/settings.py) for the lock, then fails with OperationalError "database
is locked". On PostgreSQL a lock timeout
(55P03), a serialization failure (40001) or a deadlock (40P01) mean the same for the user: nothing
was saved, and the same request a moment later will work. They get "The registry is busy; try again
in a moment." with a Retry-After header: JSON under /api/, a page elsewhere.

Three places answer it: `BusyMiddleware` (an exception from a view), `api_exception_handler`
(REST_FRAMEWORK's EXCEPTION_HANDLER, so the API answers in its own format) and `server_error`
(handler500: the rest, e.g. a session saved by a middleware after the view).
"""

import logging
import sys
from typing import TypeGuard

from django.db.utils import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)

BUSY_MESSAGE = "The registry is busy; try again in a moment."
RETRY_AFTER_SECONDS = 5
_SQLITE_BUSY = ("database is locked", "database table is locked")
_POSTGRESQL_BUSY = {"55P03", "40001", "40P01"}  # lock_not_available, serialization_failure, deadlock_detected


def is_busy(exc: BaseException | None) -> TypeGuard[OperationalError]:
    """The database refused a write for now (locked, timed out, serialization): worth retrying."""
    if not isinstance(exc, OperationalError):
        return False
    if any(message in str(exc) for message in _SQLITE_BUSY):
        return True
    return getattr(exc.__cause__, "sqlstate", None) in _POSTGRESQL_BUSY


def busy_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": BUSY_MESSAGE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    else:
        response = render(request, "503.html", {"message": BUSY_MESSAGE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _log(request: HttpRequest, exc: BaseException) -> None:
    logger.warning("503 busy: %s %s: %s", request.method, request.path, exc)


class BusyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_busy(exception):
            return None
        _log(request, exception)
        return busy_response(request)


def api_exception_handler(exc, context) -> Response | None:
    """DRF's handler, plus the 503 for a busy database."""
    response = exception_handler(exc, context)
    if response is None and is_busy(exc):
        _log(context["request"], exc)
        set_rollback()
        response = Response(
            {"detail": BUSY_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a busy database raised outside a view is a 503 too; anything else Django's 500."""
    exc = sys.exc_info()[1]
    if is_busy(exc):
        _log(request, exc)
        return busy_response(request)
    return defaults.server_error(request)
