from django.contrib.admin.apps import AdminConfig


class HearthAdminConfig(AdminConfig):
    """The Django admin, with Hearth's audited, allauth-guarded site as ``admin.site``."""

    default_site = "config.admin.HearthAdminSite"
