from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up waves"

    def ready(self) -> None:
        from core.roles import FOLLOW_UP_WAVES
        from followup import receivers  # noqa: F401  (connects the registry's event_verified signal)
        from followup.panels import (
            HOME_PANEL_TEMPLATE,
            PATIENT_PANEL_TEMPLATE,
            home_follow_up_panel,
            patient_follow_up_panel,
        )
        from registry.panels import register_home_panel, register_patient_panel

        register_patient_panel(
            "follow_up", template=PATIENT_PANEL_TEMPLATE, context=patient_follow_up_panel, order=50, section="follow_up"
        )
        register_home_panel(
            "follow_up", template=HOME_PANEL_TEMPLATE, context=home_follow_up_panel, roles=FOLLOW_UP_WAVES, order=10
        )
