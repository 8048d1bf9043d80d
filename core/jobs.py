"""The one runner of background jobs (CSV imports, scoring runs, analyses), so that no job is lost
when a worker dies and none is finished twice.

- `enqueue(job, task_path)` queues the job's task when the transaction that created it commits.
- `run_job(model, pk, body)` claims a queued job with a random lease (a conditional update: of
  two deliveries of one message only one gets it), beats on `heartbeat_at` from a thread while
  `body(run)` works, and records the outcome only while it still holds the lease. `body` returns
  the fields to store on success, raises `JobFailed` for an expected failure with a message for
  the user. A job that writes results calls `run.hold()` first and `run.commit(**fields)` last
  inside the transaction that writes them: the job's success is committed with its data (so a
  job cannot be re-queued between the two), and a worker whose job was handed to another commits
  nothing.
- `requeue_stale_jobs()` finds running jobs whose heartbeat stopped (the worker was killed, the
  machine restarted, `make demo` was stopped mid-job) and queues them again, at most
  JOB_MAX_ATTEMPTS times; and re-sends queued jobs whose message never started (a broker that
  dropped it). Every worker runs it at start and then every JOB_REAPER_INTERVAL_SECONDS; the
  command `requeue_stale_jobs` runs it once. It works the same on every broker because it relies
  on the database, not on the broker's redelivery.

Apps register their job models with `register("app.Model", "app.tasks.task_name")`.
"""

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from core.models import BackgroundJob, JobStatus

logger = logging.getLogger(__name__)

_KINDS: dict[str, str] = {}  # "app_label.Model" -> dotted path of its Celery task (one argument: the pk)


def register(model_label: str, task_path: str) -> None:
    _KINDS[model_label] = task_path


def heartbeat_seconds() -> float:
    return float(getattr(settings, "JOB_HEARTBEAT_SECONDS", 10))


def stale_after() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "JOB_STALE_AFTER_SECONDS", 120)))


def max_attempts() -> int:
    return int(getattr(settings, "JOB_MAX_ATTEMPTS", 3))


class JobFailed(Exception):
    """An expected failure: `message` is for the user; `fields` are stored on the job as well."""

    def __init__(self, message: str, **fields):
        super().__init__(message)
        self.message, self.fields = message, fields


class LeaseLost(Exception):
    """The job was handed to another worker (this one's heartbeat had stopped): write nothing."""


_JobT = TypeVar("_JobT", bound=BackgroundJob)


@dataclass
class JobRun(Generic[_JobT]):
    """The job being run by this worker, as `body` sees it."""

    model: type[_JobT]
    pk: int
    lease: str
    job: _JobT
    committed: bool = False
    _last_progress: list[int] = field(default_factory=lambda: [0])

    def progress(self, percent: int) -> None:
        """Show progress (0-99; success sets 100), written at most every 5 %."""
        percent = max(0, min(int(percent), 99))
        if percent >= self._last_progress[0] + 5:
            self._last_progress[0] = percent
            self.model.objects.filter(pk=self.pk, lease=self.lease).update(progress_percent=percent)

    def hold(self) -> None:
        """Inside the transaction that writes the job's results: lock the job's row and make sure
        this worker still holds it; LeaseLost otherwise (the transaction then rolls back)."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("JobRun.hold() belongs inside the transaction that writes the results")
        if not self.model.objects.select_for_update().filter(pk=self.pk, lease=self.lease).exists():
            raise LeaseLost(f"{self.model._meta.label} {self.pk} is held by another worker")

    def commit(self, **fields) -> None:
        """Record success (and `fields`) in the transaction that writes the job's results."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("JobRun.commit() belongs inside the transaction that writes the results")
        done = self.model.objects.filter(pk=self.pk, lease=self.lease).update(
            status=JobStatus.SUCCEEDED,
            progress_percent=100,
            finished_at=timezone.now(),
            lease="",
            heartbeat_at=None,
            error="",
            **fields,
        )
        if not done:
            raise LeaseLost(f"{self.model._meta.label} {self.pk} is held by another worker")
        self.committed = True


