"""Real Celery worker processes for the tests that kill one mid-job (tests/test_worker_death.py,
tests/services/test_scoring_worker.py)."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Shortened so that a killed worker's job is re-queued within seconds (core.jobs).
FAST_JOBS = {"JOB_HEARTBEAT_SECONDS": "0.5", "JOB_STALE_AFTER_SECONDS": "4", "JOB_REAPER_INTERVAL_SECONDS": "1"}


def start_worker(env: dict, log_path: Path, *, name: str = "worker") -> subprocess.Popen:
    """One worker (concurrency 1) in its own session, so that killing the group kills the pool's
    children too; its output goes to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool: no warm shutdown, no chance to finish the job at hand."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (warm shutdown), SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
