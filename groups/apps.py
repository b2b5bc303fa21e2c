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