def enqueue(job: BackgroundJob, task_path: str) -> None:
    """Queue the job's task once the surrounding transaction commits."""
    type(job).objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    transaction.on_commit(lambda: import_string(task_path).delay(job.pk))


def claim(model: type[_JobT], pk: int) -> JobRun[_JobT] | None:
    """Take a queued job for this worker; None if it is not queued (running elsewhere, or done)."""
    lease, now = uuid.uuid4().hex, timezone.now()
    taken = model.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        lease=lease,
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        progress_percent=0,
        error="",
        attempts=F("attempts") + 1,
    )
    if not taken:
        return None
    return JobRun(model=model, pk=pk, lease=lease, job=model.objects.get(pk=pk))


def run_job(
    model: type[_JobT],
    pk: int,
    body: Callable[[JobRun[_JobT]], dict | None],
    *,
    unexpected: Callable[[Exception], str],
) -> JobRun[_JobT] | None:
    """Claim the job, run `body` with a heartbeat, record the outcome. Returns the run, or None
    when the job was not ours to run. An unexpected error is recorded (`unexpected(exc)` is the
    message) and re-raised for the worker's log."""
    run = claim(model, pk)
    if run is None:
        status = model.objects.filter(pk=pk).values_list("status", flat=True).first()
        logger.info("%s %s is %s: not run by this delivery", model._meta.label, pk, status or "gone")
        return None
    beat = _Heartbeat(run) if _in_worker() else None
    outcome: dict | None = {"status": JobStatus.FAILED}
    try:
        fields = body(run) or {}
        if not run.committed:
            with transaction.atomic():
                run.commit(**fields)
        outcome = None
    except LeaseLost:
        logger.warning("%s %s was handed to another worker; this one wrote nothing", model._meta.label, pk)
        outcome = None
    except JobFailed as exc:
        outcome = {"status": JobStatus.FAILED, "error": exc.message, **exc.fields}
    except Exception as exc:
        logger.exception("%s %s failed unexpectedly", model._meta.label, pk)
        outcome = {"status": JobStatus.FAILED, "error": unexpected(exc)}
        raise
    finally:
        if beat is not None:
            beat.stop()
        if outcome is not None:  # a failure; success was committed with the results
            outcome |= {"finished_at": timezone.now(), "lease": "", "heartbeat_at": None}
            model.objects.filter(pk=pk, lease=run.lease).update(**outcome)
    return run


def _in_worker() -> bool:
    # A heartbeat only where a worker runs the job; an eager task (tests) or a job run inside a
    # web request (a small analysis) has a caller that waits for it anyway.
    from celery import current_task

    return bool(current_task) and not current_task.request.is_eager


class _Heartbeat:
    """A daemon thread that writes heartbeat_at every JOB_HEARTBEAT_SECONDS while the job runs."""

    def __init__(self, run: JobRun[Any]):
        self._run, self._stopped = run, threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run.pk}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(heartbeat_seconds()):
                try:
                    self._run.model.objects.filter(pk=self._run.pk, lease=self._run.lease).update(
                        heartbeat_at=timezone.now()
                    )
                except OperationalError as exc:  # e.g. SQLite busy for a moment: beat next time
                    logger.warning("heartbeat of %s %s skipped: %s", self._run.model._meta.label, self._run.pk, exc)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=heartbeat_seconds() + 30)


# Stale and lost jobs --------------------------------------------------------------------------


