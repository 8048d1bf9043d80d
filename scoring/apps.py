from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        from core import jobs
        from registry.panels import register_patient_panel
        from scoring.panels import PATIENT_PANEL_TEMPLATE, patient_pullbacks_panel

        jobs.register("scoring.ScoringRun", "scoring.tasks.scoring_run_task")
        register_patient_panel(
            "pullbacks", template=PATIENT_PANEL_TEMPLATE, context=patient_pullbacks_panel, section="imaging"
        )
