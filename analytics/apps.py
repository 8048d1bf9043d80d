from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        from core import jobs

        jobs.register("analytics.AnalysisRun", "analytics.tasks.analysis_run_execute_task")
