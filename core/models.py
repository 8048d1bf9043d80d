"""What every background job row has: status, progress, attempts, the lease of the worker that
runs it and that worker's heartbeat, the error and the timings. The import, scoring and analysis
jobs are concrete models of their apps that inherit these columns; `core.jobs` runs them."""

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackgroundJob(models.Model):
    Status = JobStatus

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # The worker running the job holds the lease (a random token) and beats on heartbeat_at; a
    # running job whose heartbeat stopped is re-queued by `core.jobs.requeue_stale_jobs`.
    lease = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Declared here (the manager every concrete job model gets anyway) so that `core.jobs`, which
    # works on `type[BackgroundJob]`, can query any job model.
    objects = models.Manager()

    class Meta:
        abstract = True

    @property
    def done(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
