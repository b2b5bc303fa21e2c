from django.apps import AppConfig


class GroupsConfig(AppConfig):
    """Therapy, support and peer-supervision groups, their sessions and enrollments."""

    name = "groups"
    verbose_name = "Groups"
