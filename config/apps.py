from django.contrib.admin.apps import AdminConfig


class HearthAdminConfig(AdminConfig):
    """The Django admin, with Hearth's audited, allauth-guarded site as ``admin.site``."""

    default_site = "config.admin.HearthAdminSite"

    def ready(self) -> None:
        super().ready()
        from django.apps import apps
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        import config.pg_types  # noqa: F401  (connects its connection_created receiver)
        from config.database import grant_after_migrate
        from config.page_cache import pages_changed_receiver

        # Once per migrate, after the last app's tables exist (moderation is the last of ours).
        post_migrate.connect(
            grant_after_migrate,
            sender=apps.get_app_config("moderation"),
            dispatch_uid="config.grant_after_migrate",
        )
        # The public pages show groups, their sessions and places: a change to any of them
        # makes every stored anonymous page stale (bulk writes call pages_changed themselves).
        for label in ("groups.TherapyGroup", "groups.GroupSession", "groups.Enrollment"):
            model = apps.get_model(label)
            for signal in (post_save, post_delete):
                signal.connect(
                    pages_changed_receiver, sender=model, dispatch_uid=f"pages:{label}:{signal}"
                )
        # ... and who leads each group ("Led by X, with Y"): co-facilitators come and go.
        m2m_changed.connect(
            pages_changed_receiver,
            sender=apps.get_model("groups.TherapyGroup").co_facilitators.through,
            dispatch_uid="pages:groups.TherapyGroup.co_facilitators",
        )
