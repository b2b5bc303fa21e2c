from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation, safety and audit"

    role_permissions = {
        "staff": {
            "moderation.view_auditevent",
            "moderation.view_crisisline",
            "moderation.add_crisisline",
            "moderation.change_crisisline",
            "moderation.delete_crisisline",
            "moderation.view_report",
            "moderation.view_sanction",
            "moderation.change_sanction",
        },
    }

    def ready(self) -> None:
        from chat.checks import register_message_check
        from moderation.safety import crisis_check

        register_message_check(crisis_check)
