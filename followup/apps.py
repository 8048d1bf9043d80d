from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up waves"

    def ready(self) -> None:
        from followup import receivers  # noqa: F401  (connects the registry's event_verified signal)
        from followup.panels import PATIENT_PANEL_TEMPLATE, patient_follow_up_panel
        from registry.panels import register_patient_panel

        register_patient_panel("follow_up", template=PATIENT_PANEL_TEMPLATE, context=patient_follow_up_panel, order=50)
