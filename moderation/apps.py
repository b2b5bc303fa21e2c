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
        },
    }
