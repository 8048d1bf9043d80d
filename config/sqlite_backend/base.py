"""SQLite with a write gate: in one process, write transactions take turns, first come first served.

SQLite lets one writer at a time. A writer that finds the database locked polls (the busy timeout,
OPTIONS["timeout"]), sleeping up to 100 ms between tries, so a newcomer often gets the lock before
an early waiter, and with many threads writing an early waiter can starve until its timeout:
"database is locked". Measured with benchmarks/write_contention.py: 50 API writer threads in one
threaded web process lost about 10 % of their writes that way even with short transactions.

So the threads of one process queue (in order of arrival) for a process-wide gate before BEGIN
IMMEDIATE and leave it at COMMIT or ROLLBACK; SQLite's busy wait is left to arbitrate between
processes (web server, Celery worker, command-line imports). Waiting for the gate is bounded by the
same timeout; after it, OperationalError "database is locked", as SQLite would raise (a 503, see
registry.busy). In-memory databases (the tests) have no gate: Django shares their connection
between threads.
"""

import threading
import time
from collections import deque

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError


class WriteGate:
    """A lock handed directly to the longest waiter (first come, first served), with a timeout."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held and not self._waiting:
                self._held = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait timed out
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # still held: now by the next in line
            else:
                self._held = False


_GATE = WriteGate()


class DatabaseWrapper(base.DatabaseWrapper):
    gate = _GATE
    _in_gate = False

    def _gated(self) -> bool:
        return not self.is_in_memory_db()

    def _start_transaction_under_autocommit(self):
        if self._gated():
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5.0))
            started = time.monotonic()
            if not self.gate.acquire(timeout):
                raise OperationalError(f"database is locked (no turn to write within {time.monotonic() - started:.1f} s)")
            self._in_gate = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._leave_gate()
            raise

    def _leave_gate(self) -> None:
        if self._in_gate:
            self._in_gate = False
            self.gate.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._leave_gate()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._leave_gate()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._leave_gate()
