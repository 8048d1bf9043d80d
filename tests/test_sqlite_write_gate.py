"""config.sqlite_backend: write transactions of one process take turns on SQLite, in order of
arrival; one that gets no turn within the timeout fails as "database is locked" (a 503)."""

import threading
import time

import pytest
from django.db import connection

from config.sqlite_backend.base import DatabaseWrapper, WriteGate
from registry.busy import is_busy


def _wait_until(condition) -> None:
    for _ in range(2000):
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def test_the_gate_goes_to_its_waiters_in_order_of_arrival():
    gate, order = WriteGate(), []
    assert gate.acquire(timeout=1)

    def wait(name: str) -> None:
        assert gate.acquire(timeout=60)
        order.append(name)
        gate.release()

    threads = []
    for queued, name in enumerate(("first", "second", "third"), start=1):
        threads.append(threading.Thread(target=wait, args=(name,)))
        threads[-1].start()
        _wait_until(lambda queued=queued: len(gate._waiting) == queued)
    gate.release()
    for t in threads:
        t.join()
    assert order == ["first", "second", "third"]


def test_a_waiter_that_times_out_leaves_the_queue():
    gate = WriteGate()
    assert gate.acquire(timeout=1)
    assert gate.acquire(timeout=0.01) is False
    assert len(gate._waiting) == 0
    gate.release()
    assert gate.acquire(timeout=0.01) is True


@pytest.fixture
def two_connections(tmp_path, django_db_blocker):
    settings_dict = {**connection.settings_dict, "NAME": str(tmp_path / "db.sqlite3")}
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "timeout": 0.05}
    gate = WriteGate()
    wrappers = [DatabaseWrapper(dict(settings_dict), alias=f"gate-{i}") for i in range(2)]
    with django_db_blocker.unblock():
        for w in wrappers:
            w.gate = gate
            w.ensure_connection()
        yield wrappers
        for w in wrappers:
            w.close()


def _begin(wrapper) -> None:
    wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def test_a_write_transaction_waits_for_the_one_in_progress_and_then_fails_as_busy(two_connections):
    first, second = two_connections
    _begin(first)
    with pytest.raises(Exception) as refused:
        _begin(second)
    assert is_busy(refused.value)
    assert str(refused.value).startswith("database is locked (no turn to write within ")
    first.commit()
    first.set_autocommit(True)
    _begin(second)  # the gate is free again
    second.rollback()
    second.set_autocommit(True)
    _begin(first)  # and free after a rollback too
    first.rollback()
    first.set_autocommit(True)


def test_closing_a_connection_in_a_transaction_frees_the_gate(two_connections):
    first, second = two_connections
    _begin(first)
    first.close()
    _begin(second)
    second.rollback()
    second.set_autocommit(True)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="about the SQLite backend; this run is on another database")
@pytest.mark.django_db
def test_an_in_memory_database_has_no_gate():
    # The tests' database: Django shares its connection between threads, so a gate would deadlock them.
    assert connection.is_in_memory_db()
    assert connection._gated() is False
