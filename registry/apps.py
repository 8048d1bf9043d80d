from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from core import jobs

        jobs.register("registry.ImportJob", "registry.tasks.import_job_run_task")