def job_health(*, now=None) -> list[dict[str, Any]]:
    """Per registered kind of job: queued, running, running without a heartbeat for longer than
    JOB_STALE_AFTER_SECONDS (its worker likely died; the reaper re-queues it), failed and succeeded
    in the last 7 days, and the age in seconds of the oldest queued job. For the admins' home page."""
    now = now or timezone.now()
    stale_before = now - stale_after()
    week_ago = now - timedelta(days=7)
    out = []
    for label in sorted(_KINDS):
        model = apps.get_model(label)
        jobs = model.objects.all()
        oldest = jobs.filter(status=JobStatus.QUEUED).order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
        out.append(
            {
                "kind": str(model._meta.verbose_name_plural).capitalize(),
                "queued": jobs.filter(status=JobStatus.QUEUED).count(),
                "running": jobs.filter(status=JobStatus.RUNNING).count(),
                "stale": jobs.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale_before).count(),
                "failed_7_days": jobs.filter(status=JobStatus.FAILED, finished_at__gte=week_ago).count(),
                "succeeded_7_days": jobs.filter(status=JobStatus.SUCCEEDED, finished_at__gte=week_ago).count(),
                "oldest_queued_seconds": (now - oldest).total_seconds() if oldest else None,
            }
        )
    return out


def requeue_stale_jobs() -> dict[str, dict[str, int]]:
    """Queue again the running jobs whose heartbeat stopped (or fail them after JOB_MAX_ATTEMPTS)
    and re-send queued jobs no worker has started within JOB_STALE_AFTER_SECONDS.
    Returns {"app.Model": {"requeued": n, "failed": n, "resent": n}}."""
    report = {}
    for label, task_path in sorted(_KINDS.items()):
        model = apps.get_model(label)
        report[label] = _requeue(model, task_path)
    return report


def _requeue(model: type[BackgroundJob], task_path: str) -> dict[str, int]:
    now = timezone.now()
    cutoff = now - stale_after()
    stopped_beating = Q(status=JobStatus.RUNNING) & (
        Q(heartbeat_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True)
    )
    # Only jobs that were queued for a worker: a job never enqueued is run by its caller (e.g. a
    # small analysis inside the web request) and must not be taken from it.
    never_started = Q(status=JobStatus.QUEUED, enqueued_at__lt=cutoff)
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    to_send = []
    for pk, attempts, status in model.objects.filter(stopped_beating | never_started).values_list(
        "pk", "attempts", "status"
    ):
        # Each change is conditional on the state just read: of two reapers, one wins.
        same = model.objects.filter(Q(pk=pk) & (stopped_beating | never_started))
        if status == JobStatus.RUNNING and attempts >= max_attempts():
            counts["failed"] += same.update(
                status=JobStatus.FAILED,
                lease="",
                heartbeat_at=None,
                finished_at=now,
                error=f"The worker stopped {attempts} times while running this job, so it was given up. "
                "Start it again, or tell the registry administrator if it keeps failing.",
            )
            continue
        if same.update(status=JobStatus.QUEUED, lease="", heartbeat_at=None, enqueued_at=now):
            counts["requeued" if status == JobStatus.RUNNING else "resent"] += 1
            to_send.append(pk)
    if not to_send:
        return counts
    task = import_string(task_path)
    for pk in to_send:
        logger.warning("%s %s: re-queued (its worker stopped, or its message was lost)", model._meta.label, pk)
        task.delay(pk)
    return counts


class _Reaper:
    """In each worker: requeue_stale_jobs() at start and then every JOB_REAPER_INTERVAL_SECONDS."""

    def __init__(self):
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-reaper", daemon=True)

    def start(self) -> "_Reaper":
        self._thread.start()
        return self

    def _loop(self) -> None:
        interval = float(getattr(settings, "JOB_REAPER_INTERVAL_SECONDS", 30))
        while True:
            try:
                requeue_stale_jobs()
            except Exception:  # a database hiccup must not end the loop
                logger.exception("re-queueing stale jobs failed; trying again in %s s", interval)
            finally:
                connection.close()
            if self._stopped.wait(interval):
                return

    def stop(self) -> None:
        self._stopped.set()


def start_reaper(**_signal_kwargs) -> None:
    """celery.signals.worker_ready handler (connected in CoreConfig.ready)."""
    _Reaper().start()
