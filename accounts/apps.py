from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def sync_role_permissions(sender: AppConfig, **kwargs: object) -> None:
    """After migrate, give each role's group the permissions the apps declare for it.

    post_migrate is sent once per app, and Django creates each app's permissions on its own
    turn, so this waits for the last app's turn, when every permission exists.
    """
    if sender is not list(apps.get_app_configs())[-1]:
        return
    from accounts.roles import Role
    from accounts.services import roles_sync_permissions

    merged: dict[Role, set[str]] = {}
    for config in apps.get_app_configs():
        for role, perms in getattr(config, "role_permissions", {}).items():
            merged.setdefault(role, set()).update(perms)
    roles_sync_permissions(role_permissions=merged)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and roles"

    # What each role may do with this app's models (see sync_role_permissions).
    role_permissions = {
        "staff": {
            "accounts.view_user",
            "accounts.change_user",
            "accounts.view_therapistapplication",
            "accounts.change_therapistapplication",
            "accounts.view_guidelinesversion",
            "accounts.add_guidelinesversion",
            "accounts.change_guidelinesversion",
        },
    }

    def ready(self) -> None:
        from accounts import receivers  # noqa: F401  (connects the signal receivers)

        post_migrate.connect(sync_role_permissions, dispatch_uid="accounts.sync_role_permissions")
