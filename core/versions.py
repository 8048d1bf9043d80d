"""Row versions: a save from a stale copy is refused, never merged silently."""

from django.db import models


class StaleVersion(Exception):
    """A save from a copy that someone else has changed since it was read; nothing was written.

    `current` is the row as it is now (for showing the current values); `message` says what
    happened in words for the user. Services raise it (registry.services builds the message from
    the audit trail); the API base answers 409 with the current representation, forms show the
    current values."""

    def __init__(self, current: models.Model, expected: int, message: str):
        self.current, self.expected, self.message = current, expected, message
        super().__init__(message)
