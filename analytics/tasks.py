"""Celery tasks of analytics: thin wrappers that load by id and call a service."""

import logging
import time

from celery import shared_task

from analytics.services import analysis_run_execute

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def analysis_run_execute_task(self, run_id: int) -> None:
    """Run a queued analysis (analytics.services.analysis_run_execute); the run row records the outcome."""
    started = time.monotonic()
    logger.info("analysis run %s: started (task %s)", run_id, self.request.id)
    try:
        analysis_run_execute(run_id=run_id)
    finally:
        logger.info("analysis run %s: done in %.1f s", run_id, time.monotonic() - started)
