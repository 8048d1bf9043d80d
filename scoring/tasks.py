"""Celery tasks of the scoring app: thin wrappers that load by id and call a service."""

import logging
import time

from celery import shared_task

from scoring.services import scoring_run_execute

logger = logging.getLogger(__name__)


# The run's row is the truth (core.jobs): a re-delivered message finds the run claimed or done
# and stops; a run whose worker died is queued again by core.jobs.requeue_stale_jobs.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def scoring_run_task(self, run_id: int) -> None:
    """Score one pullback (scoring.services.scoring_run_execute); the run row records the outcome."""
    started = time.monotonic()
    logger.info(
        "scoring run %s: started (task %s, delivery %s)",
        run_id,
        self.request.id,
        "re-delivered" if self.request.delivery_info.get("redelivered") else "first",
    )
    try:
        scoring_run_execute(run_id=run_id)
    finally:
        logger.info("scoring run %s: done in %.1f s", run_id, time.monotonic() - started)
