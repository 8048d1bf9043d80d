"""Queue again the background jobs whose worker stopped (workers also do this every half minute)."""

from django.core.management.base import BaseCommand

from core.jobs import requeue_stale_jobs


class Command(BaseCommand):
    help = "Re-queue running jobs whose heartbeat stopped and queued jobs that never started."

    def handle(self, *args, **options) -> None:
        for label, counts in requeue_stale_jobs().items():
            self.stdout.write(
                f"{label}: {counts['requeued']} re-queued, {counts['resent']} re-sent, {counts['failed']} given up"
            )
