from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: roles (core.roles), background jobs with a heartbeat (core.jobs), the
    API's base view, parsers and expiring tokens (core.api, core.api_parsers, core.tokens)."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from core import roles, tokens  # noqa: F401  (role groups after migrate; token revocation)
        from core.jobs import start_reaper

        # Every worker re-queues jobs whose worker died (see core.jobs).
        worker_ready.connect(start_reaper, weak=False, dispatch_uid="core.jobs.start_reaper")
