"""Celery tasks of the registry: thin wrappers that load by id and call a service."""

import logging
import time

from celery import shared_task

from registry.importer import import_job_run

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def import_job_run_task(self, job_id: int) -> None:
    """Run a queued CSV import (registry.importer.import_job_run); the job row records the outcome."""
    started = time.monotonic()
    logger.info("import job %s: started (task %s)", job_id, self.request.id)
    try:
        import_job_run(job_id=job_id)
    finally:
        logger.info("import job %s: done in %.1f s", job_id, time.monotonic() - started)
