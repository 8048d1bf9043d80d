from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from core import jobs
        from registry import roles  # noqa: F401  (creates the role groups after migrate)

        jobs.register("registry.ImportJob", "registry.tasks.import_job_run_task")
