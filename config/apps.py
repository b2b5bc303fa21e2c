from django.contrib.admin.apps import AdminConfig


class HearthAdminConfig(AdminConfig):
    """The Django admin, with Hearth's audited, allauth-guarded site as ``admin.site``."""

    default_site = "config.admin.HearthAdminSite"

    def ready(self) -> None:
        super().ready()
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from config.database import grant_after_migrate

        # Once per migrate, after the last app's tables exist (moderation is the last of ours).
        post_migrate.connect(
            grant_after_migrate,
            sender=apps.get_app_config("moderation"),
            dispatch_uid="config.grant_after_migrate",
        )
