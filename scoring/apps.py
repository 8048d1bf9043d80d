from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        from core import jobs

        jobs.register("scoring.ScoringRun", "scoring.tasks.scoring_run_task")
