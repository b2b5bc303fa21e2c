from django.apps import AppConfig


class GroupsConfig(AppConfig):
    """Therapy, support and peer-supervision groups, their sessions and enrollments."""

    name = "groups"
    verbose_name = "Groups"

    role_permissions = {
        "therapist": {"groups.add_therapygroup"},
        "staff": {
            "groups.view_therapygroup",
            "groups.view_groupsession",
            "groups.view_enrollment",
            "groups.view_invitation",
            "groups.view_topic",
            "groups.add_topic",
            "groups.change_topic",
        },
    }

    def ready(self) -> None:
        from accounts.hooks import register_landing_hook, register_role_revoked_hook
        from groups.selectors import login_landing
        from groups.services.groups import facilitator_rights_revoke_lapsed

        # Losing the therapist or peer supervisor role ends the rights to lead groups with it.
        register_role_revoked_hook(facilitator_rights_revoke_lapsed)
        # After logging in, a facilitator lands on "Groups I lead", a member on "My schedule".
        register_landing_hook(login_landing)
