from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares. For now: background jobs with a heartbeat (core.jobs)."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from core.jobs import start_reaper

        # Every worker re-queues jobs whose worker died (see core.jobs).
        worker_ready.connect(start_reaper, weak=False, dispatch_uid="core.jobs.start_reaper")
